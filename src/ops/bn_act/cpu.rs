//! CPU kernels of the fused BatchNorm (training) + activation, on contiguous `[n, c, hw]` f32
//! data. Plain loops over contiguous runs of `hw` values that the compiler vectorises (SIMD128
//! in the wasm build, SSE2 natively); natively the channel reductions and the per-image writes
//! run on rayon. Statistics are the biased batch mean and variance, as burn's `batch_norm_train`.

use super::BnAct;

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

/// `f(ch)` for every channel, on rayon natively.
fn per_channel<T: Send>(c: usize, f: impl Fn(usize) -> T + Sync + Send) -> Vec<T> {
    #[cfg(not(target_family = "wasm"))]
    {
        use rayon::prelude::*;
        (0..c).into_par_iter().map(f).collect()
    }
    #[cfg(target_family = "wasm")]
    {
        (0..c).map(f).collect()
    }
}

/// `f(image, out_block)` for every image's `[c, hw]` block of `out`, on rayon natively.
fn per_image(out: &mut [f32], block: usize, f: impl Fn(usize, &mut [f32]) + Sync + Send) {
    #[cfg(not(target_family = "wasm"))]
    {
        use rayon::prelude::*;
        out.par_chunks_mut(block).enumerate().for_each(|(i, o)| f(i, o));
    }
    #[cfg(target_family = "wasm")]
    {
        out.chunks_mut(block).enumerate().for_each(|(i, o)| f(i, o));
    }
}

/// Lanes of the partial sums of [`sum_lanes`]: independent accumulators that the compiler maps
/// onto SIMD registers (a float reduction in one accumulator is a serial chain it may not
/// reorder).
const LANES: usize = 8;

/// `Σ f(v)` over `xs`, in [`LANES`] interleaved partial sums (a fixed order: deterministic).
#[inline(always)]
fn sum_lanes(xs: &[f32], f: impl Fn(f32) -> f32) -> f32 {
    let mut acc = [0f32; LANES];
    let mut chunks = xs.chunks_exact(LANES);
    for c in &mut chunks {
        for l in 0..LANES {
            acc[l] += f(c[l]);
        }
    }
    acc.iter().sum::<f32>() + chunks.remainder().iter().map(|&v| f(v)).sum::<f32>()
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

/// `dy` where the activation passes the gradient at output `y` (`y = act(z)`), else 0.
#[inline(always)]
fn gate<const A: u8>(y: f32, dy: f32) -> f32 {
    let pass = match A {
        RELU => y > 0.0,
        RELU6 => y > 0.0 && y < 6.0,
        _ => true,
    };
    if pass { dy } else { 0.0 }
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
    let stats = per_channel(d.c, |ch| {
        let mut sum = 0f64;
        for i in 0..d.n {
            let xs = run(x, d, i, ch);
            sum += sum_lanes(xs, |v| v) as f64;
        }
        let mean = (sum / d.count()) as f32;
        let mut sq = 0f64;
        for i in 0..d.n {
            sq += sum_lanes(run(x, d, i, ch), |v| (v - mean) * (v - mean)) as f64;
        }
        (mean, (sq / d.count()) as f32)
    });
    let (mean, var): (Vec<f32>, Vec<f32>) = stats.into_iter().unzip();
    let scale: Vec<f32> = (0..d.c).map(|ch| gamma[ch] / (var[ch] + eps).sqrt()).collect();
    let shift: Vec<f32> = (0..d.c).map(|ch| beta[ch] - mean[ch] * scale[ch]).collect();
    let mut y = vec![0f32; x.len()];
    per_image(&mut y, d.c * d.hw, |i, out| {
        for ch in 0..d.c {
            let (a, b) = (scale[ch], shift[ch]);
            for (o, v) in out[ch * d.hw..(ch + 1) * d.hw].iter_mut().zip(run(x, d, i, ch)) {
                *o = apply::<A>(v * a + b);
            }
        }
    });
    (y, mean, var)
}

/// What the backward pass reads: the forward's input `x`, output `y`, `gamma` and statistics,
/// and the upstream gradient `dy`.
#[derive(Debug, Clone, Copy)]
pub struct Saved<'a> {
    /// Forward input `[n, c, hw]`.
    pub x: &'a [f32],
    /// Forward output `[n, c, hw]`.
    pub y: &'a [f32],
    /// Scale `[c]`.
    pub gamma: &'a [f32],
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

fn backward_act<const A: u8>(d: Dims, &Saved { x, y, gamma, mean, var, dy }: &Saved, eps: f32) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let inv: Vec<f32> = var.iter().map(|v| 1.0 / (v + eps).sqrt()).collect();
    // Per channel: Σ dz and Σ dz · (x − mean), with dz = dy where the activation passes.
    let sums = per_channel(d.c, |ch| {
        let m = mean[ch];
        let (mut sb, mut sg) = (0f64, 0f64);
        for i in 0..d.n {
            let (b, g) = gated_sums::<A>(run(x, d, i, ch), run(y, d, i, ch), run(dy, d, i, ch), m);
            sb += b as f64;
            sg += g as f64;
        }
        ((sg * inv[ch] as f64) as f32, sb as f32)
    });
    let (dgamma, dbeta): (Vec<f32>, Vec<f32>) = sums.into_iter().unzip();
    let count = d.count() as f32;
    let mut dx = vec![0f32; x.len()];
    per_image(&mut dx, d.c * d.hw, |i, out| {
        for ch in 0..d.c {
            let (m, s) = (mean[ch], inv[ch]);
            let k = gamma[ch] * s;
            let (mb, mg) = (dbeta[ch] / count, dgamma[ch] / count * s);
            let o = &mut out[ch * d.hw..(ch + 1) * d.hw];
            for (((o, xv), yv), gv) in o.iter_mut().zip(run(x, d, i, ch)).zip(run(y, d, i, ch)).zip(run(dy, d, i, ch)) {
                *o = k * (gate::<A>(*yv, *gv) - mb - (xv - m) * mg);
            }
        }
    });
    (dx, dgamma, dbeta)
}

/// `(Σ dz, Σ dz · (x − m))` over one run, in [`LANES`] partial sums.
#[inline(always)]
fn gated_sums<const A: u8>(xs: &[f32], ys: &[f32], gs: &[f32], m: f32) -> (f32, f32) {
    let (mut ab, mut ag) = ([0f32; LANES], [0f32; LANES]);
    let chunks = xs.chunks_exact(LANES).zip(ys.chunks_exact(LANES)).zip(gs.chunks_exact(LANES));
    for ((xc, yc), gc) in chunks {
        for l in 0..LANES {
            let dz = gate::<A>(yc[l], gc[l]);
            ab[l] += dz;
            ag[l] += dz * (xc[l] - m);
        }
    }
    let full = xs.len() / LANES * LANES;
    let (mut b, mut g) = (0f32, 0f32);
    for k in full..xs.len() {
        let dz = gate::<A>(ys[k], gs[k]);
        b += dz;
        g += dz * (xs[k] - m);
    }
    (ab.iter().sum::<f32>() + b, ag.iter().sum::<f32>() + g)
}
