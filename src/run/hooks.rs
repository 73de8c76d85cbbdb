//! A configuration's setup and teardown commands (from a configuration file): every
//! setup runs before anything is measured, and every teardown of a setup that ran
//! runs however the run ends, so a daemon a setup starts never outlives the suite.

use super::config::Config;
use super::config_file::Hook;
use crate::error::{Error, Result};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How often a running hook is polled for its exit.
const POLL: Duration = Duration::from_millis(20);

/// The configurations whose setup ran; dropping it runs their teardowns, last
/// first.
pub struct Hooks<'a> {
    set_up: Vec<&'a Config>,
}

impl<'a> Hooks<'a> {
    /// Runs the setup of every configuration that has one. A setup that fails or
    /// outlives its timeout is returned as the error, after the teardowns of the
    /// setups before it: nothing is measured.
    pub fn setup(configs: &'a [Config]) -> Result<Self> {
        let mut hooks = Self { set_up: Vec::new() };
        for config in configs {
            if let Some(setup) = &config.setup {
                run_hook(setup, &config.name, "setup")?;
            }
            hooks.set_up.push(config);
        }
        Ok(hooks)
    }
}

impl Drop for Hooks<'_> {
    fn drop(&mut self) {
        for config in self.set_up.iter().rev() {
            if let Some(teardown) = &config.teardown {
                if let Err(e) = run_hook(teardown, &config.name, "teardown") {
                    eprintln!("   {e}");
                }
            }
        }
    }
}

/// Runs `hook` to its end, or kills it at its timeout.
fn run_hook(hook: &Hook, config: &str, what: &'static str) -> Result<()> {
    let failed = |detail: String| Error::Hook {
        config: config.to_owned(),
        what,
        detail,
    };
    let (program, args) = hook
        .command
        .split_first()
        .ok_or_else(|| failed("is empty".into()))?;
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .spawn()
        .map_err(|e| failed(format!("`{program}` could not start ({e})")))?;
    match wait_or_kill(&mut child, hook.timeout()) {
        Ok(Some(status)) if status.success() => Ok(()),
        Ok(Some(status)) => Err(failed(format!("`{program}` exited with {status}"))),
        Ok(None) => Err(failed(format!(
            "`{program}` ran past its {} s timeout and was killed",
            hook.timeout_s
        ))),
        Err(e) => Err(failed(format!("`{program}` could not be waited for ({e})"))),
    }
}

/// Waits for `child` until `timeout`, then kills and reaps it: its exit status, or
/// `None` where it was killed.
pub(super) fn wait_or_kill(
    child: &mut std::process::Child,
    timeout: Duration,
) -> std::io::Result<Option<std::process::ExitStatus>> {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status));
        }
        if start.elapsed() >= timeout {
            let _ = child.kill();
            let _ = child.wait();
            return Ok(None);
        }
        std::thread::sleep(POLL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::ConfigEntry;

    fn with_hooks(name: &str, setup: &[&str], teardown: &[&str], timeout_s: f64) -> Config {
        let hook = |command: &[&str]| {
            (!command.is_empty()).then(|| Hook {
                command: command.iter().map(|s| s.to_string()).collect(),
                timeout_s,
            })
        };
        Config {
            name: name.into(),
            setup: hook(setup),
            teardown: hook(teardown),
            ..ConfigEntry::native().resolve(&[1000])
        }
    }

    #[test]
    fn teardowns_run_after_the_run_last_first() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("log");
        let append = |word: &str| format!("echo {word} >> {}", log.display());
        let (a, b) = (append("down-a"), append("down-b"));
        let configs = [
            with_hooks("a", &["true"], &["sh", "-c", &a], 5.0),
            with_hooks("b", &["true"], &["sh", "-c", &b], 5.0),
        ];
        drop(Hooks::setup(&configs).unwrap());
        assert_eq!(std::fs::read_to_string(&log).unwrap(), "down-b\ndown-a\n");
    }

    #[test]
    fn a_failing_setup_stops_everything_and_tears_down_what_was_set_up() {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("torn-down");
        let touch = format!("touch {}", marker.display());
        let configs = [
            with_hooks("first", &["true"], &["sh", "-c", &touch], 5.0),
            with_hooks("second", &["false"], &[], 5.0),
        ];
        let err = Hooks::setup(&configs).err().unwrap().to_string();
        assert!(err.contains("'second'") && err.contains("setup"), "{err}");
        assert!(marker.exists(), "the first configuration's teardown ran");
    }

    #[test]
    fn a_hook_past_its_timeout_is_killed_and_named() {
        let configs = [with_hooks("slow", &["sleep", "5"], &[], 0.2)];
        let start = Instant::now();
        let err = Hooks::setup(&configs).err().unwrap().to_string();
        assert!(
            start.elapsed() < Duration::from_secs(3),
            "killed at its timeout"
        );
        assert!(err.contains("timeout"), "{err}");
        let missing = [with_hooks("gone", &["/no/such/program"], &[], 1.0)];
        let err = Hooks::setup(&missing).err().unwrap().to_string();
        assert!(err.contains("could not start"), "{err}");
    }
}
