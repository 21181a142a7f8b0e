//! Direct kernels of the depthwise adder convolution (groups = input channels = output
//! channels: one `k×k` filter per plane), without the patch matrix of [`super::cpu`], whose
//! gather and scatter cost as much as the arithmetic when a patch feeds a single output
//! channel. Each plane is read through the zero-padded, column-phase-split copy of
//! [`crate::ops::conv::cpu::Padded`], so every tap of a block of [`LANES`] outputs is one
//! contiguous run (two [`Lanes`] vectors):
//! - forward: `y[oy, ox] = −Σ_{ky, kx} |xpad[oy·sh + ky, ox·sw + kx] − w[ky, kx]|`, the taps in
//!   row-major order from zero, as the patch-matrix kernel sums them (same bits);
//! - input gradient: `dx[iy, ix] = Σ g[oy, ox] · hardtanh(w[ky, kx] − x[iy, ix])` over the
//!   outputs that read `x[iy, ix]`; with stride 1, a gather over a zero-padded copy of `g`
//!   with the filter rotated by 180°, otherwise a scatter into a zero-padded,
//!   column-phase-split plane (vectors both);
//! - weight gradient: `dw[ky, kx] = Σ g · xpad − w[ky, kx] · Σ g` (AdderNet's full-precision
//!   gradient, padding included as zeros).
//!
//! Planes (forward, input gradient) and channels (weight gradient) are split across rayon
//! threads natively; results do not depend on the thread count. Every instruction set
//! performs the same IEEE operations in the same order.

use super::cpu::AdderShape;
use super::lanes::Lanes;
use crate::ops::conv::cpu::{DwDims, LANES, Padded, direct_lanes, per_planes, scatter_lanes};

/// Whether `s` is depthwise (one input and one output channel per group).
pub(super) fn applies(s: &AdderShape) -> bool {
    s.groups == s.c && s.m == s.c
}

fn dims(s: &AdderShape) -> DwDims {
    DwDims::new(s.n, s.c, [s.h, s.w], [s.kh, s.kw], s.stride, s.padding).expect("geometry validated by AdderShape")
}

/// Two vectors of `L` cover one block of [`LANES`] outputs.
fn check_width<L: Lanes>() {
    assert_eq!(2 * L::W, LANES, "two vectors per block");
}

/// `y: [n, c, ho, wo]`.
pub(super) fn forward<L: Lanes>(s: &AdderShape, x: &[f32], w: &[f32]) -> Vec<f32> {
    check_width::<L>();
    direct_lanes::<L>(&dims(s), x, w, |xv, wv| L::abs(L::sub(xv, wv)), |a| L::sub(L::splat(0.0), a))
}

/// `(dx, dw)` for the upstream gradient `gy: [n, c, ho, wo]`.
pub(super) fn backward<L: Lanes>(s: &AdderShape, x: &[f32], w: &[f32], gy: &[f32]) -> (Vec<f32>, Vec<f32>) {
    check_width::<L>();
    let d = dims(s);
    let dx = if d.stride == [1, 1] && d.padding[0] < d.kernel[0] && d.padding[1] < d.kernel[1] {
        backward_input_gather::<L>(&d, x, w, gy)
    } else {
        backward_input_scatter::<L>(&d, x, w, gy)
    };
    (dx, backward_weight::<L>(&d, x, w, gy))
}

/// Stride 1: `dx[iy, ix..ix + LANES] = Σ_{ky, kx} gpad[iy + kh − 1 − ky, ix + kw − 1 − kx ..] ·
/// hardtanh(w[ky, kx] − x[iy, ix..])`, where `gpad` is `g` zero-padded by `k − 1 − p` (so an
/// output outside the plane contributes `0 · t`).
fn backward_input_gather<L: Lanes>(d: &DwDims, x: &[f32], w: &[f32], gy: &[f32]) -> Vec<f32> {
    let (ip, op, taps) = (d.in_plane(), d.out_plane(), d.taps());
    let ([kh, kw], [ph, pw], [h, iw], v) = (d.kernel, d.padding, d.input, L::W);
    // The gradient plane seen as the input of a stride-1 "convolution" whose output is x's plane.
    let gd = DwDims::new(1, 1, d.output, d.kernel, [1, 1], [kh - 1 - ph, kw - 1 - pw]).expect("k − 1 − p ≥ 0");
    debug_assert_eq!(gd.output, [h, iw]);
    let mut dx = vec![0f32; x.len()];
    per_planes(&mut dx, ip, |first, block| {
        let mut gpad = Padded::new(&gd);
        let (offs, row_len) = (gpad.tap_offsets(&gd), gpad.run);
        let zero = L::splat(0.0);
        let mut xrow = vec![0f32; iw.div_ceil(LANES) * LANES];
        let mut out = [0f32; LANES];
        for (j, dxp) in block.chunks_mut(ip).enumerate() {
            let p = first + j;
            gpad.load(&gd, &gy[p * op..][..op]);
            let ws = &w[(p % d.c) * taps..][..taps];
            for (iy, (dxrow, xr)) in dxp.chunks_mut(iw).zip(x[p * ip..][..ip].chunks(iw)).enumerate() {
                xrow[..iw].copy_from_slice(xr);
                for ix0 in (0..iw).step_by(LANES) {
                    let (x0, x1) = (L::load(&xrow[ix0..][..v]), L::load(&xrow[ix0 + v..][..v]));
                    let (mut a0, mut a1) = (zero, zero);
                    for ky in 0..kh {
                        for kx in 0..kw {
                            let g = gpad.tap(row_len, iy + kh - 1 - ky, offs[kw - 1 - kx], ix0);
                            let wv = L::splat(ws[ky * kw + kx]);
                            a0 = L::add(a0, L::mul(L::load(&g[..v]), L::hardtanh(L::sub(wv, x0))));
                            a1 = L::add(a1, L::mul(L::load(&g[v..]), L::hardtanh(L::sub(wv, x1))));
                        }
                    }
                    L::store(&mut out[..v], a0);
                    L::store(&mut out[v..], a1);
                    let len = LANES.min(iw - ix0);
                    dxrow[ix0..ix0 + len].copy_from_slice(&out[..len]);
                }
            }
        }
    });
    dx
}

/// Any stride: `dx += g · hardtanh(w − x)` scattered over the taps of every output
/// ([`scatter_lanes`], shared with the multiplicative depthwise convolution).
fn backward_input_scatter<L: Lanes>(d: &DwDims, x: &[f32], w: &[f32], gy: &[f32]) -> Vec<f32> {
    scatter_lanes::<L, true>(d, w, gy, x, |wv, xv| L::hardtanh(L::sub(wv, xv)))
}

/// `dw[c, tap] = Σ_{n, oy, ox} g · xpad(tap) − w[c, tap] · Σ_{n, oy, ox} g`, per image in
/// vectors, across images in f64.
fn backward_weight<L: Lanes>(d: &DwDims, x: &[f32], w: &[f32], gy: &[f32]) -> Vec<f32> {
    let (ip, op, taps) = (d.in_plane(), d.out_plane(), d.taps());
    let ([kh, kw], sh, wo, v) = (d.kernel, d.stride[0], d.output[1], L::W);
    let per = crate::par::map(d.c, |ch| {
        let (mut gx, mut gsum) = (vec![0f64; taps], 0f64);
        let mut pad = Padded::new(d);
        let (offs, row_len) = (pad.tap_offsets(d), d.stride[1] * pad.run);
        let zero = L::splat(0.0);
        // Zeros past `wo`: the padded input there is not zero, the gradient must be.
        let mut grow = vec![0f32; wo.div_ceil(LANES) * LANES];
        let mut acc = vec![zero; 2 * taps];
        for i in 0..d.n {
            let p = i * d.c + ch;
            pad.load(d, &x[p * ip..][..ip]);
            acc.fill(zero);
            let mut gs = zero;
            for (oy, g) in gy[p * op..][..op].chunks(wo).enumerate() {
                grow[..wo].copy_from_slice(g);
                for ox0 in (0..wo).step_by(LANES) {
                    let (g0, g1) = (L::load(&grow[ox0..][..v]), L::load(&grow[ox0 + v..][..v]));
                    gs = L::add(gs, L::add(g0, g1));
                    for ky in 0..kh {
                        for (kx, &off) in offs.iter().enumerate() {
                            let src = pad.tap(row_len, oy * sh + ky, off, ox0);
                            let t = 2 * (ky * kw + kx);
                            acc[t] = L::add(acc[t], L::mul(g0, L::load(&src[..v])));
                            acc[t + 1] = L::add(acc[t + 1], L::mul(g1, L::load(&src[v..])));
                        }
                    }
                }
            }
            for (t, a) in gx.iter_mut().enumerate() {
                *a += L::hsum(L::add(acc[2 * t], acc[2 * t + 1])) as f64;
            }
            gsum += L::hsum(gs) as f64;
        }
        let ws = &w[ch * taps..][..taps];
        gx.iter().zip(ws).map(|(&a, &wt)| a as f32 - wt * gsum as f32).collect::<Vec<f32>>()
    });
    per.into_iter().flatten().collect()
}
