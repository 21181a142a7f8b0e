//! CPU kernels of the fused BatchNorm (training) + activation, on contiguous `[n, c, hw]` f32
//! data. Plain loops over contiguous runs of `hw` values that the compiler vectorises (SIMD128
//! in the wasm build, SSE2 natively); natively the channel reductions and the per-image writes
//! run on rayon. Statistics are the biased batch mean and variance, as burn's `batch_norm_train`.
//!
//! The passes are bound by memory traffic (a MobileNetV2-Tiny step moves ~13 M activations
//! through BatchNorm), so each reads as little as it can: the forward pass reads `x` once for
//! the statistics and once for the output; the backward pass reads `x` and `dy` once for the
//! channel sums and once for `dx`, recomputing the activation's gate from `x` instead of
//! reading the output.

use super::BnAct;
use crate::ops::fused::cpu::CpuIsa;
use crate::ops::fused::lanes::{Lanes, Scalar};

/// `[n, c, hw]`.
#[derive(Debug, Clone, Copy)]
pub struct Dims {
    /// Images.
    pub n: usize,
    /// Channels.
    pub c: usize,
    /// Pixels per channel (`h · w`).
    pub hw: usize,
}

impl Dims {
    fn count(&self) -> f64 {
        (self.n * self.hw) as f64
    }
}

/// Per-channel pairs of sums over the images: `f(image, channel)` gives one image's pair for
/// one channel. Images run on rayon natively, each reading its own contiguous `[c, hw]` block
/// (a linear stream), and the per-image pairs are added in image order in f64, so the result
/// does not depend on the thread count.
fn channel_sums(d: Dims, f: impl Fn(usize, usize) -> (f32, f32) + Sync + Send) -> Vec<(f64, f64)> {
    let per_image = crate::par::map(d.n, |i| (0..d.c).map(|ch| f(i, ch)).collect::<Vec<_>>());
    let mut sums = vec![(0f64, 0f64); d.c];
    for img in per_image {
        for (s, (a, b)) in sums.iter_mut().zip(img) {
            s.0 += a as f64;
            s.1 += b as f64;
        }
    }
    sums
}

/// Independent accumulators (and values per block) that the compiler maps onto SIMD registers
/// (a float reduction in one accumulator is a serial chain it may not reorder).
const LANES: usize = 8;

/// Values gated per pass of the backward channel sums (a multiple of `LANES`; on the stack).
const CHUNK: usize = 64;

/// `v[at..at + LANES]` as an array.
#[inline(always)]
fn lanes(v: &[f32], at: usize) -> &[f32; LANES] {
    v[at..at + LANES].try_into().expect("LANES values")
}

/// The `hw` values of channel `ch` of image `i`.
fn run(v: &[f32], d: Dims, i: usize, ch: usize) -> &[f32] {
    let s = (i * d.c + ch) * d.hw;
    &v[s..s + d.hw]
}

/// The activation as a const parameter, so each kernel is compiled once per activation with
/// no branch on it in the inner loops.
const NONE: u8 = 0;
const RELU: u8 = 1;
const RELU6: u8 = 2;

fn code(act: BnAct) -> u8 {
    match act {
        BnAct::None => NONE,
        BnAct::Relu => RELU,
        BnAct::Relu6 => RELU6,
    }
}

/// `dy` where the activation passes the gradient at pre-activation `z`, else 0 (the same
/// gate as on the output `act(z)`: ReLU passes where `z > 0`, ReLU6 where `0 < z < 6`).
#[inline(always)]
fn gate<const A: u8>(z: f32, dy: f32) -> f32 {
    let pass = match A {
        RELU => z > 0.0,
        RELU6 => z > 0.0 && z < 6.0,
        _ => true,
    };
    if pass { dy } else { 0.0 }
}

/// `out[i] = gate(x[i]·a + b, dy[i])` with the vector compares and masks of `isa` (all sets give
/// the same bits as [`gate`]).
pub fn gate_run<const A: u8>(isa: CpuIsa, x: &[f32], dy: &[f32], a: f32, b: f32, out: &mut [f32]) {
    match isa {
        CpuIsa::Scalar => gate_run_with::<Scalar, A>(x, dy, a, b, out),
        #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
        CpuIsa::Simd128 => gate_run_with::<crate::ops::fused::lanes::Simd128, A>(x, dy, a, b, out),
        #[cfg(target_arch = "x86_64")]
        CpuIsa::Sse2 | CpuIsa::Avx2 | CpuIsa::Avx512 => gate_run_with::<crate::ops::fused::lanes::Sse2, A>(x, dy, a, b, out),
    }
}

#[inline(always)]
fn gate_run_with<L: Lanes, const A: u8>(x: &[f32], dy: &[f32], a: f32, b: f32, out: &mut [f32]) {
    let (n, w) = (out.len(), L::W);
    let (x, dy) = (&x[..n], &dy[..n]);
    let full = n / w * w;
    let (va, vb, zero, six) = (L::splat(a), L::splat(b), L::splat(0.0), L::splat(6.0));
    for i in (0..full).step_by(w) {
        let (xv, gv) = (L::load(&x[i..i + w]), L::load(&dy[i..i + w]));
        let z = L::add(L::mul(xv, va), vb);
        let g = match A {
            RELU => L::gate_above(z, gv, zero),
            RELU6 => L::gate_between(z, gv, zero, six),
            _ => gv,
        };
        L::store(&mut out[i..i + w], g);
    }
    for i in full..n {
        out[i] = gate::<A>(x[i] * a + b, dy[i]);
    }
}

#[inline(always)]
fn apply<const A: u8>(z: f32) -> f32 {
    match A {
        RELU => z.max(0.0),
        RELU6 => z.clamp(0.0, 6.0),
        _ => z,
    }
}

/// `(y, mean, var)`: `y = act(gamma · (x − mean) / sqrt(var + eps) + beta)` per channel.
pub fn forward(d: Dims, x: &[f32], gamma: &[f32], beta: &[f32], eps: f32, act: BnAct) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    match code(act) {
        RELU => forward_act::<RELU>(d, x, gamma, beta, eps),
        RELU6 => forward_act::<RELU6>(d, x, gamma, beta, eps),
        _ => forward_act::<NONE>(d, x, gamma, beta, eps),
    }
}

fn forward_act<const A: u8>(d: Dims, x: &[f32], gamma: &[f32], beta: &[f32], eps: f32) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    // One pass: sums of `x − k` and `(x − k)²` about each channel's first value `k` (shifted
    // data: no cancellation when the mean is large against the spread).
    let shifts: Vec<f32> = (0..d.c).map(|ch| run(x, d, 0, ch).first().copied().unwrap_or(0.0)).collect();
    let stats = channel_sums(d, |i, ch| shifted_sums(run(x, d, i, ch), shifts[ch]));
    let stats = stats.iter().zip(&shifts).map(|(&(s1, s2), &k)| {
        let m = s1 / d.count();
        ((k as f64 + m) as f32, (s2 / d.count() - m * m).max(0.0) as f32)
    });
    let (mean, var): (Vec<f32>, Vec<f32>) = stats.unzip();
    let (scale, shift) = affine(gamma, beta, &mean, &var, eps);
    let mut y = vec![0f32; x.len()];
    crate::par::blocks(&mut y, d.c * d.hw, |i, out| {
        for ch in 0..d.c {
            let (a, b) = (scale[ch], shift[ch]);
            let (o, xs) = (&mut out[ch * d.hw..(ch + 1) * d.hw], run(x, d, i, ch));
            let full = d.hw / LANES * LANES;
            for k in (0..full).step_by(LANES) {
                let o: &mut [f32; LANES] = (&mut o[k..k + LANES]).try_into().expect("LANES values");
                let xc = lanes(xs, k);
                for l in 0..LANES {
                    o[l] = apply::<A>(xc[l] * a + b);
                }
            }
            for k in full..d.hw {
                o[k] = apply::<A>(xs[k] * a + b);
            }
        }
    });
    (y, mean, var)
}

/// Per channel `(scale, shift)` with `act(scale · x + shift)` the forward's output. The backward
/// pass recomputes them with the same operations, so its activation gate sees the forward's
/// pre-activation bit for bit.
fn affine(gamma: &[f32], beta: &[f32], mean: &[f32], var: &[f32], eps: f32) -> (Vec<f32>, Vec<f32>) {
    let scale: Vec<f32> = gamma.iter().zip(var).map(|(g, v)| g / (v + eps).sqrt()).collect();
    let shift = beta.iter().zip(mean).zip(&scale).map(|((b, m), s)| b - m * s).collect();
    (scale, shift)
}

/// `(Σ (x − k), Σ (x − k)²)` over one run, in [`LANES`] partial sums.
#[inline(always)]
fn shifted_sums(xs: &[f32], k: f32) -> (f32, f32) {
    let full = xs.len() / LANES * LANES;
    if full == 0 {
        // Runs shorter than LANES (4×4 and 2×2 planes): no lanes to set up and sum.
        return xs.iter().fold((0f32, 0f32), |(t1, t2), &x| (t1 + (x - k), t2 + (x - k) * (x - k)));
    }
    let (mut a1, mut a2) = ([0f32; LANES], [0f32; LANES]);
    for b in (0..full).step_by(LANES) {
        let xc = lanes(xs, b);
        for l in 0..LANES {
            let v = xc[l] - k;
            a1[l] += v;
            a2[l] += v * v;
        }
    }
    let (mut t1, mut t2) = (0f32, 0f32);
    for &x in &xs[full..] {
        let v = x - k;
        t1 += v;
        t2 += v * v;
    }
    (a1.iter().sum::<f32>() + t1, a2.iter().sum::<f32>() + t2)
}

/// What the backward pass reads: the forward's input `x`, `gamma`, `beta` and statistics, and
/// the upstream gradient `dy`. The activation's gate is recomputed from `x` (no read of the
/// output: the pass is bound by memory traffic).
#[derive(Debug, Clone, Copy)]
pub struct Saved<'a> {
    /// Forward input `[n, c, hw]`.
    pub x: &'a [f32],
    /// Scale `[c]`.
    pub gamma: &'a [f32],
    /// Shift `[c]`.
    pub beta: &'a [f32],
    /// Batch mean `[c]`.
    pub mean: &'a [f32],
    /// Biased batch variance `[c]`.
    pub var: &'a [f32],
    /// Upstream gradient `[n, c, hw]`.
    pub dy: &'a [f32],
}

/// `(dx, dgamma, dbeta)` for `s.dy`.
pub fn backward(d: Dims, s: &Saved, eps: f32, act: BnAct) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    match code(act) {
        RELU => backward_act::<RELU>(d, s, eps),
        RELU6 => backward_act::<RELU6>(d, s, eps),
        _ => backward_act::<NONE>(d, s, eps),
    }
}

fn backward_act<const A: u8>(d: Dims, &Saved { x, gamma, beta, mean, var, dy }: &Saved, eps: f32) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let inv: Vec<f32> = var.iter().map(|v| 1.0 / (v + eps).sqrt()).collect();
    let (scale, shift) = affine(gamma, beta, mean, var, eps);
    // Per channel: Σ dz and Σ dz · (x − mean), with dz = dy where the activation passes.
    let sums = channel_sums(d, |i, ch| {
        let (m, a, b) = (mean[ch], scale[ch], shift[ch]);
        let (xs, gs) = (run(x, d, i, ch), run(dy, d, i, ch));
        let full = d.hw / LANES * LANES;
        if full == 0 {
            // Runs shorter than LANES: no lanes to set up and sum.
            return xs.iter().zip(gs).fold((0f32, 0f32), |(tb, tg), (&xv, &gv)| {
                let dz = gate::<A>(xv * a + b, gv);
                (tb + dz, tg + dz * (xv - m))
            });
        }
        let (mut ab, mut ag) = ([0f32; LANES], [0f32; LANES]);
        // The gate first, a chunk at a time with vector masks, then the lane sums over the
        // gated values (same sums, same order as gating inside them).
        let mut dz = [0f32; CHUNK];
        for c0 in (0..full).step_by(CHUNK) {
            let len = (full - c0).min(CHUNK);
            let xc = &xs[c0..c0 + len];
            gate_run::<A>(CpuIsa::best(), xc, &gs[c0..c0 + len], a, b, &mut dz[..len]);
            for k in (0..len).step_by(LANES) {
                let (zc, xl) = (lanes(&dz, k), lanes(xc, k));
                for l in 0..LANES {
                    ab[l] += zc[l];
                    ag[l] += zc[l] * (xl[l] - m);
                }
            }
        }
        let (mut tb, mut tg) = (0f32, 0f32);
        for k in full..d.hw {
            let dz = gate::<A>(xs[k] * a + b, gs[k]);
            tb += dz;
            tg += dz * (xs[k] - m);
        }
        (ab.iter().sum::<f32>() + tb, ag.iter().sum::<f32>() + tg)
    });
    let sums = sums.iter().zip(&inv).map(|(&(sb, sg), &s)| ((sg * s as f64) as f32, sb as f32));
    let (dgamma, dbeta): (Vec<f32>, Vec<f32>) = sums.unzip();
    let count = d.count() as f32;
    let mut dx = vec![0f32; x.len()];
    crate::par::blocks(&mut dx, d.c * d.hw, |i, out| {
        for ch in 0..d.c {
            let (m, s, a, b) = (mean[ch], inv[ch], scale[ch], shift[ch]);
            let k = gamma[ch] * s;
            let (mb, mg) = (dbeta[ch] / count, dgamma[ch] / count * s);
            let o = &mut out[ch * d.hw..(ch + 1) * d.hw];
            let (xs, gs) = (run(x, d, i, ch), run(dy, d, i, ch));
            // The gated dy into `o`, then dx in place: elementwise loops without a select.
            gate_run::<A>(CpuIsa::best(), xs, gs, a, b, o);
            for (o, &x) in o.iter_mut().zip(xs) {
                *o = k * (*o - mb - (x - m) * mg);
            }
        }
    });
    (dx, dgamma, dbeta)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Rng;

    /// Every instruction set gates bit for bit like the scalar `gate`, on random values and on
    /// pre-activations at and one ulp around the gate's edges (0 and 6), for run lengths that
    /// leave a tail.
    #[test]
    fn gate_run_matches_the_scalar_gate_on_every_instruction_set() {
        let mut rng = Rng::new(7);
        let mut uniform = |lo: f32, hi: f32| lo + (hi - lo) * ((rng.next_u64() >> 40) as f32 / (1u64 << 24) as f32);
        let edges = [
            0.0f32,
            -0.0,
            6.0,
            f32::from_bits(6f32.to_bits() - 1),
            f32::from_bits(6f32.to_bits() + 1),
            f32::MIN_POSITIVE,
            -f32::MIN_POSITIVE,
        ];
        for n in [1usize, 3, 4, 7, 64, 67] {
            // a = 1, b = 0: z = x exactly, so the edges reach the compare unchanged.
            let mut x: Vec<f32> = (0..n).map(|_| uniform(-3.0, 9.0)).collect();
            for (i, e) in edges.iter().enumerate().take(n) {
                x[i] = *e;
            }
            let dy: Vec<f32> = (0..n).map(|_| uniform(-1.0, 1.0)).collect();
            for (a, b) in [(1.0f32, 0.0f32), (uniform(0.5, 2.0), uniform(-1.0, 1.0))] {
                for isa in CpuIsa::available() {
                    let mut got = vec![f32::NAN; n];
                    gate_run::<RELU6>(isa, &x, &dy, a, b, &mut got);
                    let want: Vec<u32> = x.iter().zip(&dy).map(|(&xv, &g)| gate::<RELU6>(xv * a + b, g).to_bits()).collect();
                    assert_eq!(got.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), want, "ReLU6 gate, {}, n = {n}", isa.name());
                    gate_run::<RELU>(isa, &x, &dy, a, b, &mut got);
                    let want: Vec<u32> = x.iter().zip(&dy).map(|(&xv, &g)| gate::<RELU>(xv * a + b, g).to_bits()).collect();
                    assert_eq!(got.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), want, "ReLU gate, {}, n = {n}", isa.name());
                }
            }
        }
    }
}
