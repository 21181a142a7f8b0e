//! The native CLI (see `src/main.rs`).

mod args;
mod compare;
mod cost;
mod deploy;
mod latency;
mod search;
mod train;

use args::{Cli, Command, TraceArgs};
use clap::Parser;
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
fn trace(t: TraceArgs) -> Result<(), String> {
    let cfg: AugNetConfig = serde_json::from_str(&t.model_json).map_err(|e| format!("model json: {e}"))?;
    let mut tc: TrainConfig = serde_json::from_str(&t.train_json).map_err(|e| format!("train json: {e}"))?;
    tc.log_every = 1;
    let run = || -> Result<String, shiftaddaug::Error> {
        let dir = PathBuf::from(FASHION_MNIST_DIR);
        let train_set = load_fashion_mnist(&dir, Split::Train)?.slice(0, t.n);
        let test_set = load_fashion_mnist(&dir, Split::Test)?.slice(0, 500);
        let model = init_seeded(&cpu_device().autodiff(), tc.seed, |d| cfg.init(d))?;
        let mut trainer = Trainer::new(model, cfg.num_classes, tc)?;
        let mut losses = Vec::new();
        for e in 0..t.epochs {
            block_on(trainer.fit_epoch(&train_set, e, &mut |b| {
                losses.push(b.loss);
                true
            }))?;
        }
        let net = reset_bn(trainer.into_model(), &train_set, t.n, BN_RESET_BATCH)?;
        let eval = block_on(shiftaddaug::train::evaluate(&net, 10, &test_set, 500))?;
        Ok(serde_json::json!({ "losses": losses, "accuracy": eval.accuracy }).to_string())
    };
    println!("{}", run().map_err(|e| e.to_string())?);
    Ok(())
}

/// Parses the command line (clap prints help and version and exits 0, and exits 2 on a bad
/// option) and runs the subcommand: exit 0 on success, 1 on an error of the run (printed with
/// its code), 2 on a bad combination of options.
pub fn main() {
    let argv: Vec<String> = std::env::args().collect();
    let code = match Cli::parse().command {
        Command::Trace(t) => report(trace(t), 1),
        Command::Deploy(d) => report(deploy::deploy(d).map_err(|e| format!("[{}] {e}", e.code())), 1),
        Command::Cost(c) => report(cost::cost(c).map_err(|e| format!("[{}] {e}", e.code())), 1),
        Command::Search(s) => report(search::search(s).map_err(|e| format!("[{}] {e}", e.code())), 1),
        Command::Latency(l) => report(latency::latency(l).map_err(|e| format!("[{}] {e}", e.code())), 1),
        Command::Compare(c) => match compare(c, argv.get(2..).unwrap_or_default()) {
            Ok(()) => 0,
            Err(compare::Failed::Options(e)) => report(Err(e), 2),
            Err(compare::Failed::Run(e)) => report(Err(e), 1),
        },
        Command::Train(t) => match t.resolve() {
            Ok(a) => match train(a) {
                Ok(_) => 0,
                Err(e) => {
                    eprintln!("error [{}]: {e}", e.code());
                    1
                }
            },
            Err(e) => report(Err(e), 2),
        },
    };
    std::process::exit(code);
}

/// 0 for `Ok`, else prints the error and returns `code`.
fn report(r: Result<(), String>, code: i32) -> i32 {
    match r {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("error: {e}");
            code
        }
    }
}
