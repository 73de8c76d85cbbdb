//! What a `timeline` launch logged, read back and checked: every block ran, spun its
//! time, and logged its pauses in order, before any figure is taken from it.

use crate::cuda::{DeviceBuffer, SchedKernels, Stream, TimelineShape};
use crate::error::{Error, Result};
use crate::measure::Span;
use serde::{Deserialize, Serialize};

/// One block's record: when it ran on the device's global clock and the pauses in
/// between, each a span of the same clock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockRecord {
    pub span: Span,
    pub pauses: Vec<Span>,
    /// Pauses seen, logged or not.
    pub seen: u64,
}

impl BlockRecord {
    /// Spans of uninterrupted progress: from the start to the first pause, between
    /// pauses, and from the last pause to the end.
    pub fn runs(&self) -> Vec<Span> {
        let mut runs = Vec::with_capacity(self.pauses.len() + 1);
        let mut from = self.span.start_ns;
        for pause in &self.pauses {
            runs.push(Span {
                start_ns: from,
                end_ns: pause.start_ns,
            });
            from = pause.end_ns;
        }
        runs.push(Span {
            start_ns: from,
            end_ns: self.span.end_ns,
        });
        runs
    }
}

/// Reads the records of `shape` out of the words of its log, refusing a block that
/// never ran (its slot still holds the all-ones poison), ended before its time, or
/// logged pauses out of order or outside its span.
pub fn parse(words: &[u64], shape: &TimelineShape) -> Result<Vec<BlockRecord>> {
    let stride = shape.record_words();
    if words.len() < stride * shape.blocks as usize {
        return Err(Error::Invalid(format!(
            "timeline: {} words hold no {} records of {stride}",
            words.len(),
            shape.blocks
        )));
    }
    let wrong = |block: usize, detail: String| Error::Incorrect {
        kernel: "timeline",
        detail: format!("block {block}: {detail}"),
    };
    words
        .chunks_exact(stride)
        .take(shape.blocks as usize)
        .enumerate()
        .map(|(block, rec)| {
            let span = Span {
                start_ns: rec[0],
                end_ns: rec[1],
            };
            if rec[0] == u64::MAX || rec[2] == u64::MAX {
                return Err(wrong(block, "never ran".into()));
            }
            if span.end_ns < span.start_ns || span.ns() < shape.ns {
                return Err(wrong(
                    block,
                    format!("ran {} ns of {} ns", span.ns() as i128, shape.ns),
                ));
            }
            let logged = rec[2].min(u64::from(shape.max_gaps)) as usize;
            let pauses: Vec<Span> = rec[3..3 + 2 * logged]
                .chunks_exact(2)
                .map(|p| Span {
                    start_ns: p[0],
                    end_ns: p[1],
                })
                .collect();
            let mut at = span.start_ns;
            for pause in &pauses {
                if pause.start_ns < at
                    || pause.end_ns < pause.start_ns
                    || pause.end_ns > span.end_ns
                {
                    return Err(wrong(
                        block,
                        format!("pause {pause:?} out of order in {span:?}"),
                    ));
                }
                at = pause.end_ns;
            }
            Ok(BlockRecord {
                span,
                pauses,
                seen: rec[2],
            })
        })
        .collect()
}

/// The span from the first block's start to the last block's end.
pub fn extent(records: &[BlockRecord]) -> Option<Span> {
    Some(Span {
        start_ns: records.iter().map(|r| r.span.start_ns).min()?,
        end_ns: records.iter().map(|r| r.span.end_ns).max()?,
    })
}

/// A `timeline` launch's log, poisoned before the launch so a block that never ran
/// shows.
pub(super) struct Timeline {
    shape: TimelineShape,
    log: DeviceBuffer,
}

impl Timeline {
    /// Allocates and poisons the log on `stream`; the caller synchronises before it
    /// times the launch, so the poisoning stays out of it.
    pub fn new(shape: TimelineShape, stream: &Stream) -> Result<Self> {
        let log = DeviceBuffer::new(shape.log_bytes())?;
        log.fill_u32(u32::MAX, stream)?;
        Ok(Self { shape, log })
    }

    pub fn launch(&self, kernels: &SchedKernels, stream: &Stream) -> Result<()> {
        kernels.timeline(&self.shape, &self.log, stream)
    }

    /// The checked records, once the launch has completed.
    pub fn records(&self) -> Result<Vec<BlockRecord>> {
        let mut words = vec![0u64; self.log.bytes() / 8];
        self.log.copy_to_host(&mut words)?;
        parse(&words, &self.shape)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(blocks: u32, max_gaps: u32) -> TimelineShape {
        TimelineShape {
            blocks,
            threads: 32,
            ns: 100,
            gap_ns: 10,
            max_gaps,
        }
    }

    #[test]
    fn records_are_read_per_block_with_their_logged_pauses() {
        let words = [
            1000, 1200, 1, 1050, 1080, 0, 0, //
            1010, 1110, 0, 0, 0, 0, 0,
        ];
        let records = parse(&words, &shape(2, 2)).unwrap();
        assert_eq!(records.len(), 2);
        assert_eq!(
            records[0].pauses,
            [Span {
                start_ns: 1050,
                end_ns: 1080
            }]
        );
        assert_eq!(
            records[0].runs(),
            [
                Span {
                    start_ns: 1000,
                    end_ns: 1050
                },
                Span {
                    start_ns: 1080,
                    end_ns: 1200
                }
            ]
        );
        assert!(records[1].pauses.is_empty());
        assert_eq!(
            extent(&records),
            Some(Span {
                start_ns: 1000,
                end_ns: 1200
            })
        );
        assert_eq!(extent(&[]), None);
    }

    #[test]
    fn a_block_that_never_ran_or_ran_short_or_out_of_order_is_refused() {
        let never = [u64::MAX, u64::MAX, u64::MAX];
        assert!(parse(&never, &shape(1, 0)).is_err());
        let short = [1000, 1050, 0];
        assert!(parse(&short, &shape(1, 0)).is_err());
        let disorder = [1000, 1200, 2, 1100, 1120, 1050, 1060];
        assert!(parse(&disorder, &shape(1, 2)).is_err());
        assert!(parse(&[1000, 1200], &shape(1, 0)).is_err(), "too few words");
    }

    #[test]
    fn pauses_past_the_log_are_counted_not_read() {
        let words = [1000, 1200, 3, 1050, 1060];
        let rec = &parse(&words, &shape(1, 1)).unwrap()[0];
        assert_eq!((rec.pauses.len(), rec.seen), (1, 3));
    }
}
