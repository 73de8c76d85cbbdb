use crate::baseline::InterposerIdentity;
use crate::error::{io_at, Result};
use object::{Object, ObjectSymbol};
use sha2::{Digest, Sha256};
use std::path::Path;

/// The first library mapped into this process that looks like a CUDA interposer:
/// one named in LD_PRELOAD or CUDA_REDIRECT, or HAMi-core's libvgpu. Reading
/// /proc/self/maps proves the library is loaded, not merely configured.
pub fn mapped_interposer() -> Option<String> {
    let maps = std::fs::read_to_string("/proc/self/maps").ok()?;
    find_interposer(&maps, &configured_libraries())
}

fn configured_libraries() -> Vec<String> {
    ["LD_PRELOAD", "CUDA_REDIRECT"]
        .iter()
        .filter_map(|v| std::env::var(v).ok())
        .flat_map(|v| {
            v.split([':', ' '])
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect()
}

fn find_interposer(maps: &str, configured: &[String]) -> Option<String> {
    maps.lines()
        .filter_map(|line| line.split_whitespace().nth(5))
        .find(|path| {
            let file = path.rsplit('/').next().unwrap_or(path);
            file.starts_with("libvgpu")
                || configured.iter().any(|c| {
                    let c_file = c.rsplit('/').next().unwrap_or(c);
                    *path == c.as_str() || (!c_file.is_empty() && file == c_file)
                })
        })
        .map(str::to_string)
}

/// Prefixes of symbols whose names carry an interposer's version.
const VERSION_SYMBOLS: [&str; 2] = ["GIT_HASH_", "GIT_BRANCH_"];

/// Reads `path`'s identity; a file that is no ELF library still gets its size and
/// hash.
pub fn identify(path: &Path) -> Result<InterposerIdentity> {
    let data = std::fs::read(path).map_err(io_at(path))?;
    let sha256 = Sha256::digest(&data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let elf = object::File::parse(&*data).ok();
    let build_id = elf
        .as_ref()
        .and_then(|f| f.build_id().ok().flatten())
        .map(|id| id.iter().map(|b| format!("{b:02x}")).collect());
    let mut version: Vec<String> = elf
        .iter()
        .flat_map(|f| f.symbols().chain(f.dynamic_symbols()))
        .filter_map(|sym| sym.name().ok().map(str::to_owned))
        .filter(|name| VERSION_SYMBOLS.iter().any(|p| name.starts_with(p)))
        .collect();
    version.sort();
    version.dedup();
    let debug_info = elf
        .as_ref()
        .is_some_and(|f| f.section_by_name(".debug_info").is_some());
    Ok(InterposerIdentity {
        path: path.to_string_lossy().into_owned(),
        size: data.len() as u64,
        sha256,
        build_id,
        version,
        debug_info,
    })
}

/// A folder name for a device: "NVIDIA H100 80GB HBM3" -> "nvidia-h100-80gb-hbm3".
pub fn slug(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    out.trim_end_matches('-').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_elf_library_is_named_by_hash_build_id_and_debug_info() {
        // This test binary is an ELF file with a build id and debug information.
        let exe = std::env::current_exe().unwrap();
        let id = identify(&exe).unwrap();
        assert_eq!(id.size, std::fs::metadata(&exe).unwrap().len());
        assert_eq!(id.sha256.len(), 64);
        assert!(id.debug_info, "{id:?}");
        assert!(id.version.is_empty(), "{id:?}");
        let dir = tempfile::tempdir().unwrap();
        let text = dir.path().join("not-elf.so");
        std::fs::write(&text, b"abc").unwrap();
        let plain = identify(&text).unwrap();
        assert_eq!(
            plain.sha256,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!((plain.build_id, plain.debug_info), (None, false));
        assert!(identify(&dir.path().join("absent.so")).is_err());
    }

    const MAPS: &str = "\
7f00-7f01 r-xp 00000000 08:01 1 /usr/lib/x86_64-linux-gnu/libc.so.6
7f02-7f03 r-xp 00000000 08:01 2 /opt/hami/lib/libvgpu.so
7f04-7f05 r-xp 00000000 08:01 3 /usr/lib/x86_64-linux-gnu/libcuda.so.580.1
7f06-7f07 rw-p 00000000 00:00 0
";

    #[test]
    fn finds_libvgpu_by_name() {
        assert_eq!(
            find_interposer(MAPS, &[]).as_deref(),
            Some("/opt/hami/lib/libvgpu.so")
        );
    }

    #[test]
    fn finds_a_configured_library_of_another_name() {
        let maps = MAPS.replace("libvgpu.so", "libshim.so");
        assert_eq!(find_interposer(&maps, &[]), None);
        let found = find_interposer(&maps, &["/elsewhere/libshim.so".into()]);
        assert_eq!(found.as_deref(), Some("/opt/hami/lib/libshim.so"));
    }

    #[test]
    fn libcuda_alone_is_no_interposer() {
        let maps = MAPS.replace("libvgpu.so", "libm.so.6");
        assert_eq!(find_interposer(&maps, &[]), None);
    }

    #[test]
    fn slugs_are_folder_safe() {
        assert_eq!(slug("NVIDIA H100 80GB HBM3"), "nvidia-h100-80gb-hbm3");
        assert_eq!(slug("  A/B__c "), "a-b-c");
    }
}
