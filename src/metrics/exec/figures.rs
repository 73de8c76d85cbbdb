//! The figures a command prints: `{"gvb": "NAME", "value": X, "unit": "U", "better":
//! "higher|lower"}` lines on its stdout, and lines of stdout or stderr that a
//! `--metric` pattern matches.

use crate::baseline::{Better, ExecRun, Figure, FigureSource};
use crate::error::{Error, Result};
use regex::Regex;
use serde::Deserialize;

/// The suite's own figure of every run.
pub const WALL_TIME: &str = "wall-time";
/// Names of the suite's own figures, which no printed figure may take.
const RESERVED: [&str; 3] = [WALL_TIME, "peak-memory", "peak-device-memory"];
/// The unit of a pattern that names none.
pub const DEFAULT_UNIT: &str = "value";
/// The most of a line quoted in a message.
const QUOTE_CHARS: usize = 120;

/// One value of a figure as printed once.
#[derive(Debug, Clone, PartialEq)]
pub struct Occurrence {
    pub name: String,
    pub value: f64,
    pub unit: String,
    pub better: Better,
    pub source: FigureSource,
}

/// Why `name` cannot name a figure (or a workload), if it cannot: it becomes a
/// variant, a folder or a table heading, so it is kept to letters, digits, `.`, `_`
/// and `-`, and may not be one of the suite's own figures.
pub fn bad_name(name: &str) -> Option<String> {
    if name.is_empty() {
        return Some("a name is empty".into());
    }
    if name.starts_with('.')
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    {
        return Some(format!(
            "name '{name}' may hold only letters, digits, '.', '_' and '-', and not start with '.'"
        ));
    }
    RESERVED
        .contains(&name)
        .then(|| format!("name '{name}' is the suite's own figure of every run"))
}

/// A figure line as printed; further fields are allowed and passed over.
#[derive(Deserialize)]
struct FigureLine {
    gvb: String,
    value: f64,
    unit: String,
    better: Better,
}

/// Reads one stdout line as a figure line. A line is meant as one when it is a JSON
/// object that names `"gvb"`: `None` for any other line, which is the command's own
/// output; `Some(Err(reason))` for one that is meant as a figure but cannot be read.
pub fn json_figure(line: &str) -> Option<Result<Occurrence, String>> {
    let text = line.trim();
    if !text.starts_with('{') || !text.contains("\"gvb\"") {
        return None;
    }
    let parsed: FigureLine = match serde_json::from_str(text) {
        Ok(parsed) => parsed,
        Err(e) => return Some(Err(format!("{}: {e}", quote(text)))),
    };
    if let Some(why) = bad_name(&parsed.gvb) {
        return Some(Err(format!("{}: {why}", quote(text))));
    }
    Some(Ok(Occurrence {
        name: parsed.gvb,
        value: parsed.value,
        unit: parsed.unit,
        better: parsed.better,
        source: FigureSource::JsonLine,
    }))
}

/// A `--metric` pattern: `NAME[,UNIT[,higher|lower]]=REGEX`, whose first capture
/// group is the number. The unit defaults to "value" and better to lower.
#[derive(Debug, Clone)]
pub struct Pattern {
    pub name: String,
    pub unit: String,
    pub better: Better,
    regex: Regex,
    /// As given on the command line.
    pub spec: String,
}

impl Pattern {
    pub fn parse(spec: &str) -> Result<Self> {
        let bad = |detail: String| Error::BadPattern {
            spec: spec.to_owned(),
            detail,
        };
        let (head, regex) = spec
            .split_once('=')
            .ok_or_else(|| bad("it has no '=' between the name and the regex".into()))?;
        let mut parts = head.split(',');
        let name = parts.next().unwrap_or_default().trim().to_owned();
        if let Some(why) = bad_name(&name) {
            return Err(bad(why));
        }
        let unit = match parts.next().map(str::trim) {
            Some("") => return Err(bad("its unit is empty".into())),
            Some(unit) => unit.to_owned(),
            None => DEFAULT_UNIT.to_owned(),
        };
        let better = match parts.next().map(str::trim) {
            None | Some("lower") => Better::Lower,
            Some("higher") => Better::Higher,
            Some(other) => {
                return Err(bad(format!(
                    "better is '{other}'; it must be higher or lower"
                )))
            }
        };
        if parts.next().is_some() {
            return Err(bad("more than NAME,UNIT,BETTER before the '='".into()));
        }
        let regex = Regex::new(regex).map_err(|e| {
            bad(format!(
                "the regex is invalid: {}",
                e.to_string()
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ")
            ))
        })?;
        if regex.captures_len() < 2 {
            return Err(bad(
                "the regex has no capture group; the first group must capture the number".into(),
            ));
        }
        Ok(Self {
            name,
            unit,
            better,
            regex,
            spec: spec.to_owned(),
        })
    }

    /// The value this pattern reads off `line`, where it matches; `Some(Err(reason))`
    /// where its first group holds no number.
    pub fn read(&self, line: &str) -> Option<Result<Occurrence, String>> {
        let captures = self.regex.captures(line)?;
        let text = captures.get(1).map_or("", |group| group.as_str());
        Some(match text.trim().parse::<f64>() {
            Ok(value) if value.is_finite() => Ok(Occurrence {
                name: self.name.clone(),
                value,
                unit: self.unit.clone(),
                better: self.better,
                source: FigureSource::Pattern,
            }),
            _ => Err(format!(
                "{}: --metric {} captured '{text}', which is no number",
                quote(line),
                self.name
            )),
        })
    }
}

/// Every occurrence of a run, grouped by name in the order first seen. One whose unit
/// or direction disagrees with its name's first occurrence is left out, and said why.
pub fn collect(occurrences: Vec<Occurrence>) -> (Vec<Figure>, Vec<String>) {
    let mut figures: Vec<Figure> = Vec::new();
    let mut conflicts = Vec::new();
    for o in occurrences {
        match figures.iter_mut().find(|f| f.name == o.name) {
            Some(f) if f.unit == o.unit && f.better == o.better => f.values.push(o.value),
            Some(f) => conflicts.push(format!(
                "{} printed as {} ({}) after {} ({}); left out",
                o.name,
                o.unit,
                better_word(o.better),
                f.unit,
                better_word(f.better)
            )),
            None => figures.push(Figure {
                name: o.name,
                unit: o.unit,
                better: o.better,
                source: o.source,
                values: vec![o.value],
            }),
        }
    }
    (figures, conflicts)
}

/// The patterns that matched no line of any of `runs`.
pub fn unmatched<'a>(patterns: &'a [Pattern], runs: &[ExecRun]) -> Vec<&'a Pattern> {
    patterns
        .iter()
        .filter(|p| {
            !runs
                .iter()
                .flat_map(|r| &r.figures)
                .any(|f| f.name == p.name && f.source == FigureSource::Pattern)
        })
        .collect()
}

fn better_word(better: Better) -> &'static str {
    match better {
        Better::Higher => "higher",
        Better::Lower => "lower",
    }
}

/// `text` cut to a length a one-line message can hold.
pub fn quote(text: &str) -> String {
    match text.char_indices().nth(QUOTE_CHARS) {
        Some((end, _)) => format!("'{}...'", &text[..end]),
        None => format!("'{text}'"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn figure(line: &str) -> Occurrence {
        json_figure(line)
            .expect("a figure line")
            .unwrap_or_else(|e| panic!("{line}: {e}"))
    }

    fn malformed(line: &str) -> String {
        match json_figure(line) {
            Some(Err(reason)) => reason,
            other => panic!("{line}: expected a malformed figure line, got {other:?}"),
        }
    }

    #[test]
    fn a_json_line_gives_its_name_value_unit_and_direction() {
        let o = figure(
            r#"{"gvb": "gemm_tflops", "value": 612.5, "unit": "TFLOPS", "better": "higher"}"#,
        );
        assert_eq!(
            o,
            Occurrence {
                name: "gemm_tflops".into(),
                value: 612.5,
                unit: "TFLOPS".into(),
                better: Better::Higher,
                source: FigureSource::JsonLine,
            }
        );
        let o = figure(
            r#"  {"gvb":"decode_ms","value":3,"unit":"ms","better":"lower","note":"p50"}  "#,
        );
        assert_eq!(
            (o.value, o.better),
            (3.0, Better::Lower),
            "integers and extra fields"
        );
    }

    #[test]
    fn ordinary_output_is_no_figure_line() {
        for line in [
            "",
            "step 10 loss 0.25",
            r#"{"loss": 0.25}"#,
            r#"[{"gvb": "x"}]"#,
            "gvb: 3",
        ] {
            assert!(json_figure(line).is_none(), "{line}");
        }
    }

    #[test]
    fn a_figure_line_that_cannot_be_read_is_reported_with_its_reason() {
        let missing = malformed(r#"{"gvb": "t", "value": 1.0, "better": "lower"}"#);
        assert!(missing.contains("missing field `unit`"), "{missing}");
        let direction = malformed(r#"{"gvb": "t", "value": 1, "unit": "s", "better": "faster"}"#);
        assert!(
            direction.contains("unknown variant `faster`"),
            "{direction}"
        );
        let text = malformed(r#"{"gvb": "t", "value": "1.5", "unit": "s", "better": "lower"}"#);
        assert!(text.contains("invalid type: string"), "{text}");
        let broken = malformed(r#"{"gvb": "t", "value": "#);
        assert!(broken.contains("EOF"), "{broken}");
        let name = malformed(r#"{"gvb": "a b", "value": 1, "unit": "s", "better": "lower"}"#);
        assert!(name.contains("only letters"), "{name}");
        let reserved =
            malformed(r#"{"gvb": "wall-time", "value": 1, "unit": "s", "better": "lower"}"#);
        assert!(reserved.contains("the suite's own figure"), "{reserved}");
        let long = format!(r#"{{"gvb": "t", "pad": "{}", "value": }}"#, "x".repeat(500));
        assert!(
            malformed(&long).len() < 300,
            "a long line is cut in the message"
        );
    }

    #[test]
    fn a_pattern_reads_its_first_group_with_unit_and_direction() {
        let p = Pattern::parse("tokens,tok/s,higher=throughput: ([0-9.]+) tok/s").unwrap();
        assert_eq!((p.unit.as_str(), p.better), ("tok/s", Better::Higher));
        let o = p
            .read("[rank 0] throughput: 1523.5 tok/s")
            .unwrap()
            .unwrap();
        assert_eq!((o.name.as_str(), o.value), ("tokens", 1523.5));
        assert_eq!(o.source, FigureSource::Pattern);
        assert!(p.read("loss 0.3").is_none());
        let plain = Pattern::parse("step=step (\\d+) ms, (\\d+) items").unwrap();
        assert_eq!(
            (plain.unit.as_str(), plain.better),
            (DEFAULT_UNIT, Better::Lower)
        );
        assert_eq!(
            plain.read("step 12 ms, 40 items").unwrap().unwrap().value,
            12.0
        );
        let regex_with_equals = Pattern::parse("x,ms=a=(\\S+)").unwrap();
        assert_eq!(
            regex_with_equals.read("a=2.5e-3").unwrap().unwrap().value,
            2.5e-3
        );
    }

    #[test]
    fn a_group_that_holds_no_number_is_reported() {
        let p = Pattern::parse("t=time: (\\S+)").unwrap();
        let reason = p.read("time: fast").unwrap().unwrap_err();
        assert!(
            reason.contains("captured 'fast', which is no number"),
            "{reason}"
        );
        let optional = Pattern::parse("t=time(: \\d+)?").unwrap();
        assert!(optional.read("time").unwrap().is_err());
        assert!(p.read("time: inf").unwrap().is_err(), "not finite");
    }

    #[test]
    fn bad_patterns_are_refused_with_the_reason() {
        for (spec, reason) in [
            ("tokens", "no '='"),
            ("=(\\d+)", "a name is empty"),
            ("my figure=(\\d+)", "only letters"),
            ("wall-time=(\\d+)", "the suite's own figure"),
            ("t,,lower=(\\d+)", "unit is empty"),
            ("t,s,faster=(\\d+)", "higher or lower"),
            ("t,s,lower,x=(\\d+)", "more than NAME,UNIT,BETTER"),
            ("t=step (\\d+", "the regex is invalid"),
            ("t=step \\d+", "no capture group"),
        ] {
            let err = Pattern::parse(spec).unwrap_err();
            let text = err.to_string();
            assert!(matches!(err, Error::BadPattern { .. }), "{spec}: {text}");
            assert!(text.contains(reason), "{spec}: {text}");
            assert!(text.contains(spec), "{spec}: {text}");
            assert!(!text.contains('\n'), "one line: {text}");
        }
    }

    fn occurrence(name: &str, value: f64, unit: &str) -> Occurrence {
        Occurrence {
            name: name.into(),
            value,
            unit: unit.into(),
            better: Better::Lower,
            source: FigureSource::JsonLine,
        }
    }

    #[test]
    fn occurrences_group_by_name_and_a_changed_unit_is_left_out() {
        let (figures, conflicts) = collect(vec![
            occurrence("b", 1.0, "ms"),
            occurrence("a", 5.0, "s"),
            occurrence("b", 3.0, "ms"),
            occurrence("b", 7.0, "s"),
        ]);
        let names: Vec<&str> = figures.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["b", "a"]);
        assert_eq!(figures[0].values, [1.0, 3.0]);
        assert_eq!(
            figures[0].value(),
            2.0,
            "a run's sample is the mean of its values"
        );
        assert_eq!(conflicts.len(), 1);
        assert!(
            conflicts[0].contains("b printed as s (lower) after ms (lower)"),
            "{conflicts:?}"
        );
    }
}
