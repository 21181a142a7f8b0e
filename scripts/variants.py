#!/usr/bin/env python3
"""Prints the wasm build variants of wasm-pack.toml, one per line:
name|rustflags|features|out_dir|default_features (1 or 0)|name_section (1 or 0)|lto (1, 0, or z:
fat LTO with opt-level "z" for every crate, a variant with size = true; with --ci such a variant
is built without them). With --all, every variant; else only those with default = true; with
--ci, of these only those without ci = false."""
import sys, tomllib

with open("wasm-pack.toml", "rb") as f:
    cfg = tomllib.load(f)
if cfg["build"].get("wasm_opt", False):
    sys.exit("wasm-pack.toml: wasm_opt = true is not supported (Debian's binaryen is too old)")
for v in cfg["variant"]:
    if "--ci" in sys.argv and not v.get("ci", True):
        continue
    if "--all" in sys.argv or v.get("default", False):
        default_features = "1" if v.get("default_features", True) else "0"
        names = "1" if v.get("name_section", True) else "0"
        lto = "1" if v.get("lto", False) else "0"
        if v.get("size", False) and "--ci" not in sys.argv:
            lto = "z"
        print("|".join([v["name"], v.get("rustflags", ""), ",".join(v.get("features", [])), v["out_dir"], default_features, names, lto]))
