#!/usr/bin/env bash
# Builds everything and serves the demo on http://127.0.0.1:${PORT:-8080}/
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh
port=${PORT:-8080}
echo "demo: open http://127.0.0.1:$port/  (Ctrl-C to stop)"
# Cross-origin isolated (COOP/COEP headers): training workers share gradients in memory.
exec python3 scripts/serve.py "$port" dist
