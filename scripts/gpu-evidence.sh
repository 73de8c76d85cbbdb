#!/usr/bin/env bash
# Runs the suite's GPU evidence on a machine with a GPU, from prebuilt binaries:
#   scripts/gpu-evidence.sh BIN_DIR OUT_DIR [quick|full|oh001|spread|isolation] [CONFIGS]
# quick/full: `run` over CONFIGS, then the OH-001 comparison; oh001: the comparison only;
# spread: OH-001 (a) run to run, RUNS times (default 8) one after another: the C loop,
# the C loop held on one core, and the harness in its full mode, each a fresh process;
# isolation: the default tenant scenarios, then one with a tenant killed mid-run, and a
# check that no tenant process or HAMi-core state file is left behind.
# BIN_DIR holds gpu-virt-bench and the `overhead` bench executable; HAMi-core's
# libvgpu.so must already be installed (default /usr/local/vgpu/libvgpu.so).
# Prints a short table last.
set -uo pipefail
bin=$(realpath "$1") out=$2 mode=${3:-quick} configs=${4:-native,hami-100,hami-50,hami-25}
mkdir -p "$out" && out=$(realpath "$out")
quick=(); [ "$mode" = quick ] && quick=(--quick)
cuda_home=${CUDA_HOME:-/usr/local/cuda}

"$bin/gpu-virt-bench" info 2>&1 | tee "$out/info.txt"

# The C launch loop, built once; arguments go before it (e.g. taskset -c 2).
c_loop() {
    [ -x "$out/launch_loop" ] ||
        gcc -O2 tools/launch_loop.c -I"$cuda_home/include" -L"$cuda_home/lib64/stubs" -lcuda -o "$out/launch_loop" &&
        "$@" "$out/launch_loop" kernels/ptx/launch.ptx
}

if [ "$mode" = spread ]; then
    for i in $(seq "${RUNS:-8}"); do
        echo "free     $(c_loop)"
        echo "core-2   $(c_loop taskset -c 2)"
        CRITERION_HOME="$out/spread" "$bin/overhead" --bench --save-baseline "run$i" OH-001/launch-call >>"$out/bench.log" 2>&1
        python3 - "$out/spread/overhead/OH-001/launch-call/run$i" <<'PY'
import json, sys
e = json.load(open(sys.argv[1] + "/estimates.json")); p = json.load(open(sys.argv[1] + "/percentiles.json"))
print(f"harness  launch-call median_us={e['median']['point_estimate']/1e3:.3f} p50_us={p['p50_ns']/1e3:.3f}")
PY
    done | tee "$out/oh001-spread.txt"
    python3 - "$out/oh001-spread.txt" <<'PY' | tee -a "$out/oh001-spread.txt"
import re, statistics, sys
runs = {}
for line in open(sys.argv[1]):
    kind = line.split()[0]
    for key, value in re.findall(r"(median|p50)_us=([\d.]+)", line):
        runs.setdefault(f"{kind} {key}", []).append(float(value))
for name, v in runs.items():
    steps = [abs(b - a) / min(a, b) * 100 for a, b in zip(v, v[1:])]
    print(f"{name:<16} {len(v)} runs: {min(v):.3f}..{max(v):.3f} us, max/min {max(v) / min(v):.3f}, "
          f"run to next run: median {statistics.median(steps):.1f} %, under 3 % in {sum(s < 3 for s in steps)} of {len(steps)}")
PY
    exit 0
fi

if [ "$mode" = isolation ]; then
    start=$(date +%s)
    "$bin/gpu-virt-bench" isolate --out "$out/baselines" 2>&1 | grep -v "HAMI-core" | tee "$out/isolate.log"
    echo "isolate: rc=${PIPESTATUS[0]}, $(($(date +%s) - start)) s" | tee "$out/run-time.txt"
    # The shapes outside the defaults, and one shared pod, into the same folder.
    shares=native-x2,hami-50-x2,hami-25-x4,hami-25-victim-hami-25-neighbour,hami-50-victim-native-aggressor
    "$bin/gpu-virt-bench" isolate --scenarios "$shares" --shapes 10ms,gemm-cublas --out "$out/baselines" --force >>"$out/isolate.log" 2>&1
    "$bin/gpu-virt-bench" isolate --pod shared --scenarios hami-50-x2,hami-25-x4 --shapes short,gemm --out "$out/baselines" --force >>"$out/isolate.log" 2>&1
    "$bin/gpu-virt-bench" isolate --scenarios native-x2 --out "$out/killed" >"$out/killed.log" 2>&1 &
    parent=$!
    sleep 8
    victim=$(pgrep -f 'gpu-virt-bench$' | head -1)
    kill -9 "$victim"
    wait "$parent"
    echo "killed tenant $victim: isolate rc=$? ($(tail -1 "$out/killed.log"))" | tee -a "$out/run-time.txt"
    sleep 1
    echo "left running: $(pgrep -fc 'gpu-virt-bench($| isolate)'), state folders left: $(find "${TMPDIR:-/tmp}" -maxdepth 1 -name 'gpu-virt-bench-*' | wc -l)" | tee -a "$out/run-time.txt"
    exit 0
fi

if [ "$mode" != oh001 ]; then
start=$(date +%s%N)
"$bin/gpu-virt-bench" run "${quick[@]}" --rounds "${ROUNDS:-1}" --configs "$configs" --out "$out/baselines" --force 2>&1 | tee "$out/run.log"
rc=$?
end=$(date +%s%N)
echo "run ${quick[*]} --rounds ${ROUNDS:-1} over $configs: rc=$rc, $(((end - start) / 1000000)) ms" | tee "$out/run-time.txt"
fi

# OH-001 (a): the harness against the C loop, alternated in one run, same GPU; launch
# latency drifts by 10-20 % between runs here, so pairs are compared, not blocks.
if [ -x "$bin/overhead" ]; then
    for i in $(seq "${PAIRS:-8}"); do
        c_loop | tee -a "$out/oh001-alternation.txt"
        CRITERION_HOME="$out/oh001" "$bin/overhead" --bench --quick --save-baseline "alt$i" OH-001/launch-call >>"$out/bench.log" 2>&1
        python3 - "$out/oh001/overhead/OH-001/launch-call/alt$i" <<'PY' | tee -a "$out/oh001-alternation.txt"
import json, sys
e = json.load(open(sys.argv[1] + "/estimates.json")); p = json.load(open(sys.argv[1] + "/percentiles.json"))
print(f"harness       launch-call p50_us={p['p50_ns']/1e3:.3f} mean_us={e['mean']['point_estimate']/1e3:.3f} p99_us={p['p99_ns']/1e3:.3f}")
PY
    done
    python3 - "$out/oh001-alternation.txt" <<'PY' | tee -a "$out/oh001-alternation.txt"
import re, statistics, sys
rows = [dict(re.findall(r"(\w+)_us=([\d.]+)", l)) for l in open(sys.argv[1]) if "launch-call" in l]
c, h = rows[0::2], rows[1::2]
for k in ("p50", "mean"):
    r = [float(b[k]) / float(a[k]) for a, b in zip(c, h)]
    print(f"harness/C {k}: median ratio {statistics.median(r):.3f} over {len(r)} pairs (min {min(r):.3f}, max {max(r):.3f})")
PY
fi

echo
echo "== summary (us or ns per call: median / p50 / p99)"
for s in "$out"/baselines/*/*/summary.json; do
    [ -f "$s" ] || continue
    python3 - "$s" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
run = json.load(open(sys.argv[1].replace("summary.json", "run.json")))
v = run["verification"]
print(f"-- {s['config']}: interposer={v['interposer_loaded']} mem={v['mem_total_reported_mib']}MiB "
      f"limit={v['mem_limit_mib']} refused={v['over_limit_refused']} "
      + " ".join(f"{x['shape']}={x['share_mean']:.2f}" for x in v['shapes']))
for e in s["entries"]:
    p50 = e.get("p50") or float("nan"); p99 = e.get("p99") or float("nan")
    print(f"   {e['id']} {e['variant']:<22} {e['median']:10.3f} {p50:10.3f} {p99:10.3f} {e['unit']}")
PY
done
cat "$out/oh001-alternation.txt" "$out"/run-time.txt 2>/dev/null
