//! Adder convolution (AdderNet): the reference implementation from tensor ops, and the
//! per-device choice between it and the fused kernels.
//!
//! Forward: `y[n, m, l] = -Σ_e |patch(x)[n, e, l] - w[m, e]|` over the `e` elements of one
//! group's receptive field. Backward (AdderNet, not the true derivative), with `G = dL/dy`:
//! - weight: `Σ_{n,l} G[n,m,l] · (x[n,e,l] - w[m,e])` (full precision instead of `sign`);
//! - input: `Σ_m G[n,m,l] · clamp(w[m,e] - x[n,e,l], -1, 1)` (HardTanh), folded back to `x`.
//!
//! The gradients come from a surrogate `S` whose gradients are exactly those above, added as
//! `y.detach() + (S - S.detach())` (value of `y`, gradient of `S`):
//! `S = Σ_e x.detach()·w - ½ Σ_e w²  +  Σ_e clamp(w - x, -1, 1).detach() · x`.
//! The weight half is a matmul; the input half needs the `[n, m, k, l]` HardTanh tensor, so
//! the batch is processed in chunks of at most [`ADDER_CHUNK_ELEMS`] elements.

use crate::error::{Error, Result};
use burn::tensor::Tensor;
use burn::tensor::module::unfold4d;
use burn::tensor::ops::UnfoldOptions;

/// Upper bound on the elements of one `[n_chunk, m, k, l]` intermediate (64 MiB of f32).
pub const ADDER_CHUNK_ELEMS: usize = 1 << 24;

/// Geometry of a 2-D convolution (dilation is always 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Conv2dGeometry {
    /// Stride `[sh, sw]`.
    pub stride: [usize; 2],
    /// Zero padding `[ph, pw]` on each side.
    pub padding: [usize; 2],
    /// Groups: 1 regular, `C_in` (= `C_out`) depthwise.
    pub groups: usize,
}

impl Conv2dGeometry {
    /// Output spatial size for an `[h, w]` input and a `[kh, kw]` kernel.
    ///
    /// # Errors
    /// [`Error::Shape`] when the kernel is larger than the padded input or a stride is 0.
    pub fn output_size(&self, input: [usize; 2], kernel: [usize; 2]) -> Result<[usize; 2]> {
        let mut out = [0; 2];
        for i in 0..2 {
            if self.stride[i] == 0 {
                return Err(Error::Shape(format!("stride {:?} has a zero", self.stride)));
            }
            let padded = input[i] + 2 * self.padding[i];
            if kernel[i] == 0 || kernel[i] > padded {
                return Err(Error::Shape(format!(
                    "kernel {kernel:?} does not fit the padded input {:?} (input {input:?}, padding {:?})",
                    [input[0] + 2 * self.padding[0], input[1] + 2 * self.padding[1]],
                    self.padding
                )));
            }
            out[i] = (padded - kernel[i]) / self.stride[i] + 1;
        }
        Ok(out)
    }

    /// Checks `x: [n, c_in, h, w]` against `w: [c_out, c_in/groups, kh, kw]`; returns the output size.
    ///
    /// # Errors
    /// [`Error::Shape`] naming the offending value.
    pub fn check(&self, x: [usize; 4], w: [usize; 4]) -> Result<[usize; 2]> {
        let [n, c, h, wd] = x;
        let [m, cg, kh, kw] = w;
        if n == 0 || c == 0 || h == 0 || wd == 0 || m == 0 {
            return Err(Error::Shape(format!("zero-sized dimension in input {x:?} or weight {w:?}")));
        }
        if self.groups == 0 || c % self.groups != 0 || m % self.groups != 0 {
            return Err(Error::Shape(format!("groups = {} must divide input channels {c} and output channels {m}", self.groups)));
        }
        if cg * self.groups != c {
            return Err(Error::Shape(format!(
                "input has {c} channels but the weight expects {} ({cg} per group × {} groups)",
                cg * self.groups,
                self.groups
            )));
        }
        self.output_size([h, wd], [kh, kw])
    }
}

/// Adder convolution `y = -Σ|patch(x) - w|` with AdderNet gradients, on the fastest path of
/// the device: the fused kernels of [`crate::ops::fused`] on the CPU (Flex) and on WebGPU in
/// the wasm build with the `wgpu` feature, the reference [`adder_conv2d_reference`] elsewhere (native `wgpu`).
///
/// # Shapes
/// - `x`: `[n, c_in, h, w]`
/// - `weight`: `[c_out, c_in / groups, kh, kw]`
/// - output: `[n, c_out, h_out, w_out]`
///
/// # Errors
/// [`Error::Shape`] when the shapes, groups or geometry do not fit (see [`Conv2dGeometry::check`]).
pub fn adder_conv2d(x: Tensor<4>, weight: Tensor<4>, geo: Conv2dGeometry) -> Result<Tensor<4>> {
    if super::fused::fused_supported(&x.device()) && x.dtype() == burn::tensor::DType::F32 {
        super::fused::adder_conv2d_fused(x, weight, geo)
    } else {
        adder_conv2d_reference(x, weight, geo)
    }
}

/// Reference adder convolution from tensor ops (unfold + a gradient surrogate); the oracle of
/// the fused kernels, and the path on devices without one.
///
/// # Shapes
/// - `x`: `[n, c_in, h, w]`
/// - `weight`: `[c_out, c_in / groups, kh, kw]`
/// - output: `[n, c_out, h_out, w_out]`
///
/// # Errors
/// [`Error::Shape`] when the shapes, groups or geometry do not fit (see [`Conv2dGeometry::check`]).
pub fn adder_conv2d_reference(x: Tensor<4>, weight: Tensor<4>, geo: Conv2dGeometry) -> Result<Tensor<4>> {
    let [ho, wo] = geo.check(x.dims(), weight.dims())?;
    let [n, _, _, _] = x.dims();
    let [m, cg, kh, kw] = weight.dims();
    let g = geo.groups;
    let (mg, k, l) = (m / g, cg * kh * kw, ho * wo);
    let with_grad = x.device().is_autodiff();

    let patches = unfold4d(x, [kh, kw], UnfoldOptions::new(geo.stride, geo.padding, [1, 1])).reshape([n, g, k, l]);
    let wg = weight.reshape([g, mg, k]);

    let per_example = mg * g * k * l;
    let chunk = (ADDER_CHUNK_ELEMS / per_example.max(1)).clamp(1, n);
    let mut outs = Vec::with_capacity(n.div_ceil(chunk));
    let mut start = 0;
    while start < n {
        let end = (start + chunk).min(n);
        let p = if chunk == n { patches.clone() } else { patches.clone().slice(start..end) };
        outs.push(adder_chunk(p, wg.clone(), with_grad));
        start = end;
    }
    let y = if outs.len() == 1 { outs.pop().unwrap() } else { Tensor::cat(outs, 0) };
    Ok(y.reshape([n, m, ho, wo]))
}

/// One batch chunk. `p: [nc, g, k, l]`, `wg: [g, mg, k]` → `[nc, g, mg, l]`.
fn adder_chunk(p: Tensor<4>, wg: Tensor<3>, with_grad: bool) -> Tensor<4> {
    let [nc, g, _, l] = p.dims();
    let [_, mg, _] = wg.dims();
    let pd = p.clone().detach();
    let wd = wg.clone().detach();
    // d[n, g, m, e, l] = x - w (no graph).
    let d = pd.clone().unsqueeze_dim::<5>(2) - wd.unsqueeze_dim::<4>(0).unsqueeze_dim::<5>(4);
    let y = d.clone().abs().sum_dim(3).neg().reshape([nc, g, mg, l]);
    if !with_grad {
        return y;
    }
    // Weight part: Σ_e x·w - ½ Σ_e w²   → d/dw = x - w.
    let s_w = wg.clone().unsqueeze_dim::<4>(0).matmul(pd) - wg.square().sum_dim(2).mul_scalar(0.5).unsqueeze_dim::<4>(0);
    // Input part: Σ_e HT(w - x)·x         → d/dx = clamp(w - x, -1, 1).
    let ht = d.neg().clamp(-1.0, 1.0);
    let s_x = ht.mul(p.unsqueeze_dim::<5>(2)).sum_dim(3).reshape([nc, g, mg, l]);
    let s = s_w + s_x;
    y + (s.clone() - s.detach())
}

/// Adder fully-connected layer `y[n, m] = -Σ_c |x[n, c] - w[m, c]|` with AdderNet gradients.
///
/// # Shapes
/// - `x`: `[n, c]`, `weight`: `[m, c]`, output: `[n, m]`
///
/// # Errors
/// [`Error::Shape`] when the feature sizes differ.
pub fn adder_linear(x: Tensor<2>, weight: Tensor<2>) -> Result<Tensor<2>> {
    let [n, c] = x.dims();
    let [m, cw] = weight.dims();
    if c != cw {
        return Err(Error::Shape(format!("input has {c} features, weight expects {cw}")));
    }
    let geo = Conv2dGeometry { stride: [1, 1], padding: [0, 0], groups: 1 };
    Ok(adder_conv2d(x.reshape([n, c, 1, 1]), weight.reshape([m, c, 1, 1]), geo)?.reshape([n, m]))
}

/// AdderNet's adaptive gradient scaling of one layer's weight gradient:
/// `g · eta · sqrt(numel(g)) / max(‖g‖₂, 1e-12)`, computed on the device (no readback).
pub fn adaptive_grad_scale<const D: usize>(g: Tensor<D>, eta: f32) -> Tensor<D> {
    let numel = g.shape().num_elements() as f32;
    let norm = g.clone().square().sum().sqrt().clamp_min(1e-12);
    let factor = norm.recip().mul_scalar(eta * numel.sqrt());
    let shape = [1; D];
    g.mul(factor.reshape(shape))
}
