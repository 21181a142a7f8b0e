//! 2-D convolution of the multiplicative and shift layers ([`conv2d`]), with fast CPU paths
//! for the two convolutions MobileNet-style blocks are made of, where `engine::profile`
//! measured burn's generic convolution spending 5–8× more time in its backward pass than in
//! its forward pass:
//! - **depthwise** (groups = channels, one `k×k` filter per channel): a burn backend extension
//!   ([`DwConvBackend`]) on Flex with f32, direct kernels ([`cpu`]): the forward pass; the
//!   input gradient as the forward kernel again (stride 1: the convolution of the output
//!   gradient by the rotated filter) or a scatter (strides > 1); the weight gradient;
//! - **pointwise** (1×1, stride 1, no padding, one group): a batched matrix product
//!   `[c_out, c_in] · [c_in, h·w]` per image, or, below 16 pixels per image, one product
//!   `[c_out, c_in] · [c_in, n·h·w]` over the batch transposed; the gradients are matrix
//!   products too (no im2col, no transposed convolution).
//!
//! Everything else, and every other device (WebGPU, the native `wgpu` feature), takes burn's
//! `conv2d`, with the same results up to float summation order.

pub mod cpu;

mod autodiff;

use super::Conv2dGeometry;
use crate::ops::fused::cpu::CpuIsa;
use burn::backend::flex::FlexTensor;
use burn::backend::{Backend, Dispatch, DispatchDevice, Flex, TensorMetadata, backend_extension, tensor::FloatTensor};
use burn::tensor::module::conv2d as burn_conv2d;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{DType, Tensor, TensorData};
use cpu::DwDims;

/// `[stride_h, stride_w, pad_h, pad_w]` of a depthwise convolution.
pub type DwGeo = [usize; 4];

/// Backend operations of the depthwise convolution: `x` is `[n, c, h, w]`, `w` `[c, 1, kh, kw]`,
/// dilation 1.
#[backend_extension(Flex, Autodiff)]
pub trait DwConvBackend: Backend {
    /// `[n, c, ho, wo]`.
    fn dwconv_forward(x: FloatTensor<Self>, w: FloatTensor<Self>, geo: DwGeo) -> FloatTensor<Self>;

    /// The gradient of `x` for the upstream gradient `dy` (`x` gives only its shape).
    fn dwconv_backward_input(x: FloatTensor<Self>, w: FloatTensor<Self>, dy: FloatTensor<Self>, geo: DwGeo) -> FloatTensor<Self>;

    /// The gradient of `w` for the upstream gradient `dy` (`w` gives only its shape).
    fn dwconv_backward_weight(x: FloatTensor<Self>, w: FloatTensor<Self>, dy: FloatTensor<Self>, geo: DwGeo) -> FloatTensor<Self>;
}

fn contiguous(t: FlexTensor) -> FlexTensor {
    if t.is_contiguous() { t } else { t.to_contiguous() }
}

fn slice(t: &FlexTensor) -> &[f32] {
    t.as_slice::<f32>().expect("f32 checked by conv2d")
}

fn flex(v: Vec<f32>, shape: Vec<usize>) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(v, shape))
}

fn dw_dims(x: &FlexTensor, w: &FlexTensor, [sh, sw, ph, pw]: DwGeo) -> DwDims {
    let (xs, ws) = (x.shape(), w.shape());
    DwDims::new(xs[0], xs[1], [xs[2], xs[3]], [ws[2], ws[3]], [sh, sw], [ph, pw]).expect("geometry checked by conv2d")
}

impl DwConvBackend for Flex {
    fn dwconv_forward(x: FlexTensor, w: FlexTensor, geo: DwGeo) -> FlexTensor {
        let (x, w) = (contiguous(x), contiguous(w));
        let d = dw_dims(&x, &w, geo);
        flex(cpu::forward(CpuIsa::best(), d, slice(&x), slice(&w)), vec![d.n, d.c, d.output[0], d.output[1]])
    }

    /// With stride 1, the forward convolution of `dy` by the kernel rotated by 180° with
    /// padding `k − 1 − p`; otherwise [`cpu::backward_input`].
    fn dwconv_backward_input(x: FlexTensor, w: FlexTensor, dy: FlexTensor, geo: DwGeo) -> FlexTensor {
        let (w, dy) = (contiguous(w), contiguous(dy));
        let d = dw_dims(&x, &w, geo);
        let ([kh, kw], [ph, pw]) = (d.kernel, d.padding);
        if d.stride == [1, 1] && ph < kh && pw < kw {
            let rotated: Vec<f32> = slice(&w).chunks(kh * kw).flat_map(|f| f.iter().rev().copied()).collect();
            let gd = DwDims::new(d.n, d.c, d.output, d.kernel, [1, 1], [kh - 1 - ph, kw - 1 - pw]).expect("k − 1 − p ≥ 0");
            return flex(cpu::forward(CpuIsa::best(), gd, slice(&dy), &rotated), x.shape().to_vec());
        }
        flex(cpu::backward_input(CpuIsa::best(), d, slice(&w), slice(&dy)), x.shape().to_vec())
    }

    fn dwconv_backward_weight(x: FlexTensor, w: FlexTensor, dy: FlexTensor, geo: DwGeo) -> FlexTensor {
        let (x, dy) = (contiguous(x), contiguous(dy));
        let d = dw_dims(&x, &w, geo);
        flex(cpu::backward_weight(CpuIsa::best(), d, slice(&x), slice(&dy)), w.shape().to_vec())
    }
}

static ENABLED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(true);

/// Turns the fast paths on (the default) or off process-wide, so that a benchmark can compare
/// them with burn's `conv2d` in one run. Off, [`conv2d`] takes burn's `conv2d` everywhere.
pub fn set_fast(enabled: bool) {
    ENABLED.store(enabled, std::sync::atomic::Ordering::Relaxed);
}

/// The path [`conv2d`] takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConvPath {
    /// The depthwise extension ([`DwConvBackend`]).
    Depthwise,
    /// A batched matrix product.
    Pointwise,
    /// burn's `conv2d`.
    Burn,
}

/// The path [`conv2d`] takes for these operands: the fast paths need [`set_fast`] on, a Flex
/// device, f32, and a geometry that fits (a mismatch takes burn's path, which reports it).
pub fn conv_path(x: &Tensor<4>, w: &Tensor<4>, geo: Conv2dGeometry) -> ConvPath {
    if !ENABLED.load(std::sync::atomic::Ordering::Relaxed)
        || !matches!(x.device().inner().as_dispatch(), DispatchDevice::Flex(_))
        || x.dtype() != DType::F32
        || w.dtype() != DType::F32
    {
        return ConvPath::Burn;
    }
    let ([_, c, h, iw], [m, cg, kh, kw]) = (x.dims(), w.dims());
    if geo.groups == c && m == c && cg == 1 && DwDims::new(1, c, [h, iw], [kh, kw], geo.stride, geo.padding).is_some() {
        return ConvPath::Depthwise;
    }
    if geo.groups == 1 && cg == c && [kh, kw] == [1, 1] && geo.stride == [1, 1] && geo.padding == [0, 0] {
        return ConvPath::Pointwise;
    }
    ConvPath::Burn
}

/// Output pixels per image from which a pointwise convolution is one matrix product per image;
/// below, the batch is one matrix product (`[c, n·h·w]` after a transpose), since per-image
/// products of a few columns cost more in packing and dispatch than the transposes.
const POINTWISE_PER_IMAGE: usize = 16;

/// Convolution without bias, dilation 1, gradients to `x` and `w` on an autodiff device.
///
/// # Shapes
/// - `x`: `[n, c_in, h, w]`, `w`: `[c_out, c_in / groups, kh, kw]`
/// - output: `[n, c_out, h_out, w_out]`
///
/// # Panics
/// As burn's `conv2d`, when the shapes do not fit the geometry (callers check with
/// [`Conv2dGeometry::check`]).
pub fn conv2d(x: Tensor<4>, w: Tensor<4>, geo: Conv2dGeometry) -> Tensor<4> {
    match conv_path(&x, &w, geo) {
        ConvPath::Depthwise => {
            let ([sh, sw], [ph, pw]) = (geo.stride, geo.padding);
            Tensor::from_dispatch(<Dispatch as DwConvBackend>::dwconv_forward(x.into_dispatch(), w.into_dispatch(), [sh, sw, ph, pw]))
        }
        ConvPath::Pointwise => {
            let ([n, c, h, iw], m) = (x.dims(), w.dims()[0]);
            if h * iw >= POINTWISE_PER_IMAGE {
                let y = w.reshape([1, m, c]).matmul(x.reshape([n, c, h * iw]));
                return y.reshape([n, m, h, iw]);
            }
            let x2 = x.reshape([n, c, h * iw]).swap_dims(0, 1).reshape([c, n * h * iw]);
            let y = w.reshape([m, c]).matmul(x2);
            y.reshape([m, n, h * iw]).swap_dims(0, 1).reshape([n, m, h, iw])
        }
        ConvPath::Burn => burn_conv2d(x, w, None, ConvOptions::new(geo.stride, geo.padding, [1, 1], geo.groups)),
    }
}
