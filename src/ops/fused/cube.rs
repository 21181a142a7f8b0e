//! Fused adder convolution on CubeCL (WebGPU in the browser): three direct kernels, one
//! thread per output element, no patch matrix and no `[n, m, k, l]` intermediate.
//! - forward: one thread per `y[n, m, oy, ox]`, `-Σ |x - w|` over its receptive field;
//! - input gradient: one thread per `x[n, c, iy, ix]`, gathering every output it feeds;
//! - weight gradient: one thread per (batch slice, weight), partial sums over the slice's
//!   images and pixels, then a sum over slices (so the work spreads across the GPU).
//!
//! Each kernel binds three or four storage buffers (the WebGPU limit is 8). Inputs are made
//! contiguous first, so indices are computed from shapes. Padded positions read as 0.

use super::AdderBackend;
use burn::backend::Cube;
use burn::backend::cubecl::dtype_to_storage_type;
use burn::backend::ops::FloatTensorOps;
use burn::tensor::Shape;
use burn_cubecl::kernel::into_contiguous;
use burn_cubecl::ops::numeric::empty_device_dtype;
use burn_cubecl::tensor::CubeTensor;
use cubecl::{calculate_cube_count_elemwise, prelude::*};

/// Batch slices of the weight-gradient kernel (more slices: more threads, shorter loops).
const WEIGHT_GRAD_SLICES: usize = 16;

#[cube(launch)]
#[allow(clippy::too_many_arguments)]
fn adder_forward_kernel<F: Float>(
    x: &Tensor<F>,
    w: &Tensor<F>,
    y: &mut Tensor<F>,
    stride_h: u32,
    stride_w: u32,
    pad_h: u32,
    pad_w: u32,
    groups: u32,
    #[define(F)] _dtype: ElemType,
) {
    let pos = ABSOLUTE_POS;
    if pos >= y.len() {
        terminate!();
    }
    let (m, ho, wo) = (y.shape(1), y.shape(2), y.shape(3));
    let (c, h, wd) = (x.shape(1), x.shape(2), x.shape(3));
    let (cg, kh, kw) = (w.shape(1), w.shape(2), w.shape(3));
    let (sh, sw, ph, pw) = (stride_h as usize, stride_w as usize, pad_h as usize, pad_w as usize);
    let ox = pos % wo;
    let oy = (pos / wo) % ho;
    let o = (pos / (wo * ho)) % m;
    let b = pos / (wo * ho * m);
    let grp = o / (m / groups as usize);
    let mut acc = F::new(0.0);
    for cc in 0..cg {
        let xbase = (b * c + grp * cg + cc) * h * wd;
        let wbase = (o * cg + cc) * kh * kw;
        for ky in 0..kh {
            // Padded coordinates: the real row is iy - ph when ph <= iy < h + ph.
            let iy = oy * sh + ky;
            for kx in 0..kw {
                let ix = ox * sw + kx;
                let inside = iy >= ph && iy < h + ph && ix >= pw && ix < wd + pw;
                let xi = select(inside, xbase + (iy - ph) * wd + (ix - pw), xbase);
                let xv = select(inside, x[xi], F::new(0.0));
                acc += (xv - w[wbase + ky * kw + kx]).abs();
            }
        }
    }
    y[pos] = F::new(0.0) - acc;
}

#[cube(launch)]
#[allow(clippy::too_many_arguments)]
fn adder_input_grad_kernel<F: Float>(
    x: &Tensor<F>,
    w: &Tensor<F>,
    gy: &Tensor<F>,
    dx: &mut Tensor<F>,
    stride_h: u32,
    stride_w: u32,
    pad_h: u32,
    pad_w: u32,
    groups: u32,
    #[define(F)] _dtype: ElemType,
) {
    let pos = ABSOLUTE_POS;
    if pos >= dx.len() {
        terminate!();
    }
    let (c, h, wd) = (x.shape(1), x.shape(2), x.shape(3));
    let (m, ho, wo) = (gy.shape(1), gy.shape(2), gy.shape(3));
    let (cg, kh, kw) = (w.shape(1), w.shape(2), w.shape(3));
    let (sh, sw, ph, pw) = (stride_h as usize, stride_w as usize, pad_h as usize, pad_w as usize);
    let ix = pos % wd;
    let iy = (pos / wd) % h;
    let ci = (pos / (wd * h)) % c;
    let b = pos / (wd * h * c);
    let mg = m / groups as usize;
    let grp = ci / cg;
    let cc = ci % cg;
    let xv = x[pos];
    let mut acc = F::new(0.0);
    for mm in 0..mg {
        let o = grp * mg + mm;
        for ky in 0..kh {
            // Output row oy reads input row iy through tap ky when oy·sh + ky = iy + ph.
            let ny = iy + ph;
            if ny >= ky && (ny - ky).is_multiple_of(sh) && (ny - ky) / sh < ho {
                let oy = (ny - ky) / sh;
                for kx in 0..kw {
                    let nx = ix + pw;
                    if nx >= kx && (nx - kx).is_multiple_of(sw) && (nx - kx) / sw < wo {
                        let ox = (nx - kx) / sw;
                        let g = gy[((b * m + o) * ho + oy) * wo + ox];
                        let wv = w[((o * cg + cc) * kh + ky) * kw + kx];
                        acc += g * (wv - xv).clamp(F::new(-1.0), F::new(1.0));
                    }
                }
            }
        }
    }
    dx[pos] = acc;
}

#[cube(launch)]
#[allow(clippy::too_many_arguments)]
fn adder_weight_grad_kernel<F: Float>(
    x: &Tensor<F>,
    w: &Tensor<F>,
    gy: &Tensor<F>,
    part: &mut Tensor<F>,
    stride_h: u32,
    stride_w: u32,
    pad_h: u32,
    pad_w: u32,
    groups: u32,
    #[define(F)] _dtype: ElemType,
) {
    let pos = ABSOLUTE_POS;
    if pos >= part.len() {
        terminate!();
    }
    let (n, c, h, wd) = (x.shape(0), x.shape(1), x.shape(2), x.shape(3));
    let (m, ho, wo) = (gy.shape(1), gy.shape(2), gy.shape(3));
    let (cg, kh, kw) = (w.shape(1), w.shape(2), w.shape(3));
    let (sh, sw, ph, pw) = (stride_h as usize, stride_w as usize, pad_h as usize, pad_w as usize);
    let total = w.len();
    let widx = pos % total;
    let slice = pos / total;
    let slices = part.shape(0);
    let kx = widx % kw;
    let ky = (widx / kw) % kh;
    let cc = (widx / (kw * kh)) % cg;
    let o = widx / (kw * kh * cg);
    let grp = o / (m / groups as usize);
    let wv = w[widx];
    let per = n.div_ceil(slices);
    let b0 = slice * per;
    let b1 = clamp_max(b0 + per, n);
    let mut acc = F::new(0.0);
    let mut b = b0;
    while b < b1 {
        let xbase = (b * c + grp * cg + cc) * h * wd;
        let gbase = (b * m + o) * ho * wo;
        for oy in 0..ho {
            let iy = oy * sh + ky;
            for ox in 0..wo {
                let ix = ox * sw + kx;
                let inside = iy >= ph && iy < h + ph && ix >= pw && ix < wd + pw;
                let xi = select(inside, xbase + (iy - ph) * wd + (ix - pw), xbase);
                let xv = select(inside, x[xi], F::new(0.0));
                acc += gy[gbase + oy * wo + ox] * (xv - wv);
            }
        }
        b += 1;
    }
    part[pos] = acc;
}

fn launch_dims(t: &CubeTensor, num: usize) -> (CubeCount, CubeDim) {
    let cube_dim = CubeDim::new(&t.client, num);
    (calculate_cube_count_elemwise(&t.client, num, cube_dim), cube_dim)
}

fn dims(t: &CubeTensor) -> [usize; 4] {
    let s = t.meta.shape();
    [s[0], s[1], s[2], s[3]]
}

impl AdderBackend for Cube {
    fn adder_conv2d_forward(
        x: CubeTensor,
        weight: CubeTensor,
        stride_h: usize,
        stride_w: usize,
        pad_h: usize,
        pad_w: usize,
        groups: usize,
    ) -> CubeTensor {
        let (x, weight) = (into_contiguous(x), into_contiguous(weight));
        let ([n, _, h, wd], [m, _, kh, kw]) = (dims(&x), dims(&weight));
        let (ho, wo) = ((h + 2 * pad_h - kh) / stride_h + 1, (wd + 2 * pad_w - kw) / stride_w + 1);
        let y = empty_device_dtype(x.client.clone(), x.device.clone(), Shape::new([n, m, ho, wo]), x.dtype);
        let (count, dim) = launch_dims(&x, n * m * ho * wo);
        let dtype = dtype_to_storage_type(x.dtype);
        adder_forward_kernel::launch(
            &y.client,
            count,
            dim,
            x.into_tensor_arg(),
            weight.into_tensor_arg(),
            y.clone().into_tensor_arg(),
            stride_h as u32,
            stride_w as u32,
            pad_h as u32,
            pad_w as u32,
            groups as u32,
            dtype,
        );
        y
    }

    fn adder_conv2d_backward(
        x: CubeTensor,
        weight: CubeTensor,
        gy: CubeTensor,
        stride_h: usize,
        stride_w: usize,
        pad_h: usize,
        pad_w: usize,
        groups: usize,
    ) -> (CubeTensor, CubeTensor) {
        let (x, weight, gy) = (into_contiguous(x), into_contiguous(weight), into_contiguous(gy));
        let (xd, wdims) = (dims(&x), dims(&weight));
        let dtype = dtype_to_storage_type(x.dtype);
        let dx = empty_device_dtype(x.client.clone(), x.device.clone(), Shape::new(xd), x.dtype);
        let (count, dim) = launch_dims(&x, xd.iter().product());
        adder_input_grad_kernel::launch(
            &dx.client,
            count,
            dim,
            x.clone().into_tensor_arg(),
            weight.clone().into_tensor_arg(),
            gy.clone().into_tensor_arg(),
            dx.clone().into_tensor_arg(),
            stride_h as u32,
            stride_w as u32,
            pad_h as u32,
            pad_w as u32,
            groups as u32,
            dtype,
        );
        let slices = WEIGHT_GRAD_SLICES.min(xd[0]);
        let wlen: usize = wdims.iter().product();
        let part = empty_device_dtype(x.client.clone(), x.device.clone(), Shape::new([slices, wlen]), x.dtype);
        let (count, dim) = launch_dims(&x, slices * wlen);
        adder_weight_grad_kernel::launch(
            &part.client,
            count,
            dim,
            x.into_tensor_arg(),
            weight.into_tensor_arg(),
            gy.into_tensor_arg(),
            part.clone().into_tensor_arg(),
            stride_h as u32,
            stride_w as u32,
            pad_h as u32,
            pad_w as u32,
            groups as u32,
            dtype,
        );
        let dw = Cube::float_sum_dim(part, 0);
        (dx, Cube::float_reshape(dw, Shape::new(wdims)))
    }
}
