//! The native CLI (see `src/main.rs`).

use shiftaddaug::data::{FASHION_MNIST_DIR, Split, load_fashion_mnist};
use shiftaddaug::engine::{block_on, cpu_device};
use shiftaddaug::data::Dataset;
use shiftaddaug::models::{MfCnnConfig, MobileNetV2TinyConfig};
use shiftaddaug::train::{ImageClassifier, TrainConfig, Trainer};
use std::path::PathBuf;
use std::time::Instant;

const USAGE: &str = "usage: shiftaddaug train [--data DIR] [--model mfcnn|mbv2-tiny] [--conv shift|add|mult] [--widths 8,16,32] [--head flatten|avgpool] [--shift-mode q|ps] \
[--epochs N] [--batch-size N] [--lr F] [--seed N] [--train-limit N] [--test-limit N] [--log-every N]";

struct Args {
    data: PathBuf,
    /// `mfcnn` (default) or `mbv2-tiny`.
    arch: String,
    model: MfCnnConfig,
    train: TrainConfig,
    epochs: usize,
    train_limit: Option<usize>,
    test_limit: Option<usize>,
}

fn parse(args: &[String]) -> Result<Args, String> {
    let mut a = Args {
        data: PathBuf::from(FASHION_MNIST_DIR),
        arch: "mfcnn".into(),
        model: MfCnnConfig::default(),
        train: TrainConfig::default(),
        epochs: 1,
        train_limit: None,
        test_limit: None,
    };
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let mut val = || it.next().cloned().ok_or_else(|| format!("{flag} needs a value"));
        let num = |v: String| v.parse::<usize>().map_err(|_| format!("{flag}: {v:?} is not a non-negative integer"));
        match flag.as_str() {
            "--data" => a.data = PathBuf::from(val()?),
            "--model" => {
                a.arch = val()?;
                if !["mfcnn", "mbv2-tiny"].contains(&a.arch.as_str()) {
                    return Err(format!("--model {:?}: valid: mfcnn, mbv2-tiny", a.arch));
                }
            }
            "--conv" => a.model.conv = val()?.parse().map_err(|e| format!("{e}"))?,
            "--widths" => {
                a.model.widths = val()?
                    .split(',')
                    .map(|s| s.trim().parse::<usize>().map_err(|_| format!("--widths: {s:?} is not an integer")))
                    .collect::<Result<_, _>>()?
            }
            "--head" => {
                a.model.head = match val()?.as_str() {
                    "flatten" => shiftaddaug::models::Head::Flatten,
                    "avgpool" => shiftaddaug::models::Head::Avgpool,
                    h => return Err(format!("--head {h:?}: valid: flatten, avgpool")),
                }
            }
            "--shift-mode" => {
                a.model.shift_mode = match val()?.as_str() {
                    "q" => shiftaddaug::nn::ShiftMode::Q,
                    "ps" => shiftaddaug::nn::ShiftMode::Ps,
                    m => return Err(format!("--shift-mode {m:?}: valid: q, ps")),
                }
            }
            "--epochs" => a.epochs = num(val()?)?,
            "--batch-size" => a.train.batch_size = num(val()?)?,
            "--lr" => a.train.learning_rate = val()?.parse().map_err(|_| "--lr: not a number".to_string())?,
            "--seed" => a.train.seed = num(val()?)? as u64,
            "--log-every" => a.train.log_every = num(val()?)?,
            "--train-limit" => a.train_limit = Some(num(val()?)?),
            "--test-limit" => a.test_limit = Some(num(val()?)?),
            other => return Err(format!("unknown option {other:?}\n{USAGE}")),
        }
    }
    if a.epochs == 0 {
        return Err("--epochs must be >= 1".into());
    }
    Ok(a)
}

fn train(a: Args) -> Result<(), shiftaddaug::Error> {
    let mut train_set = load_fashion_mnist(&a.data, Split::Train)?;
    let mut test_set = load_fashion_mnist(&a.data, Split::Test)?;
    if let Some(n) = a.train_limit {
        train_set = train_set.slice(0, n);
    }
    if let Some(n) = a.test_limit {
        test_set = test_set.slice(0, n);
    }
    let device = cpu_device().autodiff();
    device.seed(a.train.seed);
    if a.arch == "mbv2-tiny" {
        let cfg = MobileNetV2TinyConfig { conv: a.model.conv, shift_mode: a.model.shift_mode, ..MobileNetV2TinyConfig::new([1, 28, 28], 10) };
        let desc = format!("mbv2-tiny conv={:?} MACs/image={}", cfg.conv, cfg.macs()?);
        return run(cfg.init(&device)?, &desc, &a, &train_set, &test_set);
    }
    let desc = format!("mfcnn conv={:?} widths={:?}", a.model.conv, a.model.widths);
    run(a.model.init(&device)?, &desc, &a, &train_set, &test_set)
}

fn run<M: ImageClassifier>(model: M, desc: &str, a: &Args, train_set: &Dataset, test_set: &Dataset) -> Result<(), shiftaddaug::Error> {
    println!(
        "model: {desc} params={} | data: {} train / {} test images | batch {} lr {} seed {}",
        burn::module::Module::num_params(&model),
        train_set.len(),
        test_set.len(),
        a.train.batch_size,
        a.train.learning_rate,
        a.train.seed
    );
    let mut trainer = Trainer::new(model, 10, a.train.clone())?;
    let total = Instant::now();
    for epoch in 0..a.epochs {
        let t = Instant::now();
        let m = block_on(trainer.fit_epoch(train_set, epoch, &mut |b| {
            if b.step % (a.train.log_every * 20) == 0 {
                println!("  step {:>6}  loss {:.4}  acc {:.3}", b.step, b.loss, b.accuracy);
            }
            true
        }))?;
        let secs = t.elapsed().as_secs_f64();
        let eval = block_on(trainer.evaluate(test_set))?;
        println!(
            "epoch {}: train loss {:.4} acc {:.4} | test loss {:.4} acc {:.4} | {:.1} s, {:.0} images/s",
            epoch + 1,
            m.loss,
            m.accuracy,
            eval.loss,
            eval.accuracy,
            secs,
            train_set.len() as f64 / secs
        );
    }
    let eval = block_on(trainer.evaluate(test_set))?;
    println!("test accuracy {:.4} on {} images; total {:.1} s", eval.accuracy, eval.count, total.elapsed().as_secs_f64());
    Ok(())
}

pub fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let code = match args.first().map(String::as_str) {
        Some("train") => match parse(&args[1..]) {
            Ok(a) => match train(a) {
                Ok(()) => 0,
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
        Some("-h" | "--help") => {
            println!("{USAGE}");
            0
        }
        _ => {
            eprintln!("{USAGE}");
            2
        }
    };
    std::process::exit(code);
}
