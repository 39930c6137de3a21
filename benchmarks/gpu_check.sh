#!/usr/bin/env bash
# Issue 34's GPU checks in one run of a few minutes, on a machine with a CUDA GPU:
#   1. the CUDA tests: graphed training equal to eager training (windows and streams, LSTM
#      and GRU, clipping, fit_flat_cos, >= 100 steps), the peak memory, and the memory tests;
#   2. the speed part of benchmarks/gpu.py: the kit eager and with cuda_graph=True, full BPTT
#      and TBPTT(100) at the reference settings, and the bare loops;
#   3. a summary: graphed TBPTT(100) / eager full BPTT (target >= 0.8, hoped > 1) and graphed
#      full / eager full (target >= 2), the peak memory of each.
#
#   bash benchmarks/gpu_check.sh [OUT]      # from the repository's root; OUT: $OUT or gpu-check
#
# Writes into OUT: device.txt, pytest.txt, speed.txt, gpu.md and gpu-<gpu>-cuda-graph.json (the
# raw run: store it beside tbptt_kit/course/runs/gpu-h200.json). Installs nothing: it uses python3 (or
# $PYTHON) as found, with the repository on PYTHONPATH; where ipywidgets is missing (the lent
# GPU machines), a stand-in lets the kit import (the checks draw no widget), and the tests run
# without the conftest files (the root one imports nbformat, for notebooks only).
set -u -o pipefail
OUT=${1:-${OUT:-gpu-check}}
PY=${PYTHON:-python3}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 MPLBACKEND=Agg PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"

if ! "$PY" -c "import ipywidgets" 2>/dev/null; then
    stub=$(mktemp -d)
    mkdir "$stub/ipywidgets"
    printf 'def __getattr__(name):\n    return type(name, (), {"__init__": lambda self, *a, **k: None})\n' \
        >"$stub/ipywidgets/__init__.py"
    export PYTHONPATH="$PYTHONPATH:$stub"
    echo "gpu_check: ipywidgets is not installed here; a stand-in lets the kit import."
fi
if ! "$PY" -c "import torch, sys; sys.exit(not torch.cuda.is_available())"; then
    echo "gpu_check: $PY's torch sees no CUDA GPU: nothing to check here." >&2
    exit 2
fi
"$PY" -c "import torch; print(torch.cuda.get_device_name(), '| torch', torch.__version__,
'| cuDNN', torch.backends.cudnn.version())" | tee "$OUT/device.txt"

echo "== 1. CUDA tests"
start=$SECONDS
timeout 360 "$PY" -m pytest -q -m cuda --noconftest -p no:cacheprovider \
    tests/tooling/test_cuda_graph.py tests/course/test_memory.py 2>&1 | tee "$OUT/pytest.txt"
tests=${PIPESTATUS[0]}
echo "(tests: exit status $tests, $((SECONDS - start)) s)"

echo "== 2. speed (benchmarks/gpu.py --speed-only)"
start=$SECONDS
timeout 300 "$PY" benchmarks/gpu.py --speed-only --out "$OUT" 2>&1 | tee "$OUT/speed.txt"
speed=${PIPESTATUS[0]}
echo "(speed: exit status $speed, $((SECONDS - start)) s)"
if [ -f "$OUT/gpu.json" ]; then
    gpu=$("$PY" -c "import torch, re; n = torch.cuda.get_device_name().lower();
print((re.findall(r'[a-z]\d{2,4}', n) or ['gpu'])[0])")
    mv "$OUT/gpu.json" "$OUT/gpu-$gpu-cuda-graph.json"
fi

echo "== 3. summary"
cat "$OUT/device.txt"
tail -n 1 "$OUT/pytest.txt"
grep -E '^graphed ' "$OUT/gpu.md" 2>/dev/null || echo "no speed figures (see speed.txt)"
ls "$OUT"
[ "$tests" -eq 0 ] && [ "$speed" -eq 0 ]
