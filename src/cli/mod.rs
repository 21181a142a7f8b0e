//! The native CLI (see `src/main.rs`).

mod args;
mod compare;
mod train;

use args::{USAGE, parse};
use compare::compare;
use shiftaddaug::aug::AugNetConfig;
use shiftaddaug::data::{FASHION_MNIST_DIR, Split, load_fashion_mnist};
use shiftaddaug::engine::{block_on, cpu_device, init_seeded};
use shiftaddaug::train::{BN_RESET_BATCH, TrainConfig, Trainer, reset_bn};
use std::path::PathBuf;
use train::train;

/// `shiftaddaug trace MODEL_JSON TRAIN_JSON N EPOCHS`: trains a ShiftAddAug supernet
/// (`AugNetConfig` JSON) on the first `N` Fashion-MNIST training images exactly as the SDK's
/// `fit` does (seeded init and order, metrics every step, BN reset on all `N` images at the
/// end) and prints JSON `{ losses, accuracy }` (accuracy on the first 500 test images). The SDK
/// test compares the browser/Node run with it.
fn trace(args: &[String]) -> Result<(), String> {
    let [model, tc, n, epochs] = args else {
        return Err("usage: shiftaddaug trace MODEL_JSON TRAIN_JSON N EPOCHS".into());
    };
    let cfg: AugNetConfig = serde_json::from_str(model).map_err(|e| format!("model json: {e}"))?;
    let mut tc: TrainConfig = serde_json::from_str(tc).map_err(|e| format!("train json: {e}"))?;
    tc.log_every = 1;
    let n: usize = n.parse().map_err(|_| "N: not an integer")?;
    let epochs: usize = epochs.parse().map_err(|_| "EPOCHS: not an integer")?;
    let run = || -> Result<String, shiftaddaug::Error> {
        let dir = PathBuf::from(FASHION_MNIST_DIR);
        let train_set = load_fashion_mnist(&dir, Split::Train)?.slice(0, n);
        let test_set = load_fashion_mnist(&dir, Split::Test)?.slice(0, 500);
        let model = init_seeded(&cpu_device().autodiff(), tc.seed, |d| cfg.init(d))?;
        let mut trainer = Trainer::new(model, cfg.num_classes, tc)?;
        let mut losses = Vec::new();
        for e in 0..epochs {
            block_on(trainer.fit_epoch(&train_set, e, &mut |b| {
                losses.push(b.loss);
                true
            }))?;
        }
        let net = reset_bn(trainer.into_model(), &train_set, n, BN_RESET_BATCH)?;
        let eval = block_on(shiftaddaug::train::evaluate(&net, 10, &test_set, 500))?;
        Ok(serde_json::json!({ "losses": losses, "accuracy": eval.accuracy }).to_string())
    };
    println!("{}", run().map_err(|e| e.to_string())?);
    Ok(())
}

pub fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // `--help` / `--version` anywhere (also after a subcommand) print and exit 0.
    if args.iter().any(|a| a == "-h" || a == "--help") {
        println!("{USAGE}");
        std::process::exit(0);
    }
    if args.iter().any(|a| a == "-V" || a == "--version") {
        println!("shiftaddaug {}", env!("CARGO_PKG_VERSION"));
        std::process::exit(0);
    }
    let code = match args.first().map(String::as_str) {
        Some("trace") => match trace(&args[1..]) {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("error: {e}");
                1
            }
        },
        Some("compare") => match compare(&args[1..]) {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("error: {e}");
                1
            }
        },
        Some("train") => match parse(&args[1..]) {
            Ok(a) => match train(a) {
                Ok(_) => 0,
                Err(e) => {
                    eprintln!("error [{}]: {e}", e.code());
                    1
                }
            },
            Err(e) => {
                eprintln!("error: {e}");
                2
            }
        },
        _ => {
            eprintln!("{USAGE}");
            2
        }
    };
    std::process::exit(code);
}
