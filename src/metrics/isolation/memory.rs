//! IS-005, cross-tenant memory isolation: the victim writes a seeded pattern into an
//! allocation and reports its address; the aggressor, another process in its own
//! context, tries to read it through the raw address (a copy and a kernel) and
//! through a CUDA IPC handle; then the victim checks its data is unchanged. What each
//! path returned is saved, not only a verdict.

use super::ops::{CheckShared, ProbeMemory, ShareMemory};
use super::pattern::matched_words;
use super::record::{Pod, Role, ScenarioKind, Tenant};
use super::{spawn_pair, tenant_of, Scenario, Setting};
use crate::baseline::DeviceFacts;
use crate::cuda::IpcHandle;
use crate::error::{Error, Result};
use crate::run::Config;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Bytes the victim shares: several 2 MiB GPU pages, so a partly mapped range shows.
pub const SHARED_BYTES: usize = 8 << 20;

/// What the victim shared: where its data lies and how to map it by IPC.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SharedBuffer {
    pub address: u64,
    pub bytes: u64,
    /// `None` when the export was refused.
    pub ipc_handle: Option<IpcHandle>,
    /// CUresult name of `cuIpcGetMemHandle`.
    pub ipc_export: String,
}

/// What one way of reading the victim's memory returned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PathProbe {
    /// `CUDA_SUCCESS`, or the CUresult name of the call that refused.
    pub result: String,
    /// The call that refused, if one did.
    pub refused_by: Option<String>,
    pub bytes_read: u64,
    /// Words read that equal the victim's pattern at their position.
    pub matched_words: u64,
}

/// What a path gave the reader.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Access {
    /// A call refused: nothing was read.
    Refused,
    /// Bytes came back, but none of the victim's data (e.g. the reader's own memory
    /// at that address).
    ReadOther,
    /// The victim's data came back.
    ReadVictimData,
}

impl PathProbe {
    /// The probe of a path that read `data` (success) or was refused (a CUDA error);
    /// other errors are the probe's own failure and are returned.
    pub fn from_outcome(outcome: Result<Vec<u64>>, seed: u64) -> Result<Self> {
        match outcome {
            Ok(data) => Ok(Self {
                result: SUCCESS.to_owned(),
                refused_by: None,
                bytes_read: data.len() as u64 * 8,
                matched_words: matched_words(&data, seed),
            }),
            Err(Error::Cuda { call, name, .. }) => Ok(Self::refused(call, name)),
            Err(other) => Err(other),
        }
    }

    fn refused(call: &str, result: String) -> Self {
        Self {
            result,
            refused_by: Some(call.to_owned()),
            bytes_read: 0,
            matched_words: 0,
        }
    }

    pub fn access(&self) -> Access {
        if self.matched_words > 0 {
            Access::ReadVictimData
        } else if self.bytes_read > 0 {
            Access::ReadOther
        } else {
            Access::Refused
        }
    }
}

/// The CUresult name of a call that succeeded.
pub const SUCCESS: &str = "CUDA_SUCCESS";

/// What the aggressor's attempts returned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemoryProbe {
    /// Whether the victim's address lies in one of the aggressor's own allocations,
    /// so that reading it reads the aggressor's own memory.
    pub reader_owns_address: bool,
    /// `cuMemcpyDtoH` from the raw address.
    pub raw_copy: PathProbe,
    /// A kernel copying from the raw address (run last: a fault ends the context).
    pub raw_kernel: PathProbe,
    /// Through the IPC handle; `None` when the victim had none to give.
    pub ipc: Option<PathProbe>,
}

/// The victim's data after the probes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OwnerCheck {
    pub words: u64,
    /// Words no longer equal to the pattern.
    pub changed_words: u64,
    /// Where the victim could not read its own buffer back: the error its context
    /// gave (under MPS an aggressor's fault can end every client's context).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lost: Option<String>,
}

/// One path as saved: what it returned and what that gave the reader.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PathRecord {
    #[serde(flatten)]
    pub probe: PathProbe,
    pub access: Access,
}

impl From<PathProbe> for PathRecord {
    fn from(probe: PathProbe) -> Self {
        Self {
            access: probe.access(),
            probe,
        }
    }
}

/// What IS-005 concludes. IPC is an explicit sharing API, so what it allowed is
/// reported beside the verdict, never as a leak.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MemoryVerdict {
    /// No raw path read the victim's data, and the victim's data is unchanged.
    Isolated,
    /// A raw path read the victim's data.
    Leaked,
    /// No raw path read it, but the victim's data changed.
    Corrupted,
    /// No raw path read it, but the victim lost its context (and its data) to the
    /// aggressor's probes.
    VictimLost,
}

pub fn memory_verdict(raw: &[&PathProbe], owner: &OwnerCheck) -> MemoryVerdict {
    if raw.iter().any(|p| p.access() == Access::ReadVictimData) {
        MemoryVerdict::Leaked
    } else if owner.lost.is_some() {
        MemoryVerdict::VictimLost
    } else if owner.changed_words > 0 {
        MemoryVerdict::Corrupted
    } else {
        MemoryVerdict::Isolated
    }
}

/// An IS-005 scenario as run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemoryRecord {
    pub kind: ScenarioKind,
    pub scenario: String,
    pub pod: Pod,
    pub device: DeviceFacts,
    pub tool_version: String,
    pub finished_at: DateTime<Utc>,
    /// Wrote the pattern (the victim).
    pub owner: Tenant,
    /// Tried to read it (the aggressor).
    pub reader: Tenant,
    pub bytes: u64,
    pub seed: u64,
    pub address: u64,
    pub reader_owns_address: bool,
    pub raw_copy: PathRecord,
    pub raw_kernel: PathRecord,
    pub ipc: PathRecord,
    /// CUresult name of the victim's `cuIpcGetMemHandle`.
    pub ipc_export: String,
    pub owner_check: OwnerCheck,
    pub verdict: MemoryVerdict,
}

impl MemoryRecord {
    pub fn new(
        scenario: &Scenario,
        device: &DeviceFacts,
        (owner, reader): (Tenant, Tenant),
        seed: u64,
        shared: SharedBuffer,
        probe: MemoryProbe,
        owner_check: OwnerCheck,
    ) -> Self {
        let ipc = probe
            .ipc
            .unwrap_or_else(|| PathProbe::refused("cuIpcGetMemHandle", shared.ipc_export.clone()));
        let verdict = memory_verdict(&[&probe.raw_copy, &probe.raw_kernel], &owner_check);
        Self {
            kind: ScenarioKind::Memory,
            scenario: scenario.run_name(),
            pod: scenario.pod,
            device: device.clone(),
            tool_version: env!("CARGO_PKG_VERSION").to_owned(),
            finished_at: Utc::now(),
            owner,
            reader,
            bytes: shared.bytes,
            seed,
            address: shared.address,
            reader_owns_address: probe.reader_owns_address,
            raw_copy: probe.raw_copy.into(),
            raw_kernel: probe.raw_kernel.into(),
            ipc: ipc.into(),
            ipc_export: shared.ipc_export,
            owner_check,
            verdict,
        }
    }
}

/// Runs one IS-005 scenario: the victim shares, the aggressor probes, the victim checks.
pub(super) fn run_memory(
    scenario: &Scenario,
    configs: &[(Config, Role)],
    envs: &[BTreeMap<String, String>],
    setting: &Setting,
) -> Result<MemoryRecord> {
    let (owner_i, owner) = tenant_of(configs, envs, Role::Victim)?;
    let (reader_i, reader) = tenant_of(configs, envs, Role::Aggressor)?;
    let [mut owner_child, mut reader_child] = spawn_pair(envs, owner_i, reader_i)?;
    let seed = rand::random();
    let timeout = setting.timeout;

    let share = ShareMemory {
        bytes: SHARED_BYTES,
        seed,
    };
    let shared = owner_child.call(&share, timeout)?;
    let probe = ProbeMemory {
        address: shared.address,
        bytes: SHARED_BYTES,
        seed,
        ipc_handle: shared.ipc_handle,
    };
    let probe = reader_child.call(&probe, timeout)?;
    owner_child.send(&CheckShared)?;
    let check = match owner_child.reply(timeout) {
        Ok(check) => check,
        Err(e) => OwnerCheck {
            words: SHARED_BYTES as u64 / 8,
            changed_words: 0,
            lost: Some(e.to_string()),
        },
    };
    Ok(MemoryRecord::new(
        scenario,
        setting.facts,
        (owner, reader),
        seed,
        shared,
        probe,
        check,
    ))
}

#[cfg(test)]
mod tests {
    use super::super::pattern::pattern;
    use super::*;

    fn read(data: Vec<u64>, seed: u64) -> PathProbe {
        PathProbe::from_outcome(Ok(data), seed).unwrap()
    }

    fn refused(call: &'static str, name: &str) -> PathProbe {
        let err = Error::Cuda {
            call,
            name: name.into(),
            code: 1,
        };
        PathProbe::from_outcome(Err(err), 7).unwrap()
    }

    #[test]
    fn a_path_reads_victim_data_other_data_or_is_refused() {
        let victim = read(pattern(7, 16), 7);
        assert_eq!((victim.bytes_read, victim.matched_words), (128, 16));
        assert_eq!(victim.access(), Access::ReadVictimData);
        assert_eq!(victim.result, SUCCESS);
        assert_eq!(read(vec![0; 16], 7).access(), Access::ReadOther);
        let no = refused("cuMemcpyDtoH", "CUDA_ERROR_INVALID_VALUE");
        assert_eq!(no.access(), Access::Refused);
        assert_eq!(no.refused_by.as_deref(), Some("cuMemcpyDtoH"));
        assert_eq!(no.result, "CUDA_ERROR_INVALID_VALUE");
        assert!(PathProbe::from_outcome(Err(Error::NoDevice), 7).is_err());
    }

    #[test]
    fn only_raw_paths_decide_the_verdict_and_a_changed_owner_is_corruption() {
        let intact = OwnerCheck {
            words: 16,
            changed_words: 0,
            lost: None,
        };
        let no = refused("cuMemcpyDtoH", "CUDA_ERROR_INVALID_VALUE");
        let other = read(vec![0; 16], 7);
        let leak = read(pattern(7, 16), 7);
        assert_eq!(
            memory_verdict(&[&no, &other], &intact),
            MemoryVerdict::Isolated
        );
        assert_eq!(
            memory_verdict(&[&no, &leak], &intact),
            MemoryVerdict::Leaked
        );
        let changed = OwnerCheck {
            words: 16,
            changed_words: 3,
            lost: None,
        };
        assert_eq!(
            memory_verdict(&[&no, &no], &changed),
            MemoryVerdict::Corrupted
        );
        assert_eq!(memory_verdict(&[&leak], &changed), MemoryVerdict::Leaked);
        let lost = OwnerCheck {
            lost: Some("cuMemcpyDtoH failed with CUDA_ERROR_ILLEGAL_ADDRESS (700)".into()),
            ..intact
        };
        assert_eq!(
            memory_verdict(&[&no, &no], &lost),
            MemoryVerdict::VictimLost
        );
        assert_eq!(memory_verdict(&[&leak], &lost), MemoryVerdict::Leaked);
    }

    #[test]
    fn without_an_ipc_handle_the_export_refusal_is_the_ipc_path() {
        let scenario =
            super::super::select_scenarios(Some("memory-hami-50-vs-hami-50"), None, None)
                .unwrap()
                .remove(0);
        let config =
            Config::parse("hami-50", std::path::Path::new("/opt/libvgpu.so"), 1000).unwrap();
        let tenant = |name: &str, role| Tenant::new(name.into(), &config, role, BTreeMap::new());
        let device = DeviceFacts {
            name: "NVIDIA Test GPU".into(),
            cc: "8.0".into(),
            sms: 108,
            memory_mib: 1000,
            driver: "13.0".into(),
            clock_mhz: 1410,
        };
        let shared = SharedBuffer {
            address: 0x7f00_0000_0000,
            bytes: 128,
            ipc_handle: None,
            ipc_export: "CUDA_ERROR_NOT_SUPPORTED".into(),
        };
        let probe = MemoryProbe {
            reader_owns_address: false,
            raw_copy: refused("cuMemcpyDtoH", "CUDA_ERROR_INVALID_VALUE"),
            raw_kernel: refused("cuStreamSynchronize", "CUDA_ERROR_ILLEGAL_ADDRESS"),
            ipc: None,
        };
        let check = OwnerCheck {
            words: 16,
            changed_words: 0,
            lost: None,
        };
        let record = MemoryRecord::new(
            &scenario,
            &device,
            (tenant("t1", Role::Victim), tenant("t2", Role::Aggressor)),
            7,
            shared,
            probe,
            check,
        );
        assert_eq!(record.verdict, MemoryVerdict::Isolated);
        assert_eq!(record.ipc.access, Access::Refused);
        assert_eq!(
            record.ipc.probe.refused_by.as_deref(),
            Some("cuIpcGetMemHandle")
        );
        assert_eq!(record.ipc.probe.result, "CUDA_ERROR_NOT_SUPPORTED");
        let json = serde_json::to_value(&record).unwrap();
        assert_eq!(json["kind"], "memory");
        assert_eq!(json["raw_kernel"]["access"], "refused");
        assert_eq!(json["raw_kernel"]["result"], "CUDA_ERROR_ILLEGAL_ADDRESS");
        assert_eq!(json["owner"]["config"], "hami-50");
        assert_eq!(
            serde_json::from_value::<MemoryRecord>(json).unwrap(),
            record
        );
    }
}
