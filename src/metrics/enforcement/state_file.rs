//! The state-file tamper: HAMi-core keeps a tenant's limits in a file that every
//! process of the tenant maps (named by CUDA_DEVICE_MEMORY_SHARED_CACHE), and a
//! process that starts reads its limits from that file when it exists. A tenant
//! that can write the file may so raise the limits of every process it starts next.
//! The probe assumes nothing of the file's layout: it looks for the configured
//! limits as the integers they must be stored as, and rewrites each one it finds.

use crate::error::{io_at, Result};
use crate::run::SHARED_CACHE_VAR;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// How far above the configured memory limit each word equal to it is set: past the
/// limit + 4 GiB the following child asks for, so that ask fits the new limit.
pub const RAISED_BY: u64 = 8 << 30;
/// What an SM limit word is set to: a whole device.
const SM_UNLIMITED: u32 = 100;

/// What the tenant's rewrite of its state file did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tampered {
    /// Why there was nothing to rewrite (no state file in this configuration, no
    /// memory limit to look for); `None` where the file was rewritten.
    pub absent: Option<String>,
    pub file_bytes: u64,
    /// Words found equal to the memory limit, every one rewritten to limit + 8 GiB.
    pub memory_words: u32,
    /// Words found equal to the SM limit, and whether they were rewritten (only
    /// where they could be told apart from other small integers of the file).
    pub sm_words: u32,
    pub sm_rewritten: bool,
}

/// What [`rewrite`] found and changed in the bytes of a state file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rewrite {
    pub memory_words: usize,
    pub sm_words: usize,
    pub sm_rewritten: bool,
}

/// Offsets of every 8-byte little-endian word of `bytes` equal to `value`, at any
/// byte offset (the layout is unknown, packed fields included), not overlapping.
pub fn find_u64(bytes: &[u8], value: u64) -> Vec<usize> {
    let needle = value.to_le_bytes();
    let mut found = Vec::new();
    let mut at = 0;
    while at + needle.len() <= bytes.len() {
        if bytes[at..at + needle.len()] == needle {
            found.push(at);
            at += needle.len();
        } else {
            at += 1;
        }
    }
    found
}

/// Offsets of the 4-byte little-endian words at 4-byte aligned offsets of `bytes`
/// equal to `value`: a small integer, unlike a limit in bytes, would match across
/// field boundaries at unaligned offsets.
fn find_u32_aligned(bytes: &[u8], value: u32) -> Vec<usize> {
    bytes
        .chunks_exact(4)
        .enumerate()
        .filter(|(_, word)| *word == value.to_le_bytes())
        .map(|(i, _)| i * 4)
        .collect()
}

/// Whether the words found equal to the SM limit are the SM limits and nothing else:
/// as many as the memory-limit words (one SM limit beside each memory limit) and
/// evenly spaced, 4 or 8 bytes apart, in one run (an array of them). A percentage is a small integer
/// that other fields of the file may hold too; anything else is ambiguous.
fn sm_words_unambiguous(sm: &[usize], memory_words: usize) -> bool {
    let strides: Vec<usize> = sm.windows(2).map(|w| w[1] - w[0]).collect();
    !sm.is_empty() && sm.len() == memory_words && strides.iter().all(|&s| s == strides[0] && s <= 8)
}

/// Rewrites `bytes` (a state file): every 8-byte word equal to `limit` becomes the
/// limit plus [`RAISED_BY`], and, where they are as many as those and evenly spaced
/// in one run, every aligned 4-byte word equal to `sm_pct` becomes 100.
pub fn rewrite(bytes: &mut [u8], limit: u64, sm_pct: Option<u32>) -> Rewrite {
    let memory = find_u64(bytes, limit);
    for &at in &memory {
        bytes[at..at + 8].copy_from_slice(&(limit + RAISED_BY).to_le_bytes());
    }
    let sm = sm_pct.map_or_else(Vec::new, |pct| find_u32_aligned(bytes, pct));
    let sm_rewritten = sm_words_unambiguous(&sm, memory.len());
    if sm_rewritten {
        for &at in &sm {
            bytes[at..at + 4].copy_from_slice(&SM_UNLIMITED.to_le_bytes());
        }
    }
    Rewrite {
        memory_words: memory.len(),
        sm_words: sm.len(),
        sm_rewritten,
    }
}

/// Maps `path` read-write, shared with every process that maps it, and [`rewrite`]s it.
pub fn rewrite_file(path: &Path, limit: u64, sm_pct: Option<u32>) -> Result<Tampered> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(io_at(path))?;
    let file_bytes = file.metadata().map_err(io_at(path))?.len();
    let done = if file_bytes == 0 {
        Rewrite {
            memory_words: 0,
            sm_words: 0,
            sm_rewritten: false,
        }
    } else {
        // SAFETY: the mapping is of a plain file of bytes; the processes of the
        // tenant that map it too may write it meanwhile, which leaves any byte this
        // probe reads or writes a byte.
        let mut map = unsafe { memmap2::MmapMut::map_mut(&file) }.map_err(io_at(path))?;
        let done = rewrite(&mut map, limit, sm_pct);
        map.flush().map_err(io_at(path))?;
        done
    };
    Ok(Tampered {
        absent: None,
        file_bytes,
        memory_words: done.memory_words as u32,
        sm_words: done.sm_words as u32,
        sm_rewritten: done.sm_rewritten,
    })
}

/// The tenant's side: the state file this process's environment names, rewritten.
pub fn tamper(limit: Option<u64>, sm_pct: Option<u32>) -> Result<Tampered> {
    let absent = |why: &str| Tampered {
        absent: Some(why.to_owned()),
        file_bytes: 0,
        memory_words: 0,
        sm_words: 0,
        sm_rewritten: false,
    };
    let Some(path) = std::env::var_os(SHARED_CACHE_VAR) else {
        return Ok(absent(
            "no CUDA_DEVICE_MEMORY_SHARED_CACHE: the configuration keeps no state file",
        ));
    };
    let Some(limit) = limit else {
        return Ok(absent("no memory limit configured to look for"));
    };
    rewrite_file(Path::new(&path), limit, sm_pct)
}

impl Tampered {
    /// What the rewrite did, in words, for the entry's detail.
    pub fn describe(&self, limit: Option<u64>, sm_pct: Option<u32>) -> String {
        if let Some(why) = &self.absent {
            return format!("state file not rewritten: {why}");
        }
        let limit = limit.unwrap_or_default();
        let mut text = format!(
            "state file of {} bytes: {} equal to the {} MiB limit",
            self.file_bytes,
            match self.memory_words {
                0 => "no 8-byte word".to_owned(),
                1 => "1 8-byte word".to_owned(),
                n => format!("{n} 8-byte words"),
            },
            limit >> 20
        );
        if self.memory_words > 0 {
            text += &format!(" found and rewritten to {} MiB", (limit + RAISED_BY) >> 20);
        }
        if let Some(pct) = sm_pct {
            text += &match (self.sm_words, self.sm_rewritten) {
                (0, _) => format!("; no word equal to the {pct} % SM limit"),
                (n, true) => format!("; {n} words equal to the {pct} % SM limit rewritten to 100"),
                (n, false) => format!(
                    "; {n} words equal to the {pct} % SM limit, not told apart from other \
                     fields, left alone"
                ),
            };
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMIT: u64 = 35_840 << 20;

    /// A file of no known layout: noise, then per-device arrays of both limits, a
    /// packed (unaligned) copy of the memory limit, and stray small integers.
    fn synthetic(sm_pct: u32, stray: &[usize]) -> Vec<u8> {
        let mut bytes: Vec<u8> = (0..4096u32).map(|i| (i * 37 % 251) as u8).collect();
        for device in 0..4 {
            bytes[512 + device * 8..520 + device * 8].copy_from_slice(&LIMIT.to_le_bytes());
            bytes[640 + device * 8..648 + device * 8]
                .copy_from_slice(&u64::from(sm_pct).to_le_bytes());
        }
        bytes[1001..1009].copy_from_slice(&LIMIT.to_le_bytes());
        for &at in stray {
            bytes[at..at + 4].copy_from_slice(&sm_pct.to_le_bytes());
        }
        bytes
    }

    #[test]
    fn every_copy_of_the_memory_limit_is_found_aligned_or_not() {
        let bytes = synthetic(25, &[]);
        assert_eq!(find_u64(&bytes, LIMIT), [512, 520, 528, 536, 1001]);
        assert_eq!(find_u64(&bytes[..8], LIMIT + 1), Vec::<usize>::new());
        assert_eq!(find_u64(&[0; 7], 0), Vec::<usize>::new());
        assert_eq!(find_u64(&[0; 16], 0), [0, 8]);
    }

    #[test]
    fn the_limits_are_raised_and_an_sm_limit_rewritten_only_where_unambiguous() {
        let mut bytes = synthetic(25, &[]);
        let before = bytes.clone();
        let done = rewrite(&mut bytes, LIMIT, None);
        assert_eq!(
            done,
            Rewrite {
                memory_words: 5,
                sm_words: 0,
                sm_rewritten: false
            }
        );
        assert_eq!(
            find_u64(&bytes, LIMIT + RAISED_BY),
            [512, 520, 528, 536, 1001]
        );
        assert_eq!(find_u64(&bytes, LIMIT), Vec::<usize>::new());
        let changed = (0..bytes.len()).filter(|&i| bytes[i] != before[i]).count();
        assert!(changed <= 5 * 8, "{changed} bytes changed");

        // One SM word per memory word, evenly spaced: rewritten to 100.
        let mut bytes = synthetic(25, &[]);
        bytes[1001..1009].copy_from_slice(&0u64.to_le_bytes());
        let done = rewrite(&mut bytes, LIMIT, Some(25));
        assert_eq!(
            (done.memory_words, done.sm_words, done.sm_rewritten),
            (4, 4, true)
        );
        assert_eq!(find_u32_aligned(&bytes, 100), [640, 648, 656, 664]);
        assert!(find_u32_aligned(&bytes, 25).is_empty());

        // A stray 25 elsewhere makes them ambiguous: memory only.
        let mut bytes = synthetic(25, &[2000]);
        bytes[1001..1009].copy_from_slice(&0u64.to_le_bytes());
        let done = rewrite(&mut bytes, LIMIT, Some(25));
        assert_eq!(
            (done.memory_words, done.sm_words, done.sm_rewritten),
            (4, 5, false)
        );
        assert_eq!(find_u32_aligned(&bytes, 25).len(), 5);
    }

    #[test]
    fn a_state_file_on_disk_is_rewritten_in_place_and_its_words_counted() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("probe.cache");
        let mut bytes = synthetic(50, &[]);
        bytes[1001..1009].copy_from_slice(&0u64.to_le_bytes());
        std::fs::write(&path, &bytes).unwrap();
        let tampered = rewrite_file(&path, LIMIT, Some(50)).unwrap();
        assert_eq!(
            (
                tampered.file_bytes,
                tampered.memory_words,
                tampered.sm_words
            ),
            (4096, 4, 4)
        );
        assert!(tampered.sm_rewritten && tampered.absent.is_none());
        let written = std::fs::read(&path).unwrap();
        assert_eq!(find_u64(&written, LIMIT + RAISED_BY), [512, 520, 528, 536]);
        assert_eq!(
            tampered.describe(Some(LIMIT), Some(50)),
            "state file of 4096 bytes: 4 8-byte words equal to the 35840 MiB limit found and \
             rewritten to 44032 MiB; 4 words equal to the 50 % SM limit rewritten to 100"
        );
        let untouched = Tampered {
            memory_words: 0,
            sm_words: 0,
            ..tampered
        };
        assert_eq!(
            untouched.describe(Some(LIMIT), None),
            "state file of 4096 bytes: no 8-byte word equal to the 35840 MiB limit"
        );
        let empty = dir.path().join("empty.cache");
        std::fs::write(&empty, b"").unwrap();
        assert_eq!(rewrite_file(&empty, LIMIT, None).unwrap().memory_words, 0);
        assert!(rewrite_file(&dir.path().join("missing"), LIMIT, None).is_err());
    }
}
