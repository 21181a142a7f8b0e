//! The optimiser's per-parameter updates (Adam, SGD with momentum, weight decay) in one pass
//! each, as a burn backend extension on Flex: burn's optimisers take ten to fourteen tensor ops
//! per parameter (each a pass with an allocation). Each value is computed with the same f32
//! operations in the same order as burn's `Adam` / `Sgd` (`burn-optim` 0.22), so both give the
//! same bits (`train::optim`'s test compares them with burn's `ModuleOptimizer`). Elsewhere
//! (WebGPU) [`adam`] and [`sgd`] take the same formulas as tensor ops.
//!
//! All tensors are flat (`[n]`) and live on the same device, without autodiff.

use burn::backend::flex::FlexTensor;
use burn::backend::{Backend, DispatchDevice, Flex, backend_extension, tensor::FloatTensor};
use burn::tensor::{DType, Tensor, TensorData};

/// Adam's constants for one step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamStep {
    /// Learning rate.
    pub lr: f32,
    /// `β1`.
    pub beta_1: f32,
    /// `β2`.
    pub beta_2: f32,
    /// `ε`.
    pub epsilon: f32,
    /// Weight-decay penalty (`g + penalty · p`), 0 for none.
    pub weight_decay: f32,
    /// Steps taken with this state, this one included (1 on the first).
    pub time: i32,
}

/// SGD's constants for one step (momentum, dampening, Nesterov).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SgdStep {
    /// Learning rate.
    pub lr: f32,
    /// Momentum `μ`.
    pub momentum: f32,
    /// The gradient's factor in the velocity, `1 − dampening`.
    pub grad_factor: f32,
    /// Nesterov momentum.
    pub nesterov: bool,
    /// Weight-decay penalty, 0 for none.
    pub weight_decay: f32,
    /// Whether this is the state's first step (the velocity starts as the gradient).
    pub first: bool,
}

/// One Adam update of `p` with gradient `g` and moments `m1`, `m2` (ignored on the first step,
/// `c.time == 1`), in place.
pub fn adam_slices(c: &AdamStep, p: &mut [f32], g: &[f32], m1: &mut [f32], m2: &mut [f32]) {
    let (f1, f2) = (1.0 - c.beta_1, 1.0 - c.beta_2);
    let bc2 = (1.0 - c.beta_2.powi(c.time)).sqrt();
    let combined = bc2 / (1.0 - c.beta_1.powi(c.time));
    let eps = c.epsilon * bc2;
    for i in 0..p.len() {
        let g = if c.weight_decay != 0.0 { p[i] * c.weight_decay + g[i] } else { g[i] };
        if c.time == 1 {
            m1[i] = g * f1;
            m2[i] = (g * g) * f2;
        } else {
            m1[i] = m1[i] * c.beta_1 + g * f1;
            m2[i] = m2[i] * c.beta_2 + (g * g) * f2;
        }
        let d = (m1[i] * combined) / (m2[i].sqrt() + eps);
        p[i] -= d * c.lr;
    }
}

/// One SGD update of `p` with gradient `g` and velocity `v` (ignored on the first step), in place.
pub fn sgd_slices(c: &SgdStep, p: &mut [f32], g: &[f32], v: &mut [f32]) {
    for i in 0..p.len() {
        let g = if c.weight_decay != 0.0 { p[i] * c.weight_decay + g[i] } else { g[i] };
        v[i] = if c.first { g } else { g * c.grad_factor + v[i] * c.momentum };
        let d = if c.nesterov { v[i] * c.momentum + g } else { v[i] };
        p[i] -= d * c.lr;
    }
}

/// Backend operations of the fused optimiser steps.
#[backend_extension(Flex)]
pub trait StepBackend: Backend {
    /// [`adam_slices`]: `(p, m1, m2)` after the step.
    fn adam_fused(
        p: FloatTensor<Self>,
        g: FloatTensor<Self>,
        m1: FloatTensor<Self>,
        m2: FloatTensor<Self>,
        c: AdamStep,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>);
    /// [`sgd_slices`]: `(p, v)` after the step.
    fn sgd_fused(p: FloatTensor<Self>, g: FloatTensor<Self>, v: FloatTensor<Self>, c: SgdStep) -> (FloatTensor<Self>, FloatTensor<Self>);
}

fn values(t: FlexTensor) -> Vec<f32> {
    let t = if t.is_contiguous() { t } else { t.to_contiguous() };
    t.as_slice::<f32>().expect("f32 checked by fused").to_vec()
}

fn flex(v: Vec<f32>) -> FlexTensor {
    let n = v.len();
    FlexTensor::from_data(TensorData::new(v, [n]))
}

impl StepBackend for Flex {
    fn adam_fused(p: FlexTensor, g: FlexTensor, m1: FlexTensor, m2: FlexTensor, c: AdamStep) -> (FlexTensor, FlexTensor, FlexTensor) {
        let (mut p, g) = (values(p), values(g));
        let (mut m1, mut m2) = if c.time == 1 { (vec![0.0; p.len()], vec![0.0; p.len()]) } else { (values(m1), values(m2)) };
        adam_slices(&c, &mut p, &g, &mut m1, &mut m2);
        (flex(p), flex(m1), flex(m2))
    }

    fn sgd_fused(p: FlexTensor, g: FlexTensor, v: FlexTensor, c: SgdStep) -> (FlexTensor, FlexTensor) {
        let (mut p, g) = (values(p), values(g));
        let mut v = if c.first { vec![0.0; p.len()] } else { values(v) };
        sgd_slices(&c, &mut p, &g, &mut v);
        (flex(p), flex(v))
    }
}

static ENABLED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(true);

/// Turns the one-pass kernels on (the default) or off process-wide (for benchmarks and tests;
/// see [`super::set_kernels`]).
pub fn set_fused(enabled: bool) {
    ENABLED.store(enabled, std::sync::atomic::Ordering::Relaxed);
}

/// Whether the one-pass kernels run for `p` (Flex, f32, unless [`set_fused`] turned them off).
pub fn fused(p: &Tensor<1>) -> bool {
    ENABLED.load(std::sync::atomic::Ordering::Relaxed)
        && matches!(p.device().inner().as_dispatch(), DispatchDevice::Flex(_))
        && p.dtype() == DType::F32
}

/// One Adam step: `(p, m1, m2)` after it (`m1`, `m2` are not read on the first step).
pub fn adam(p: Tensor<1>, g: Tensor<1>, m1: Tensor<1>, m2: Tensor<1>, c: AdamStep) -> (Tensor<1>, Tensor<1>, Tensor<1>) {
    if fused(&p) {
        type D = burn::backend::Dispatch;
        let (p, m1, m2) = <D as StepBackend>::adam_fused(p.into_dispatch(), g.into_dispatch(), m1.into_dispatch(), m2.into_dispatch(), c);
        return (Tensor::from_dispatch(p), Tensor::from_dispatch(m1), Tensor::from_dispatch(m2));
    }
    // burn's `Adam::step`, op by op.
    let g = if c.weight_decay != 0.0 { p.clone().mul_scalar(c.weight_decay).add(g) } else { g };
    let (f1, f2) = (1.0 - c.beta_1, 1.0 - c.beta_2);
    let (m1, m2) = if c.time == 1 {
        (g.clone().mul_scalar(f1), g.square().mul_scalar(f2))
    } else {
        (m1.mul_scalar(c.beta_1).add(g.clone().mul_scalar(f1)), m2.mul_scalar(c.beta_2).add(g.square().mul_scalar(f2)))
    };
    let bc2 = (1.0 - c.beta_2.powi(c.time)).sqrt();
    let combined = bc2 / (1.0 - c.beta_1.powi(c.time));
    let d = m1.clone().mul_scalar(combined).div(m2.clone().sqrt().add_scalar(c.epsilon * bc2));
    (p - d.mul_scalar(c.lr), m1, m2)
}

/// One SGD step: `(p, v)` after it (`v` is not read on the first step).
pub fn sgd(p: Tensor<1>, g: Tensor<1>, v: Tensor<1>, c: SgdStep) -> (Tensor<1>, Tensor<1>) {
    if fused(&p) {
        type D = burn::backend::Dispatch;
        let (p, v) = <D as StepBackend>::sgd_fused(p.into_dispatch(), g.into_dispatch(), v.into_dispatch(), c);
        return (Tensor::from_dispatch(p), Tensor::from_dispatch(v));
    }
    // burn's `Sgd::step` with `Momentum::transform`, op by op.
    let g = if c.weight_decay != 0.0 { p.clone().mul_scalar(c.weight_decay).add(g) } else { g };
    let v = if c.first { g.clone() } else { g.clone().mul_scalar(c.grad_factor).add(v.mul_scalar(c.momentum)) };
    let d = if c.nesterov { v.clone().mul_scalar(c.momentum).add(g) } else { v.clone() };
    (p - d.mul_scalar(c.lr), v)
}
