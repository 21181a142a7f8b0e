//! Measured latency on a training backend (issue 14, METHOD.md §8): the float model's time per
//! layer on the device it runs on (Flex natively or in wasm, wgpu natively or on WebGPU), keyed
//! like the integer engine's table ([`crate::cost::latency`]) by operator, geometry, activation
//! and [`Timing`], plus the batch it was timed at.
//!
//! A layer runs as a deployed TargetNet runs it on the float path: the model of its plan with
//! augmentation off ([`crate::aug::AugNet::forward`] with [`Pass::Tiny`] on a non-autodiff
//! device). A conv layer is a [`DynConvBn`] with the config's adder gain (the MF weight
//! transform included, BatchNorm on running statistics, then the activation); a dense layer a
//! [`DynLinear`]; a squeeze-and-excitation one [`DynSe`] block,
//! timed on its reduce FC. Each is timed as the median of `reps` runs, each run ending in a
//! readback of its output's sum; the same measurement of an identity op (the harness: the sum
//! and the readback, about a device round trip on WebGPU) is taken off every layer and added
//! once to a model's prediction, since a model's forward ends in one readback too. Shortcut
//! additions, the global pooling and the classifier's slicing are not in the table.

use super::profile::{Clock, median, sync};
use crate::aug::blocks::{DynLinear, DynSe};
use crate::aug::dyn_layers::{ConvRun, DynConvBn};
use crate::aug::plan::{PlannedLayer, Slot};
use crate::aug::{AugConfig, AugNetConfig, Pass};
use crate::cost::{Affine, Layer, Timing};
use crate::error::Result;
use crate::infer::format::{Act as A, Op};
use crate::infer::kernels::Geometry;
use crate::models::Act;
use crate::nn::ConvKind;
use burn::tensor::{Device, Tensor, TensorData};
use std::collections::HashMap;

type Key = (Op, Geometry, A, Timing, Affine);

/// The per-layer times of one device, for models of one config's operator setup (remap, adder
/// gain) at one batch size.
pub struct BackendLatencyTable {
    config: AugNetConfig,
    device: Device,
    batch: usize,
    reps: usize,
    entries: HashMap<Key, f64>,
    harness_ms: Option<f64>,
}

impl std::fmt::Debug for BackendLatencyTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BackendLatencyTable").field("entries", &self.entries.len()).field("batch", &self.batch).finish()
    }
}

fn op_kind(op: Op) -> ConvKind {
    match op {
        Op::Mult => ConvKind::Mult,
        Op::Shift => ConvKind::Shift,
        Op::Add => ConvKind::Add,
    }
}

fn act_of(a: A) -> Act {
    match a {
        A::None => Act::None,
        A::Relu => Act::Relu,
        A::Relu6 => Act::Relu6,
        A::Hswish => Act::Hswish,
    }
}

/// `config`'s tiny model as a model of its own, as a deployed TargetNet runs on the float path
/// (`createModel({ spec: plan })`): augmentation off, so its weights are stored at its own
/// widths and kernels, read without a remap.
fn deployed(config: &AugNetConfig) -> AugNetConfig {
    AugNetConfig { aug: AugConfig { seed: config.aug.seed, ..AugConfig::direct() }, ..config.clone() }
}

/// `shape` of deterministic values in `[-1, 1)`.
fn input(shape: [usize; 4], device: &Device) -> Tensor<4> {
    let n: usize = shape.iter().product();
    let v: Vec<f32> = (0..n).map(|i| ((i.wrapping_mul(2654435761) % 1000) as f32 / 500.0) - 1.0).collect();
    Tensor::from_data(TensorData::new(v, shape), device)
}

impl BackendLatencyTable {
    /// An empty table for the deployed models of `config` (its adder gain; augmentation off) on
    /// `device` (a non-autodiff device), `batch` images per run, `reps` timed runs per entry.
    pub fn new(config: &AugNetConfig, device: &Device, batch: usize, reps: usize) -> Self {
        Self {
            config: deployed(config),
            device: device.clone(),
            batch: batch.max(1),
            reps: reps.max(1),
            entries: HashMap::new(),
            harness_ms: None,
        }
    }

    /// Images per timed run.
    pub fn batch(&self) -> usize {
        self.batch
    }

    /// Layers timed so far.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing was timed yet.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Ms of one timed run of the harness alone (an identity op, the sum and the readback).
    ///
    /// # Errors
    /// [`crate::Error::Backend`] when a readback fails.
    pub async fn harness_ms(&mut self, clock: Clock<'_>) -> Result<f64> {
        if let Some(h) = self.harness_ms {
            return Ok(h);
        }
        let x = input([self.batch, 8, 8, 8], &self.device);
        let h = median(clock, self.reps, || sync(x.clone().mul_scalar(1.0))).await?;
        self.harness_ms = Some(h);
        Ok(h)
    }

    /// Ms of `layer` for one batch, timed now if the table does not have it yet.
    ///
    /// # Errors
    /// [`crate::Error::Backend`] when a readback fails.
    pub async fn layer_ms(&mut self, layer: &Layer, clock: Clock<'_>) -> Result<f64> {
        let key = (layer.op, layer.geo, layer.act, layer.timing, layer.affine);
        if let Some(&t) = self.entries.get(&key) {
            return Ok(t);
        }
        let harness = self.harness_ms(clock).await?;
        let raw = self.time_raw(layer, clock).await?;
        let t = if layer.timing == Timing::InSeBlock { 0.0 } else { (raw - harness).max(0.0) };
        self.entries.insert(key, t);
        Ok(t)
    }

    async fn time_raw(&self, layer: &Layer, clock: Clock<'_>) -> Result<f64> {
        let (g, n, d) = (layer.geo, self.batch, &self.device);
        let reps = self.reps;
        match (layer.timing, layer.affine) {
            (Timing::InSeBlock, _) => Ok(0.0),
            (Timing::SeBlock { plane }, _) => {
                let se = DynSe::new(g.cin, d);
                let x = input([n, g.cin, plane, 1], d);
                median(clock, reps, || sync(se.forward(x.clone()))).await
            }
            (Timing::Own, Affine::Bias) => {
                let l = DynLinear::new(g.cin, g.cout, d);
                let x: Tensor<2> = input([n, g.cin, 1, 1], d).reshape([n, g.cin]);
                let act = act_of(layer.act);
                median(clock, reps, || sync(act.apply(l.forward(x.clone(), g.cout).reshape([n, g.cout, 1, 1])))).await
            }
            (Timing::Own, Affine::BatchNorm) => {
                let (kind, depthwise) = (op_kind(layer.op), g.groups > 1);
                let p = PlannedLayer {
                    slot: Slot::Stem,
                    op: kind,
                    dense: false,
                    io: [g.cin, g.cout],
                    kernel: g.k,
                    stride: g.stride,
                    depthwise,
                    act: act_of(layer.act),
                };
                let conv: DynConvBn = self.config.conv_template(&p, d);
                let run = ConvRun { t: [g.cin, g.cout], a: [g.cin, g.cout], kernel: g.k, op: kind };
                let x = input([n, g.cin, g.h, g.w], d);
                median(clock, reps, || sync(conv.forward(x.clone(), run, Pass::Tiny, p.act))).await
            }
        }
    }

    /// Predicted ms of a model for one batch: its layers' sum plus one readback.
    ///
    /// # Errors
    /// [`crate::Error::Backend`] when a readback fails.
    pub async fn predict_ms(&mut self, layers: &[Layer], clock: Clock<'_>) -> Result<f64> {
        let mut sum = self.harness_ms(clock).await?;
        for l in layers {
            sum += self.layer_ms(l, clock).await?;
        }
        Ok(sum)
    }

    /// Ms of a model for one batch from the table alone, as [`predict_ms`](Self::predict_ms)
    /// gives it; `Err` with the layers (and `None` for the harness) it has not timed yet.
    pub fn lookup_ms(&self, layers: &[Layer]) -> std::result::Result<f64, Vec<Option<Layer>>> {
        let mut missing: Vec<Option<Layer>> = Vec::new();
        if self.harness_ms.is_none() {
            missing.push(None);
        }
        let mut sum = self.harness_ms.unwrap_or(0.0);
        for l in layers {
            match self.entries.get(&(l.op, l.geo, l.act, l.timing, l.affine)) {
                Some(t) => sum += t,
                None => missing.push(Some(l.clone())),
            }
        }
        if missing.is_empty() { Ok(sum) } else { Err(missing) }
    }

    /// The table as JSON: one object per entry (`op`, the geometry's fields, `ms` per batch),
    /// sorted by operator and geometry.
    pub fn to_json(&self) -> serde_json::Value {
        let mut rows: Vec<_> = self.entries.iter().collect();
        rows.sort_by_key(|((op, g, act, timing, affine), _)| {
            (format!("{op:?}"), g.cin, g.cout, g.k, g.stride, g.groups, g.h, g.w, format!("{act:?} {timing:?} {affine:?}"))
        });
        let rows: Vec<_> = rows
            .into_iter()
            .map(|((op, g, act, timing, affine), ms)| {
                serde_json::json!({ "op": format!("{op:?}").to_lowercase(), "cin": g.cin, "cout": g.cout, "k": g.k, "stride": g.stride,
                    "groups": g.groups, "h": g.h, "w": g.w, "act": format!("{act:?}").to_lowercase(),
                    "timing": format!("{timing:?}"), "affine": format!("{affine:?}").to_lowercase(), "ms": ms })
            })
            .collect();
        serde_json::json!({ "batch": self.batch, "harnessMs": self.harness_ms, "layers": rows })
    }
}

/// Measured ms of `config`'s tiny model, as a model of its own (augmentation off), for one batch
/// of `batch` images on `device` (a non-autodiff device): the median of `reps` forward passes,
/// each ending in a readback (weights drawn from the config's seed).
///
/// # Errors
/// As [`AugNetConfig::init`]; [`crate::Error::Backend`] when a readback fails.
pub async fn model_ms(config: &AugNetConfig, device: &Device, batch: usize, reps: usize, clock: Clock<'_>) -> Result<f64> {
    let config = deployed(config);
    let net = config.init(device)?;
    let [c, h, w] = config.input_shape;
    let x = input([batch.max(1), c, h, w], device);
    let arch = config.tiny_arch();
    median(clock, reps, || {
        let y = net.forward(x.clone(), &arch, Pass::Tiny);
        async move { sync(y?).await }
    })
    .await
}

/// A [`BackendLatencyTable`] on the native CPU clock, read synchronously: the search's latency
/// limit on the float model (`shiftaddaug search --latency-engine float`). A layer whose timing
/// fails reads as infinitely slow (its model never meets a latency limit).
#[cfg(not(target_family = "wasm"))]
pub struct BlockingTable {
    table: BackendLatencyTable,
    start: std::time::Instant,
}

#[cfg(not(target_family = "wasm"))]
impl BlockingTable {
    /// Times layers as `table` does, one image per run.
    pub fn new(table: BackendLatencyTable) -> Self {
        Self { table, start: std::time::Instant::now() }
    }
}

#[cfg(not(target_family = "wasm"))]
impl crate::cost::latency::PredictLatency for BlockingTable {
    fn predict_s(&mut self, layers: &[Layer]) -> f64 {
        let start = self.start;
        let now = move || start.elapsed().as_secs_f64() * 1e3;
        let batch = self.table.batch as f64;
        super::block_on(self.table.predict_ms(layers, &now)).map_or(f64::INFINITY, |ms| ms * 1e-3 / batch)
    }
}

/// A table read without timing, for a synchronous caller (a search step pricing candidates): a
/// layer it has not timed prices at 0 and is noted; [`until_timed`] times those and runs the
/// step again.
pub struct Lookup<'a> {
    table: &'a BackendLatencyTable,
    missing: Vec<Option<Layer>>,
}

impl crate::cost::latency::PredictLatency for Lookup<'_> {
    fn predict_s(&mut self, layers: &[Layer]) -> f64 {
        match self.table.lookup_ms(layers) {
            Ok(ms) => ms * 1e-3 / self.table.batch as f64,
            Err(m) => {
                self.missing.extend(m);
                0.0
            }
        }
    }
}

/// Runs `step`, which prices through the [`Lookup`] it is given, until the table had every
/// layer it asked for: after a run that missed some, those are timed (on `table`'s device,
/// asynchronously) and `step` runs again. `step` must start from the same state each time (e.g.
/// work on a clone); the result of the run that missed nothing is returned.
///
/// # Errors
/// [`crate::Error::Backend`] when a readback fails.
pub async fn until_timed<T>(
    table: &mut BackendLatencyTable,
    clock: Clock<'_>,
    mut step: impl FnMut(&mut dyn crate::cost::latency::PredictLatency) -> T,
) -> Result<T> {
    loop {
        let mut lookup = Lookup { table, missing: Vec::new() };
        let out = step(&mut lookup);
        let missing: Vec<Layer> = lookup.missing.into_iter().flatten().collect();
        if table.harness_ms.is_some() && missing.is_empty() {
            return Ok(out);
        }
        table.predict_ms(&missing, clock).await?;
    }
}

/// One architecture's predicted and measured latency.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ArchLatency {
    /// MACs per image.
    pub macs: u64,
    /// Predicted ms per batch (the table's sum).
    pub predicted_ms: f64,
    /// Measured ms per batch (the whole model).
    pub measured_ms: f64,
}

impl ArchLatency {
    /// `predicted / measured − 1`.
    pub fn error(&self) -> f64 {
        self.predicted_ms / self.measured_ms - 1.0
    }
}

/// [`check_archs`] on a new table for `configs` (the first one's operator setup), after a first
/// pass over `configs[0]` that is thrown away (page faults, shader compilation, first
/// allocations): the rows and the table.
///
/// # Errors
/// As [`model_ms`]; [`crate::Error::Config`] for no configs.
pub async fn check_fresh(
    configs: &[AugNetConfig],
    device: &Device,
    batch: usize,
    reps: usize,
    clock: Clock<'_>,
) -> Result<(Vec<ArchLatency>, BackendLatencyTable)> {
    let first = configs.first().ok_or_else(|| crate::Error::Config("no architecture to check".into()))?;
    check_archs(&mut BackendLatencyTable::new(first, device, batch, reps), &configs[..1], clock).await?;
    let mut table = BackendLatencyTable::new(first, device, batch, reps);
    let rows = check_archs(&mut table, configs, clock).await?;
    Ok((rows, table))
}

/// Times `configs` (e.g. a search space's candidates) on `table`'s device: each one's
/// prediction from the table (timing the layers it has not seen) and its whole model.
///
/// # Errors
/// As [`model_ms`].
pub async fn check_archs(table: &mut BackendLatencyTable, configs: &[AugNetConfig], clock: Clock<'_>) -> Result<Vec<ArchLatency>> {
    let mut out = Vec::with_capacity(configs.len());
    for c in configs {
        let layers = c.tiny_layers();
        let predicted_ms = table.predict_ms(&layers, clock).await?;
        let measured_ms = model_ms(c, &table.device, table.batch, table.reps, clock).await?;
        out.push(ArchLatency { macs: layers.iter().map(Layer::macs).sum(), predicted_ms, measured_ms });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{block_on, cpu_device};
    use std::cell::Cell;

    /// A clock that advances 1 ms per reading (counted in `reads`).
    fn ticking(reads: &Cell<u32>) -> impl Fn() -> f64 + '_ {
        || {
            reads.set(reads.get() + 1);
            f64::from(reads.get())
        }
    }

    fn geo(cin: usize, cout: usize, k: usize, groups: usize, hw: usize) -> Geometry {
        Geometry { cin, cout, k, stride: 1, pad: k / 2, groups, h: hw, w: hw }
    }

    /// On a clock that advances 1 ms per reading every timed run reads 1 ms: the harness
    /// (1 ms) is taken off each layer (0 ms) and added once to the prediction. Each distinct
    /// layer is timed once (a warm-up and `reps` runs of two readings), whatever its name; an
    /// SE expand FC is never run.
    #[test]
    fn layers_are_timed_once_and_the_prediction_adds_one_readback() {
        let reads = Cell::new(0u32);
        let clock = ticking(&reads);
        let device = cpu_device();
        let mut t = BackendLatencyTable::new(&AugNetConfig::new([1, 8, 8], 10, ConvKind::Shift), &device, 2, 3);
        let a = Layer::new("a".into(), Op::Shift, geo(4, 8, 3, 1, 8)).with_act(A::Relu6);
        let same = Layer { name: "other name".into(), ..a.clone() };
        let layers = [
            a,
            Layer::new("dw".into(), Op::Add, geo(8, 8, 3, 8, 8)),
            Layer::new("se.reduce".into(), Op::Mult, geo(8, 4, 1, 1, 1)).with_bias().timed(Timing::SeBlock { plane: 64 }),
            Layer::new("se.expand".into(), Op::Mult, geo(4, 8, 1, 1, 1)).with_bias().timed(Timing::InSeBlock),
            Layer::new("classifier".into(), Op::Mult, geo(8, 10, 1, 1, 1)).with_bias().with_act(A::Hswish),
            same,
        ];
        assert_eq!(block_on(t.predict_ms(&layers, &clock)).unwrap(), 1.0);
        // The harness and four timed layers, 2 × 3 readings each; five entries.
        assert_eq!((reads.get(), t.len()), (5 * 6, 5));
        assert_eq!(block_on(t.predict_ms(&layers[..2], &clock)).unwrap(), 1.0);
        assert_eq!(reads.get(), 30, "nothing timed again");
        let j = t.to_json();
        assert_eq!((j["batch"].as_u64(), j["harnessMs"].as_f64()), (Some(2), Some(1.0)));
        assert_eq!(j["layers"].as_array().map(Vec::len), Some(5));
        assert_eq!(j["layers"][0]["op"], "add");
    }

    /// A step priced through [`until_timed`] runs again until the table has every layer it
    /// asked for, then gives what [`BackendLatencyTable::predict_ms`] gives.
    #[test]
    fn a_step_runs_again_until_its_layers_are_timed() {
        let reads = Cell::new(0u32);
        let clock = ticking(&reads);
        let mut t = BackendLatencyTable::new(&AugNetConfig::new([1, 8, 8], 10, ConvKind::Add), &cpu_device(), 1, 2);
        let a = Layer::new("a".into(), Op::Add, geo(4, 8, 3, 1, 8));
        let b = Layer::new("b".into(), Op::Shift, geo(8, 8, 1, 1, 8));
        let runs = Cell::new(0);
        // The second layer is asked for only once the first one is priced (as a search's next
        // candidate depends on the previous ones' costs).
        let s = block_on(until_timed(&mut t, &clock, |p| {
            runs.set(runs.get() + 1);
            let first = p.predict_s(std::slice::from_ref(&a));
            if first > 0.0 { first + p.predict_s(std::slice::from_ref(&b)) } else { first }
        }))
        .unwrap();
        assert_eq!((runs.get(), t.len()), (3, 2));
        // Every run reads 1 ms: each prediction is the harness alone, 1 ms for a batch of 1.
        assert_eq!(s, 2e-3);
        assert_eq!(t.lookup_ms(&[a, b]), Ok(1.0));
        let c = Layer::new("c".into(), Op::Mult, geo(8, 2, 1, 1, 1)).with_bias();
        assert_eq!(t.lookup_ms(std::slice::from_ref(&c)), Err(vec![Some(c)]));
    }

    /// A model's row carries its tiny model's MACs; its times come from the clock (here every
    /// run reads 1 ms, so the prediction is the one readback and the measurement 1 ms).
    #[test]
    fn a_checked_architecture_has_its_macs() {
        let reads = Cell::new(0u32);
        let clock = ticking(&reads);
        let cfg = AugNetConfig::new([1, 16, 16], 10, ConvKind::Add);
        let mut t = BackendLatencyTable::new(&cfg, &cpu_device(), 1, 1);
        let rows = block_on(check_archs(&mut t, std::slice::from_ref(&cfg), &clock)).unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].macs, cfg.tiny_macs());
        assert_eq!((rows[0].predicted_ms, rows[0].measured_ms, rows[0].error()), (1.0, 1.0, 0.0));
    }
}
