//! Ctrl-C and SIGTERM during a run: the default action would end the suite without
//! its destructors, leaving MPS daemons running and state files behind. The handler
//! stops the daemons, removes the run's scratch folders, and exits with 130.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, Once};

/// Set once the handler runs, so a worker that died of the same Ctrl-C is reported as
/// the interruption it was, not as a failed configuration.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Folders the run has made and removes at its end, removed by the handler too.
static SCRATCH: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// Installs the handler, once per process.
pub fn install() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // A handler set before (by an embedding program) is left in place.
        let _ = ctrlc::set_handler(|| {
            INTERRUPTED.store(true, Ordering::SeqCst);
            eprintln!("interrupted: stopping MPS daemons and removing state files");
            clean_up();
            eprintln!("error: interrupted: MPS daemons stopped, state files removed");
            std::process::exit(130);
        });
    });
}

/// Whether Ctrl-C or SIGTERM reached this process.
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// Registers a folder the handler removes.
pub fn remove_on_interrupt(dir: PathBuf) {
    SCRATCH.lock().unwrap_or_else(|e| e.into_inner()).push(dir);
}

/// What the handler does before it exits.
fn clean_up() {
    super::mps::stop_all();
    for dir in std::mem::take(&mut *SCRATCH.lock().unwrap_or_else(|e| e.into_inner())) {
        let _ = std::fs::remove_dir_all(dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clean_up_removes_every_registered_folder() {
        let dir = tempfile::tempdir().unwrap();
        let scratch = dir.path().join("gpu-virt-bench-scratch");
        std::fs::create_dir(&scratch).unwrap();
        std::fs::write(scratch.join("hami-50-r1.cache"), b"state").unwrap();
        remove_on_interrupt(scratch.clone());
        clean_up();
        assert!(!scratch.exists());
    }
}
