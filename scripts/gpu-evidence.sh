#!/usr/bin/env bash
# Runs the suite's GPU evidence on a machine with a GPU, from prebuilt binaries:
#   scripts/gpu-evidence.sh BIN_DIR OUT_DIR [quick|full|cloop|spread|smshare|isolation|sharing|current|mps-tenants|bench-config|enforcement|categories|l2|exec|hopper|hopper-ncu] [CONFIGS]
# quick/full: `run` of the OH and LLM metrics (METRICS to choose others) over CONFIGS
# (ROUNDS rounds, default 3), every log line timestamped;
# cloop: PAIRS times (default 5) the C loop of every per-call
# metric (tools/driver_loop.c) then the harness on the same calls, alternated in one
# run; spread: OH-001 (a) run to run, RUNS times (default 8) one after another: the C
# loop, the C loop held on one core, and the harness in its full mode, each a fresh
# process; smshare: the SM-share kernels (clock spin against fma_work) natively and as
# clients of a private MPS daemon at 50 % and 25 % active threads (tools/sm_share.c);
# isolation: the default tenant scenarios (with EXTRA=1 also the other shapes and a
# shared pod), then one with a tenant killed mid-run, and a check that no tenant
# process or HAMi-core state file is left behind; sharing: `run --quick` of the OH
# and LLM metrics (METRICS to choose others) over CONFIGS (default native, hami-50,
# hami-25, mps-50, mps-25; ROUNDS, default 2), every log line timestamped, then a
# run interrupted as Ctrl-C does (SIGINT to its process group) and one whose worker
# is killed (SIGKILL), each checked for MPS processes, scratch folders and exports
# left behind; current: HAMi-core loaded through /etc/ld.so.preload with a pod's
# limit variables (POD_MEMORY, default 71577m; POD_SM, default 50), `native` refused
# there, then `current` and `current-uncontrolled` (the file is removed afterwards;
# an existing one is never replaced); mps-tenants: the MPS isolation scenarios;
# bench-config: the bench executable under GPU_VIRT_BENCH_CONFIG (built-in, MPS and
# file-defined names) and Criterion's own change report against native, then the
# MPS example of configs/ through `run --config-file`; enforcement: every ENF probe (IDS to
# choose) over CONFIGS (default native, hami-100, hami-50); exec: the PyTorch example
# (examples/pytorch_workload.py --quick) through `exec` over CONFIGS (default native,
# hami-50, hami-25, mps-25), two rounds of two runs, with its comparison and report;
# categories: `run --quick` of the BW, PCIE, CACHE, SCHED, FRAG and ERR metrics over
# CONFIGS (default native, hami-50, hami-25; ROUNDS, default 1), timestamped;
# l2: the CACHE read kernel over the sweep's set sizes (tools/l2_read.c), alone and
# under Nsight Compute for each set's L2 hit rate and DRAM bytes;
# hopper: PyTorch's flash SDPA and bf16 matmul at the shapes of LLM-001 and LLM-008
# (scripts/torch-reference.py with $PYTHON, default python3), then `run` of LLM-001,
# LLM-003 and LLM-008 in full mode (both kernel generations where the GPU runs the
# Hopper ones) over CONFIGS (default native, hami-50, hami-25; ROUNDS, default 1),
# and PyTorch again; hopper-ncu: one Nsight Compute reading (tensor pipe, time,
# registers) of the first launch of each Hopper kernel in a native run of LLM-001 and
# LLM-008 (the GEMMs' first is at 8192^3, the attention's at S4096).
# BIN_DIR holds gpu-virt-bench and the `overhead` bench executable; HAMi-core's
# libvgpu.so must already be installed (default /usr/local/vgpu/libvgpu.so).
# Prints a short table last.
set -uo pipefail
bin=$(realpath "$1") out=$2 mode=${3:-quick} configs=${4:-native,hami-100,hami-50,hami-25}
mkdir -p "$out" && out=$(realpath "$out")
quick=(); [ "$mode" = quick ] && quick=(--quick)
cuda_home=${CUDA_HOME:-/usr/local/cuda}
ptx=kernels/ptx/launch.ptx

"$bin/gpu-virt-bench" info 2>&1 | tee "$out/info.txt"

# A C tool of tools/, built once into $out/NAME.
tool() {
    [ -x "$out/$1" ] ||
        gcc -O2 "tools/$1.c" -I"$cuda_home/include" -L"$cuda_home/lib64/stubs" -lcuda -ldl -o "$out/$1"
}
tool driver_loop && tool sm_share && tool l2_read || exit 1

# MPS processes started since this script began (the machine's own are left alone),
# and the suite's scratch folders still there.
mps_before=$(pgrep -f nvidia-cuda-mps | sort)
mps_ours() { comm -13 <(echo "$mps_before") <(pgrep -f nvidia-cuda-mps | sort); }
# Each of those with its parent, state (Z: exited, not yet reaped) and command line.
mps_detail() { for p in $(mps_ours); do ps -o pid=,ppid=,stat=,etime=,args= -p "$p"; done; }
scratch_left() { find "${TMPDIR:-/tmp}" -maxdepth 1 -name 'gpu-virt-bench-*' | wc -l; }
# The ids `list` shows whose prefix matches the regex $1 (e.g. 'OH|LLM'), comma-separated.
ids() { "$bin/gpu-virt-bench" list | awk -v re="^($1)-" '$1 ~ re {print $1}' | paste -sd,; }

if [ "$mode" = spread ]; then
    for i in $(seq "${RUNS:-8}"); do
        echo "free     $("$out/driver_loop" $ptx 1 launch-call)"
        echo "core-2   $(taskset -c 2 "$out/driver_loop" $ptx 1 launch-call)"
        CRITERION_HOME="$out/spread" "$bin/overhead" --bench --save-baseline "run$i" OH-001/launch-call >>"$out/bench.log" 2>&1
        python3 - "$out/spread/overhead/OH-001/launch-call/run$i" <<'PY'
import json, sys
e = json.load(open(sys.argv[1] + "/estimates.json")); p = json.load(open(sys.argv[1] + "/percentiles.json"))
print(f"harness  launch-call median_ns={e['median']['point_estimate']:.1f} p50_ns={p['p50_ns']:.1f}")
PY
    done | tee "$out/oh001-spread.txt"
    python3 - "$out/oh001-spread.txt" <<'PY' | tee -a "$out/oh001-spread.txt"
import re, statistics, sys
runs = {}
for line in open(sys.argv[1]):
    kind = line.split()[0]
    for key, value in re.findall(r"(median|p50)_ns=([\d.]+)", line):
        runs.setdefault(f"{kind} {key}", []).append(float(value))
for name, v in runs.items():
    steps = [abs(b - a) / min(a, b) * 100 for a, b in zip(v, v[1:])]
    print(f"{name:<16} {len(v)} runs: {min(v):.1f}..{max(v):.1f} ns, max/min {max(v) / min(v):.3f}, "
          f"run to next run: median {statistics.median(steps):.1f} %, under 3 % in {sum(s < 3 for s in steps)} of {len(steps)}")
PY
    exit 0
fi

if [ "$mode" = smshare ]; then
    # The grid is sized from the physical SMs, read natively: an MPS client's device
    # attribute reports its partition.
    sms=$(awk '/^SMs/ {print $2}' "$out/info.txt") mhz=$(awk '/^SM clock/ {print $3}' "$out/info.txt")
    fma=${FMA_PER_SM_CLOCK:-128}
    "$out/sm_share" $ptx "$sms" "$mhz" "$fma" 3 | sed 's/^/native /' | tee "$out/sm-share.txt"
    pipe=$(mktemp -d) logs=$(mktemp -d)
    stop_mps() {
        CUDA_MPS_PIPE_DIRECTORY=$pipe nvidia-cuda-mps-control <<<quit 2>/dev/null
        for _ in $(seq 50); do [ -z "$(mps_ours)" ] && break; sleep 0.2; done
        rm -rf "$pipe" "$logs"
    }
    trap stop_mps EXIT
    CUDA_MPS_PIPE_DIRECTORY=$pipe CUDA_MPS_LOG_DIRECTORY=$logs nvidia-cuda-mps-control -d || exit 1
    for pct in 50 25; do
        CUDA_MPS_PIPE_DIRECTORY=$pipe CUDA_MPS_ACTIVE_THREAD_PERCENTAGE=$pct \
            "$out/sm_share" $ptx "$sms" "$mhz" "$fma" 3 | sed "s/^/mps-$pct /" | tee -a "$out/sm-share.txt"
    done
    stop_mps
    trap - EXIT
    echo "MPS processes of this script left: $(mps_ours | wc -w); the machine's own: $(echo $mps_before | wc -w)" | tee -a "$out/sm-share.txt"
    python3 - "$out/sm-share.txt" <<'PY' | tee -a "$out/sm-share.txt"
import re, sys
rate = {}
for line in open(sys.argv[1]):
    m = re.match(r"(\S+) sm-share (\S+) (\S+) .*kernels_per_s=([\d.]+) attribute_sms=(\d+)", line)
    if m:
        rate[(m[1], m[2], m[3])] = (float(m[4]), int(m[5]))
print("| kernel | shape | MPS 50 %: share of native | MPS 25 %: share of native |")
print("|---|---|---|---|")
for kernel, shape in sorted({(k, s) for _, k, s in rate}):
    native = rate[("native", kernel, shape)][0]
    cells = [f"{rate[(c, kernel, shape)][0] / native:.3f} ({rate[(c, kernel, shape)][1]} SMs shown)"
             for c in ("mps-50", "mps-25") if (c, kernel, shape) in rate]
    print(f"| {kernel} | {shape} | " + " | ".join(cells) + " |")
PY
    exit 0
fi

if [ "$mode" = isolation ]; then
    start=$(date +%s)
    "$bin/gpu-virt-bench" isolate --out "$out/baselines" 2>&1 | grep -v "HAMI-core" | tee "$out/isolate.log"
    echo "isolate: rc=${PIPESTATUS[0]}, $(($(date +%s) - start)) s" | tee "$out/run-time.txt"
    # With EXTRA=1: the shapes outside the defaults, and one shared pod, into the
    # same folder.
    if [ "${EXTRA:-0}" = 1 ]; then
        shares=native-x2,hami-50-x2,hami-25-x4,hami-25-victim-hami-25-neighbour,hami-50-victim-native-aggressor
        "$bin/gpu-virt-bench" isolate --scenarios "$shares" --shapes 10ms,gemm-cublas --out "$out/baselines" --force >>"$out/isolate.log" 2>&1
        "$bin/gpu-virt-bench" isolate --pod shared --scenarios hami-50-x2,hami-25-x4 --shapes short,gemm --out "$out/baselines" --force >>"$out/isolate.log" 2>&1
    fi
    "$bin/gpu-virt-bench" isolate --scenarios native-x2 --out "$out/killed" >"$out/killed.log" 2>&1 &
    parent=$!
    sleep 8
    victim=$(pgrep -f 'gpu-virt-bench$' | head -1)
    kill -9 "$victim"
    wait "$parent"
    echo "killed tenant $victim: isolate rc=$? ($(tail -1 "$out/killed.log"))" | tee -a "$out/run-time.txt"
    sleep 1
    echo "left running: $(pgrep -fc 'gpu-virt-bench($| isolate)'), state folders left: $(scratch_left)" | tee -a "$out/run-time.txt"
    exit 0
fi

# Prefixes every line with the seconds since the epoch, so a phase's time can be
# read off the log.
stamp() { python3 -u -c 'import sys, time
for line in sys.stdin: sys.stdout.write(f"{time.time():.3f} {line}")'; }

if [ "$mode" = sharing ]; then
    configs=${4:-native,hami-50,hami-25,mps-50,mps-25}
    metrics=${METRICS:-$(ids 'OH|LLM')}
    start=$(date +%s%N)
    "$bin/gpu-virt-bench" run --quick --rounds "${ROUNDS:-2}" --configs "$configs" --metrics "$metrics" \
        --out "$out/baselines" --force --verbose 2>&1 | stamp | tee "$out/run.log"
    rc=${PIPESTATUS[0]}
    echo "run --quick --rounds ${ROUNDS:-2} over $configs (OH, LLM): rc=$rc, $((($(date +%s%N) - start) / 1000000)) ms; MPS processes left: $(mps_ours | wc -w), scratch folders left: $(scratch_left)" | tee "$out/run-time.txt"
    "$bin/gpu-virt-bench" compare "$out/baselines" >"$out/comparison.md" 2>&1
    # Interrupted: once the worker runs, SIGINT to the whole process group (Ctrl-C);
    # then a worker killed with SIGKILL. Neither may leave a daemon, a scratch folder
    # or an export behind.
    for how in sigint sigkill; do
        setsid "$bin/gpu-virt-bench" run --quick --configs mps-50 --metrics OH-001,OH-005 --out "$out/$how" >"$out/$how.log" 2>&1 &
        pid=$!
        for _ in $(seq 200); do pgrep -f 'gpu-virt-bench worker --job' >/dev/null && break; sleep 0.05; done
        sleep 3
        worker=$(pgrep -f 'gpu-virt-bench worker --job' | head -1)
        during=$(mps_ours | wc -w)
        case $how in
            sigint) kill -INT -- "-$pid" ;;
            sigkill) kill -KILL "$worker" ;;
        esac
        wait "$pid"
        rc=$?
        sleep 1
        echo "$how (worker $worker, MPS processes during: $during): rc=$rc, '$(tail -1 "$out/$how.log")'; MPS processes left: $(mps_ours | wc -w), scratch folders left: $(scratch_left), exports: $(find "$out/$how" -name run.json 2>/dev/null | wc -l)" | tee -a "$out/run-time.txt"
        mps_detail | sed "s/^/  $how left: /" | tee -a "$out/run-time.txt"
    done
    exit 0
fi

if [ "$mode" = current ]; then
    lib=${HAMI_LIB:-/usr/local/vgpu/libvgpu.so}
    if [ -e /etc/ld.so.preload ]; then
        echo "/etc/ld.so.preload exists; not replacing it" | tee "$out/current.txt"
        exit 1
    fi
    state=$(mktemp -d)
    restore() { rm -f /etc/ld.so.preload; rm -rf "$state"; }
    trap restore EXIT INT TERM
    echo "$lib" >/etc/ld.so.preload
    export CUDA_DEVICE_MEMORY_LIMIT=${POD_MEMORY:-71577m} CUDA_DEVICE_SM_LIMIT=${POD_SM:-50} \
        CUDA_DEVICE_MEMORY_SHARED_CACHE=$state/pod.cache
    "$bin/gpu-virt-bench" run --configs native --out "$out/refused" >"$out/native-refused.txt" 2>&1
    echo "rc=$?" >>"$out/native-refused.txt"
    "$bin/gpu-virt-bench" info >"$out/info-in-pod.txt" 2>&1
    metrics=${METRICS:-$(ids 'OH|LLM')}
    "$bin/gpu-virt-bench" run --quick --rounds 1 --configs current,current-uncontrolled --metrics "$metrics" \
        --out "$out/baselines" --force --verbose 2>&1 | tee "$out/run.log"
    echo "run current,current-uncontrolled: rc=${PIPESTATUS[0]}" | tee "$out/current.txt"
    "$bin/gpu-virt-bench" compare "$out/baselines" >"$out/comparison.md" 2>&1
    restore
    trap - EXIT INT TERM
    echo "ld.so.preload left: $([ -e /etc/ld.so.preload ] && echo yes || echo no); HAMi-core default state file: $(ls /tmp/cudevshr.cache 2>/dev/null || echo none)" | tee -a "$out/current.txt"
    exit 0
fi

if [ "$mode" = mps-tenants ]; then
    "$bin/gpu-virt-bench" isolate --scenarios mps-50-x2,mps-25-x4,mps-50-victim-native-aggressor,memory-mps-50-vs-mps-50,fault-mps-50-vs-mps-50 \
        --shapes short --secs "${SECS:-4}" --out "$out/baselines" --force 2>&1 | tee "$out/isolate.log"
    echo "isolate (MPS tenants): rc=${PIPESTATUS[0]}; MPS processes left: $(mps_ours | wc -w)" | tee "$out/run-time.txt"
    mps_detail | tee -a "$out/run-time.txt"
    exit 0
fi

if [ "$mode" = bench-config ]; then
    lib=${HAMI_LIB:-/usr/local/vgpu/libvgpu.so}
    bench() { # NAME BASELINE-FLAG...
        local name=$1
        shift
        GPU_VIRT_BENCH_CONFIG=$name GPU_VIRT_BENCH_HAMI_LIB=$lib GPU_VIRT_BENCH_VERIFY_SECS=4.5 CRITERION_HOME="$out/criterion" \
            "$bin/overhead" --bench "$@" OH-005 >"$out/bench-$name.log" 2>&1
        echo "GPU_VIRT_BENCH_CONFIG=$name overhead --bench $* OH-005: rc=$?" | tee -a "$out/bench-config.txt"
    }
    bench native --save-baseline native
    bench hami-50 --baseline native
    bench mps-25 --save-baseline mps-25
    GPU_VIRT_BENCH_CONFIG_FILE=configs/hami-per-device.toml bench hami-dev0-20g --save-baseline hami-dev0-20g
    for file in configs/mps.toml; do
        name=$(awk -F'"' '/^name/ {print $2; exit}' "$file")
        "$bin/gpu-virt-bench" run --config-file "$file" --configs "$name" --quick --rounds 1 --metrics OH-001,OH-005 \
            --out "$out/baselines" --force >"$out/run-$name.log" 2>&1
        echo "run --config-file $file --configs $name: rc=$?" | tee -a "$out/bench-config.txt"
    done
    exit 0
fi

if [ "$mode" = enforcement ]; then
    configs=${4:-native,hami-100,hami-50}
    enf=${IDS:-$(ids ENF)}
    start=$(date +%s)
    "$bin/gpu-virt-bench" run --quick --rounds 1 --configs "$configs" --metrics "$enf" --out "$out/baselines" --force --verbose 2>&1 | stamp | tee "$out/run.log"
    echo "run --quick ENF over $configs: rc=${PIPESTATUS[0]}, $(($(date +%s) - start)) s; GPU memory used now: $(nvidia-smi --query-gpu=memory.used --format=csv,noheader)" | tee "$out/run-time.txt"
    "$bin/gpu-virt-bench" compare "$out/baselines" >"$out/comparison.md" 2>&1
    exit 0
fi

if [ "$mode" = categories ]; then
    configs=${4:-native,hami-50,hami-25}
    metrics=${METRICS:-$(ids 'BW|PCIE|CACHE|SCHED|FRAG|ERR')}
    start=$(date +%s)
    "$bin/gpu-virt-bench" run --quick --rounds "${ROUNDS:-1}" --configs "$configs" --metrics "$metrics" \
        --out "$out/baselines" --force --verbose 2>&1 | stamp | tee "$out/run.log"
    echo "run --quick of BW, PCIE, CACHE, SCHED, FRAG and ERR over $configs: rc=${PIPESTATUS[0]}, $(($(date +%s) - start)) s" | tee "$out/run-time.txt"
    "$bin/gpu-virt-bench" compare "$out/baselines" >"$out/comparison.md" 2>&1
    exit 0
fi

if [ "$mode" = l2 ]; then
    "$out/l2_read" kernels/ptx/cache.ptx | tee "$out/l2-read.txt"
    ncu=${NCU:-$(command -v ncu || echo "$cuda_home/bin/ncu")}
    "$ncu" -k read_sum --metrics lts__t_sector_hit_rate.pct,dram__bytes_read.sum,lts__t_sectors_op_read.sum \
        --csv "$out/l2_read" kernels/ptx/cache.ptx >"$out/l2-ncu.csv" 2>"$out/l2-ncu.log"
    echo "ncu rc=$?" | tee -a "$out/l2-read.txt"
    exit 0
fi

if [ "$mode" = hopper ]; then
    configs=${4:-native,hami-50,hami-25}
    torch_ref() { "${PYTHON:-python3}" scripts/torch-reference.py 2>&1 | stamp | tee -a "$out/torch-reference.txt"; }
    torch_ref
    start=$(date +%s)
    "$bin/gpu-virt-bench" run --rounds "${ROUNDS:-1}" --configs "$configs" --metrics LLM-001,LLM-003,LLM-008 \
        --out "$out/baselines" --force --verbose 2>&1 | stamp | tee "$out/run.log"
    echo "run of LLM-001, LLM-003, LLM-008 over $configs: rc=${PIPESTATUS[0]}, $(($(date +%s) - start)) s" | tee "$out/run-time.txt"
    "$bin/gpu-virt-bench" compare "$out/baselines" >"$out/comparison.md" 2>&1
    torch_ref
    exit 0
fi

if [ "$mode" = hopper-ncu ]; then
    ncu=${NCU:-$(command -v ncu || echo "$cuda_home/bin/ncu")}
    # the first launch of each kernel whose name holds sm90, in the worker processes
    "$ncu" --target-processes all --kernel-id ::regex:sm90:1 --csv --metrics \
        gpu__time_duration.sum,launch__grid_size,launch__registers_per_thread,sm__pipe_tensor_op_hmma_cycles_active.avg.pct_of_peak_sustained_active,sm__inst_executed_pipe_tensor_op_gmma.sum,sm__throughput.avg.pct_of_peak_sustained_elapsed \
        "$bin/gpu-virt-bench" run --configs native --metrics LLM-001,LLM-008 --out "$out/ncu-run" \
        >"$out/ncu-sm90.csv" 2>"$out/ncu-sm90.log"
    echo "ncu of the Hopper kernels: rc=$?" | tee -a "$out/run-time.txt"
    exit 0
fi

if [ "$mode" = exec ]; then
    configs=${4:-native,hami-50,hami-25,mps-25}
    start=$(date +%s)
    "$bin/gpu-virt-bench" exec --configs "$configs" --rounds 2 --runs 2 --verify-secs 4.5 --name pytorch \
        --out "$out/baselines" --force --verbose -- python3 examples/pytorch_workload.py --quick 2>&1 | stamp | tee "$out/exec.log"
    echo "exec over $configs: rc=${PIPESTATUS[0]}, $(($(date +%s) - start)) s" | tee "$out/run-time.txt"
    "$bin/gpu-virt-bench" compare "$out/baselines" >"$out/comparison.md" 2>&1
    "$bin/gpu-virt-bench" report "$out/baselines" --out "$out/report" >>"$out/run-time.txt" 2>&1
    exit 0
fi

if [ "$mode" != cloop ]; then
start=$(date +%s%N)
metrics=${METRICS:-$(ids 'OH|LLM')}
"$bin/gpu-virt-bench" run "${quick[@]}" --rounds "${ROUNDS:-3}" --configs "$configs" --metrics "$metrics" \
    --out "$out/baselines" --force --verbose 2>&1 | stamp | tee "$out/run.log"
rc=${PIPESTATUS[0]}
end=$(date +%s%N)
echo "run ${quick[*]} --rounds ${ROUNDS:-3} over $configs: rc=$rc, $(((end - start) / 1000000)) ms" | tee "$out/run-time.txt"
fi

# Every per-call metric against the C loop of the same calls, alternated in one run on
# one GPU: these figures drift by 10-20 % between runs here, so pairs are compared,
# not blocks. The harness's figures are the per-call histogram of the calls
# Criterion timed (p50, mean), the C loop's its own calls.
if [ "$mode" = cloop ]; then
    : >"$out/cloop-pairs.txt"
    for i in $(seq "${PAIRS:-5}"); do
        "$out/driver_loop" $ptx 0.5 | sed "s/^/pair $i /" >>"$out/cloop-pairs.txt"
        for metric in OH-001 OH-002 OH-003 OH-005; do
            CRITERION_HOME="$out/cloop" "$bin/overhead" --bench --quick --save-baseline "pair$i" "$metric" >>"$out/bench.log" 2>&1
        done
        # The same OH-005 calls with libcuda loaded at start-up, as the C loop links
        # it, instead of dlopen'ed: tells the cost of dynamic TLS in the driver.
        CRITERION_HOME="$out/cloop" LD_PRELOAD=libcuda.so.1 "$bin/overhead" --bench --quick --save-baseline "linked$i" OH-005 >>"$out/bench.log" 2>&1
        # The C loop again, after the harness: how far the C loop moves from itself.
        "$out/driver_loop" $ptx 0.5 | sed "s/^c-loop/c-loop-again/; s/^/pair $i /" >>"$out/cloop-pairs.txt"
        python3 - "$out/cloop" "$i" <<'PY' >>"$out/cloop-pairs.txt"
import glob, json, os, sys
for who, baseline in (("harness", "pair"), ("harness-linked", "linked")):
    for est in sorted(glob.glob(f"{sys.argv[1]}/overhead/*/*/{baseline}{sys.argv[2]}/estimates.json")):
        d = os.path.dirname(est); p = json.load(open(d + "/percentiles.json"))
        metric, variant = d.split("/")[-3:-1]
        print(f"pair {sys.argv[2]} {who} {metric}/{variant} n={p['count']} p50_ns={p['p50_ns']:.1f} mean_ns={p['mean_ns']:.1f} p99_ns={p['p99_ns']:.1f}")
PY
    done
    python3 - "$out/cloop-pairs.txt" <<'PY' | tee "$out/cloop-comparison.md"
import re, statistics, sys
suite_of = {"launch-call": "OH-001/launch-call", "launch-sync": "OH-001/launch-sync",
            "cuDriverGetVersion": "OH-005/cuDriverGetVersion", "cuCtxGetDevice": "OH-005/cuCtxGetDevice",
            "cuDeviceGetAttribute": "OH-005/cuDeviceGetAttribute"}
for size in ("4KiB", "1MiB", "64MiB", "1GiB"):
    suite_of[f"alloc-{size}"], suite_of[f"free-{size}"] = f"OH-002/{size}", f"OH-003/{size}"
rows = {}
for line in open(sys.argv[1]):
    m = re.match(r"pair (\d+) (c-loop-again|c-loop|harness-linked|harness) (\S+) n=\d+ p50_ns=([\d.]+) mean_ns=([\d.]+) p99_ns=([\d.]+)", line)
    if m:
        op = m[3] if m[2].startswith("harness") else suite_of[m[3]]
        rows.setdefault(op, {}).setdefault(int(m[1]), {})[m[2]] = (float(m[4]), float(m[5]), float(m[6]))
# Ratios to the pair's first C loop: p50 median (range) over the pairs that have both.
def ratio(op, who, k=0):
    r = [p[who][k] / p["c-loop"][k] for p in rows[op].values() if who in p and "c-loop" in p]
    return (statistics.median(r), min(r), max(r)) if r else None
fmt = lambda r: f"{r[0]:.3f} ({r[1]:.2f}-{r[2]:.2f})" if r else "-"
print("| metric | C loop p50 / mean / p99 (ns, median over pairs) | harness p50 / mean / p99 | harness/C p50: median (range) over pairs | harness/C mean | C loop again / C p50 (the C loop's own drift) | harness, libcuda linked / C p50 | within 10 % (p50) |")
print("|---|---|---|---|---|---|---|---|")
for op in sorted(rows):
    pairs = [v for v in rows[op].values() if "harness" in v and "c-loop" in v]
    if not pairs:
        continue
    fig = lambda who: " / ".join(f"{statistics.median(p[who][k] for p in pairs):.1f}" for k in range(3))
    r50 = ratio(op, "harness")
    print(f"| {op} | {fig('c-loop')} | {fig('harness')} | {fmt(r50)} | {fmt(ratio(op, 'harness', 1))} | "
          f"{fmt(ratio(op, 'c-loop-again'))} | {fmt(ratio(op, 'harness-linked'))} | {'yes' if abs(r50[0] - 1) <= 0.10 else 'no'} |")
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
cat "$out/cloop-comparison.md" "$out"/run-time.txt 2>/dev/null
