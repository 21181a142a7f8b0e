//! Step profile: where the time of one training step of a ShiftAddAug supernet goes, by op kind.
//! Shared by `cargo bench --bench step_profile` and the browser bench page.
//!
//! Each layer of the model is timed on its own, at the shapes and widths it has in the step
//! (forward, then forward + backward to its input and parameters; median of `reps`), with the
//! layer's own code: the convolution of each operator and geometry (with the weight remap and
//! power-of-two rounding of MF layers shown as their own row), and the BatchNorm in training mode
//! with the activation after it (one op where `ops::bn_act` fuses them). The whole model's forward + backward and the whole optimiser step are timed too;
//! what the layers do not explain is the "between ops" row (graph bookkeeping, pooling,
//! shortcuts, the classifier and the loss, copies and allocation between ops), and the step minus
//! forward + backward is the optimiser update with the metrics readback. The augmented step
//! times the tiny pass, then the augmented pass at the widths sampled for the first step (the
//! step time is a median over steps, each with its own sample). Every layer time has the
//! harness's own cost (an identity op measured the same way) taken off.

use crate::aug::dyn_layers::ConvRun;
use crate::aug::{AugConfig, AugNet, AugNetConfig, Pass};
use crate::error::{Error, Result};
use crate::nn::ConvKind;
use crate::train::{ImageClassifier, OptimizerKind, Progress, TrainConfig, Trainer, loss_and_correct};
use burn::module::Module;
use burn::tensor::{Device, Int, Tensor, TensorData};
use std::collections::BTreeMap;

/// One row of a profile: an op kind, summed over the layers of that kind.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ProfileRow {
    /// What, e.g. `Shift depthwise 3×3 s2 conv`.
    pub what: String,
    /// Layers counted.
    pub layers: usize,
    /// Forward ms.
    pub forward_ms: f64,
    /// Backward ms (forward + backward minus forward).
    pub backward_ms: f64,
}

/// The profile of one kind of step.
#[derive(Debug, Clone, serde::Serialize)]
pub struct StepProfile {
    /// `direct` or `ShiftAddAug`.
    pub step: String,
    /// One whole training step (forward, backward, optimiser, metrics readback), ms.
    pub step_ms: f64,
    /// The whole model's forward + backward (every pass of the step), ms.
    pub forward_backward_ms: f64,
    /// Per op kind; see the module docs.
    pub rows: Vec<ProfileRow>,
}

/// A clock in milliseconds (`Instant` natively, `performance.now()` in a page).
pub type Clock<'a> = &'a dyn Fn() -> f64;

pub(crate) async fn sync<const D: usize>(t: Tensor<D>) -> Result<()> {
    t.sum().into_data_async().await.map(|_| ()).map_err(|e| Error::Backend(format!("readback: {e:?}")))
}

/// Median ms of `reps` runs of `f` after one warm-up.
pub(crate) async fn median<F, Fut>(clock: Clock<'_>, reps: usize, mut f: F) -> Result<f64>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<()>>,
{
    f().await?;
    let mut v = Vec::new();
    for _ in 0..reps.max(1) {
        let t = clock();
        f().await?;
        v.push(clock() - t);
    }
    v.sort_by(f64::total_cmp);
    Ok(v[v.len() / 2])
}

/// `[forward, backward]` ms of `op` on `x` (gradients to `x` and every parameter `op` reads, for
/// a dense upstream gradient), less the harness's own cost (the same measurement of an identity
/// op on `x`: the upstream product, the sum, the backward seed and the readback).
async fn fwd_bwd(clock: Clock<'_>, reps: usize, x: &Tensor<4>, op: &dyn Fn(Tensor<4>) -> Tensor<4>) -> Result<[f64; 2]> {
    let [f, b] = fwd_bwd_raw(clock, reps, x, op).await?;
    let [f0, b0] = fwd_bwd_raw(clock, reps, x, &|x| x.mul_scalar(1.0)).await?;
    Ok([(f - f0).max(0.0), (b - b0).max(0.0)])
}

async fn fwd_bwd_raw(clock: Clock<'_>, reps: usize, x: &Tensor<4>, op: &dyn Fn(Tensor<4>) -> Tensor<4>) -> Result<[f64; 2]> {
    let f = median(clock, reps, || async { sync(op(x.clone().detach().require_grad())).await }).await?;
    // A dense upstream gradient, as the next layer hands back (`sum()` alone would hand a
    // broadcast one that some ops first copy).
    let gy = random(op(x.clone().detach()).dims(), &x.device()).detach();
    let fb = median(clock, reps, || async {
        let xg = x.clone().detach().require_grad();
        let grads = op(xg.clone()).mul(gy.clone()).sum().backward();
        match xg.grad(&grads) {
            Some(g) => sync(g).await,
            None => Err(Error::Backend("no input gradient".into())),
        }
    })
    .await?;
    Ok([f, (fb - f).max(0.0)])
}

fn random(shape: [usize; 4], device: &Device) -> Tensor<4> {
    let n: usize = shape.iter().product();
    let v: Vec<f32> = (0..n).map(|i| ((i.wrapping_mul(2654435761) % 1000) as f32 / 500.0) - 1.0).collect();
    Tensor::from_data(TensorData::new(v, shape), device)
}

fn geometry_name(kind: ConvKind, k: usize, depthwise: bool, stride: usize) -> String {
    let shape = if depthwise {
        format!("depthwise {k}×{k}")
    } else if k == 1 {
        "pointwise 1×1".into()
    } else {
        format!("dense {k}×{k}")
    };
    format!("{kind:?} {shape} s{stride} conv")
}

/// Per-op-kind rows of one pass of `net` (`pass` with the widths of `arch`) on a batch of `batch`.
async fn layer_rows(
    net: &AugNet,
    arch: &crate::aug::Arch,
    pass: Pass,
    batch: usize,
    clock: Clock<'_>,
    reps: usize,
) -> Result<Vec<ProfileRow>> {
    let device = net.devices().first().cloned().ok_or_else(|| Error::Config("model has no parameters".into()))?;
    let [_, mut size, _] = net.config.input_shape;
    let mut rows: BTreeMap<String, ProfileRow> = BTreeMap::new();
    let mut add = |what: String, [f, b]: [f64; 2]| {
        let r = rows.entry(what.clone()).or_insert(ProfileRow { what, layers: 0, forward_ms: 0.0, backward_ms: 0.0 });
        r.layers += 1;
        r.forward_ms += f;
        r.backward_ms += b;
    };
    let layers = net.layers(arch);
    let classifier = layers.len() - usize::from(matches!(net.classifier, crate::aug::blocks::Classifier::Mf(_)));
    for (i, l) in layers.iter().enumerate() {
        let c = &l.layer.conv;
        let (t, a) = (l.tiny, if pass == Pass::Tiny { l.tiny } else { l.active });
        let s = if i >= classifier { 1 } else { size };
        let x = random([batch, a[0], s, s], &device);
        let conv = fwd_bwd(clock, reps, &x, &|x| c.forward(x, ConvRun { t, a, kernel: l.kernel, op: l.op }, pass)).await?;
        // The MF weight transform (remap, power-of-two rounding) runs inside the conv: its own row.
        let mut transform = [0.0; 2];
        if c.target_weight(t, l.kernel).is_some() {
            let f = median(clock, reps, || async { sync(c.target_weight(t, l.kernel).expect("MF layer")).await }).await?;
            let fb = median(clock, reps, || async {
                let grads = c.target_weight(t, l.kernel).expect("MF layer").sum().backward();
                match c.weight.val().grad(&grads) {
                    Some(g) => sync(g).await,
                    None => Err(Error::Backend("no weight gradient".into())),
                }
            })
            .await?;
            transform = [f, (fb - f).max(0.0)];
            add(format!("{:?} weight remap + rounding", c.kind), transform);
        }
        add(geometry_name(l.op, l.kernel, c.depthwise, c.stride), [(conv[0] - transform[0]).max(0.0), (conv[1] - transform[1]).max(0.0)]);
        let y = c.forward(x, ConvRun { t, a, kernel: l.kernel, op: l.op }, pass).detach();
        // As the layer runs them: fused into one op on the CPU (ops::bn_act).
        let (track, act) = (pass == Pass::Tiny, l.act);
        let what = if act == crate::models::Act::None { "BatchNorm (training)".into() } else { format!("BatchNorm (training) + {act:?}") };
        add(what, fwd_bwd(clock, reps, &y, &|y| l.layer.bn.normalize_act(y, track, act)).await?);
        if i < classifier {
            size = size.div_ceil(c.stride);
        }
    }
    Ok(rows.into_values().collect())
}

/// Profiles one direct and one augmented training step of `config`'s supernet (the direct step
/// with augmentation disabled) on `batch` images, each op timed `reps` times; `device` is an
/// autodiff device.
///
/// # Errors
/// [`Error::Config`] for a bad config, [`Error::Backend`] when a readback fails.
pub async fn profile_steps(
    config: &AugNetConfig,
    batch: usize,
    reps: usize,
    device: &Device,
    clock: Clock<'_>,
) -> Result<Vec<StepProfile>> {
    let [c, h, w] = config.input_shape;
    let images: Vec<f32> = (0..batch * c * h * w).map(|i| ((i * 7919) % 256) as f32 / 255.0).collect();
    let labels: Vec<u32> = (0..batch as u32).map(|i| i % config.num_classes as u32).collect();
    let y = Tensor::<1, Int>::from_data(TensorData::new(labels.iter().map(|&l| l as i64).collect::<Vec<_>>(), [batch]), device);
    let x = Tensor::<4>::from_data(TensorData::new(images.clone(), [batch, c, h, w]), device);
    let mut out = Vec::new();
    for (name, aug) in [("direct", AugConfig::direct()), ("ShiftAddAug", AugConfig::default())] {
        let cfg = AugNetConfig { aug, ..config.clone() };
        // A long planned schedule keeps width augmentation on.
        let tc = TrainConfig {
            optimizer: OptimizerKind::Sgd,
            learning_rate: 0.05,
            total_steps: Some(100_000),
            batch_size: batch,
            ..TrainConfig::default()
        };
        let mut trainer = Trainer::new(cfg.init(device)?, config.num_classes, tc)?;
        let mut steps = Vec::new();
        for i in 0..=reps.max(1) {
            let t = clock();
            trainer.train_batch(&images, &labels, true).await?;
            if i > 0 {
                steps.push(clock() - t);
            }
        }
        steps.sort_by(f64::total_cmp);
        let step_ms = steps[steps.len() / 2];
        let net = trainer.model();
        let progress = Progress { step: 0, total_steps: Some(100_000) };
        let forward_backward_ms = median(clock, reps, || async {
            // The trainer's loss: every pass's cross-entropy with its weight, and the extra terms.
            let passes = net.training_passes(x.clone(), progress)?;
            let ce = |l| loss_and_correct(l, &labels, y.clone(), config.num_classes, 0.0, device).0;
            let mut total = passes.into_iter().map(|(l, wgt)| ce(l).mul_scalar(wgt)).reduce(|a, b| a + b).expect("one pass at least");
            if let Some(extra) = net.extra_loss() {
                total = total + extra;
            }
            let grads = total.backward();
            sync(net.stem.conv.weight.val().grad(&grads).ok_or_else(|| Error::Backend("no gradient".into()))?).await
        })
        .await?;
        let mut rows = layer_rows(net, &net.config.tiny_arch(), Pass::Tiny, batch, clock, reps).await?;
        for r in &mut rows {
            r.what = format!("tiny pass: {}", r.what);
        }
        if net.config.aug.enabled {
            // The augmented model of the first step (the forward + backward above sampled it too).
            let sampled = net.config.sample_arch(progress.step, true);
            let mut aug = layer_rows(net, &sampled, Pass::Aug(net.config.aug.mode), batch, clock, reps).await?;
            for r in &mut aug {
                r.what = format!("augmented pass: {}", r.what);
            }
            rows.extend(aug);
        }
        out.push(StepProfile { step: name.into(), step_ms, forward_backward_ms, rows });
    }
    Ok(out)
}

/// The profiles as markdown tables: one row per op kind, then the whole-step rows, with the
/// share of the step each takes.
pub fn markdown(profiles: &[StepProfile]) -> String {
    let mut s = String::new();
    for p in profiles {
        let share = |ms: f64| 100.0 * ms / p.step_ms;
        s += &format!(
            "\n{} step: {:.1} ms\n\n| op kind | layers | forward ms | backward ms | share of the step |\n|---|---|---|---|---|\n",
            p.step, p.step_ms
        );
        let mut rows = p.rows.clone();
        rows.sort_by(|a, b| (b.forward_ms + b.backward_ms).total_cmp(&(a.forward_ms + a.backward_ms)));
        let mut sum = 0.0;
        for r in &rows {
            let t = r.forward_ms + r.backward_ms;
            sum += t;
            s += &format!("| {} | {} | {:.2} | {:.2} | {:.1} % |\n", r.what, r.layers, r.forward_ms, r.backward_ms, share(t));
        }
        let between = p.forward_backward_ms - sum;
        let optim = p.step_ms - p.forward_backward_ms;
        s += &format!("| sum of the layers above | | | | {:.1} % |\n", share(sum));
        s += &format!(
            "| between ops (forward + backward not explained by the layers) | | | | {:.1} % ({between:.1} ms) |\n",
            share(between)
        );
        s +=
            &format!("| optimiser update + metrics readback (step − forward + backward) | | | | {:.1} % ({optim:.1} ms) |\n", share(optim));
    }
    s
}
