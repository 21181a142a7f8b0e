//! The optimiser of a [`super::Trainer`]: Adam, or SGD with (Nesterov) momentum, with weight
//! decay, applied to every parameter that has a gradient, with the same values as burn's
//! `Adam` / `Sgd` under `ModuleOptimizer` (bit for bit: the test below), one pass per parameter
//! on the CPU ([`crate::ops::step`]).
//!
//! The states are kept here, flat (`[n]` per parameter), so that a checkpoint writes and
//! restores them on the model's own device: burn's `ModuleOptimizer` rebuilds them on the default
//! device, which in the wasm build is the WebGPU one, uninitialised (a panic) when the model
//! trains on the wasm CPU backend.
//!
//! Saved states ([`ParamOptimizer::to_bytes`]): `u64` LE length of a JSON header (per parameter
//! id, in increasing order: its step count and its values per state tensor), the header, then
//! the state tensors' f32 values (LE) in header order.

use crate::error::{Error, Result};
use crate::ops::step::{AdamStep, SgdStep, adam, sgd};
use burn::module::{Module, ModuleMapper, Param, ParamId};
use burn::optim::GradientsParams;
use burn::tensor::{Device, Tensor, TensorData};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// The per-parameter rule and its constants (burn's defaults for Adam: β1 0.9, β2 0.999,
/// ε 1e-5).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Rule {
    Adam { beta_1: f32, beta_2: f32, epsilon: f32, weight_decay: f32 },
    Sgd { momentum: f64, dampening: f64, nesterov: bool, weight_decay: f32 },
}

impl Rule {
    /// State tensors per parameter: Adam's two moments, SGD's velocity.
    fn tensors(&self) -> usize {
        match self {
            Rule::Adam { .. } => 2,
            Rule::Sgd { .. } => 1,
        }
    }
}

/// One parameter's state: the steps taken and the flat state tensors ([`Rule::tensors`]).
#[derive(Clone)]
struct State {
    time: i32,
    tensors: Vec<Tensor<1>>,
}

/// Applies a [`Rule`] to every parameter of a module that has a gradient.
#[derive(Clone)]
pub(crate) struct ParamOptimizer {
    rule: Rule,
    states: HashMap<ParamId, State>,
}

impl ParamOptimizer {
    pub(crate) fn new(rule: Rule) -> Self {
        Self { rule, states: HashMap::new() }
    }

    /// One update of `module` with `grads` at learning rate `lr`.
    pub(crate) fn step<M: Module>(&mut self, lr: f64, module: M, mut grads: GradientsParams) -> M {
        module.map(&mut Stepper { rule: self.rule, states: &mut self.states, grads: &mut grads, lr })
    }

    /// The states as bytes (see the module comment). Reads tensors back synchronously.
    ///
    /// # Errors
    /// [`Error::Backend`] when a state tensor cannot be read as f32.
    #[cfg(not(target_family = "wasm"))]
    pub(crate) fn to_bytes(&self) -> Result<Vec<u8>> {
        let mut read = Vec::new();
        for (id, state) in self.sorted() {
            read.push((id, state.time, state.tensors.iter().map(|t| f32s(id, t.to_data())).collect::<Result<Vec<_>>>()?));
        }
        encode(read)
    }

    /// [`to_bytes`](Self::to_bytes) with asynchronous readbacks (for WebGPU).
    ///
    /// # Errors
    /// [`Error::Backend`] when a readback fails.
    pub(crate) async fn to_bytes_async(&self) -> Result<Vec<u8>> {
        let mut read = Vec::new();
        for (id, state) in self.sorted() {
            let mut values = Vec::new();
            for t in &state.tensors {
                values.push(f32s(id, t.clone().into_data_async().await.map_err(|e| Error::Backend(format!("readback: {e:?}")))?)?);
            }
            read.push((id, state.time, values));
        }
        encode(read)
    }

    /// The states by increasing parameter id.
    fn sorted(&self) -> Vec<(u64, &State)> {
        let mut v: Vec<_> = self.states.iter().map(|(id, s)| (id.val(), s)).collect();
        v.sort_by_key(|(id, _)| *id);
        v
    }

    /// An optimiser with `rule` and the states of `bytes` ([`to_bytes`](Self::to_bytes)),
    /// created on `device`.
    ///
    /// # Errors
    /// [`Error::Config`] when the bytes are not such states or do not fit `rule`.
    pub(crate) fn from_bytes(rule: Rule, bytes: &[u8], device: &Device) -> Result<Self> {
        let bad = |m: String| Error::Config(format!("checkpoint: optimiser state: {m}"));
        let n = bytes.get(..8).map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes"))).ok_or_else(|| bad("truncated".into()))?;
        let end = usize::try_from(n)
            .ok()
            .and_then(|n| n.checked_add(8))
            .filter(|&e| e <= bytes.len())
            .ok_or_else(|| bad("truncated header".into()))?;
        let header: Header = serde_json::from_slice(&bytes[8..end]).map_err(|e| bad(format!("header: {e}")))?;
        let mut at = end;
        let mut states = HashMap::new();
        for p in header.params {
            if p.lens.len() != rule.tensors() || p.time < 1 {
                return Err(bad(format!("parameter {}: {} tensors at step {}, not this optimiser's", p.id, p.lens.len(), p.time)));
            }
            let mut tensors = Vec::new();
            for len in p.lens {
                let stop = len
                    .checked_mul(4)
                    .and_then(|b| b.checked_add(at))
                    .filter(|&s| s <= bytes.len())
                    .ok_or_else(|| bad(format!("parameter {}: truncated values", p.id)))?;
                let v: Vec<f32> = bytes[at..stop].chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes"))).collect();
                at = stop;
                tensors.push(Tensor::<1>::from_data(TensorData::new(v, [len]), device));
            }
            states.insert(ParamId::from(p.id), State { time: p.time, tensors });
        }
        if at != bytes.len() {
            return Err(bad(format!("{} bytes after the last tensor", bytes.len() - at)));
        }
        Ok(Self { rule, states })
    }
}

/// A state tensor's values.
fn f32s(id: u64, data: TensorData) -> Result<Vec<f32>> {
    data.try_to_vec::<f32>().map_err(|e| Error::Backend(format!("optimiser state of {id}: {e:?}")))
}

/// The bytes of states read back: per parameter id (increasing), its step count and the values
/// of its state tensors.
fn encode(read: Vec<(u64, i32, Vec<Vec<f32>>)>) -> Result<Vec<u8>> {
    let (mut params, mut values) = (Vec::new(), Vec::new());
    for (id, time, tensors) in read {
        params.push(SavedParam { id, time, lens: tensors.iter().map(Vec::len).collect() });
        values.extend(tensors.iter().flatten().flat_map(|x| x.to_le_bytes()));
    }
    let header = serde_json::to_vec(&Header { params }).map_err(|e| Error::Backend(format!("optimiser header: {e}")))?;
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend(header);
    out.extend(values);
    Ok(out)
}

#[derive(Serialize, Deserialize)]
struct Header {
    params: Vec<SavedParam>,
}

#[derive(Serialize, Deserialize)]
struct SavedParam {
    id: u64,
    time: i32,
    /// Values of each state tensor.
    lens: Vec<usize>,
}

/// One parameter's update (flat `p` and `g`): the new parameter and state. A restored state
/// whose size does not fit the parameter starts again (as burn drops a state it cannot use).
fn update(rule: Rule, lr: f64, p: Tensor<1>, g: Tensor<1>, old: Option<State>) -> (Tensor<1>, State) {
    let n = p.dims()[0];
    let device = g.device();
    let old = old.filter(|s| s.tensors.iter().all(|t| t.dims()[0] == n));
    let time = old.as_ref().map_or(1, |s| s.time + 1);
    let mut prev = old.map(|s| s.tensors).unwrap_or_default().into_iter().map(|t| t.to_device(&device));
    // Not read on a first step: any tensor of the right size.
    let mut next = || prev.next().unwrap_or_else(|| p.clone());
    match rule {
        Rule::Adam { beta_1, beta_2, epsilon, weight_decay } => {
            let c = AdamStep { lr: lr as f32, beta_1, beta_2, epsilon, weight_decay, time };
            let (m1, m2) = (next(), next());
            let (p, m1, m2) = adam(p, g, m1, m2, c);
            (p, State { time, tensors: vec![m1, m2] })
        }
        Rule::Sgd { momentum, dampening, nesterov, weight_decay } => {
            // burn multiplies by these f64 values converted to f32, `1 − dampening` computed in f64.
            let c = SgdStep {
                lr: lr as f32,
                momentum: momentum as f32,
                grad_factor: (1.0 - dampening) as f32,
                nesterov,
                weight_decay,
                first: time == 1,
            };
            let v = next();
            let (p, v) = sgd(p, g, v, c);
            (p, State { time, tensors: vec![v] })
        }
    }
}

struct Stepper<'a> {
    rule: Rule,
    states: &'a mut HashMap<ParamId, State>,
    grads: &'a mut GradientsParams,
    lr: f64,
}

impl ModuleMapper for Stepper<'_> {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let (id, tensor, mapper) = param.consume();
        let Some(grad) = self.grads.remove::<D>(id) else {
            return Param::from_mapped_value(id, tensor, mapper);
        };
        let (require_grad, checkpointing) = (tensor.is_require_grad(), tensor.gradient_checkpointing_strategy());
        let device = grad.device();
        let tensor = if tensor.device() != device { tensor.to_device(&device) } else { tensor };
        let shape = tensor.shape();
        let n = shape.num_elements();
        let (p, state) = update(self.rule, self.lr, tensor.inner().reshape([n]), grad.reshape([n]), self.states.remove(&id));
        self.states.insert(id, state);
        let mut p = Tensor::from_inner(p.reshape(shape));
        if let Some(strategy) = checkpointing {
            p = p.with_gradient_checkpointing_strategy(strategy);
        }
        if require_grad {
            p = p.require_grad();
        }
        Param::from_mapped_value(id, p, mapper)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::{MfCnn, MfCnnConfig};
    use crate::nn::ConvKind;
    use crate::train::ImageClassifier;
    use burn::optim::decay::WeightDecayConfig;
    use burn::optim::momentum::MomentumConfig;
    use burn::optim::{AdamConfig, ModuleOptimizer, SgdConfig};

    /// The model's eval-mode logits on `x`: every parameter shows in them.
    fn outputs(m: &MfCnn, x: &Tensor<4>) -> Vec<f32> {
        let x = Tensor::<4>::from_data(x.to_data(), &Device::flex());
        m.valid().logits(x).unwrap().into_data().try_to_vec::<f32>().unwrap()
    }

    fn grads(m: &MfCnn, x: &Tensor<4>) -> GradientsParams {
        let loss = m.logits(x.clone()).unwrap().powi_scalar(2).mean();
        GradientsParams::from_grads(loss.backward(), m)
    }

    /// The same parameters, bit for bit, as burn's `ModuleOptimizer` after each of 4 steps, for
    /// Adam and Nesterov SGD with weight decay, with the one-pass kernels and with their tensor-op
    /// form (WebGPU's); and after the states go through bytes midway.
    #[test]
    fn steps_like_burns_module_optimizer_and_round_trips() {
        for fused in [true, false] {
            crate::ops::step::set_fused(fused);
            steps_like_burn();
        }
        crate::ops::step::set_fused(true);
    }

    fn steps_like_burn() {
        let device = Device::flex().autodiff();
        let cfg = MfCnnConfig { conv: ConvKind::Shift, input_shape: [1, 12, 12], widths: vec![4, 8], ..Default::default() };
        let start = cfg.init(&device).unwrap().into_record();
        let copy = || cfg.init(&device).unwrap().load_record(start.clone());
        let x = Tensor::<4>::from_data(
            TensorData::new((0..2 * 144).map(|i| ((i * 37) % 17) as f32 / 17.0).collect::<Vec<_>>(), [2, 1, 12, 12]),
            &device,
        );
        let wd = Some(WeightDecayConfig::new(1e-3));
        let sgd = SgdConfig::new().with_weight_decay(wd.clone()).with_momentum(Some(MomentumConfig {
            momentum: 0.9,
            dampening: 0.0,
            nesterov: true,
        }));
        let adam = AdamConfig::new().with_weight_decay(wd);
        let ours_adam = Rule::Adam { beta_1: 0.9, beta_2: 0.999, epsilon: 1e-5, weight_decay: 1e-3 };
        let ours_sgd = Rule::Sgd { momentum: 0.9, dampening: 0.0, nesterov: true, weight_decay: 1e-3 };
        let cases: [(&str, Rule, ModuleOptimizer); 2] = [("adam", ours_adam, adam.init()), ("sgd", ours_sgd, sgd.init())];
        for (name, rule, mut theirs) in cases {
            let (mut a, mut b) = (copy(), copy());
            let before = outputs(&a, &x);
            let mut ours = ParamOptimizer::new(rule);
            for step in 0..4 {
                if step == 2 {
                    let bytes = ours.to_bytes().unwrap();
                    ours = ParamOptimizer::from_bytes(rule, &bytes, &device.clone().inner()).unwrap();
                    assert!(ParamOptimizer::from_bytes(rule, &bytes[..bytes.len() - 1], &device).is_err(), "{name}: truncated");
                }
                let (ga, gb) = (grads(&a, &x), grads(&b, &x));
                a = ours.step(0.05, a, ga);
                b = theirs.step(0.05, b, gb);
                assert_eq!(outputs(&a, &x), outputs(&b, &x), "{name}: step {step}");
            }
            assert_ne!(outputs(&a, &x), before, "{name}: the steps moved the model");
            assert_eq!(ours.states.len(), theirs.to_record().len() / if name == "adam" { 2 } else { 1 }, "{name}: one state per parameter");
        }
    }
}
