//! `shiftaddaug` command-line interface (native): `shiftaddaug --help`, `shiftaddaug train --help`.

#[cfg(not(target_family = "wasm"))]
mod cli;

#[cfg(not(target_family = "wasm"))]
fn main() {
    cli::main()
}

/// The CLI is native only; on wasm this binary is an empty stub (the library is the product).
#[cfg(target_family = "wasm")]
fn main() {}
