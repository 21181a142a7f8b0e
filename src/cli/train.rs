//! `shiftaddaug train`: one training run, its evaluation and its files.

use super::args::Args;
use burn::module::Module;
use indicatif::{ProgressBar, ProgressStyle};
use shiftaddaug::aug::AugNetConfig;
use shiftaddaug::data::Dataset;
use shiftaddaug::data::{Split, load_fashion_mnist};
use shiftaddaug::engine::{block_on, cpu_device, init_seeded};
use shiftaddaug::models::MobileNetV2TinyConfig;
use shiftaddaug::train::{BN_RESET_BATCH, ImageClassifier, Trainer, reset_bn};
use std::time::Instant;

/// Test accuracy of the deployed model (the exported tiny model for mbv2-tiny) and wall seconds.
pub(super) struct Outcome {
    pub(super) accuracy: f32,
    pub(super) seconds: f64,
}

pub(super) fn train(a: Args) -> Result<Outcome, shiftaddaug::Error> {
    let start = Instant::now();
    let mut train_set = load_fashion_mnist(&a.data, Split::Train)?;
    let mut test_set = load_fashion_mnist(&a.data, Split::Test)?;
    if let Some(n) = a.train_limit {
        train_set = train_set.slice(0, n);
    }
    if let Some(n) = a.test_limit {
        test_set = test_set.slice(0, n);
    }
    if train_set.is_empty() || test_set.is_empty() {
        return Err(shiftaddaug::Error::Dataset(format!(
            "no {} images (--train-limit / --test-limit must be >= 1)",
            if train_set.is_empty() { "training" } else { "test" }
        )));
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
    let shape = [1, a.input_size, a.input_size];
    if a.plan.is_none() && a.arch == "mbv2-tiny" && a.model.shift_mode == shiftaddaug::nn::ShiftMode::Ps {
        let cfg = MobileNetV2TinyConfig {
            conv: a.model.conv,
            shift_mode: a.model.shift_mode,
            stem_stride: a.stem_stride,
            ..MobileNetV2TinyConfig::new(shape, 10)
        };
        let desc = format!("mbv2-tiny (static, DeepShift-PS) conv={:?} MACs/image={}", cfg.conv, cfg.macs()?);
        let model = init_seeded(&device, a.train.seed, |d| cfg.init(d))?;
        let params = model.num_params();
        let m = run(model, &desc, params, &json(&cfg), &a, &train_set, &test_set)?;
        let eval = block_on(shiftaddaug::train::evaluate(&m, 10, &test_set, a.train.eval_batch_size))?;
        return Ok(Outcome { accuracy: eval.accuracy, seconds: start.elapsed().as_secs_f64() });
    }
    if a.arch != "mfcnn" || a.plan.is_some() {
        let spec = match &a.plan {
            Some(p) => read_plan(p)?,
            None => shiftaddaug::aug::NetSpec::by_name(&a.arch).unwrap_or_else(shiftaddaug::aug::NetSpec::mbv2_tiny),
        }
        .scaled(a.width_mult)?;
        let cfg = AugNetConfig {
            aug: a.aug.clone(),
            spec,
            depthwise: a.depthwise,
            stem_conv: a.stem_conv,
            stem_stride: a.stem_stride,
            classifier: a.classifier,
            adder_std: Some(a.adder_std),
            ..AugNetConfig::new(shape, 10, a.model.conv)
        };
        let name = a.plan.as_ref().map_or(a.arch.clone(), |p| format!("plan {}", p.display()));
        let desc = format!(
            "{} supernet conv={:?} stem={:?} classifier={:?} aug={} mode={:?} remap={:?} widths={:?} expand={:?} alpha={} subnets={} | tiny model: {} MACs/image",
            name,
            cfg.conv,
            cfg.stem_conv,
            cfg.classifier,
            cfg.aug.enabled,
            cfg.aug.mode,
            cfg.aug.remap,
            cfg.aug.width_list,
            cfg.aug.expand_list,
            cfg.aug.alpha,
            cfg.aug.subnets,
            cfg.tiny_macs()
        );
        cfg.validate()?;
        let net = init_seeded(&device, a.train.seed, |d| cfg.init(d))?;
        let params = net.tiny_param_count();
        let net = run(net, &desc, params, &json(&cfg), &a, &train_set, &test_set)?;
        let t = Instant::now();
        let net = if a.bn_reset > 0 { reset_bn(net, &train_set, a.bn_reset, BN_RESET_BATCH)? } else { net };
        let exported = net.export_tiny();
        let eval = block_on(shiftaddaug::train::evaluate(&exported, 10, &test_set, a.train.eval_batch_size))?;
        if let Some(dir) = &a.out {
            write_export(dir, block_on(shiftaddaug::export::export_supernet(&exported))?)?;
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
    let model = init_seeded(&device, a.train.seed, |d| a.model.init(d))?;
    let params = model.param_count();
    let m = run(model, &desc, params, &json(&a.model), &a, &train_set, &test_set)?;
    let m = if a.bn_reset > 0 { reset_bn(m, &train_set, a.bn_reset, BN_RESET_BATCH)? } else { m };
    let eval = block_on(shiftaddaug::train::evaluate(&m, 10, &test_set, a.train.eval_batch_size))?;
    println!(
        "final model (BN re-estimated on {} images): test accuracy {:.4} on {} images",
        a.bn_reset.min(train_set.len()),
        eval.accuracy,
        eval.count
    );
    if let Some(dir) = &a.out {
        write_export(dir, block_on(shiftaddaug::export::export_mfcnn(&m))?)?;
    }
    Ok(Outcome { accuracy: eval.accuracy, seconds: start.elapsed().as_secs_f64() })
}

/// A plan (spec JSON, e.g. `search`'s plan.json).
fn read_plan(path: &std::path::Path) -> Result<shiftaddaug::aug::NetSpec, shiftaddaug::Error> {
    let text = std::fs::read_to_string(path).map_err(io_at(path))?;
    serde_json::from_str(&text).map_err(|e| shiftaddaug::Error::Config(format!("plan {}: {e}", path.display())))
}

/// Writes an export's `model.json` and `model.safetensors` into `dir` and says where.
pub(super) fn write_export(dir: &std::path::Path, (json, bytes): (String, Vec<u8>)) -> Result<(), shiftaddaug::Error> {
    std::fs::create_dir_all(dir).map_err(io_at(dir))?;
    let (pj, ps) = (dir.join("model.json"), dir.join("model.safetensors"));
    std::fs::write(&pj, json).map_err(io_at(&pj))?;
    std::fs::write(&ps, bytes).map_err(io_at(&ps))?;
    println!("export: {} and {}", pj.display(), ps.display());
    Ok(())
}

pub(super) fn json<T: serde::Serialize>(cfg: &T) -> String {
    serde_json::to_string(cfg).expect("configs serialise")
}

pub(super) fn io_at(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> shiftaddaug::Error + '_ {
    move |source| shiftaddaug::Error::Io { path: path.display().to_string(), source }
}

/// Trains `model` for the epochs of `a` (from a checkpoint with `--resume`) with a progress bar
/// per epoch, evaluates it as deployed after each epoch and writes `checkpoint.bin`.
/// `params`: the deployed model's parameter count, for the header.
fn run<M: ImageClassifier>(
    model: M,
    desc: &str,
    params: usize,
    cfg_json: &str,
    a: &Args,
    train_set: &Dataset,
    test_set: &Dataset,
) -> Result<M, shiftaddaug::Error> {
    println!(
        "model: {desc} | deployed parameters: {params} | data: {} train / {} test images | batch {} lr {} seed {}",
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
    let batches = train_set.len().div_ceil(a.train.batch_size) as u64;
    let mut checkpoint = None;
    for epoch in first..a.epochs {
        let t = Instant::now();
        // Drawn on stderr when it is a terminal, hidden otherwise (logs get the step lines).
        let bar = ProgressBar::new(batches).with_prefix(format!("epoch {}/{}", epoch + 1, a.epochs)).with_style(
            ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} batches · ETA {eta} · {msg}")
                .expect("a valid template")
                .progress_chars("=> "),
        );
        let step0 = trainer.step() as u64;
        let m = block_on(trainer.fit_epoch(train_set, epoch, &mut |b| {
            bar.set_position(b.step as u64 - step0);
            let done = (b.step as u64 - step0) as f64 * a.train.batch_size as f64;
            let rate = done / bar.elapsed().as_secs_f64().max(1e-9);
            bar.set_message(format!("{rate:.0} images/s · loss {:.4} acc {:.3}", b.loss, b.accuracy));
            if bar.is_hidden() && b.step % (a.train.log_every * 20) == 0 {
                println!("  step {:>6}  loss {:.4}  acc {:.3}", b.step, b.loss, b.accuracy);
            }
            true
        }))?;
        bar.finish_and_clear();
        let secs = t.elapsed().as_secs_f64();
        let eval = block_on(trainer.validate(test_set, train_set))?;
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
            checkpoint = Some(p);
        }
    }
    println!("training: {:.1} s", total.elapsed().as_secs_f64());
    if let Some(p) = checkpoint {
        println!("checkpoint: {} (continue with --resume)", p.display());
    }
    Ok(trainer.into_model())
}
