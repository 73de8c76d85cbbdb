//! The cluster manifests under deploy/ against the CLI they run: every Job's command
//! line parses, writes its baselines where its volume is mounted, asks for the
//! resources its device plugin serves, and the image's entry point is this binary.
//! No cluster runs here; this is what can be checked without one.

use assert_cmd::Command;
use serde::Deserialize;
use serde_yaml::Value;
use std::fs;
use std::path::{Path, PathBuf};

fn deploy() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy")
}

/// Every document of a multi-document YAML file.
fn documents(file: &str) -> Vec<Value> {
    let text = fs::read_to_string(deploy().join(file)).unwrap();
    serde_yaml::Deserializer::from_str(&text)
        .map(|doc| Value::deserialize(doc).unwrap())
        .collect()
}

fn of_kind<'a>(docs: &'a [Value], kind: &str) -> Vec<&'a Value> {
    docs.iter().filter(|d| d["kind"] == kind).collect()
}

/// Checks each Job of `file` and returns the resource names its container asks for.
fn check_jobs(file: &str) -> Vec<Vec<String>> {
    let docs = documents(file);
    let claims: Vec<&Value> = of_kind(&docs, "PersistentVolumeClaim")
        .into_iter()
        .map(|pvc| &pvc["metadata"]["name"])
        .collect();
    let jobs = of_kind(&docs, "Job");
    assert!(!jobs.is_empty(), "{file} has no Job");
    jobs.iter()
        .map(|job| {
            let pod = &job["spec"]["template"]["spec"];
            assert_eq!(
                pod["restartPolicy"], "Never",
                "{file}: a failed run is not retried"
            );
            let container = &pod["containers"][0];
            assert!(
                container["command"].is_null(),
                "{file}: the image's entry point runs"
            );
            let args: Vec<String> = container["args"]
                .as_sequence()
                .unwrap()
                .iter()
                .map(|a| a.as_str().unwrap().to_owned())
                .collect();
            // Clap checks every argument before it reaches --help: exit 0 means the
            // command line parses, and nothing runs (an unknown flag exits 2).
            let out = Command::cargo_bin("gpu-virt-bench")
                .unwrap()
                .args(&args)
                .arg("--help")
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{file}: {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let out_dir = args
                .iter()
                .position(|a| a == "--out")
                .map(|i| args[i + 1].clone())
                .unwrap_or_else(|| panic!("{file}: {args:?} writes to the default folder"));
            let mount = &container["volumeMounts"][0];
            assert_eq!(
                mount["mountPath"].as_str(),
                Some(out_dir.as_str()),
                "{file}"
            );
            let volume = pod["volumes"]
                .as_sequence()
                .unwrap()
                .iter()
                .find(|v| v["name"] == mount["name"])
                .unwrap_or_else(|| panic!("{file}: no volume {:?}", mount["name"]));
            let claim = &volume["persistentVolumeClaim"]["claimName"];
            assert!(
                claims.contains(&claim),
                "{file}: claim {claim:?} is defined beside it"
            );
            container["resources"]["limits"]
                .as_mapping()
                .unwrap()
                .keys()
                .map(|k| k.as_str().unwrap().to_owned())
                .collect()
        })
        .collect()
}

#[test]
fn hami_jobs_ask_for_a_gpu_slice_and_measure_the_pod_as_it_is() {
    let resources = check_jobs("hami-job.yaml");
    for names in &resources {
        assert_eq!(
            names,
            &["nvidia.com/gpu", "nvidia.com/gpumem", "nvidia.com/gpucores"],
            "HAMi's resource names"
        );
    }
    let docs = documents("hami-job.yaml");
    let runs: Vec<String> = of_kind(&docs, "Job")
        .iter()
        .map(|job| {
            serde_yaml::to_string(&job["spec"]["template"]["spec"]["containers"][0]["args"])
                .unwrap()
        })
        .collect();
    assert!(
        runs.iter().any(|a| a.contains("current-uncontrolled")),
        "{runs:?}"
    );
    assert!(
        runs.iter().all(|a| !a.contains("native")),
        "native is refused in a HAMi pod"
    );
    assert!(runs.iter().any(|a| a.contains("isolate")), "{runs:?}");
}

#[test]
fn a_shared_gpu_job_asks_for_one_replica() {
    assert_eq!(check_jobs("shared-gpu-job.yaml"), [["nvidia.com/gpu"]]);
}

#[test]
fn the_image_runs_this_binary_built_from_the_committed_ptx() {
    let dockerfile = fs::read_to_string(deploy().join("Dockerfile")).unwrap();
    assert!(
        dockerfile.contains("cargo build --release --locked"),
        "{dockerfile}"
    );
    assert!(
        dockerfile.contains("target/release/gpu-virt-bench /usr/local/bin/gpu-virt-bench"),
        "{dockerfile}"
    );
    assert!(
        dockerfile.contains("ENTRYPOINT [\"gpu-virt-bench\"]"),
        "{dockerfile}"
    );
    let instructions: String = dockerfile
        .lines()
        .filter(|line| !line.trim_start().starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n")
        .to_lowercase();
    assert!(
        !instructions.contains("hami") && !instructions.contains("vgpu"),
        "no HAMi-core in the image: {instructions}"
    );
}
