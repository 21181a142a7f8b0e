//! BatchNorm in training mode fused with the activation that follows it, as a burn backend
//! extension with a hand-written backward: one pass for the statistics and one for the output
//! forward, one reduction pass and one pass for the input gradient backward, where burn's
//! generic `batch_norm_train` transposes the activations to `[c, n·h·w]` (layout copies) and
//! the clamp of ReLU6 adds mask passes of its own (`engine::profile` measured BatchNorm and
//! ReLU6 at about 40 % of a MobileNetV2-Tiny step).
//!
//! [`BnActBackend`] is implemented for the Flex CPU backend by the kernels of [`cpu`] and for
//! `Autodiff<B>` by a backward step that calls them. [`bn_act_train`] takes it on Flex with
//! f32 and falls back to burn's ops elsewhere (WebGPU, the native `wgpu` feature), with the
//! same results.

pub mod cpu;

mod autodiff;

use burn::backend::flex::FlexTensor;
use burn::backend::{Backend, Dispatch, DispatchDevice, Flex, TensorMetadata, backend_extension, tensor::FloatTensor};
use burn::tensor::activation::relu;
use burn::tensor::module::batch_norm_train;
use burn::tensor::{DType, Tensor, TensorData};

/// The activation fused after the BatchNorm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BnAct {
    /// Identity.
    None,
    /// `max(z, 0)`.
    Relu,
    /// `min(max(z, 0), 6)`.
    Relu6,
}

impl BnAct {
    fn code(self) -> usize {
        self as usize
    }

    fn from_code(c: usize) -> Self {
        match c {
            1 => Self::Relu,
            2 => Self::Relu6,
            _ => Self::None,
        }
    }

    /// The activation on a tensor (burn ops).
    pub fn apply<const D: usize>(self, z: Tensor<D>) -> Tensor<D> {
        match self {
            Self::None => z,
            Self::Relu => relu(z),
            Self::Relu6 => z.clamp(0.0, 6.0),
        }
    }
}

/// Backend operations of the fused BatchNorm + activation. `act` is a [`BnAct`] code; `x` is
/// `[n, c, h, w]`, `gamma` and `beta` `[c]`.
#[backend_extension(Flex, Autodiff)]
pub trait BnActBackend: Backend {
    /// `(y, mean, variance)`: `y = act(gamma · (x − mean) / sqrt(variance + eps) + beta)` with
    /// the biased batch statistics per channel.
    fn bn_act_forward(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        eps: f32,
        act: usize,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>);

    /// `(dx, dgamma, dbeta)` for the upstream gradient `dy`, from the forward's `x`, `gamma`,
    /// `beta` and statistics.
    #[allow(clippy::too_many_arguments)]
    fn bn_act_backward(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        mean: FloatTensor<Self>,
        variance: FloatTensor<Self>,
        dy: FloatTensor<Self>,
        eps: f32,
        act: usize,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>);
}

fn contiguous(t: FlexTensor) -> FlexTensor {
    if t.is_contiguous() { t } else { t.to_contiguous() }
}

fn dims(t: &FlexTensor) -> cpu::Dims {
    let s = t.shape();
    cpu::Dims { n: s[0], c: s[1], hw: s[2] * s[3] }
}

fn slice(t: &FlexTensor) -> &[f32] {
    t.as_slice::<f32>().expect("f32 checked by bn_act_train")
}

fn flex(v: Vec<f32>, shape: Vec<usize>) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(v, shape))
}

impl BnActBackend for Flex {
    fn bn_act_forward(x: FlexTensor, gamma: FlexTensor, beta: FlexTensor, eps: f32, act: usize) -> (FlexTensor, FlexTensor, FlexTensor) {
        let (x, gamma, beta) = (contiguous(x), contiguous(gamma), contiguous(beta));
        let d = dims(&x);
        let (y, mean, var) = cpu::forward(d, slice(&x), slice(&gamma), slice(&beta), eps, BnAct::from_code(act));
        (flex(y, x.shape().to_vec()), flex(mean, vec![d.c]), flex(var, vec![d.c]))
    }

    fn bn_act_backward(
        x: FlexTensor,
        gamma: FlexTensor,
        beta: FlexTensor,
        mean: FlexTensor,
        variance: FlexTensor,
        dy: FlexTensor,
        eps: f32,
        act: usize,
    ) -> (FlexTensor, FlexTensor, FlexTensor) {
        let [x, gamma, beta, mean, variance, dy] = [x, gamma, beta, mean, variance, dy].map(contiguous);
        let d = dims(&x);
        let saved = cpu::Saved {
            x: slice(&x),
            gamma: slice(&gamma),
            beta: slice(&beta),
            mean: slice(&mean),
            var: slice(&variance),
            dy: slice(&dy),
        };
        let (dx, dg, db) = cpu::backward(d, &saved, eps, BnAct::from_code(act));
        (flex(dx, x.shape().to_vec()), flex(dg, vec![d.c]), flex(db, vec![d.c]))
    }
}

static ENABLED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(true);

/// Turns the fused kernels on (the default) or off process-wide, so that a benchmark can
/// compare them with burn's ops in one run. Off, [`bn_act_train`] takes burn's ops everywhere.
pub fn set_fused(enabled: bool) {
    ENABLED.store(enabled, std::sync::atomic::Ordering::Relaxed);
}

/// Whether [`bn_act_train`] takes the fused kernels for `x` (Flex CPU, f32, with or without
/// autodiff, unless [`set_fused`] turned them off).
pub fn bn_act_fused(x: &Tensor<4>) -> bool {
    ENABLED.load(std::sync::atomic::Ordering::Relaxed)
        && matches!(x.device().inner().as_dispatch(), DispatchDevice::Flex(_))
        && x.dtype() == DType::F32
}

/// The output of [`bn_act_train`].
pub struct BnActOut {
    /// `act(BN(x))`, `[n, c, h, w]`.
    pub output: Tensor<4>,
    /// Batch mean per channel, `[c]` (no gradient).
    pub mean: Tensor<1>,
    /// Biased batch variance per channel, `[c]` (no gradient).
    pub variance: Tensor<1>,
}

/// BatchNorm with batch statistics followed by `act`, gradients to `x`, `gamma` and `beta` on
/// an autodiff device: fused on the CPU ([`bn_act_fused`]), burn's `batch_norm_train` and the
/// activation elsewhere.
///
/// # Shapes
/// - `x`: `[n, c, h, w]`, `gamma`, `beta`: `[c]`
pub fn bn_act_train(x: Tensor<4>, gamma: Tensor<1>, beta: Tensor<1>, eps: f64, act: BnAct) -> BnActOut {
    if !bn_act_fused(&x) {
        let r = batch_norm_train(x, gamma, beta, eps);
        return BnActOut { output: act.apply(r.output), mean: r.mean, variance: r.variance };
    }
    let (y, mean, variance) =
        <Dispatch as BnActBackend>::bn_act_forward(x.into_dispatch(), gamma.into_dispatch(), beta.into_dispatch(), eps as f32, act.code());
    BnActOut { output: Tensor::from_dispatch(y), mean: Tensor::from_dispatch(mean), variance: Tensor::from_dispatch(variance) }
}
