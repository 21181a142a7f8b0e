#!/usr/bin/env bash
# The integer engine against onnxruntime-web, side by side in one page of headless Chromium, one
# thread each: MobileNetV2-Tiny (32x32, one channel, stem stride 1) as our Shift and Add exports
# in `shiftaddaug/infer`, and its Mult twin (scripts/bench_pytorch.py's net, exported to ONNX by
# PyTorch) in onnxruntime-web's SIMD wasm backend; batch 1 and 64, three alternating rounds.
#
# A benchmark dependency only, never needed by the README's two commands: torch and onnx go into
# the venv of scripts/bench-pytorch.sh, onnxruntime-web into ~/.cache/sa-bench-ort (npm).
# Usage (after scripts/build.sh): scripts/bench-ort.sh
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${SA_BENCH_VENV:-$HOME/.cache/sa-bench-venv}
if ! "$venv/bin/python" -c "import torch, numpy" 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --retries 0 --timeout 15 --index-url https://download.pytorch.org/whl/cpu torch==2.9.1 numpy==2.4.6 \
    || "$venv/bin/pip" install -q torch==2.9.1 numpy==2.4.6
fi
"$venv/bin/python" -c "import onnx" 2>/dev/null || "$venv/bin/pip" install -q onnx==1.23.2
ort=${SA_BENCH_ORT:-$HOME/.cache/sa-bench-ort}
if [ ! -f "$ort/node_modules/onnxruntime-web/package.json" ]; then
  mkdir -p "$ort"
  (cd "$ort" && printf '{ "name": "sa-bench-ort", "private": true }\n' > package.json && npm install --no-audit --no-fund --silent onnxruntime-web@1.23.2)
fi
site=target/bench-ort
rm -rf "$site" && cp -r dist "$site" && mkdir -p "$site/ort"
for f in ort.wasm.min.mjs ort-wasm-simd-threaded.mjs ort-wasm-simd-threaded.wasm; do
  cp "$ort/node_modules/onnxruntime-web/dist/$f" "$site/ort/"
done
"$venv/bin/python" - "$site/mbv2-mult.onnx" <<'PY'
import sys, torch
sys.path.insert(0, "scripts")
import bench_pytorch
model = bench_pytorch.mbv2_tiny(False).eval()
torch.onnx.export(model, torch.zeros(1, 1, 32, 32), sys.argv[1], opset_version=17, dynamo=False,
                  input_names=["x"], output_names=["y"], dynamic_axes={"x": {0: "n"}, "y": {0: "n"}})
PY
cp scripts/bench-ort.html "$site/"
node scripts/bench-ort.mjs "$site"
