//! Fused adder-convolution kernels, wired into burn as a backend extension with a
//! hand-written backward pass.
//!
//! [`AdderBackend`] is implemented for the Flex CPU backend by the kernels of [`cpu`] (SIMD128
//! on wasm; SSE2 on x86-64, with AVX2 / AVX-512 tiles where the CPU has them; portable
//! elsewhere), for burn's Cube backend on wasm with the `wgpu` feature (WebGPU) by
//! the CubeCL kernels of `cube.rs`, and for `Autodiff<B>` by a custom backward step that calls
//! the fused backward kernel. No `[n, m, k, l]` intermediate exists on these paths.
//!
//! Which path [`crate::ops::adder_conv2d`] takes per device (see [`fused_supported`]):
//! - Flex (CPU, native and wasm), f32: the fused CPU kernels;
//! - Cube in the wasm build with the `wgpu` feature (WebGPU), f32: the fused CubeCL kernels;
//! - anything else (the native `wgpu` feature): the reference
//!   [`crate::ops::adder_conv2d_reference`].

pub mod cpu;
pub mod lanes;

mod autodiff;
#[cfg(all(target_family = "wasm", feature = "wgpu"))]
mod cube;
mod depthwise;
mod patches;
mod tiles;

use crate::error::Result;
use crate::ops::Conv2dGeometry;
use burn::backend::flex::FlexTensor;
use burn::backend::{Backend, Dispatch, DispatchDevice, Flex, backend_extension, tensor::FloatTensor};
use burn::tensor::{DType, Device, Tensor, TensorData};
use cpu::{AdderShape, CpuIsa};

/// Backend operations of the fused adder convolution. Geometry arguments are
/// `(stride_h, stride_w, pad_h, pad_w, groups)`; shapes are validated by the caller
/// ([`AdderShape::new`]) before any backend is called.
#[backend_extension(Flex, Cube: cfg(all(target_family = "wasm", feature = "wgpu")), Autodiff)]
pub trait AdderBackend: Backend {
    /// `y = -Σ|patch(x) - w|`: `x: [n, c, h, w]`, `weight: [m, c/g, kh, kw]` → `[n, m, ho, wo]`.
    fn adder_conv2d_forward(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        stride_h: usize,
        stride_w: usize,
        pad_h: usize,
        pad_w: usize,
        groups: usize,
    ) -> FloatTensor<Self>;

    /// AdderNet gradients `(dx, dweight)` for the upstream gradient `gy: [n, m, ho, wo]`.
    #[allow(clippy::too_many_arguments)]
    fn adder_conv2d_backward(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        gy: FloatTensor<Self>,
        stride_h: usize,
        stride_w: usize,
        pad_h: usize,
        pad_w: usize,
        groups: usize,
    ) -> (FloatTensor<Self>, FloatTensor<Self>);

    /// Identity in the forward pass; under autodiff the backward pass applies AdderNet's
    /// adaptive scaling `g · eta · sqrt(numel) / max(‖g‖₂, 1e-12)` to the incoming gradient.
    fn adder_grad_scale(x: FloatTensor<Self>, eta: f32) -> FloatTensor<Self> {
        let _ = eta;
        x
    }
}

fn geometry(stride_h: usize, stride_w: usize, pad_h: usize, pad_w: usize, groups: usize) -> Conv2dGeometry {
    Conv2dGeometry { stride: [stride_h, stride_w], padding: [pad_h, pad_w], groups }
}

fn dims4(t: &FlexTensor) -> [usize; 4] {
    use burn::backend::TensorMetadata;
    let s = t.shape();
    [s[0], s[1], s[2], s[3]]
}

/// Contiguous f32 view (copies only when the layout is strided).
fn f32_view(t: FlexTensor) -> FlexTensor {
    if t.is_contiguous() { t } else { t.to_contiguous() }
}

fn flex_from(v: Vec<f32>, shape: [usize; 4]) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(v, shape))
}

impl AdderBackend for Flex {
    fn adder_conv2d_forward(
        x: FlexTensor,
        weight: FlexTensor,
        stride_h: usize,
        stride_w: usize,
        pad_h: usize,
        pad_w: usize,
        groups: usize,
    ) -> FlexTensor {
        let geo = geometry(stride_h, stride_w, pad_h, pad_w, groups);
        let s = AdderShape::new(dims4(&x), dims4(&weight), geo).expect("validated by adder_conv2d_fused");
        let (x, weight) = (f32_view(x), f32_view(weight));
        let xs = x.as_slice::<f32>().expect("f32 checked by adder_conv2d_fused");
        let ws = weight.as_slice::<f32>().expect("f32 checked by adder_conv2d_fused");
        flex_from(cpu::forward(CpuIsa::best(), &s, xs, ws), [s.n, s.m, s.ho, s.wo])
    }

    fn adder_conv2d_backward(
        x: FlexTensor,
        weight: FlexTensor,
        gy: FlexTensor,
        stride_h: usize,
        stride_w: usize,
        pad_h: usize,
        pad_w: usize,
        groups: usize,
    ) -> (FlexTensor, FlexTensor) {
        let geo = geometry(stride_h, stride_w, pad_h, pad_w, groups);
        let (xd, wd) = (dims4(&x), dims4(&weight));
        let s = AdderShape::new(xd, wd, geo).expect("validated in the forward pass");
        let (x, weight, gy) = (f32_view(x), f32_view(weight), f32_view(gy));
        let xs = x.as_slice::<f32>().expect("f32 input");
        let ws = weight.as_slice::<f32>().expect("f32 weight");
        let gs = gy.as_slice::<f32>().expect("f32 gradient");
        let (dx, dw) = cpu::backward(CpuIsa::best(), &s, xs, ws, gs);
        (flex_from(dx, xd), flex_from(dw, wd))
    }
}

/// Whether [`adder_conv2d_fused`] runs on this device (with or without autodiff): Flex CPU
/// everywhere, Cube (WebGPU) in the wasm build with the `wgpu` feature.
pub fn fused_supported(device: &Device) -> bool {
    match device.clone().inner().as_dispatch() {
        DispatchDevice::Flex(_) => true,
        #[cfg(all(target_family = "wasm", feature = "wgpu"))]
        DispatchDevice::Cube(_) => true,
        _ => false,
    }
}

/// AdderNet's adaptive gradient scaling as a graph step: `x` unchanged forward, gradient
/// scaled to norm `eta · sqrt(numel)` backward. Used where an adder consumes a computed weight
/// (the remapped shared bank of ShiftAddAug), so the scaling acts on the MF weight's gradient
/// and the remap chains it to the bank. On devices without the extension (the native `wgpu`
/// feature) `x` is returned unscaled.
pub fn adder_grad_scale<const D: usize>(x: Tensor<D>, eta: f32) -> Tensor<D> {
    if !fused_supported(&x.device()) || x.dtype() != DType::F32 {
        return x;
    }
    Tensor::from_dispatch(<Dispatch as AdderBackend>::adder_grad_scale(x.into_dispatch(), eta))
}

/// Adder convolution on the fused kernels, AdderNet gradients when the device is autodiff.
///
/// # Shapes
/// - `x`: `[n, c_in, h, w]`, `weight`: `[c_out, c_in / groups, kh, kw]`
/// - output: `[n, c_out, h_out, w_out]`
///
/// # Errors
/// [`crate::Error::Shape`] when the shapes, groups or geometry do not fit;
/// [`crate::Error::Backend`] when the device has no fused kernel or the dtype is not f32
/// (check [`fused_supported`] first).
pub fn adder_conv2d_fused(x: Tensor<4>, weight: Tensor<4>, geo: Conv2dGeometry) -> Result<Tensor<4>> {
    AdderShape::new(x.dims(), weight.dims(), geo)?;
    if !fused_supported(&x.device()) {
        return Err(crate::Error::Backend(format!("no fused adder kernel on device {:?}", x.device())));
    }
    if x.dtype() != DType::F32 || weight.dtype() != DType::F32 {
        return Err(crate::Error::Backend(format!("fused adder kernels take f32, got {:?} and {:?}", x.dtype(), weight.dtype())));
    }
    let out = <Dispatch as AdderBackend>::adder_conv2d_forward(
        x.into_dispatch(),
        weight.into_dispatch(),
        geo.stride[0],
        geo.stride[1],
        geo.padding[0],
        geo.padding[1],
        geo.groups,
    );
    Ok(Tensor::from_dispatch(out))
}
