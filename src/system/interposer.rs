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
