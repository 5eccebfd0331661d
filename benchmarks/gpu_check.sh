#!/usr/bin/env bash
# scratchdl on a real GPU, timed against PyTorch on the same GPU, in under 8 minutes.
#
#   bash benchmarks/gpu_check.sh [DATA_DIR]
#
# For a machine with an NVIDIA GPU, Python 3.10+ and CuPy and PyTorch (CUDA builds)
# importable, and nothing reachable: nothing is downloaded.
#   DATA_DIR   a folder holding mnist/ (the four IDX .gz files); default $SCRATCHDL_DATA,
#              else shared/data or ../shared/data beside the repository
#   $PYTHON    the Python that has CuPy and PyTorch (default python3)
#   $SCRATCHDL_WHEELS   a folder of wheels for whatever else that Python lacks, made on a
#              connected machine with `pip download --only-binary=:all: --python-version X.Y
#              -d DIR pytest hypothesis pooch tqdm platformdirs matplotlib pillow
#              threadpoolctl`; installed with pip --no-index into a venv over the system's
#              packages (or, where venv is missing, into a folder on PYTHONPATH)
#   $GPU_CHECK_LOGS     where each step's output goes (default $OUT/gpu-check, else
#              /tmp/gpu-check)
#
# Steps, each under its own time limit (the limits add up to 465 s):
#   1. the environment: what is missing installed from the wheels, scratchdl from src/
#      (PYTHONPATH, no install), the GPU's name and the versions
#   2. the test suite's GPU parametrisation on the real CuPy: pytest --xp cupy -m xp
#   3. warm-up: a few iterations of each recipe, so CuPy's kernels are compiled and cached
#      (a warm-up that fails or runs out of time is reported, not counted as a failure)
#   4. the seed recipe (TwoLayerNet, 10,000 iterations, backprop) on the GPU; target <= 4 s
#   5. the seed recipe with --gradient numerical, full length, on the GPU; target <= 60 s
#   6. SimpleConvNet and DeepConvNet, one epoch each, on the GPU
#   7. the same three recipes in PyTorch on the same GPU (benchmarks/torch_recipes.py)
#   8. the convnets' fast engines against the book's classes on the GPU
#      (benchmarks/gpu_engines.py): whether the networks should build the book's there
#   9. the table: training seconds (as `scratchdl train` reports them, evaluations inside
#      training included, the final evaluation apart), test accuracy, ratio to PyTorch,
#      target, met. Exit status 0 when every step ran and every target is met, else 1.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

DATA=${1:-${SCRATCHDL_DATA:-}}
if [ -z "$DATA" ]; then
    for candidate in "$ROOT/shared/data" "$ROOT/../shared/data"; do
        [ -d "$candidate/mnist" ] && DATA=$candidate && break
    done
fi
if [ -z "$DATA" ] || [ ! -d "$DATA/mnist" ]; then
    echo "gpu_check: no MNIST: give DATA_DIR (a folder holding mnist/) or set SCRATCHDL_DATA" >&2
    exit 2
fi
DATA=$(cd "$DATA" && pwd)
LOGS=${GPU_CHECK_LOGS:-${OUT:-/tmp}/gpu-check}
mkdir -p "$LOGS"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
export SCRATCHDL_DATA=$DATA SCRATCHDL_CACHE=$WORK/cache MPLBACKEND=Agg
export PYTHONPATH=$ROOT/src${PYTHONPATH:+:$PYTHONPATH} PYTHONDONTWRITEBYTECODE=1
FAILED=0

step() {  # step NAME LIMIT_SECONDS COMMAND...: run with a time limit, log, print the time
    local name=$1 limit=$2 start ms status
    shift 2
    start=$(date +%s%N)
    timeout "$limit" "$@" >"$LOGS/$name.log" 2>&1
    status=$?
    ms=$((($(date +%s%N) - start) / 1000000))
    printf '%-12s %4d.%d s  exit %s%s\n' "$name" $((ms / 1000)) $((ms % 1000 / 100)) \
        "$status" "$([ "$status" = 124 ] && echo " (over its ${limit} s limit)")"
    if [ "$status" != 0 ]; then
        [[ $name == warm-* ]] || FAILED=1  # a warm-up only fills CuPy's kernel cache
        tail -n 5 "$LOGS/$name.log" | awk '{print "    " $0}'
    fi
    return "$status"
}

# 1. The environment.
PYTHON=${PYTHON:-python3}
missing=$("$PYTHON" - <<'EOF'
import importlib.util
needed = {"numpy": "numpy", "pooch": "pooch", "tqdm": "tqdm", "platformdirs": "platformdirs",
          "matplotlib": "matplotlib", "PIL": "pillow", "threadpoolctl": "threadpoolctl",
          "pytest": "pytest", "hypothesis": "hypothesis"}
print(" ".join(dist for module, dist in needed.items() if importlib.util.find_spec(module) is None))
EOF
)
if [ -n "$missing" ]; then
    if [ -z "${SCRATCHDL_WHEELS:-}" ]; then
        echo "gpu_check: missing $missing; set SCRATCHDL_WHEELS to a folder of their wheels" >&2
        exit 2
    fi
    if "$PYTHON" -m venv --system-site-packages "$WORK/venv" >/dev/null 2>&1; then
        PYTHON=$WORK/venv/bin/python
        # shellcheck disable=SC2086
        "$PYTHON" -m pip install --quiet --no-index --find-links "$SCRATCHDL_WHEELS" \
            $missing || exit 1
    else  # no venv module: the wheels alone, into a folder on the path
        # shellcheck disable=SC2086
        "$PYTHON" -m pip install --quiet --no-index --find-links "$SCRATCHDL_WHEELS" \
            --no-deps --target "$WORK/site" $missing || exit 1
        PYTHONPATH=$PYTHONPATH:$WORK/site
    fi
fi
"$PYTHON" - <<'EOF' | tee "$LOGS/environment.log"
import cupy, numpy, torch
props = cupy.cuda.runtime.getDeviceProperties(0)
print(f"GPU: {props['name'].decode()} ({props['totalGlobalMem'] / 2**30:.0f} GiB), "
      f"CUDA runtime {cupy.cuda.runtime.runtimeGetVersion()}, driver "
      f"{cupy.cuda.runtime.driverGetVersion()}")
print(f"CuPy {cupy.__version__}, NumPy {numpy.__version__}, PyTorch {torch.__version__} "
      f"(CUDA {torch.version.cuda}, available: {torch.cuda.is_available()})")
EOF
[ "${PIPESTATUS[0]}" = 0 ] || exit 1
echo "data: $DATA; logs: $LOGS"

# 2. The tests marked xp, on the real CuPy.
step pytest 130 "$PYTHON" -m pytest -q -p no:cacheprovider --xp cupy -m xp tests
grep -E "passed|failed|error" "$LOGS/pytest.log" | tail -n 1 | awk '{print "    " $0}'

# 3. Warm-up: compile and cache the kernels each recipe uses (not timed below).
TRAIN=("$PYTHON" -m scratchdl train --device gpu --quiet)
SHORT=(--iters 3 --evaluate-sample-num 2000)
step warm-seed 15 "${TRAIN[@]}" "${SHORT[@]}"
step warm-numeric 15 "${TRAIN[@]}" "${SHORT[@]}" --gradient numerical
step warm-simple 15 "${TRAIN[@]}" "${SHORT[@]}" --model simple-conv
step warm-deep 15 "${TRAIN[@]}" "${SHORT[@]}" --model deep-conv

# 4-6. The recipes on the GPU.
step seed 30 "${TRAIN[@]}"
step numerical 80 "${TRAIN[@]}" --gradient numerical
step simple-conv 30 "${TRAIN[@]}" --model simple-conv --epochs 1
step deep-conv 45 "${TRAIN[@]}" --model deep-conv --epochs 1

# 7. PyTorch on the same GPU.
step pytorch 60 "$PYTHON" benchmarks/torch_recipes.py --device cuda seed simple-conv deep-conv

# 8. The engines of the convolutions, on the GPU.
step engines 30 "$PYTHON" benchmarks/gpu_engines.py --device gpu --rounds 3 --iters 30
awk '{print "    " $0}' "$LOGS/engines.log"

# 9. The table.
"$PYTHON" - "$LOGS" <<'EOF' || FAILED=1
import re
import sys
from pathlib import Path

logs = Path(sys.argv[1])


def seconds(text: str) -> float:
    """'3.1 s' or '2 min 05 s' (scratchdl's format_time) in seconds."""
    m = re.fullmatch(r"(?:(\d+) min )?([\d.]+) s", text.strip())
    return 60 * int(m[1] or 0) + float(m[2])


def scratchdl(name: str):
    """(training seconds, evaluation seconds, test acc) from `scratchdl train`'s final line."""
    path = logs / f"{name}.log"
    lines = [line for line in path.read_text().splitlines() if line.startswith("final:")]
    if not lines:
        return None
    m = re.search(r"test acc ([\d.]+) \(\d+ iterations, (.+) training \+ (.+) evaluation\)",
                  lines[-1])
    return seconds(m[2]), seconds(m[3]), float(m[1])


torch = {}
path = logs / "pytorch.log"
for line in (path.read_text().splitlines() if path.exists() else []):
    parts = line.split()
    if len(parts) == 5 and parts[0] in ("seed", "simple-conv", "deep-conv"):
        torch[parts[0]] = (float(parts[1]), float(parts[2]), float(parts[4]))

rows = [  # log, label, PyTorch's recipe, target: absolute seconds or a ratio to PyTorch
    ("seed", "seed recipe, backprop (10,000 it)", "seed", ("s", 4.0)),
    ("numerical", "seed recipe, numerical (10,000 it)", None, ("s", 60.0)),
    ("simple-conv", "SimpleConvNet, 1 epoch (600 it)", "simple-conv", ("x", 2.0)),
    ("deep-conv", "DeepConvNet, 1 epoch (600 it)", "deep-conv", ("x", 2.0)),
]
print()
print("| run (GPU) | scratchdl: training + final evaluation, test acc | PyTorch: same | "
      "ratio (training) | target | met |")
print("|---|---|---|---|---|---|")
all_met = True
for log, label, theirs, (kind, limit) in rows:
    ours, reference = scratchdl(log), torch.get(theirs) if theirs else None
    cell = f"{ours[0]:.2f} s + {ours[1]:.2f} s, {ours[2]:.4f}" if ours else "did not finish"
    ref = f"{reference[0]:.2f} s + {reference[1]:.2f} s, {reference[2]:.4f}" if reference else "-"
    ratio = ours[0] / reference[0] if ours and reference else None
    if kind == "s":
        target, met = f"<= {limit:g} s", bool(ours) and ours[0] <= limit
    else:
        target, met = f"<= {limit:g}x PyTorch", ratio is not None and ratio <= limit
    all_met = all_met and met
    print(f"| {label} | {cell} | {ref} | {f'{ratio:.2f}' if ratio else '-'} | {target} | "
          f"{'yes' if met else 'NO'} |")
sys.exit(0 if all_met else 1)
EOF
exit "$FAILED"
