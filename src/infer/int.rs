//! The integer engine (plain-Rust reference): activations are 16-bit fixed point with one
//! power-of-two scale `2^-f` per tensor, chosen by calibration so that the largest calibration
//! value fits; a shortcut aligns its two inputs by shifts.
//!
//! - Shift layers accumulate `±(x << (e + 15))` (exponent `e` in [−15, 0]): shifts and additions,
//!   exact at scale `2^-(f + 15)`.
//! - Add layers accumulate `−|x − w|` with the input and the weights at the input's scale plus
//!   `ADD_GUARD` bits.
//! - Mult layers use integer products: the stem with 16-bit weights, the classifier with int8
//!   weights, one scale per output channel.
//! - Each output value is then requantised once: BatchNorm is folded with the accumulator's
//!   scale into one fixed-point multiplier and a bias per channel (`(acc · m) >> r + b`, the only
//!   multiplication in a Shift or Add layer), then the activation is a clamp and the value
//!   saturates to 16 bits.
//!
//! Accumulators are `i64` (a Shift layer's terms reach `2^30`); the requantisation product is
//! `i128`.

use super::float;
use super::format::{Act, BN_EPS, Conv, Graph, Node, Op, shapes};
use super::shiftmax::shiftmax;
use crate::error::{Error, Result};

const Q_MAX: i64 = i16::MAX as i64;
const Q_MIN: i64 = i16::MIN as i64;
/// Largest fractional-bit count of an activation.
const MAX_FRAC: i32 = 24;
/// Extra fractional bits of Add layers' inputs and weights inside the kernel: the weights' rounding
/// error, summed over a long receptive field and then scaled up by BatchNorm (adder outputs have a
/// large mean and a small spread), would otherwise move the outputs.
const ADD_GUARD: i32 = 8;
/// Largest magnitude of a Mult convolution's integer weights (16-bit, one scale per output
/// channel). The stem's rounding error travels through every later layer: with 8-bit stem weights
/// a barely trained Add MobileNetV2-Tiny changed class on 8 % of test images (BENCHMARKS.md).
const MULT_CONV_LEVELS: f64 = 32767.0;
/// Most fractional bits of the integer logits: Shiftmax is tested within 0.04 of softmax at
/// scales down to 1/1024; at 1/4096 a barely trained model's flat rows were off by 0.067.
const LOGIT_FRAC_MAX: i32 = 10;

/// `round(v · 2^-s)` for `s > 0` (ties away from zero's upper neighbour: `+2^(s−1)` then floor),
/// `v · 2^-s` for `s <= 0`.
fn shift_round(v: i64, s: i32) -> i64 {
    if s > 0 { (v + (1i64 << (s - 1))) >> s } else { v << (-s) }
}

/// `2^e` exactly (`e` in the normal range of f64), the same bits on every platform.
fn pow2(e: i32) -> f64 {
    f64::from_bits(((1023 + e.clamp(-1022, 1023)) as u64) << 52)
}

/// `⌊log2 |a|⌋` from the bits of a normal, non-zero `a` (no libm: platforms agree).
fn exponent(a: f64) -> i32 {
    ((a.to_bits() >> 52) & 0x7ff) as i32 - 1023
}

fn saturate(v: i64) -> i64 {
    v.clamp(Q_MIN, Q_MAX)
}

/// `y = (acc · m + 2^(r−1)) >> r + b`: a real multiplier `a` and bias `b` (output units) in fixed point.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Requant {
    m: i64,
    r: u32,
    b: i64,
}

impl Requant {
    fn new(a: f64, b: f64) -> Self {
        let b = b.round().clamp(-1e15, 1e15) as i64;
        if a == 0.0 || !a.is_finite() {
            return Self { m: 0, r: 0, b };
        }
        // |m| in [2^30, 2^31]: 31 significant bits of `a`.
        let r = (30 - exponent(a)).clamp(0, 120);
        Self { m: (a * pow2(r)).round() as i64, r: r as u32, b }
    }

    #[inline]
    fn apply(&self, acc: i64) -> i64 {
        let p = acc as i128 * self.m as i128;
        let p = if self.r > 0 { (p + (1i128 << (self.r - 1))) >> self.r } else { p };
        p.clamp(i64::MIN as i128 / 2, i64::MAX as i128 / 2) as i64 + self.b
    }
}

/// A convolution in integers.
#[derive(Debug, Clone)]
struct QConv {
    /// Shift: `(sign, e + 15)`; Add: weights at the input scale; Mult: int8 weights.
    weights: Vec<i64>,
    signs: Vec<i8>,
    requant: Vec<Requant>,
    /// Upper clamp of the activation (ReLU6: `6 · 2^f_out`), `Q_MAX` otherwise.
    hi: i64,
    lo: i64,
}

/// A model quantised by [`quantize`].
#[derive(Debug, Clone)]
pub struct Quantized {
    graph: Graph,
    /// Fractional bits of the input and of each node's output (`frac[0]` the input's).
    frac: Vec<i32>,
    convs: Vec<Option<QConv>>,
    /// Mult classifier: int8 weights `[features, classes]` and one requantisation per class.
    classifier: Option<(Vec<i32>, Vec<Requant>)>,
    logit_frac: i32,
}

/// The most fractional bits (≤ `MAX_FRAC`) at which `max_abs` still fits 16 bits.
fn frac_for(max_abs: f64) -> i32 {
    if max_abs <= 0.0 || !max_abs.is_finite() {
        return MAX_FRAC;
    }
    let mut f = 0;
    while f < MAX_FRAC && max_abs * pow2(f + 1) <= Q_MAX as f64 {
        f += 1;
    }
    f
}

fn qconv(l: &Conv, fx: i32, fy: i32) -> QConv {
    let two = pow2;
    let mut signs = Vec::new();
    // Scale of one accumulator unit, per output channel.
    let (weights, acc_scale): (Vec<i64>, Vec<f64>) = match l.op {
        Op::Shift => {
            let (s, e) = l.shift.as_ref().expect("shift layers carry sign and exponent");
            signs = s.clone();
            (e.iter().map(|&e| e as i64 + 15).collect(), vec![two(-(fx + 15)); l.cout])
        }
        Op::Add => (
            l.weight.iter().map(|&w| (w as f64 * two(fx + ADD_GUARD)).round().clamp(-1e15, 1e15) as i64).collect(),
            vec![two(-(fx + ADD_GUARD)); l.cout],
        ),
        Op::Mult => {
            let f = l.fan_in();
            let scales: Vec<f64> = l
                .weight
                .chunks_exact(f)
                .map(|c| c.iter().fold(0f32, |m, w| m.max(w.abs())) as f64 / MULT_CONV_LEVELS)
                .map(|s| if s > 0.0 { s } else { 1.0 })
                .collect();
            let w = l
                .weight
                .iter()
                .enumerate()
                .map(|(i, &w)| (w as f64 / scales[i / f]).round().clamp(-MULT_CONV_LEVELS, MULT_CONV_LEVELS) as i64)
                .collect();
            (w, scales.iter().map(|s| s * two(-fx)).collect())
        }
    };
    let requant = (0..l.cout)
        .map(|c| {
            let inv = l.bn.gamma[c] as f64 / (l.bn.var[c] as f64 + BN_EPS as f64).sqrt();
            Requant::new(inv * acc_scale[c] * two(fy), (l.bn.beta[c] as f64 - inv * l.bn.mean[c] as f64) * two(fy))
        })
        .collect();
    let (lo, hi) = match l.act {
        Act::None => (Q_MIN, Q_MAX),
        Act::Relu => (0, Q_MAX),
        Act::Relu6 => (0, (6i64 << fy).min(Q_MAX)),
    };
    QConv { weights, signs, requant, hi, lo }
}

/// Quantises `g`: each tensor's scale from its largest value over the `n` calibration images
/// (run through the f32 reference), the weights as above.
///
/// # Errors
/// [`Error::Shape`] when `calibration` is not `n >= 1` images of the model's input shape.
pub fn quantize(g: &Graph, calibration: &[f32], n: usize) -> Result<Quantized> {
    let per = g.input.iter().product::<usize>();
    if n == 0 || calibration.len() != n * per {
        return Err(Error::Shape(format!("calibration: {} values for {n} images of {:?} (need n >= 1)", calibration.len(), g.input)));
    }
    shapes(g)?;
    let ranges = crate::par::map(n, |i| {
        let mut r = vec![0f64; g.nodes.len() + 2];
        let logits = float::forward(g, &calibration[i * per..(i + 1) * per], &mut |node, v| {
            let m = v.iter().fold(0f32, |m, x| m.max(x.abs())) as f64;
            let k = node.map_or(0, |k| k + 1);
            r[k] = r[k].max(m);
        });
        if let Ok(l) = logits {
            r[g.nodes.len() + 1] = l.iter().fold(0f32, |m, x| m.max(x.abs())) as f64;
        }
        r
    });
    let mut max = vec![0f64; g.nodes.len() + 2];
    for r in ranges {
        max.iter_mut().zip(r).for_each(|(m, v)| *m = m.max(v));
    }
    let mut frac: Vec<i32> = max[..=g.nodes.len()].iter().map(|&m| frac_for(m)).collect();
    // Pooling keeps its input's scale (a mean is no larger than the values).
    for (i, node) in g.nodes.iter().enumerate() {
        if *node == Node::AvgPool || *node == Node::Save {
            frac[i + 1] = frac[i];
        }
    }
    let mut convs = vec![None; g.layers.len()];
    for (i, node) in g.nodes.iter().enumerate() {
        if let Node::Conv(l) = *node {
            convs[l] = Some(qconv(&g.layers[l], frac[i], frac[i + 1]));
        }
    }
    let logit_frac = frac_for(max[g.nodes.len() + 1]).min(LOGIT_FRAC_MAX);
    let fx = frac[g.nodes.len()];
    let classifier = g.classifier.as_ref().map(|c| {
        let scale: Vec<f64> = (0..c.classes)
            .map(|k| (0..c.features).fold(0f32, |m, f| m.max(c.weight[f * c.classes + k].abs())) as f64 / 127.0)
            .map(|s| if s > 0.0 { s } else { 1.0 })
            .collect();
        let w = c.weight.iter().enumerate().map(|(i, &w)| (w as f64 / scale[i % c.classes]).round().clamp(-127.0, 127.0) as i32).collect();
        let rq = (0..c.classes).map(|k| Requant::new(scale[k] * pow2(logit_frac - fx), c.bias[k] as f64 * pow2(logit_frac))).collect();
        (w, rq)
    });
    Ok(Quantized { graph: g.clone(), frac, convs, classifier, logit_frac })
}

/// Output indices `o` in `0..n_out` whose input `o · stride + tap − pad` lies in `0..n_in`.
fn valid(n_in: usize, n_out: usize, stride: usize, tap: usize, pad: usize) -> std::ops::Range<usize> {
    // o · stride ≥ pad − tap, and o · stride + tap − pad ≤ n_in − 1.
    let lo = pad.saturating_sub(tap).div_ceil(stride);
    let hi = if n_in + pad > tap { ((n_in + pad - tap - 1) / stride + 1).min(n_out) } else { 0 };
    lo..hi.max(lo)
}

/// `row(acc_row, x_row)` for each output row of one tap: `acc_row` holds the row's outputs whose
/// input `o · stride + tap − pad` is inside the plane, and `x_row` starts at the first of those
/// inputs (the row kernel steps through it by `stride`).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn tap(
    acc: &mut [i64],
    plane: &[i64],
    s: [usize; 2],
    o: [usize; 2],
    stride: usize,
    pad: usize,
    kyx: [usize; 2],
    row: impl Fn(&mut [i64], &[i64]),
) {
    let (rows, cols) = (valid(s[0], o[0], stride, kyx[0], pad), valid(s[1], o[1], stride, kyx[1], pad));
    if cols.is_empty() {
        return;
    }
    let x0 = cols.start * stride + kyx[1] - pad;
    for oy in rows {
        let iy = oy * stride + kyx[0] - pad;
        row(&mut acc[oy * o[1]..(oy + 1) * o[1]][cols.clone()], &plane[iy * s[1] + x0..(iy + 1) * s[1]]);
    }
}

/// The accumulation loop of Shift layers, one output row of one tap: `acc[j] ± (x[j · stride] <<
/// shift)`. Shifts, additions and subtractions only: `tests/infer_wasm.rs` reads the compiled
/// inference wasm and fails on any multiply inside this function's loops.
#[inline(never)]
fn shift_acc_row(acc: &mut [i64], x: &[i64], stride: usize, shift: i64, negative: bool) {
    if negative {
        acc.iter_mut().zip(x.iter().step_by(stride)).for_each(|(a, &v)| *a -= v << shift);
    } else {
        acc.iter_mut().zip(x.iter().step_by(stride)).for_each(|(a, &v)| *a += v << shift);
    }
}

/// The accumulation loop of Add layers, one output row of one tap: `acc[j] += |w| − |(x[j ·
/// stride] << ADD_GUARD) − w|` (the `|w|` undoes the zero-padding term subtracted from every
/// output first). No multiply inside its loops, as for [`shift_acc_row`].
#[inline(never)]
fn add_acc_row(acc: &mut [i64], x: &[i64], stride: usize, w: i64) {
    let pad_term = w.abs();
    acc.iter_mut().zip(x.iter().step_by(stride)).for_each(|(a, &v)| *a += pad_term - ((v << ADD_GUARD) - w).abs());
}

/// One layer in integers on `x` (`[c, h, w]` at the layer's input scale): per output channel and
/// tap, the tap's weight applied to a whole plane of outputs (integer sums: any order gives the
/// same bits).
fn qforward(l: &Conv, q: &QConv, x: &[i64], s: [usize; 3]) -> (Vec<i64>, [usize; 3]) {
    let [_, h, w] = s;
    let (ho, wo) = ((h + 2 * l.pad - l.k) / l.stride + 1, (w + 2 * l.pad - l.k) / l.stride + 1);
    let (cg, fan) = (l.cin / l.groups, l.fan_in());
    let mut y = vec![0i64; l.cout * ho * wo];
    let mut acc = vec![0i64; ho * wo];
    for oc in 0..l.cout {
        let g0 = if l.groups == 1 { 0 } else { oc };
        acc.fill(0);
        for ic in 0..cg {
            let plane = &x[(g0 + ic) * h * w..(g0 + ic + 1) * h * w];
            for ky in 0..l.k {
                for kx in 0..l.k {
                    let t = oc * fan + (ic * l.k + ky) * l.k + kx;
                    let wv = q.weights[t];
                    let geo = ([h, w], [ho, wo], l.stride, l.pad, [ky, kx]);
                    match l.op {
                        Op::Shift => {
                            let sign = q.signs[t];
                            if sign != 0 {
                                tap(&mut acc, plane, geo.0, geo.1, geo.2, geo.3, geo.4, |a, x| shift_acc_row(a, x, l.stride, wv, sign < 0));
                            }
                        }
                        Op::Add => {
                            // Zero padding reads 0: −|0 − w| everywhere, corrected where the tap is inside.
                            let pad_term = wv.abs();
                            acc.iter_mut().for_each(|a| *a -= pad_term);
                            tap(&mut acc, plane, geo.0, geo.1, geo.2, geo.3, geo.4, |a, x| add_acc_row(a, x, l.stride, wv));
                        }
                        Op::Mult => tap(&mut acc, plane, geo.0, geo.1, geo.2, geo.3, geo.4, |a, x| {
                            a.iter_mut().zip(x.iter().step_by(l.stride)).for_each(|(a, &v)| *a += v * wv)
                        }),
                    }
                }
            }
        }
        let rq = &q.requant[oc];
        for (o, &a) in y[oc * ho * wo..(oc + 1) * ho * wo].iter_mut().zip(&acc) {
            *o = saturate(rq.apply(a)).clamp(q.lo, q.hi);
        }
    }
    (y, [l.cout, ho, wo])
}

impl Quantized {
    /// Fractional bits of the integer logits.
    pub fn logit_frac(&self) -> i32 {
        self.logit_frac
    }

    /// Integer logits of one image (at scale `2^-logit_frac()`).
    ///
    /// # Errors
    /// [`Error::Shape`] when `image` is not `c · h · w` values, [`Error::NonFinite`] on NaN/Inf.
    pub fn logits_q(&self, image: &[f32]) -> Result<Vec<i32>> {
        let g = &self.graph;
        let per = g.input.iter().product::<usize>();
        if image.len() != per {
            return Err(Error::Shape(format!("an image of {:?} has {per} values; got {}", g.input, image.len())));
        }
        if image.iter().any(|v| !v.is_finite()) {
            return Err(Error::NonFinite("the image holds NaN or Inf".into()));
        }
        let f0 = pow2(self.frac[0]);
        let mut x: Vec<i64> = image.iter().map(|&v| saturate((v as f64 * f0).round() as i64)).collect();
        let mut s = g.input;
        let mut saved: Vec<(Vec<i64>, i32)> = Vec::new();
        for (i, node) in g.nodes.iter().enumerate() {
            let (fin, fout) = (self.frac[i], self.frac[i + 1]);
            match *node {
                Node::Conv(l) => (x, s) = qforward(&g.layers[l], self.convs[l].as_ref().expect("every layer is quantised"), &x, s),
                Node::Save => saved.push((x.clone(), fin)),
                Node::AddSaved => {
                    let (a, fa) = saved.pop().expect("shapes() checked the shortcuts");
                    for (v, a) in x.iter_mut().zip(a) {
                        *v = saturate(shift_round(*v, fin - fout) + shift_round(a, fa - fout));
                    }
                }
                Node::AvgPool => {
                    let hw = (s[1] * s[2]) as i64;
                    x = x.chunks_exact(hw as usize).map(|c| (2 * c.iter().sum::<i64>() + hw).div_euclid(2 * hw)).collect();
                    s = [s[0], 1, 1];
                }
            }
        }
        let clamp32 = |v: i64| v.clamp(i32::MIN as i64, i32::MAX as i64) as i32;
        Ok(match (&g.classifier, &self.classifier) {
            (Some(c), Some((w, rq))) => {
                (0..c.classes).map(|k| clamp32(rq[k].apply((0..c.features).map(|f| x[f] * w[f * c.classes + k] as i64).sum()))).collect()
            }
            // A Shift or Add classifier conv already wrote the logits at the last node's scale.
            _ => x.iter().map(|&v| clamp32(shift_round(v, self.frac[g.nodes.len()] - self.logit_frac))).collect(),
        })
    }

    /// Logits `[n, classes]` as f32 (the integer logits times their scale).
    ///
    /// # Errors
    /// As [`logits_q`](Self::logits_q).
    pub fn logits(&self, images: &[f32], n: usize) -> Result<Vec<f32>> {
        let per = self.graph.input.iter().product::<usize>();
        if images.len() != n * per {
            return Err(Error::Shape(format!("{} values for {n} images of {:?}", images.len(), self.graph.input)));
        }
        let scale = 2f32.powi(-self.logit_frac);
        let rows = crate::par::map(n, |i| self.logits_q(&images[i * per..(i + 1) * per]));
        Ok(rows.into_iter().collect::<Result<Vec<_>>>()?.concat().into_iter().map(|v| v as f32 * scale).collect())
    }

    /// Probabilities `[n, classes]` at `1/128` through the integer Shiftmax.
    ///
    /// # Errors
    /// As [`logits_q`](Self::logits_q).
    pub fn probabilities(&self, images: &[f32], n: usize) -> Result<Vec<u8>> {
        let per = self.graph.input.iter().product::<usize>();
        if images.len() != n * per {
            return Err(Error::Shape(format!("{} values for {n} images of {:?}", images.len(), self.graph.input)));
        }
        let rows = crate::par::map(n, |i| self.logits_q(&images[i * per..(i + 1) * per]));
        let logits = rows.into_iter().collect::<Result<Vec<_>>>()?.concat();
        let mut out = vec![0u8; logits.len()];
        shiftmax(&logits, self.graph.classes, 2f32.powi(-self.logit_frac), &mut out);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Rng;
    use crate::infer::format::Bn;

    /// The plain per-output loop: every output pixel sums its receptive field, zero padded.
    fn reference(l: &Conv, q: &QConv, x: &[i64], s: [usize; 3]) -> Vec<i64> {
        let [_, h, w] = s;
        let (ho, wo) = ((h + 2 * l.pad - l.k) / l.stride + 1, (w + 2 * l.pad - l.k) / l.stride + 1);
        let (cg, fan) = (l.cin / l.groups, l.fan_in());
        let mut y = vec![0i64; l.cout * ho * wo];
        for oc in 0..l.cout {
            let g0 = if l.groups == 1 { 0 } else { oc };
            for oy in 0..ho {
                for ox in 0..wo {
                    let mut acc = 0i64;
                    for ic in 0..cg {
                        for ky in 0..l.k {
                            for kx in 0..l.k {
                                let (iy, ix) =
                                    ((oy * l.stride + ky) as isize - l.pad as isize, (ox * l.stride + kx) as isize - l.pad as isize);
                                let inside = iy >= 0 && ix >= 0 && iy < h as isize && ix < w as isize;
                                let p = if inside { x[((g0 + ic) * h + iy as usize) * w + ix as usize] } else { 0 };
                                let t = oc * fan + (ic * l.k + ky) * l.k + kx;
                                let wv = q.weights[t];
                                acc += match l.op {
                                    Op::Shift => q.signs[t] as i64 * (p << wv),
                                    Op::Add => -((p << ADD_GUARD) - wv).abs(),
                                    Op::Mult => p * wv,
                                };
                            }
                        }
                    }
                    y[(oc * ho + oy) * wo + ox] = saturate(q.requant[oc].apply(acc)).clamp(q.lo, q.hi);
                }
            }
        }
        y
    }

    /// The plane-at-a-time kernel gives the reference's bits for every operator, kernel size,
    /// stride, padding and grouping, on random weights and inputs.
    #[test]
    fn plane_kernel_matches_the_per_output_reference() {
        let mut rng = Rng::new(11);
        let mut r = |n: u64| rng.next_u64() % n;
        for case in 0..60 {
            let op = [Op::Shift, Op::Add, Op::Mult][case % 3];
            let k = [1, 3, 5][r(3) as usize];
            let (stride, pad) = (1 + r(2) as usize, r(k as u64) as usize);
            let depthwise = r(2) == 0;
            let cin = 1 + r(4) as usize;
            let cout = if depthwise { cin } else { 1 + r(4) as usize };
            let groups = if depthwise { cin } else { 1 };
            let (h, w) = (k + r(7) as usize, k + r(7) as usize);
            let n = cout * (cin / groups) * k * k;
            let weight: Vec<f32> = (0..n).map(|_| (r(2001) as f32 - 1000.0) / 700.0).collect();
            let shift = (op == Op::Shift).then(|| ((0..n).map(|_| r(3) as i8 - 1).collect(), (0..n).map(|_| -(r(16) as i8)).collect()));
            let bn = Bn { gamma: vec![1.3; cout], beta: vec![0.1; cout], mean: vec![-0.2; cout], var: vec![0.7; cout] };
            let l = Conv { name: "t".into(), op, cin, cout, k, stride, pad, groups, act: Act::None, weight, shift, bn };
            let q = qconv(&l, 9, 7);
            let x: Vec<i64> = (0..cin * h * w).map(|_| r(8001) as i64 - 4000).collect();
            let (got, _) = qforward(&l, &q, &x, [cin, h, w]);
            assert_eq!(got, reference(&l, &q, &x, [cin, h, w]), "case {case}: {op:?} k{k} s{stride} p{pad} g{groups} {h}×{w}");
        }
    }
}
