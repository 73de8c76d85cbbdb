//! What /proc says of another process: whether it still runs and who started it, read
//! from one parser of its stat line, whose command name (in parentheses) may itself
//! hold spaces and parentheses.

/// The fields of `/proc/<pid>/stat` the suite reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcStat {
    /// R, S, D, Z, X ...
    pub state: char,
    pub parent: u32,
}

/// Process `pid`'s stat fields; `None` once it is gone from /proc.
pub fn proc_stat(pid: u32) -> Option<ProcStat> {
    parse_stat(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// Whether process `pid` still runs (a zombie or a missing /proc entry does not).
pub fn alive(pid: u32) -> bool {
    proc_stat(pid).is_some_and(|s| s.state != 'Z' && s.state != 'X')
}

fn parse_stat(stat: &str) -> Option<ProcStat> {
    let (_, after_name) = stat.rsplit_once(')')?;
    let mut fields = after_name.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let parent = fields.next()?.parse().ok()?;
    Some(ProcStat { state, parent })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fields_are_read_past_a_name_with_spaces_and_parentheses() {
        let stat = "4242 (python3 (worker) x) S 4200 4242 4200 0 -1 4194560 1000";
        assert_eq!(
            parse_stat(stat),
            Some(ProcStat {
                state: 'S',
                parent: 4200
            })
        );
        assert_eq!(parse_stat("garbage"), None);
    }

    #[test]
    fn this_process_runs_and_has_a_parent_and_a_finished_one_does_not_run() {
        let me = proc_stat(std::process::id()).expect("this process is in /proc");
        assert!(alive(std::process::id()));
        assert!(me.parent > 0);
        let mut done = std::process::Command::new("true").spawn().unwrap();
        let pid = done.id();
        done.wait().unwrap();
        assert!(!alive(pid));
    }
}
