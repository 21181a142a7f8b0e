//! The optimiser of a [`super::Trainer`]: burn's per-parameter Adam and SGD
//! ([`burn::optim::Optimizer`]) applied over a module, as burn's `ModuleOptimizer` applies them
//! (same calls, same values), with the per-parameter states kept here.
//!
//! Kept here so that a checkpoint restores the states on the model's own device: burn's
//! `ModuleOptimizer` rebuilds them on the default device, which in the wasm build is the WebGPU
//! one, uninitialised (a panic) when the model trains on the wasm CPU backend.
//!
//! Saved states ([`ParamOptimizer::to_bytes`]): `u64` LE length of a JSON header (`ranks` per
//! parameter id, `scalars`, and per tensor its `name` and `shape`), the header, then every
//! tensor's f32 values (LE) in header order.

use crate::error::{Error, Result};
use burn::module::{Module, ModuleMapper, Param, ParamId};
use burn::optim::{Adam, GradientsParams, Optimizer, RecordState, Sgd, StateSink, StateSource};
use burn::tensor::{Device, Tensor, TensorData};
use serde::{Deserialize, Serialize};
use std::any::Any;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// The per-parameter rule.
#[derive(Clone)]
pub(crate) enum Rule {
    Adam(Adam),
    Sgd(Sgd),
}

/// A parameter's state: `<rule as Optimizer>::State<rank>`, type-erased.
type State = Arc<dyn Any + Send + Sync>;

/// Applies a [`Rule`] to every parameter of a module that has a gradient.
#[derive(Clone)]
pub(crate) struct ParamOptimizer {
    rule: Rule,
    /// Per parameter: the rank of its tensor and its state.
    states: HashMap<ParamId, (usize, State)>,
}

/// Calls `$f::<O, D>(...)` with the rule's optimiser type and the const rank `$rank` (1 to 4).
macro_rules! with_rule_rank {
    ($rule:expr, $rank:expr, $f:ident, $($arg:expr),*) => {
        match ($rule, $rank) {
            (Rule::Adam(o), 1) => $f::<Adam, 1>(o, $($arg),*),
            (Rule::Adam(o), 2) => $f::<Adam, 2>(o, $($arg),*),
            (Rule::Adam(o), 3) => $f::<Adam, 3>(o, $($arg),*),
            (Rule::Adam(o), 4) => $f::<Adam, 4>(o, $($arg),*),
            (Rule::Sgd(o), 1) => $f::<Sgd, 1>(o, $($arg),*),
            (Rule::Sgd(o), 2) => $f::<Sgd, 2>(o, $($arg),*),
            (Rule::Sgd(o), 3) => $f::<Sgd, 3>(o, $($arg),*),
            (Rule::Sgd(o), 4) => $f::<Sgd, 4>(o, $($arg),*),
            (_, r) => Err(Error::Config(format!("optimiser state of a rank-{r} parameter (ranks 1 to 4 are trained)"))),
        }
    };
}

impl ParamOptimizer {
    pub(crate) fn new(rule: Rule) -> Self {
        Self { rule, states: HashMap::new() }
    }

    /// One update of `module` with `grads` at learning rate `lr`.
    pub(crate) fn step<M: Module>(&mut self, lr: f64, module: M, mut grads: GradientsParams) -> M {
        module.map(&mut Stepper { rule: &self.rule, states: &mut self.states, grads: &mut grads, lr })
    }

    /// The states as bytes (see the module comment). Reads tensors back synchronously.
    ///
    /// # Errors
    /// [`Error::Backend`] when a state tensor is not f32 or cannot be read.
    pub(crate) fn to_bytes(&self) -> Result<Vec<u8>> {
        let mut sink = StateSink::default();
        let mut ranks = BTreeMap::new();
        let mut ids: Vec<_> = self.states.keys().copied().collect();
        ids.sort_by_key(|id| id.val());
        for id in ids {
            let (rank, state) = &self.states[&id];
            ranks.insert(id.val(), *rank);
            with_rule_rank!(&self.rule, *rank, flatten, state, &id.val().to_string(), &mut sink)?;
        }
        let mut tensors = Vec::with_capacity(sink.tensors.len());
        let mut values = Vec::new();
        for (name, data) in sink.tensors {
            let shape = data.shape().to_vec();
            let v = data.try_to_vec::<f32>().map_err(|e| Error::Backend(format!("optimiser state {name}: {e:?}")))?;
            values.extend(v.iter().flat_map(|x| x.to_le_bytes()));
            tensors.push(SavedTensor { name, shape });
        }
        let scalars: BTreeMap<_, _> = sink.scalars.into_iter().collect();
        let scalars = serde_json::to_value(&scalars).map_err(|e| Error::Backend(format!("optimiser scalars: {e}")))?;
        let header =
            serde_json::to_vec(&Header { ranks, scalars, tensors }).map_err(|e| Error::Backend(format!("optimiser header: {e}")))?;
        let mut out = (header.len() as u64).to_le_bytes().to_vec();
        out.extend(header);
        out.extend(values);
        Ok(out)
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
        let scalars = serde_json::from_value(header.scalars).map_err(|e| bad(format!("scalars: {e}")))?;
        let mut src = StateSource::new(scalars);
        let mut at = end;
        for t in header.tensors {
            let len =
                t.shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d)).ok_or_else(|| bad(format!("{}: shape overflows", t.name)))?;
            let stop = len
                .checked_mul(4)
                .and_then(|b| b.checked_add(at))
                .filter(|&s| s <= bytes.len())
                .ok_or_else(|| bad(format!("{}: truncated values", t.name)))?;
            let v: Vec<f32> = bytes[at..stop].chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes"))).collect();
            at = stop;
            src.insert_tensor(t.name, TensorData::new(v, t.shape));
        }
        if at != bytes.len() {
            return Err(bad(format!("{} bytes after the last tensor", bytes.len() - at)));
        }
        let mut states = HashMap::new();
        for (id, rank) in header.ranks {
            let state = with_rule_rank!(&rule, rank, unflatten, &id.to_string(), &mut src, device)?;
            states.insert(ParamId::from(id), (rank, state));
        }
        Ok(Self { rule, states })
    }
}

#[derive(Serialize, Deserialize)]
struct Header {
    ranks: BTreeMap<u64, usize>,
    scalars: serde_json::Value,
    tensors: Vec<SavedTensor>,
}

#[derive(Serialize, Deserialize)]
struct SavedTensor {
    name: String,
    shape: Vec<usize>,
}

fn flatten<O: Optimizer, const D: usize>(_: &O, state: &State, prefix: &str, sink: &mut StateSink) -> Result<()> {
    let s = state.downcast_ref::<O::State<D>>().ok_or_else(|| Error::Backend(format!("optimiser state {prefix}: not of rank {D}")))?;
    s.state_flatten(prefix, sink);
    Ok(())
}

fn unflatten<O: Optimizer, const D: usize>(_: &O, prefix: &str, src: &mut StateSource, device: &Device) -> Result<State> {
    let s = O::State::<D>::state_unflatten(prefix, src, device)
        .ok_or_else(|| Error::Config(format!("checkpoint: optimiser state of parameter {prefix} is incomplete")))?;
    Ok(Arc::new(s))
}

/// One parameter's update, as `ModuleOptimizer` makes it: the state moved to the gradient's
/// device, then the rule's step on the parameter's inner (non-autodiff) tensor.
fn step_one<O: Optimizer, const D: usize>(
    o: &O,
    lr: f64,
    tensor: Tensor<D>,
    grad: Tensor<D>,
    state: Option<State>,
) -> (Tensor<D>, Option<State>) {
    let device = grad.device();
    let state = state.map(|s| {
        let s = s.downcast::<O::State<D>>().expect("a parameter keeps its rank and rule");
        O::to_device(Arc::try_unwrap(s).unwrap_or_else(|s| (*s).clone()), &device)
    });
    let (t, s) = o.step(lr, tensor, grad, state);
    (t, s.map(|s| Arc::new(s) as State))
}

struct Stepper<'a> {
    rule: &'a Rule,
    states: &'a mut HashMap<ParamId, (usize, State)>,
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
        let old = self.states.remove(&id).map(|(_, s)| s);
        let (t, state) = match self.rule {
            Rule::Adam(o) => step_one::<Adam, D>(o, self.lr, tensor.inner(), grad, old),
            Rule::Sgd(o) => step_one::<Sgd, D>(o, self.lr, tensor.inner(), grad, old),
        };
        if let Some(s) = state {
            self.states.insert(id, (D, s));
        }
        let mut p = Tensor::from_inner(t);
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
    /// Adam and Nesterov SGD with weight decay; and after the states go through bytes midway.
    #[test]
    fn steps_like_burns_module_optimizer_and_round_trips() {
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
        let cases: [(&str, Rule, ModuleOptimizer); 2] =
            [("adam", Rule::Adam(adam.build()), adam.init()), ("sgd", Rule::Sgd(sgd.build()), sgd.init())];
        for (name, rule, mut theirs) in cases {
            let (mut a, mut b) = (copy(), copy());
            let before = outputs(&a, &x);
            let mut ours = ParamOptimizer::new(rule.clone());
            for step in 0..4 {
                if step == 2 {
                    let bytes = ours.to_bytes().unwrap();
                    ours = ParamOptimizer::from_bytes(rule.clone(), &bytes, &device.clone().inner()).unwrap();
                    assert!(ParamOptimizer::from_bytes(rule.clone(), &bytes[..bytes.len() - 1], &device).is_err(), "{name}: truncated");
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
