//! The native CLI (see `src/main.rs`).

use shiftaddaug::aug::{AugConfig, AugNetConfig, reset_bn};
use shiftaddaug::data::Dataset;
use shiftaddaug::data::{FASHION_MNIST_DIR, Split, load_fashion_mnist};
use shiftaddaug::engine::{block_on, cpu_device};
use shiftaddaug::models::{MfCnnConfig, MobileNetV2TinyConfig};
use shiftaddaug::train::{ImageClassifier, TrainConfig, Trainer};
use std::path::PathBuf;
use std::time::Instant;

const USAGE: &str = "usage: shiftaddaug compare [--grid main|ablation|baselines] [--seeds 0,1] [train options...]\n       shiftaddaug train [--data DIR] [--model mfcnn|mbv2-tiny|mcunet|proxyless-0.35|mobilenetv3-0.35] [--conv shift|add|mult] [--widths 8,16,32] [--head flatten|avgpool] [--shift-mode q|ps] \
[--input-size 28|32|N] [--depthwise mult|shift|add] [--adder-std F] [--aug on|off] [--aug-mode h1|h2|b|mf-only] [--remap r0|r1|r2|r3|r4] [--remap-fc-grad mean|sum] [--width-list 1,1.8,2.6] [--expand-list 1,1.6,2.2,2.8] \
[--alpha F] [--stop-width-aug F] [--no-sort] [--bn-reset N] [--optimizer adam|sgd] [--momentum F] [--wd F] [--label-smoothing F] [--warmup N] [--schedule constant|cosine] \
[--epochs N] [--batch-size N] [--lr F] [--seed N] [--train-limit N] [--test-limit N] [--log-every N] [--out DIR|none] [--resume CHECKPOINT]\n\
train writes DIR/checkpoint.bin after every epoch and, for mbv2-tiny, DIR/model.json + DIR/model.safetensors (docs/FORMAT.md); default DIR shiftaddaug-out; compare writes nothing unless --out is given.\n\
mbv2-tiny, mcunet, proxyless-0.35, mobilenetv3-0.35 run as the ShiftAddAug supernet (direct training with --aug off, the default); mbv2-tiny with --shift-mode ps uses the static model.";

struct Args {
    data: PathBuf,
    /// `mfcnn` (default) or `mbv2-tiny`.
    arch: String,
    model: MfCnnConfig,
    train: TrainConfig,
    epochs: usize,
    train_limit: Option<usize>,
    test_limit: Option<usize>,
    input_size: usize,
    aug: AugConfig,
    schedule_cosine: bool,
    bn_reset: usize,
    /// Output directory (checkpoint after every epoch, export at the end); None: write nothing.
    out: Option<PathBuf>,
    resume: Option<PathBuf>,
    /// Operator of the depthwise convs of the supernet models (default: `--conv`).
    depthwise: Option<shiftaddaug::nn::ConvKind>,
    /// Std of the supernets' adder weights at init.
    adder_std: f32,
}

fn floats(flag: &str, v: String) -> Result<Vec<f32>, String> {
    v.split(',').map(|s| s.trim().parse::<f32>().map_err(|_| format!("{flag}: {s:?} is not a number"))).collect()
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
        input_size: 28,
        aug: AugConfig::direct(),
        schedule_cosine: false,
        bn_reset: 16_000,
        out: Some(PathBuf::from("shiftaddaug-out")),
        resume: None,
        depthwise: None,
        adder_std: shiftaddaug::aug::config::DEFAULT_ADDER_STD,
    };
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let mut val = || it.next().cloned().ok_or_else(|| format!("{flag} needs a value"));
        let num = |v: String| v.parse::<usize>().map_err(|_| format!("{flag}: {v:?} is not a non-negative integer"));
        match flag.as_str() {
            "--data" => a.data = PathBuf::from(val()?),
            "--model" => {
                a.arch = val()?;
                if !["mfcnn", "mbv2-tiny", "mcunet", "proxyless-0.35", "mobilenetv3-0.35"].contains(&a.arch.as_str()) {
                    return Err(format!("--model {:?}: valid: mfcnn, mbv2-tiny, mcunet, proxyless-0.35, mobilenetv3-0.35", a.arch));
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
            "--input-size" => a.input_size = num(val()?)?,
            "--depthwise" => a.depthwise = Some(val()?.parse().map_err(|e| format!("{e}"))?),
            "--aug" => match val()?.as_str() {
                "on" => a.aug = AugConfig { seed: a.aug.seed, ..AugConfig::default() },
                "off" => a.aug = AugConfig::direct(),
                v => return Err(format!("--aug {v:?}: valid: on, off")),
            },
            "--aug-mode" => a.aug.mode = val()?.parse().map_err(|e| format!("{e}"))?,
            "--remap" => a.aug.remap = val()?.parse().map_err(|e| format!("{e}"))?,
            "--width-list" => a.aug.width_list = floats(flag, val()?)?,
            "--expand-list" => a.aug.expand_list = floats(flag, val()?)?,
            "--remap-fc-grad" => a.aug.remap_fc_grad = val()?.parse().map_err(|e| format!("{e}"))?,
            "--adder-std" => a.adder_std = val()?.parse().map_err(|_| "--adder-std: not a number".to_string())?,
            "--alpha" => a.aug.alpha = val()?.parse().map_err(|_| "--alpha: not a number".to_string())?,
            "--stop-width-aug" => a.aug.stop_width_aug = val()?.parse().map_err(|_| "--stop-width-aug: not a number".to_string())?,
            "--no-sort" => a.aug.sort_channels = false,
            "--bn-reset" => a.bn_reset = num(val()?)?,
            "--optimizer" => {
                a.train.optimizer = match val()?.as_str() {
                    "adam" => shiftaddaug::train::OptimizerKind::Adam,
                    "sgd" => shiftaddaug::train::OptimizerKind::Sgd,
                    o => return Err(format!("--optimizer {o:?}: valid: adam, sgd")),
                }
            }
            "--momentum" => a.train.momentum = val()?.parse().map_err(|_| "--momentum: not a number".to_string())?,
            "--wd" => a.train.weight_decay = val()?.parse().map_err(|_| "--wd: not a number".to_string())?,
            "--label-smoothing" => a.train.label_smoothing = val()?.parse().map_err(|_| "--label-smoothing: not a number".to_string())?,
            "--warmup" => a.train.warmup_steps = num(val()?)?,
            "--schedule" => {
                a.schedule_cosine = match val()?.as_str() {
                    "cosine" => true,
                    "constant" => false,
                    v => return Err(format!("--schedule {v:?}: valid: constant, cosine")),
                }
            }
            "--out" => {
                let v = val()?;
                a.out = if v == "none" { None } else { Some(PathBuf::from(v)) };
            }
            "--resume" => a.resume = Some(PathBuf::from(val()?)),
            "--epochs" => a.epochs = num(val()?)?,
            "--batch-size" => a.train.batch_size = num(val()?)?,
            "--lr" => a.train.learning_rate = val()?.parse().map_err(|_| "--lr: not a number".to_string())?,
            "--seed" => {
                a.train.seed = num(val()?)? as u64;
                a.aug.seed = a.train.seed;
            }
            "--log-every" => a.train.log_every = num(val()?)?,
            "--train-limit" => a.train_limit = Some(num(val()?)?),
            "--test-limit" => a.test_limit = Some(num(val()?)?),
            other => return Err(format!("unknown option {other:?}\n{USAGE}")),
        }
    }
    if a.epochs == 0 {
        return Err("--epochs must be >= 1".into());
    }
    if a.input_size < 28 {
        return Err(format!("--input-size {}: must be >= 28 (Fashion-MNIST is zero-padded to it)", a.input_size));
    }
    Ok(a)
}

/// Test accuracy of the deployed model (the exported tiny model for mbv2-tiny) and wall seconds.
struct Outcome {
    accuracy: f32,
    seconds: f64,
}

fn train(a: Args) -> Result<Outcome, shiftaddaug::Error> {
    let start = Instant::now();
    let mut train_set = load_fashion_mnist(&a.data, Split::Train)?;
    let mut test_set = load_fashion_mnist(&a.data, Split::Test)?;
    if let Some(n) = a.train_limit {
        train_set = train_set.slice(0, n);
    }
    if let Some(n) = a.test_limit {
        test_set = test_set.slice(0, n);
    }
    if a.input_size > 28 {
        train_set = train_set.pad_to(a.input_size);
        test_set = test_set.pad_to(a.input_size);
    }
    let mut a = a;
    if a.schedule_cosine {
        a.train.total_steps = Some(a.epochs * train_set.len().div_ceil(a.train.batch_size.max(1)));
    }
    let device = cpu_device().autodiff();
    device.seed(a.train.seed);
    let shape = [1, a.input_size, a.input_size];
    if a.arch == "mbv2-tiny" && a.model.shift_mode == shiftaddaug::nn::ShiftMode::Ps {
        let cfg = MobileNetV2TinyConfig { conv: a.model.conv, shift_mode: a.model.shift_mode, ..MobileNetV2TinyConfig::new(shape, 10) };
        let desc = format!("mbv2-tiny (static, DeepShift-PS) conv={:?} MACs/image={}", cfg.conv, cfg.macs()?);
        let m = run(cfg.init(&device)?, &desc, &json(&cfg), &a, &train_set, &test_set)?;
        let eval = block_on(shiftaddaug::train::evaluate(&m, 10, &test_set, a.train.eval_batch_size))?;
        return Ok(Outcome { accuracy: eval.accuracy, seconds: start.elapsed().as_secs_f64() });
    }
    if a.arch != "mfcnn" {
        let spec = shiftaddaug::aug::NetSpec::by_name(&a.arch).unwrap_or_else(shiftaddaug::aug::NetSpec::mbv2_tiny);
        let cfg = AugNetConfig {
            aug: a.aug.clone(),
            spec,
            depthwise: a.depthwise,
            adder_std: Some(a.adder_std),
            ..AugNetConfig::new(shape, 10, a.model.conv)
        };
        let desc = format!(
            "{} supernet conv={:?} aug={} mode={:?} remap={:?} widths={:?} expand={:?} alpha={} | tiny model: {} params, {} MACs/image",
            a.arch,
            cfg.conv,
            cfg.aug.enabled,
            cfg.aug.mode,
            cfg.aug.remap,
            cfg.aug.width_list,
            cfg.aug.expand_list,
            cfg.aug.alpha,
            cfg.init(&burn::tensor::Device::flex())?.tiny_param_count(),
            cfg.tiny_macs()
        );
        let net = run(cfg.init(&device)?, &desc, &json(&cfg), &a, &train_set, &test_set)?;
        let t = Instant::now();
        let net = if a.bn_reset > 0 { reset_bn(net, &train_set, a.bn_reset, 250)? } else { net };
        let exported = net.export_tiny();
        let eval = block_on(shiftaddaug::train::evaluate(&exported, 10, &test_set, a.train.eval_batch_size))?;
        if let Some(dir) = &a.out {
            std::fs::create_dir_all(dir).map_err(io_at(dir))?;
            let (j, bytes) = block_on(shiftaddaug::aug::export::export(&exported))?;
            let (pj, ps) = (dir.join("model.json"), dir.join("model.safetensors"));
            std::fs::write(&pj, j).map_err(io_at(&pj))?;
            std::fs::write(&ps, bytes).map_err(io_at(&ps))?;
            println!("export: {} and model.safetensors", dir.join("model.json").display());
        }
        println!(
            "exported tiny model (BN re-estimated on {} images): test accuracy {:.4} on {} images ({:.1} s)",
            a.bn_reset.min(train_set.len()),
            eval.accuracy,
            eval.count,
            t.elapsed().as_secs_f64()
        );
        return Ok(Outcome { accuracy: eval.accuracy, seconds: start.elapsed().as_secs_f64() });
    }
    if a.input_size != 28 {
        a.model.input_shape = shape;
    }
    let desc = format!("mfcnn conv={:?} widths={:?}", a.model.conv, a.model.widths);
    let m = run(a.model.init(&device)?, &desc, &json(&a.model), &a, &train_set, &test_set)?;
    let eval = block_on(shiftaddaug::train::evaluate(&m, 10, &test_set, a.train.eval_batch_size))?;
    Ok(Outcome { accuracy: eval.accuracy, seconds: start.elapsed().as_secs_f64() })
}

/// One row of a comparison grid: a label and the extra flags it adds to the common ones.
const GRID_MAIN: [(&str, &str); 5] = [
    ("Mult direct", "--conv mult --aug off"),
    ("Shift direct", "--conv shift --aug off"),
    ("Shift + ShiftAddAug", "--conv shift --aug on"),
    ("Add direct", "--conv add --aug off"),
    ("Add + ShiftAddAug", "--conv add --aug on"),
];
/// Ablations of "Shift + ShiftAddAug" and "Add + ShiftAddAug" (R1, H1), the main grid's rows.
const GRID_ABLATION: [(&str, &str); 5] = [
    ("Shift aug R0 (no remap)", "--conv shift --aug on --remap r0"),
    ("Shift aug R1 H2", "--conv shift --aug on --remap r1 --aug-mode h2"),
    ("Shift aug R1 B", "--conv shift --aug on --remap r1 --aug-mode b"),
    ("Shift aug MF-only", "--conv shift --aug on --aug-mode mf-only"),
    ("Add aug R0 (no remap)", "--conv add --aug on --remap r0"),
];
/// The other baselines: NetAug (Mult augmenting Mult) and DeepShift-PS (the static model,
/// evaluated without BN re-estimation).
const GRID_BASELINES: [(&str, &str); 2] =
    [("Mult + NetAug", "--conv mult --aug on"), ("Shift direct (DeepShift-PS)", "--conv shift --shift-mode ps --aug off")];

/// `shiftaddaug compare [--grid main|ablation|baselines] [--seeds 0,1] [train flags...]`: trains every
/// grid row for every seed with the common flags, prints each result as it lands and then a
/// markdown table (mean and spread = max − min over seeds).
fn compare(args: &[String]) -> Result<(), String> {
    let mut grid: &[(&str, &str)] = &GRID_MAIN;
    let mut seeds = vec![0u64, 1];
    let mut common = vec!["--out".to_string(), "none".to_string()];
    let mut it = args.iter();
    while let Some(f) = it.next() {
        match f.as_str() {
            "--grid" => {
                grid = match it.next().map(String::as_str) {
                    Some("main") => &GRID_MAIN,
                    Some("ablation") => &GRID_ABLATION,
                    Some("baselines") => &GRID_BASELINES,
                    g => return Err(format!("--grid {g:?}: valid: main, ablation, baselines")),
                }
            }
            "--seeds" => {
                seeds = it
                    .next()
                    .ok_or("--seeds needs a value")?
                    .split(',')
                    .map(|s| s.trim().parse::<u64>().map_err(|_| format!("--seeds: {s:?} is not an integer")))
                    .collect::<Result<_, _>>()?
            }
            _ => common.push(f.clone()),
        }
    }
    let mut rows = Vec::new();
    for (label, flags) in grid {
        let mut accs = Vec::new();
        for &seed in &seeds {
            let mut argv = common.clone();
            argv.extend(flags.split(' ').map(String::from));
            argv.extend(["--seed".to_string(), seed.to_string()]);
            let a = parse(&argv)?;
            let o = train(a).map_err(|e| format!("{label} seed {seed}: {e}"))?;
            println!("RESULT | {label} | seed {seed} | accuracy {:.4} | {:.0} s", o.accuracy, o.seconds);
            accs.push((o.accuracy, o.seconds));
        }
        rows.push((label, accs));
    }
    println!("\n| model | {} | mean | spread | time per run |", seeds.iter().map(|s| format!("seed {s}")).collect::<Vec<_>>().join(" | "));
    println!("|---|{}---|---|---|", "---|".repeat(seeds.len()));
    for (label, accs) in rows {
        let v: Vec<f32> = accs.iter().map(|a| a.0 * 100.0).collect();
        let mean = v.iter().sum::<f32>() / v.len() as f32;
        let spread = v.iter().cloned().fold(f32::MIN, f32::max) - v.iter().cloned().fold(f32::MAX, f32::min);
        let secs = accs.iter().map(|a| a.1).sum::<f64>() / accs.len() as f64;
        println!(
            "| {label} | {} | {mean:.2} | {spread:.2} | {secs:.0} s |",
            v.iter().map(|x| format!("{x:.2}")).collect::<Vec<_>>().join(" | ")
        );
    }
    println!("\ncommon flags: {}", common.join(" "));
    Ok(())
}

fn json<T: serde::Serialize>(cfg: &T) -> String {
    serde_json::to_string(cfg).expect("configs serialise")
}

fn io_at(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> shiftaddaug::Error + '_ {
    move |source| shiftaddaug::Error::Io { path: path.display().to_string(), source }
}

fn run<M: ImageClassifier>(
    model: M,
    desc: &str,
    cfg_json: &str,
    a: &Args,
    train_set: &Dataset,
    test_set: &Dataset,
) -> Result<M, shiftaddaug::Error> {
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
    let mut first = 0;
    if let Some(path) = &a.resume {
        let bytes = std::fs::read(path).map_err(io_at(path))?;
        first = trainer.restore(&bytes, cfg_json)?;
        println!("resumed {} at epoch {} (step {})", path.display(), first + 1, trainer.step());
    }
    if let Some(dir) = &a.out {
        std::fs::create_dir_all(dir).map_err(io_at(dir))?;
    }
    let total = Instant::now();
    for epoch in first..a.epochs {
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
        if let Some(dir) = &a.out {
            let p = dir.join("checkpoint.bin");
            std::fs::write(&p, trainer.checkpoint(cfg_json, epoch + 1)?).map_err(io_at(&p))?;
        }
    }
    let eval = block_on(trainer.evaluate(test_set))?;
    println!("test accuracy {:.4} on {} images; total {:.1} s", eval.accuracy, eval.count, total.elapsed().as_secs_f64());
    Ok(trainer.into_model())
}

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
        let device = cpu_device();
        device.seed(tc.seed);
        let mut trainer = Trainer::new(cfg.init(&device.clone().autodiff())?, cfg.num_classes, tc)?;
        let mut losses = Vec::new();
        for e in 0..epochs {
            block_on(trainer.fit_epoch(&train_set, e, &mut |b| {
                losses.push(b.loss);
                true
            }))?;
        }
        let net = reset_bn(trainer.into_model(), &train_set, n, 250)?;
        let eval = block_on(shiftaddaug::train::evaluate(&net, 10, &test_set, 500))?;
        Ok(serde_json::json!({ "losses": losses, "accuracy": eval.accuracy }).to_string())
    };
    println!("{}", run().map_err(|e| e.to_string())?);
    Ok(())
}

pub fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
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
