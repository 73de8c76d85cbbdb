//! The collective figures as plain functions of sizes, rank counts and times, after
//! nccl-tests' doc/PERFORMANCE.md: algorithm bandwidth is the bytes a rank's user
//! sees over the time, bus bandwidth that times the share of it each link carries,
//! so one figure compares across rank counts and with the link's rate.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

const KIB: u64 = 1 << 10;
const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;

/// NCCL-001's all-reduce sizes, 8 B to 1 MiB by factors of 8, and with `--quick`.
const LATENCY_SIZES: [u64; 7] = [8, 64, 512, 4 * KIB, 32 * KIB, 256 * KIB, MIB];
const LATENCY_SIZES_QUICK: [u64; 3] = [8, 4 * KIB, MIB];
/// NCCL-002..004's sizes, 64 MiB to 1 GiB, and with `--quick`.
const BANDWIDTH_SIZES: [u64; 3] = [64 * MIB, 256 * MIB, GIB];
const BANDWIDTH_SIZES_QUICK: [u64; 2] = [64 * MIB, 256 * MIB];
/// The share of a rank's free memory its buffers may take: a send and a receive
/// buffer of the size, at most half the free memory between them.
const FREE_SHARE: u64 = 4;

/// Which collective a figure times.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Kind {
    AllReduce,
    AllGather,
    /// Each rank sends to the next and receives from the previous, in one group.
    SendRecv,
    /// From rank 0.
    Broadcast,
}

impl Kind {
    pub fn call(self) -> &'static str {
        match self {
            Self::AllReduce => "ncclAllReduce",
            Self::AllGather => "ncclAllGather",
            Self::SendRecv => "ncclSend/ncclRecv",
            Self::Broadcast => "ncclBroadcast",
        }
    }

    /// The bus-bandwidth factor of `n` ranks (PERFORMANCE.md): all-reduce
    /// 2(n-1)/n, all-gather (n-1)/n, broadcast and send/receive 1. With one rank
    /// no byte crosses a link, so there is none: the figure is then the algorithm
    /// bandwidth alone.
    pub fn bus_factor(self, n: usize) -> Option<f64> {
        if n < 2 {
            return None;
        }
        let n = n as f64;
        Some(match self {
            Self::AllReduce => 2.0 * (n - 1.0) / n,
            Self::AllGather => (n - 1.0) / n,
            Self::SendRecv | Self::Broadcast => 1.0,
        })
    }
}

/// The sizes NCCL-001 times.
pub fn latency_sizes(quick: bool) -> Vec<u64> {
    if quick {
        LATENCY_SIZES_QUICK.to_vec()
    } else {
        LATENCY_SIZES.to_vec()
    }
}

/// The sizes NCCL-002..004 time, those whose buffers fit in `free` bytes (the
/// smallest free memory of the ranks' devices under the configuration).
pub fn bandwidth_sizes(quick: bool, free: u64) -> Vec<u64> {
    let sizes: &[u64] = if quick {
        &BANDWIDTH_SIZES_QUICK
    } else {
        &BANDWIDTH_SIZES
    };
    sizes
        .iter()
        .copied()
        .filter(|&s| s <= free / FREE_SHARE)
        .collect()
}

/// The bytes each rank contributes to an all-gather of `total` bytes over `n`
/// ranks: whole 32-bit words, so each block holds a checkable pattern.
pub fn gather_block(total: u64, n: usize) -> u64 {
    total / n.max(1) as u64 / 4 * 4
}

/// The bytes of the algorithm bandwidth (nccl-tests' "size"): the all-gather's
/// whole output, the message of the others.
pub fn algorithm_bytes(kind: Kind, bytes: u64, n: usize) -> u64 {
    match kind {
        Kind::AllGather => gather_block(bytes, n) * n as u64,
        Kind::AllReduce | Kind::SendRecv | Kind::Broadcast => bytes,
    }
}

/// Collectives per timed sample: enough that a sample of a small one spans well
/// over the events' resolution, one for the largest.
pub fn reps(bytes: u64) -> u64 {
    (256 * MIB / bytes.max(1)).clamp(1, 50)
}

/// The time of each sample of a collective over every rank: the slowest rank's, as
/// the collective is over only when it is over everywhere.
pub fn slowest(per_rank: &[Vec<f64>]) -> Result<Vec<f64>> {
    let samples = per_rank.first().map_or(0, Vec::len);
    if samples == 0 || per_rank.iter().any(|r| r.len() != samples) {
        return Err(Error::Invalid(format!(
            "ranks timed {:?} samples; each must time the same, at least one",
            per_rank.iter().map(Vec::len).collect::<Vec<_>>()
        )));
    }
    (0..samples)
        .map(|i| {
            let t = per_rank.iter().map(|r| r[i]).fold(0.0, f64::max);
            if t > 0.0 && t.is_finite() {
                Ok(t)
            } else {
                Err(Error::Invalid(format!("a collective took {t} s")))
            }
        })
        .collect()
}

/// GB/s (10^9 bytes) of `bytes` in `seconds`, times `factor`.
pub fn gbps(bytes: u64, seconds: f64, factor: f64) -> f64 {
    bytes as f64 / seconds / 1e9 * factor
}

/// A size as variants name it: "8B", "4KiB", "64MiB", "1GiB".
pub fn size_name(bytes: u64) -> String {
    match bytes {
        b if b >= GIB && b % GIB == 0 => format!("{}GiB", b / GIB),
        b if b >= MIB && b % MIB == 0 => format!("{}MiB", b / MIB),
        b if b >= KIB && b % KIB == 0 => format!("{}KiB", b / KIB),
        b => format!("{b}B"),
    }
}

/// A variant's name: the size, the ranks, and for a bandwidth which one it is
/// (bus bandwidth with peers, the algorithm bandwidth of one rank).
pub fn variant(bytes: u64, n: usize, bandwidth: Option<Kind>) -> String {
    let ranks = if n == 1 {
        "1rank".to_string()
    } else {
        format!("{n}ranks")
    };
    let what = match bandwidth.map(|k| k.bus_factor(n)) {
        None => "",
        Some(Some(_)) => "-busbw",
        Some(None) => "-algbw",
    };
    format!("{}/{ranks}{what}", size_name(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bus_factors_follow_nccl_tests() {
        assert_eq!(Kind::AllReduce.bus_factor(2), Some(1.0));
        assert_eq!(Kind::AllReduce.bus_factor(8), Some(1.75));
        assert_eq!(Kind::AllGather.bus_factor(8), Some(0.875));
        assert_eq!(Kind::AllGather.bus_factor(4), Some(0.75));
        assert_eq!(Kind::Broadcast.bus_factor(8), Some(1.0));
        assert_eq!(Kind::SendRecv.bus_factor(3), Some(1.0));
        for kind in [
            Kind::AllReduce,
            Kind::AllGather,
            Kind::SendRecv,
            Kind::Broadcast,
        ] {
            assert_eq!(kind.bus_factor(1), None, "{kind:?}");
            assert_eq!(kind.bus_factor(0), None, "{kind:?}");
        }
    }

    #[test]
    fn sizes_shrink_with_quick_and_with_free_memory() {
        assert_eq!(latency_sizes(false).len(), 7);
        assert_eq!(latency_sizes(false)[0], 8);
        assert_eq!(*latency_sizes(false).last().unwrap(), MIB);
        assert_eq!(latency_sizes(true), vec![8, 4 * KIB, MIB]);
        assert_eq!(bandwidth_sizes(false, 140 * GIB), BANDWIDTH_SIZES.to_vec());
        assert_eq!(bandwidth_sizes(true, 140 * GIB), vec![64 * MIB, 256 * MIB]);
        assert_eq!(bandwidth_sizes(false, 2 * GIB), vec![64 * MIB, 256 * MIB]);
        assert!(bandwidth_sizes(false, 200 * MIB).is_empty());
    }

    #[test]
    fn gather_blocks_are_whole_words_and_the_output_their_sum() {
        assert_eq!(gather_block(64 * MIB, 8), 8 * MIB);
        assert_eq!(gather_block(64 * MIB, 1), 64 * MIB);
        assert_eq!(gather_block(64 * MIB, 3) % 4, 0);
        assert!(gather_block(64 * MIB, 3) * 3 <= 64 * MIB);
        assert_eq!(
            algorithm_bytes(Kind::AllGather, 64 * MIB, 3),
            gather_block(64 * MIB, 3) * 3
        );
        assert_eq!(algorithm_bytes(Kind::AllReduce, 8, 8), 8);
        assert_eq!(algorithm_bytes(Kind::Broadcast, GIB, 8), GIB);
    }

    #[test]
    fn small_collectives_are_batched_and_large_ones_not() {
        assert_eq!(reps(8), 50);
        assert_eq!(reps(64 * MIB), 4);
        assert_eq!(reps(256 * MIB), 1);
        assert_eq!(reps(GIB), 1);
    }

    #[test]
    fn a_sample_is_its_slowest_rank_and_bad_times_are_refused() {
        let t = slowest(&[vec![1.0, 4.0], vec![2.0, 3.0]]).unwrap();
        assert_eq!(t, vec![2.0, 4.0]);
        assert!(slowest(&[]).is_err());
        assert!(slowest(&[vec![1.0], vec![1.0, 2.0]]).is_err());
        assert!(slowest(&[vec![0.0]]).is_err());
        assert!(slowest(&[vec![f64::NAN]]).is_err());
    }

    #[test]
    fn bandwidth_is_bytes_over_time_times_the_factor() {
        // 1 GiB all-gathered over 8 ranks in 2.5 ms: 429.5 GB/s algbw, 375.8 busbw.
        let alg = gbps(GIB, 2.5e-3, 1.0);
        assert!((alg - 429.497).abs() < 1e-3, "{alg}");
        let bus = gbps(GIB, 2.5e-3, Kind::AllGather.bus_factor(8).unwrap());
        assert!((bus - alg * 0.875).abs() < 1e-9);
    }

    #[test]
    fn variants_name_the_size_the_ranks_and_which_bandwidth() {
        assert_eq!(size_name(8), "8B");
        assert_eq!(size_name(4 * KIB), "4KiB");
        assert_eq!(size_name(64 * MIB), "64MiB");
        assert_eq!(size_name(GIB), "1GiB");
        assert_eq!(size_name(1000), "1000B");
        assert_eq!(variant(8, 8, None), "8B/8ranks");
        assert_eq!(variant(8, 1, None), "8B/1rank");
        assert_eq!(
            variant(64 * MIB, 8, Some(Kind::AllGather)),
            "64MiB/8ranks-busbw"
        );
        assert_eq!(
            variant(64 * MIB, 1, Some(Kind::AllGather)),
            "64MiB/1rank-algbw"
        );
    }
}
