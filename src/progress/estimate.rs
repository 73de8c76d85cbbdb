//! The estimate of a command's time left: what each unit took in its last export's
//! rounds (timing.json), or in this run's first round, against the slots still to
//! run.

use super::TIMING_FILE;
use crate::baseline::{read_json, write_json_atomic, ROUNDS_DIR};
use crate::error::Result;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Instant;

/// What one unit took in one round, saved in its export folder so that the next run
/// of the same unit can estimate its time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Timing {
    /// What the unit was asked to do (for `run`: the metrics, `--quick` and the
    /// verification seconds); only a unit asked the same is estimated from it.
    pub plan: String,
    pub secs: f64,
    /// Seconds of each step in order (verification, each metric, enforcement; a
    /// scenario's phases), as the watching process saw them begin (it looks every
    /// 0.2 s): where a round's time went. Absent in timings saved before they were
    /// kept.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<(String, f64)>,
}

impl Timing {
    pub fn save(&self, dir: &Path) -> Result<()> {
        write_json_atomic(&dir.join(TIMING_FILE), self)
    }

    /// Seconds of every round of the export at `dir` that was asked `plan`: its own
    /// and those under `rounds/<k>/`. An export without timings (absent, or saved
    /// before they were kept) has none, which only means no estimate.
    pub fn of_export(dir: &Path, plan: &str) -> Vec<f64> {
        let mut dirs = vec![dir.to_path_buf()];
        if let Ok(rounds) = std::fs::read_dir(dir.join(ROUNDS_DIR)) {
            dirs.extend(rounds.flatten().map(|entry| entry.path()));
        }
        dirs.iter()
            .filter_map(|d| read_json::<Timing>(&d.join(TIMING_FILE)).ok())
            .filter(|t| t.plan == plan)
            .map(|t| t.secs)
            .collect()
    }
}

/// One unit of work (a configuration, a scenario) in one round.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slot {
    pub unit: String,
    pub round: u32,
}

/// The slots of a command in the order they run, and what each unit took last time.
#[derive(Debug, Clone)]
pub struct Plan {
    pub(super) slots: Vec<Slot>,
    rounds: u32,
    /// Mean seconds of a unit's recorded rounds.
    history: BTreeMap<String, f64>,
}

impl Plan {
    pub fn new(slots: Vec<Slot>, rounds: u32) -> Self {
        Self {
            slots,
            rounds,
            history: BTreeMap::new(),
        }
    }

    /// Estimates `unit` from the recorded seconds of its rounds (see
    /// [`Timing::of_export`]); with none, the unit has no estimate until a round
    /// of it has finished in this run.
    pub fn remember(&mut self, unit: &str, secs: &[f64]) {
        if !secs.is_empty() {
            let mean = secs.iter().sum::<f64>() / secs.len() as f64;
            self.history.insert(unit.to_owned(), mean);
        }
    }
}

/// The slot running now.
#[derive(Debug)]
pub(super) struct Running {
    pub(super) index: usize,
    pub(super) since: Instant,
    pub(super) step: String,
    /// When the current step began.
    pub(super) step_since: Instant,
    /// The steps already over, with their seconds.
    pub(super) done: Vec<(String, f64)>,
}

impl Running {
    pub(super) fn new(index: usize, since: Instant, step: &str) -> Self {
        Self {
            index,
            since,
            step: step.to_owned(),
            step_since: since,
            done: Vec::new(),
        }
    }

    /// Ends the current step at `now` and begins `name`.
    pub(super) fn next_step(&mut self, name: &str, now: Instant) {
        let ended = std::mem::replace(&mut self.step, name.to_owned());
        let secs = now.saturating_duration_since(self.step_since).as_secs_f64();
        self.done.push((ended, secs));
        self.step_since = now;
    }
}

/// Where a command stands; one formatter serves the bar and the lines.
#[derive(Debug)]
pub(super) struct State {
    pub(super) plan: Plan,
    started: Instant,
    pub(super) running: Option<Running>,
    /// The first slot not yet begun.
    pub(super) next: usize,
    pub(super) finished: u64,
    /// Seconds of each unit's first round finished in this run: a better guess for
    /// its later rounds than an earlier run's.
    pub(super) measured: BTreeMap<String, f64>,
    /// Units whose later slots will not run (a failed configuration).
    pub(super) dropped: BTreeSet<String>,
}

impl State {
    pub(super) fn new(plan: Plan, started: Instant) -> Self {
        Self {
            plan,
            started,
            running: None,
            next: 0,
            finished: 0,
            measured: BTreeMap::new(),
            dropped: BTreeSet::new(),
        }
    }

    fn expected(&self, unit: &str) -> Option<f64> {
        self.measured
            .get(unit)
            .or_else(|| self.plan.history.get(unit))
            .copied()
    }

    /// Seconds left at `now`: what the running slot is expected to take beyond its
    /// time so far (nothing once past it), plus every slot not begun; or the first
    /// unit without an estimate.
    pub(super) fn left(&self, now: Instant) -> std::result::Result<f64, &str> {
        let running = self.running.iter().map(|r| {
            let unit = self.plan.slots[r.index].unit.as_str();
            let spent = now.saturating_duration_since(r.since).as_secs_f64();
            self.expected(unit)
                .map(|s| (s - spent).max(0.0))
                .ok_or(unit)
        });
        let waiting = self.plan.slots[self.next..]
            .iter()
            .filter(|slot| !self.dropped.contains(&slot.unit))
            .map(|slot| self.expected(&slot.unit).ok_or(slot.unit.as_str()));
        running.chain(waiting).sum()
    }

    /// `[3/8] hami-50 round 2/2: OH-002 (elapsed 1m02s, about 2m10s left)`.
    pub(super) fn line(&self, now: Instant) -> String {
        let total = self.plan.slots.len();
        let head = match &self.running {
            Some(r) => {
                let slot = &self.plan.slots[r.index];
                let round = if self.plan.rounds > 1 {
                    format!(" round {}/{}", slot.round, self.plan.rounds)
                } else {
                    String::new()
                };
                format!("[{}/{total}] {}{round}: {}", r.index + 1, slot.unit, r.step)
            }
            None => format!("[{}/{total}]", self.next),
        };
        let left = match self.left(now) {
            Ok(secs) => format!("about {} left", clock(secs)),
            Err(unit) => format!("no estimate: no earlier run of {unit} like this one"),
        };
        let elapsed = clock(now.saturating_duration_since(self.started).as_secs_f64());
        format!("{head} (elapsed {elapsed}, {left})")
    }
}

/// `5s`, `1m02s`, `1h02m05s`.
pub(super) fn clock(secs: f64) -> String {
    let secs = secs.round() as u64;
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    match (h, m) {
        (0, 0) => format!("{s}s"),
        (0, _) => format!("{m}m{s:02}s"),
        _ => format!("{h}h{m:02}m{s:02}s"),
    }
}

/// The slots of `units` in `rounds` rounds, as the callers' schedules make them.
#[cfg(test)]
pub(super) fn slots(units: &[&str], rounds: u32) -> Vec<Slot> {
    (1..=rounds)
        .flat_map(|round| {
            units.iter().map(move |unit| Slot {
                unit: unit.to_string(),
                round,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn each_step_keeps_its_seconds_in_order() {
        let start = Instant::now();
        let mut running = Running::new(0, start, "starting");
        running.next_step("verification", start + Duration::from_millis(500));
        running.next_step("OH-001", start + Duration::from_secs(9));
        running.next_step("LLM-008", start + Duration::from_secs(12));
        assert_eq!(
            running.done,
            [
                ("starting".to_owned(), 0.5),
                ("verification".to_owned(), 8.5),
                ("OH-001".to_owned(), 3.0)
            ]
        );
        assert_eq!(running.step, "LLM-008");
    }

    #[test]
    fn clock_reads_as_seconds_minutes_and_hours() {
        assert_eq!(clock(5.2), "5s");
        assert_eq!(clock(62.0), "1m02s");
        assert_eq!(clock(130.0), "2m10s");
        assert_eq!(clock(3725.0), "1h02m05s");
    }

    #[test]
    fn the_line_names_slot_round_step_elapsed_and_time_left() {
        let start = Instant::now();
        let mut plan = Plan::new(slots(&["native", "hami-50", "hami-25", "mps-25"], 2), 2);
        for unit in ["native", "hami-50", "hami-25", "mps-25"] {
            plan.remember(unit, &[30.0]);
        }
        let mut state = State::new(plan, start);
        state.running = Some(Running::new(2, start + Duration::from_secs(50), "OH-002"));
        state.next = 3;
        // 10 s into a 30 s slot: 20 s of it, then five slots of 30 s.
        let line = state.line(start + Duration::from_secs(60));
        assert_eq!(
            line,
            "[3/8] hami-25 round 1/2: OH-002 (elapsed 1m00s, about 2m50s left)"
        );
    }

    #[test]
    fn one_round_leaves_the_round_out_and_no_history_says_so() {
        let start = Instant::now();
        let mut state = State::new(Plan::new(slots(&["hami-50-x2"], 1), 1), start);
        state.running = Some(Running::new(0, start, "together"));
        state.next = 1;
        assert_eq!(
            state.line(start + Duration::from_secs(5)),
            "[1/1] hami-50-x2: together (elapsed 5s, no estimate: no earlier run of \
             hami-50-x2 like this one)"
        );
    }

    fn export(dir: &Path, rounds: &[(&str, f64)]) {
        for (k, (plan, secs)) in rounds.iter().enumerate() {
            let at = match k {
                0 => dir.to_path_buf(),
                k => dir.join(ROUNDS_DIR).join((k + 1).to_string()),
            };
            std::fs::create_dir_all(&at).unwrap();
            Timing {
                plan: plan.to_string(),
                secs: *secs,
                steps: Vec::new(),
            }
            .save(&at)
            .unwrap();
        }
    }

    #[test]
    fn the_estimate_comes_from_the_last_exports_rounds_asked_the_same() {
        let tmp = tempfile::tempdir().unwrap();
        export(
            &tmp.path().join("native"),
            &[("full", 100.0), ("full", 120.0)],
        );
        export(
            &tmp.path().join("hami-50"),
            &[("quick", 10.0), ("full", 200.0)],
        );
        assert_eq!(
            Timing::of_export(&tmp.path().join("hami-50"), "full"),
            [200.0]
        );
        assert!(Timing::of_export(&tmp.path().join("hami-25"), "full").is_empty());

        let mut plan = Plan::new(slots(&["native", "hami-50"], 2), 2);
        for unit in ["native", "hami-50"] {
            plan.remember(unit, &Timing::of_export(&tmp.path().join(unit), "full"));
        }
        let start = Instant::now();
        let mut state = State::new(plan, start);
        // Nothing begun: 110 + 200, twice.
        assert_eq!(state.left(start), Ok(620.0));
        // native's first round took 90 s in this run: its second is estimated so.
        state.measured.insert("native".into(), 90.0);
        state.next = 1;
        assert_eq!(state.left(start), Ok(490.0));
        // hami-50 failed: its second round leaves the estimate.
        state.dropped.insert("hami-50".into());
        state.next = 2;
        assert_eq!(state.left(start), Ok(90.0));
    }

    #[test]
    fn a_slot_past_its_estimate_adds_nothing_and_a_unit_without_history_means_none() {
        let start = Instant::now();
        let mut plan = Plan::new(slots(&["native", "hami-25"], 1), 1);
        plan.remember("native", &[10.0]);
        let mut state = State::new(plan, start);
        state.running = Some(Running::new(0, start, "verification"));
        state.next = 1;
        assert_eq!(state.left(start + Duration::from_secs(30)), Err("hami-25"));
        state.plan.remember("hami-25", &[40.0]);
        assert_eq!(state.left(start + Duration::from_secs(30)), Ok(40.0));
    }
}
