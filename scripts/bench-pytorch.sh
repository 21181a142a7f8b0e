#!/usr/bin/env bash
# Training throughput side by side, in one run on this machine: ours (`cargo bench --bench
# train_step`: burn ops, ops::bn_act, every kernel) and PyTorch (CPU, eager) on the
# same net, batch, data and optimiser (scripts/bench_pytorch.py).
#
# A benchmark dependency only, never needed by the README's two commands: torch goes into a
# venv under ~/.cache/sa-bench-venv (the CPU wheel from download.pytorch.org when that host is
# reachable, else PyPI's default wheel, which runs on the CPU too but is ~7 GB with its CUDA
# libraries).
#
# Usage: scripts/bench-pytorch.sh [threads]    (default 2: rayon's and torch's thread counts)
#        BENCH_STEPS (default 12) timed steps per row.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${SA_BENCH_VENV:-$HOME/.cache/sa-bench-venv}
pins=(torch==2.9.1 numpy==2.4.6)
if ! "$venv/bin/python" -c "import torch, numpy" 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --retries 0 --timeout 15 --index-url https://download.pytorch.org/whl/cpu "${pins[@]}" \
    || "$venv/bin/pip" install -q "${pins[@]}"
fi
threads=${1:-2}
steps=${BENCH_STEPS:-12}
ours=$(mktemp)
RAYON_NUM_THREADS=$threads BENCH_STEPS=$steps cargo bench --bench train_step | tee "$ours"
"$venv/bin/python" scripts/bench_pytorch.py --threads "$threads" --steps "$steps" --ours "$ours"
rm -f "$ours"
