//! `shiftaddaug` command-line interface (native).
//!
//! ```text
//! shiftaddaug train [--data DIR] [--model mfcnn|mbv2-tiny] [--conv shift|add|mult]
//!                   [--widths 8,16,32] [--head flatten|avgpool] [--shift-mode q|ps] [--epochs N]
//!                   [--batch-size N] [--lr F] [--seed N] [--train-limit N] [--test-limit N]
//! ```

#[cfg(not(target_family = "wasm"))]
mod cli;

#[cfg(not(target_family = "wasm"))]
fn main() {
    cli::main()
}

/// The CLI is native only; on wasm this binary is an empty stub (the library is the product).
#[cfg(target_family = "wasm")]
fn main() {}
