#!/usr/bin/env bash
# Installs what building and testing need, idempotently: Debian packages (Chromium + driver,
# Fashion-MNIST), the wasm32 target, wasm-bindgen-cli at the exact version in Cargo.lock, and
# the npm packages of pkg-config/ from its lockfile.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
for p in chromium chromium-driver dataset-fashion-mnist; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: apt-get install ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

rustup target list --installed | grep -qx wasm32-unknown-unknown || rustup target add wasm32-unknown-unknown
for c in rustfmt clippy; do
  rustup component list --installed | grep -q "^$c" || rustup component add "$c"
done

wb=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)
if ! wasm-bindgen --version 2>/dev/null | grep -qx "wasm-bindgen $wb"; then
  echo "setup: cargo install wasm-bindgen-cli $wb (about 6 min)"
  # No --locked: its lockfile wants a webpki-roots version the registry here lacks.
  cargo install wasm-bindgen-cli --version "$wb" --quiet
fi
wasm-bindgen --version | grep -qx "wasm-bindgen $wb" || { echo "wasm-bindgen CLI != $wb (Cargo.lock)"; exit 1; }

if ! (cd pkg-config && npm ls --silent >/dev/null 2>&1); then
  (cd pkg-config && npm ci --no-audit --no-fund --silent)
fi
