#!/usr/bin/env bash
# Builds the wasm module(s) of wasm-pack.toml, the npm package in pkg/ (wasm-bindgen glue +
# compiled TypeScript SDK) and the demo site in dist/ (www/ + pkg/ + Fashion-MNIST from the
# Debian package). Usage: scripts/build.sh [--all | --ci]   (--all also builds non-default variants;
# --ci leaves out those marked ci = false in wasm-pack.toml)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
target_dir=${CARGO_TARGET_DIR:-target}

rm -rf pkg
while IFS='|' read -r name flags features out default_features names lto; do
  echo "build: wasm variant '$name' -> $out"
  started=$SECONDS
  args=(build --release --lib --target wasm32-unknown-unknown)
  [ -n "$features" ] && args+=(--features "$features")
  [ "$default_features" = 0 ] && args+=(--no-default-features)
  tdir=$target_dir
  profile=()
  # Fat LTO, one codegen unit (the variant's own target directory below); for size (z), also
  # opt-level "z" for every crate.
  [ "$lto" != 0 ] && profile=(CARGO_PROFILE_RELEASE_LTO=fat CARGO_PROFILE_RELEASE_CODEGEN_UNITS=1)
  [ "$lto" = z ] && profile+=(CARGO_PROFILE_RELEASE_OPT_LEVEL=z)
  if [ "$flags" != "-C target-feature=+simd128" ] || [ "$default_features" = 0 ] || [ "$lto" != 0 ]; then
    # Different codegen flags or features: keep their artifacts apart from the default build's.
    tdir=$target_dir/variant-$name
  fi
  env "${profile[@]}" CARGO_TARGET_DIR="$tdir" CARGO_ENCODED_RUSTFLAGS="$(printf '%s' "$flags" | tr ' ' '\037')" cargo "${args[@]}"
  module=$tdir/wasm32-unknown-unknown/release/shiftaddaug.wasm
  if [ "$names" = 0 ]; then
    wasm-bindgen --target web --remove-name-section --out-dir "$out" "$module"
    wasm-bindgen --target web --out-dir "$tdir/named" "$module"
  else
    wasm-bindgen --target web --out-dir "$out" "$module"
  fi
  if [ "$lto" = z ]; then
    # Built for size: binaryen's wasm-opt -Oz, the npm package pinned in pkg-config's lockfile
    # (Debian's binaryen 108 breaks the module, TOOLCHAIN.md). About 4 min and 0.6 GB.
    pkg-config/node_modules/.bin/wasm-opt -Oz --enable-simd --enable-bulk-memory --enable-nontrapping-float-to-int \
      --enable-sign-ext --enable-mutable-globals --enable-multivalue --enable-reference-types \
      "$out/shiftaddaug_bg.wasm" -o "$out/shiftaddaug_bg.wasm"
  fi
  echo "build: wasm variant '$name' built in $((SECONDS - started)) s"
done < <(python3 scripts/variants.py "$@")

# The SDK: TypeScript compiled next to the glue; package.json from the template.
(cd pkg-config && npx tsc -p tsconfig.json)
cp pkg-config/package.json pkg/package.json
python3 - <<'PY'
import json
p = json.load(open("pkg/package.json"))
p.pop("devDependencies", None)
json.dump(p, open("pkg/package.json", "w"), indent=2)
PY
# The package README (pkg-config/README.md) refers to nothing outside the package.
cp pkg-config/README.md pkg/README.md

rm -rf dist && mkdir -p dist/data
cp -r www/* dist/
cp -r pkg dist/pkg
cp /usr/share/datasets/fashion-mnist/*.gz dist/data/
for wasm in pkg/shiftaddaug_bg.wasm pkg/cpu/shiftaddaug_bg.wasm pkg/cpu/baseline/shiftaddaug_bg.wasm pkg/infer/shiftaddaug_bg.wasm; do
  [ -f "$wasm" ] || continue
  echo "build: $wasm $(stat -c %s $wasm) bytes raw, $(gzip -9 -c $wasm | wc -c) bytes gzip"
done
