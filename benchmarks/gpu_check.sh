#!/usr/bin/env bash
# The GPU check of the accelerators (issue 7), one script for a machine with a CUDA GPU:
#   bash benchmarks/gpu_check.sh            (from the repository root; about 5-6 minutes on an H100)
#
# 1. environment: nvidia-smi, python, torch and CUDA;
# 2. a virtualenv in .gpu-venv: with --system-site-packages when python3 already holds a CUDA build
#    of torch (nothing is downloaded then), else a plain one with `pip install torch`;
# 3. torchrack's dependencies (pluggy, packaging, jsonschema, numpy, pytest): those missing are
#    installed from ./.gpu-wheels when that folder is there (no network needed), else from PyPI;
# 4. the core and every plugin "installed" in development mode without pip (a .pth file and a
#    dist-info per distribution, read from its pyproject.toml), so no build backend is needed;
# 5. benchmarks/modular_vs_monolithic.py cuda: fp32-eager, tuned (bf16, channels_last,
#    torch.compile "reduce-overhead") and tuned-step (the same, the whole training step compiled as
#    one graph, compile_scope = "step") on resnet20-w16 at batch 512; then fp32-eager, tuned and
#    tuned-step on the heavier net (cnn: conv-bn-relu 64, 128, pool, 128, 256, pool, 256) at batch
#    512 and 1024; one JSON line each (GPU_CHECK_SKIP_CNN=1 leaves the heavier net out);
# 6. every CUDA test: pytest -m cuda over the test files of plugins/ and tests/ that hold one.
# Everything is also written under $OUT (when set) or ./gpu-check-out: gpu_check.log, bench.jsonl.
# Environment: PYTHON (default python3; a virtualenv that holds torch is used as it is),
# GPU_CHECK_ALLOW_CPU=1 (a dry run of the script on a machine without a GPU), GPU_CHECK_SKIP_TESTS=1, GPU_CHECK_SKIP_BENCH=1,
# GPU_CHECK_BENCH_ARGS (extra benchmark arguments), GPU_CHECK_BENCH_TIMEOUT (seconds, default 250),
# GPU_CHECK_TEST_TIMEOUT (seconds, default 200), GPU_CHECK_PROFILE=1 (also run benchmarks/cuda_step_profile.py),
# GPU_CHECK_SKIP_CNN=1 (no heavier-net lines). Worst case about 13 minutes (two benchmark runs of up to 250 s each).
set -u
cd "$(dirname "$0")/.." || exit 2
ROOT=$(pwd)
OUTDIR=${OUT:-$ROOT/gpu-check-out}
mkdir -p "$OUTDIR"
LOG=$OUTDIR/gpu_check.log
exec > >(tee "$LOG") 2>&1
PY=${PYTHON:-python3}
START=$(date +%s)
step() { echo; echo "=== [$(( $(date +%s) - START ))s] $*"; }
export PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1 TORCHRACK_NO_CACHE=1

step "environment"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>&1 || echo "nvidia-smi: not available"
"$PY" --version
SYSTORCH=$("$PY" -c "import torch; print(torch.__version__, torch.version.cuda, torch.cuda.is_available())" 2>/dev/null || echo "none")
echo "system torch: $SYSTORCH"

step "virtualenv"
VENV=$ROOT/.gpu-venv
IN_VENV=$("$PY" -c "import sys; print(int(sys.prefix != sys.base_prefix))")
HAS_TORCH=0
case "$SYSTORCH" in *" True") HAS_TORCH=1 ;; esac
[ "${GPU_CHECK_ALLOW_CPU:-0}" = 1 ] && [ "$SYSTORCH" != none ] && HAS_TORCH=1  # dry runs on a CPU machine
if [ "$HAS_TORCH" = 1 ] && [ "$IN_VENV" = 1 ]; then
  VPY=$PY
  echo "using $PY as it is (already a virtualenv with torch $SYSTORCH)"
elif [ "$HAS_TORCH" = 1 ]; then
  rm -rf "$VENV"
  "$PY" -m venv --system-site-packages "$VENV" || { echo "FAILED: python3 -m venv"; exit 1; }
  VPY=$VENV/bin/python
  echo "$VENV: a virtualenv over the system's torch ($SYSTORCH), --system-site-packages"
else
  rm -rf "$VENV"
  "$PY" -m venv "$VENV" || { echo "FAILED: python3 -m venv"; exit 1; }
  VPY=$VENV/bin/python
  echo "no CUDA torch in $PY: pip install torch into $VENV (the default index gives a CUDA build on Linux)"
  "$VPY" -m pip install -q --timeout 60 torch || { echo "FAILED: pip install torch"; exit 1; }
fi
"$VPY" -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'available', torch.cuda.is_available(), 'devices', torch.cuda.device_count())"
if [ "${GPU_CHECK_ALLOW_CPU:-0}" != 1 ]; then
  "$VPY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" || { echo "FAILED: torch sees no CUDA device"; exit 1; }
fi

step "dependencies"
missing=$("$VPY" - <<'PYEOF'
import importlib.util, sys
need = {"pluggy": "pluggy", "packaging": "packaging", "jsonschema": "jsonschema", "numpy": "numpy", "pytest": "pytest"}
if sys.version_info < (3, 11):
    need["tomli"] = "tomli"
print(" ".join(pkg for mod, pkg in need.items() if importlib.util.find_spec(mod) is None))
PYEOF
)
if [ -n "$missing" ]; then
  echo "missing: $missing"
  if [ -d "$ROOT/.gpu-wheels" ]; then
    "$VPY" -m pip install -q --no-index --find-links "$ROOT/.gpu-wheels" $missing \
      || "$VPY" -m pip install -q --no-index --no-deps "$ROOT"/.gpu-wheels/*.whl \
      || echo "WARNING: installing from .gpu-wheels failed"
  fi
  still=$("$VPY" -c "
import importlib.util
print(' '.join(m for m in '$missing'.split() if importlib.util.find_spec(m.replace('-', '_')) is None))")
  if [ -n "$still" ]; then
    "$VPY" -m pip install -q --timeout 30 --retries 1 $still || { echo "FAILED: cannot install $still (no network? carry .gpu-wheels)"; exit 1; }
  fi
fi
"$VPY" -c "import pluggy, packaging, jsonschema, numpy, pytest; print('pluggy', pluggy.__version__, 'jsonschema', jsonschema.__version__ if hasattr(jsonschema, '__version__') else '?', 'numpy', numpy.__version__, 'pytest', pytest.__version__)" 2>/dev/null \
  || "$VPY" -c "import pluggy, packaging, jsonschema, numpy, pytest" || { echo "FAILED: dependencies"; exit 1; }

step "torchrack core and plugins (development install, no build backend)"
"$VPY" - "$ROOT" <<'PYEOF' || { echo "FAILED: development install"; exit 1; }
import re, site, sys, sysconfig
from pathlib import Path
try:
    import tomllib
except ImportError:
    import tomli as tomllib
root = Path(sys.argv[1])
purelib = Path(sysconfig.get_paths()["purelib"])
for project in [root / "core", *sorted(p for p in (root / "plugins").iterdir() if (p / "pyproject.toml").is_file())]:
    meta = tomllib.loads((project / "pyproject.toml").read_text())["project"]
    name = meta["name"]
    version = meta.get("version")
    if version is None:  # the core: dynamic, from src/torchrack/_version.py
        text = (project / "src" / "torchrack" / "_version.py").read_text()
        version = re.search(r'__version__\s*=\s*"([^"]+)"', text).group(1)
    norm = re.sub(r"[-_.]+", "_", name)
    info = purelib / f"{norm}-{version}.dist-info"
    info.mkdir(exist_ok=True)
    lines = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}"]
    lines += [f"Requires-Dist: {d}" for d in meta.get("dependencies", [])]
    (info / "METADATA").write_text("\n".join(lines) + "\n")
    eps = dict(meta.get("entry-points", {}))
    if meta.get("scripts"):
        eps["console_scripts"] = meta["scripts"]
    (info / "entry_points.txt").write_text("".join(
        f"[{group}]\n" + "".join(f"{k} = {v}\n" for k, v in table.items()) + "\n"
        for group, table in eps.items()))
    (info / "INSTALLER").write_text("gpu_check.sh\n")
    (info / "RECORD").write_text("")
    (purelib / f"__editable__{norm}.pth").write_text(str(project / "src") + "\n")
    print(f"  {name} {version}: {project / 'src'}")
PYEOF
"$VPY" -m torchrack --version && "$VPY" -m torchrack list --kind accelerator && "$VPY" -m torchrack check \
  || echo "WARNING: torchrack check reported problems (see above)"

BENCH_RC=skipped
if [ "${GPU_CHECK_SKIP_BENCH:-0}" != 1 ]; then
  step "benchmark: modular vs monolithic, cuda, resnet20-w16 (fp32-eager, tuned, tuned-step)"
  timeout "${GPU_CHECK_BENCH_TIMEOUT:-250}" "$VPY" benchmarks/modular_vs_monolithic.py cuda \
    --variants fp32-eager,tuned,tuned-step ${GPU_CHECK_BENCH_ARGS:-} | tee "$OUTDIR/bench.jsonl"
  BENCH_RC=${PIPESTATUS[0]}
  if [ "${GPU_CHECK_SKIP_CNN:-0}" != 1 ]; then
    step "benchmark: modular vs monolithic, cuda, the heavier cnn at batch 512 and 1024 (fp32-eager, tuned, tuned-step)"
    timeout "${GPU_CHECK_BENCH_TIMEOUT:-250}" "$VPY" benchmarks/modular_vs_monolithic.py cuda --net cnn \
      --batch 512,1024 --variants fp32-eager,tuned,tuned-step ${GPU_CHECK_BENCH_ARGS:-} | tee -a "$OUTDIR/bench.jsonl"
    CNN_RC=${PIPESTATUS[0]}
    [ "$BENCH_RC" = 0 ] && BENCH_RC=$CNN_RC
  fi
fi

if [ "${GPU_CHECK_PROFILE:-0}" = 1 ]; then
  step "profile: host launch time vs step time (benchmarks/cuda_step_profile.py)"
  timeout 200 "$VPY" benchmarks/cuda_step_profile.py | tee "$OUTDIR/profile.jsonl"
fi

TEST_RC=skipped
if [ "${GPU_CHECK_SKIP_TESTS:-0}" != 1 ]; then
  # Only the files that hold CUDA tests: other test modules may need packages not installed here.
  # The accelerators' own first, then the end-to-end runs, then the rest.
  FILES=$(grep -rl --include='test_*.py' -e 'pytest.mark.cuda' plugins tests \
          | awk '/accelerators/ {print 0, $0; next} /distributed/ {print 1, $0; next} {print 2, $0}' \
          | sort | cut -d' ' -f2)
  step "CUDA tests: pytest -m cuda on $(echo $FILES | wc -w) files"
  echo "$FILES"
  timeout "${GPU_CHECK_TEST_TIMEOUT:-200}" "$VPY" -m pytest -m cuda -q -rs -p no:cacheprovider \
    --continue-on-collection-errors --junitxml "$OUTDIR/cuda-tests.xml" $FILES
  TEST_RC=$?
fi

step "summary"
echo "system torch: $SYSTORCH"
echo "benchmark exit: $BENCH_RC   (124 = timed out)"
[ -f "$OUTDIR/bench.jsonl" ] && cat "$OUTDIR/bench.jsonl"
echo "cuda tests exit: $TEST_RC   (0 = all passed; 5 = none collected; 124 = timed out)"
echo "targets: ratio >= 0.97 in every line; tuned speedup_vs_fp32_eager_monolithic >= 3;"
echo "  tuned-step resnet20-w16 batch 512 modular >= 250k img/s on an H200 (moonshot 400k); tuned-step cnn >= 148k img/s"
echo "total: $(( $(date +%s) - START ))s"
[ "$BENCH_RC" = 0 ] || [ "$BENCH_RC" = skipped ] || exit 1
[ "$TEST_RC" = 0 ] || [ "$TEST_RC" = skipped ] || exit 1
exit 0
