//! Power-of-two quantisation ([`super::pot_quantize`]) in one pass, as a burn backend extension:
//! the reference is ten tensor ops per weight tensor (`abs`, `log`, a division, `round`,
//! `clamp`, `powf`, `sign`, products and the straight-through sum), each a pass with an
//! allocation; `engine::profile` measured them at 14–16 % of a Shift training step in the
//! browser. The kernel computes each weight with the same f32 operations as the reference
//! (`ln`, division by `ln 2`, round half to even, clamp, `2^p`, sign), so both give the same
//! bits; the backward step is the straight-through estimator (the gradient passes unchanged).
//!
//! [`PotBackend`] is implemented for Flex and for `Autodiff<B>`; elsewhere (WebGPU, the native
//! `wgpu` feature) `pot_quantize` takes the reference.

use burn::backend::autodiff::Autodiff;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops};
use burn::backend::flex::FlexTensor;
use burn::backend::{Backend, DispatchDevice, Flex, TensorMetadata, backend_extension, tensor::FloatTensor};
use burn::tensor::{DType, Tensor, TensorData};

/// `sign(w) · 2^clamp(round_half_even(ln |w| / ln 2), p_min, 0)`, with `sign(0) = 0`.
#[inline]
pub fn pot_value(w: f32, p_min: f32) -> f32 {
    if w == 0.0 || w.is_nan() {
        return if w.is_nan() { w } else { 0.0 };
    }
    let p = (w.abs().ln() / std::f32::consts::LN_2).round_ties_even().clamp(p_min, 0.0);
    2f32.powf(p).copysign(w)
}

/// Backend operation of the fused power-of-two quantisation.
#[backend_extension(Flex, Autodiff)]
pub trait PotBackend: Backend {
    /// [`pot_value`] of every element; gradient straight through under autodiff.
    fn pot_quantize_fused(w: FloatTensor<Self>, p_min: i32) -> FloatTensor<Self>;
}

impl PotBackend for Flex {
    fn pot_quantize_fused(w: FlexTensor, p_min: i32) -> FlexTensor {
        let w = if w.is_contiguous() { w } else { w.to_contiguous() };
        let values = w.as_slice::<f32>().expect("f32 checked by pot_quantize");
        let q: Vec<f32> = values.iter().map(|&v| pot_value(v, p_min as f32)).collect();
        FlexTensor::from_data(TensorData::new(q, w.shape().to_vec()))
    }
}

#[derive(Debug)]
struct StraightThrough;

impl<B: Backend> Backward<B, 1> for StraightThrough {
    type State = ();

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _checkpointer: &mut Checkpointer) {
        let [node] = ops.parents;
        let g = grads.consume::<B>(&ops.node);
        if let Some(node) = node {
            grads.register::<B>(node.id, g);
        }
    }
}

impl<B: Backend + PotBackend, C: CheckpointStrategy> PotBackend for Autodiff<B, C> {
    fn pot_quantize_fused(w: FloatTensor<Self>, p_min: i32) -> FloatTensor<Self> {
        let guards = [w.node()];
        let q = B::pot_quantize_fused(w.into_primitive(), p_min);
        StraightThrough.prepare::<C>(guards).compute_bound().stateless(q)
    }
}

static ENABLED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(true);

/// Turns the fused kernel on (the default) or off process-wide (for benchmarks; see
/// [`super::set_kernels`]).
pub fn set_fused(enabled: bool) {
    ENABLED.store(enabled, std::sync::atomic::Ordering::Relaxed);
}

/// Whether [`super::pot_quantize`] takes the fused kernel for `w` (Flex, f32, with or without
/// autodiff, unless [`set_fused`] turned it off).
pub fn pot_fused<const D: usize>(w: &Tensor<D>) -> bool {
    ENABLED.load(std::sync::atomic::Ordering::Relaxed)
        && matches!(w.device().inner().as_dispatch(), DispatchDevice::Flex(_))
        && w.dtype() == DType::F32
}

/// The fused quantisation of `w` (call where [`pot_fused`] holds).
pub(crate) fn pot_quantize_fused<const D: usize>(w: Tensor<D>, p_min: i32) -> Tensor<D> {
    Tensor::from_dispatch(<burn::backend::Dispatch as PotBackend>::pot_quantize_fused(w.into_dispatch(), p_min))
}
