//! The integer engine: activations are 16-bit fixed point with one power-of-two scale `2^-f` per
//! tensor, chosen by calibration so that the largest calibration value fits; a shortcut aligns its
//! two inputs by shifts. The convolutions run in [`kernels`](super::kernels) and the
//! requantisation in [`requant`](super::requant) (SIMD128, SSE2 or scalar: the same bits) with
//! `i32` accumulators.
//!
//! - Shift layers accumulate `±(x << (e + s))` (exponent `e` in [−15, 0]; `>>` where `e + s < 0`):
//!   shifts and additions at scale `2^-(f + s)`.
//! - Add layers accumulate `−|(x << g) − w|` with the weights at the input's scale plus `g` guard
//!   bits.
//! - Mult layers use integer products: convolutions with 16-bit weights, the classifier with int8
//!   weights, one scale per output channel.
//! - Each output value is then requantised once: BatchNorm is folded with the accumulator's
//!   scale into one fixed-point multiplier and a bias per channel (`(acc · m) >> r + b` with a
//!   15-bit `m`, in `i32` lanes: [`Requant16`]; the only multiplication in a Shift or Add layer),
//!   then the activation is a clamp and the value saturates to 16 bits. A channel whose multiplier
//!   is 1/2 or more (an accumulator unit coarser than half an output unit) clamps its sums to the
//!   window where the output does not saturate and shifts them left first (`channel_requant`).
//!
//! No sum can leave `i32`: with `|x| <= 2^15`, each output channel's `s`, `g` or weight scale is
//! the finest whose worst case (`2^15 ·` the sum of the terms' weights) stays below `2^31`. Where
//! that costs precision (long fan-ins of large weights), it costs it per channel, not per layer.

use super::dense::{QDense, QSe, hswish};
use super::float;
use super::format::{Act, BN_EPS, Conv, Graph, Node, Op, shapes};
use super::kernels::{Geometry, Isa, Plan, Taps};
use super::requant::{Requant16, requantize};
use super::shiftmax::shiftmax;
use super::timing::{Clock, median_time};
use crate::error::{Error, Result};

const Q_MAX: i64 = i16::MAX as i64;
const Q_MIN: i64 = i16::MIN as i64;
/// Largest fractional-bit count of an activation.
pub(super) const MAX_FRAC: i32 = 24;
/// Largest `|sum|` an accumulator may reach: `i32::MAX`.
pub(super) const ACC_MAX: f64 = i32::MAX as f64;
/// Largest `|x|` of a 16-bit activation.
pub(super) const X_MAX: f64 = 32768.0;
/// Most extra fractional bits of Add layers' inputs and weights inside the kernel: the weights'
/// rounding error, summed over a long receptive field and then scaled up by BatchNorm (adder
/// outputs have a large mean and a small spread), would otherwise move the outputs.
const ADD_GUARD: i32 = 8;
/// Most fractional bits of a Shift layer's accumulator beyond its input's (`2^0` weights exact).
const SHIFT_FINE: i32 = 15;
/// Largest magnitude of a Mult convolution's integer weights (16-bit, one scale per output
/// channel). The stem's rounding error travels through every later layer: with 8-bit stem weights
/// a barely trained Add MobileNetV2-Tiny changed class on 8 % of test images (BENCHMARKS.md).
const MULT_CONV_LEVELS: f64 = 32767.0;
/// Most fractional bits of the integer logits: Shiftmax is tested within 0.04 of softmax at
/// scales down to 1/1024; at 1/4096 a barely trained model's flat rows were off by 0.067.
const LOGIT_FRAC_MAX: i32 = 10;

/// `round(v · 2^-s)` for `s > 0` (ties away from zero's upper neighbour: `+2^(s−1)` then floor),
/// `v · 2^-s` for `s <= 0`.
pub(super) fn shift_round(v: i64, s: i32) -> i64 {
    if s > 0 { (v + (1i64 << (s - 1))) >> s } else { v << (-s) }
}

/// `2^e` exactly (`e` in the normal range of f64), the same bits on every platform.
pub(super) fn pow2(e: i32) -> f64 {
    f64::from_bits(((1023 + e.clamp(-1022, 1023)) as u64) << 52)
}

/// `⌊log2 |a|⌋` from the bits of a normal, non-zero `a` (no libm: platforms agree).
fn exponent(a: f64) -> i32 {
    ((a.to_bits() >> 52) & 0x7ff) as i32 - 1023
}

fn saturate(v: i64) -> i64 {
    v.clamp(Q_MIN, Q_MAX)
}

/// `y = (acc · m + 2^(r−1)) >> r + b`: a real multiplier `a` and bias `b` (output units) in fixed
/// point, with `|m| <= 2^31`, `r` in `1..=62` and `|b| <= 2^40` (the dense layers' 64-bit sums,
/// through `i128`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Requant {
    m: i64,
    r: u32,
    b: i64,
}

impl Requant {
    pub(super) fn new(a: f64, b: f64) -> Self {
        let b = b.round().clamp(-(2f64.powi(40)), 2f64.powi(40)) as i64;
        if a == 0.0 || !a.is_finite() {
            return Self { m: 0, r: 1, b };
        }
        // |m| in [2^30, 2^31]: 31 significant bits of `a`. An `a` of 2^29 or more (an accumulator
        // unit worth that many output units) keeps fewer bits or saturates, and outputs saturate.
        let r = (30 - exponent(a)).clamp(1, 62);
        let m = (a * pow2(r)).round().clamp(-(2f64.powi(31)), 2f64.powi(31)) as i64;
        Self { m, r: r as u32, b }
    }

    /// `(acc · m + 2^(r−1)) >> r + b` for a 64-bit sum (the classifier's), through `i128`.
    pub(super) fn apply_wide(&self, acc: i64) -> i64 {
        let p = (acc as i128 * self.m as i128 + (1i128 << (self.r - 1))) >> self.r;
        p.clamp(i64::MIN as i128 / 2, i64::MAX as i128 / 2) as i64 + self.b
    }
}

/// One output channel's BatchNorm and activation: `y = clamp(acc · a + b, lo, hi)` (output units)
/// as a [`Requant16`]. `nonpositive`: the sums are never positive (adder layers), so they are
/// centred on the BatchNorm's mean first (an offset in `(−2^31, 0]` keeps `acc − offset` inside
/// `i32`).
///
/// A multiplier `a` of 1/2 or more (an accumulator unit coarser than half an output unit) is
/// centred on the sum where `y = 0` (`offset = round(−b/a)`, the rest of `b` kept in the bias),
/// and the sums are clamped to `offset ± 2^(27−e)` (`2^e <= |a| < 2^(e+1)`): beyond that every
/// output saturates, and inside it `(acc − offset) << (e + 3)` fits `i32`, where the 15-bit
/// multiplier `m = a · 2^(14−e)` and `shift = 1` round `t · a` half up. Multipliers of `2^28` or
/// more are taken as `2^28 − ε`: every non-zero `t` saturates either way.
fn channel_requant(a: f64, b: f64, lo: i64, hi: i64, nonpositive: bool) -> Requant16 {
    if a == 0.0 || !a.is_finite() {
        // `clamp(b)`: the bias is clamped to 2^29 and then to the 16-bit `[lo, hi]`.
        return Requant16::new(0, 0, 0, b.round().clamp(-(2f64.powi(29)), 2f64.powi(29)) as i32, lo as i32, hi as i32);
    }
    let e = exponent(a);
    if e < -1 {
        let offset = if nonpositive { (-b / a).round().clamp(-ACC_MAX, 0.0) } else { 0.0 };
        // |m| in [2^14, 2^15): 15 significant bits of `a`; `r >= 16` as `a < 1/2`.
        let r = 14 - e;
        let m = (a * pow2(r)).round() as i32;
        let b = (b + offset * a).round().clamp(-(2f64.powi(29)), 2f64.powi(29)) as i32;
        return Requant16::new(offset as i32, m, (r - 16) as u32, b, lo as i32, hi as i32);
    }
    let e = e.min(27);
    let offset = (-b / a).round().clamp(i32::MIN as f64, i32::MAX as f64);
    let m = (a * pow2(14 - e)).round().clamp(-32767.0, 32767.0) as i32;
    // Within `offset ± 2^(27−e)` the bias is at most `|a|/2` unless the offset was clamped; then
    // every sum lies on the bias's side of the offset and a bias past 2^26 saturates as it is.
    let bias = (b + offset * a).round().clamp(-(2f64.powi(26)), 2f64.powi(26)) as i32;
    let half = 1i64 << (27 - e);
    let offset = offset as i64;
    let (acc_lo, acc_hi) = ((offset - half).max(i32::MIN as i64) as i32, (offset + half).min(i32::MAX as i64) as i32);
    Requant16::new(offset as i32, m, 1, bias, lo as i32, hi as i32).with_window(acc_lo, acc_hi, (e + 3) as u32)
}

/// A convolution in integers.
#[derive(Debug, Clone)]
pub(super) struct QConv {
    /// The kernels' layout of this layer for its input size.
    plan: Plan,
    requant: Vec<Requant16>,
    /// For a pointwise layer on a small input (at most [`BATCH_PIXELS`] per image): the layer
    /// laid out for [`BATCH_IMAGES`] images side by side (`[cin, 1, BATCH_IMAGES · h · w]`).
    batched: Option<Box<QConv>>,
}

/// Pointwise layers with at most this many pixels per image run once over a batch of images
/// (their pixels side by side) instead of once per image: a few pixels leave the kernels' work
/// per weight too small to pay for reading it.
const BATCH_PIXELS: usize = 64;

/// Images walked through the graph together by [`Quantized::logits`] and
/// [`Quantized::probabilities`].
const BATCH_IMAGES: usize = 16;

/// A model quantised by [`quantize`].
#[derive(Debug, Clone)]
pub struct Quantized {
    graph: Graph,
    /// Fractional bits of the input and of each node's output (`frac[0]` the input's).
    frac: Vec<i32>,
    convs: Vec<Option<QConv>>,
    /// Per squeeze-and-excitation of the graph.
    se: Vec<Option<QSe>>,
    final_conv: Option<QDense>,
    /// Mult classifier: int8 weights `[features, classes]` and one requantisation per class.
    classifier: Option<QDense>,
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

/// Per output channel: the largest `b` in `lowest..=most` for which the worst sum
/// `Σ (base · 2^b + |round(w · unit · 2^b)|)` stays within `ACC_MAX`, and the weights rounded at
/// `2^b`. Only when even `b = lowest` overflows are the weights clamped, to an equal share each.
fn finest(most: i32, lowest: i32, fan: usize, base: f64, w: &[f32], unit: f64) -> (i32, Vec<i32>) {
    let sum_w: f64 = w.iter().map(|&v| (v as f64).abs()).sum();
    let worst = |b: i32| (fan as f64 * base + sum_w * unit) * pow2(b) + fan as f64 * 0.5;
    let mut b = most;
    while b > lowest && worst(b) > ACC_MAX {
        b -= 1;
    }
    let cap = if worst(b) > ACC_MAX { ((ACC_MAX - fan as f64 * base * pow2(b)) / fan.max(1) as f64 - 1.0).max(0.0) } else { ACC_MAX };
    (b, w.iter().map(|&v| (v as f64 * unit * pow2(b)).round().clamp(-cap, cap) as i32).collect())
}

pub(super) fn qconv(l: &Conv, input: [usize; 3], fx: i32, fy: i32) -> QConv {
    let two = pow2;
    let fan = l.fan_in();
    let (mut weights, mut signs, mut guard) = (Vec::new(), Vec::new(), Vec::new());
    // Scale of one accumulator unit, per output channel.
    let acc_scale: Vec<f64> = match l.op {
        Op::Shift => {
            let (s, e) = l.shift.as_ref().expect("shift layers carry sign and exponent");
            signs = s.clone();
            (0..l.cout)
                .map(|c| {
                    let taps = c * fan..(c + 1) * fan;
                    // Worst case X_MAX · Σ 2^(e + fine), plus one per term for the floor of `>>`.
                    let sum: f64 = taps.clone().filter(|&t| s[t] != 0).map(|t| two(e[t] as i32)).sum();
                    let mut fine = SHIFT_FINE;
                    while fine > -31 && X_MAX * sum * two(fine) + fan as f64 > ACC_MAX {
                        fine -= 1;
                    }
                    weights.extend(taps.map(|t| (e[t] as i32 + fine).clamp(-31, 31)));
                    two(-(fx + fine))
                })
                .collect()
        }
        Op::Add => (0..l.cout)
            .map(|c| {
                let (g, w) = finest(ADD_GUARD, 0, fan, X_MAX, &l.weight[c * fan..(c + 1) * fan], two(fx));
                weights.extend(w);
                guard.push(g as u32);
                two(-(fx + g))
            })
            .collect(),
        Op::Mult => (0..l.cout)
            .map(|c| {
                let w = &l.weight[c * fan..(c + 1) * fan];
                // |q| <= 32767 and Σ|q| <= ACC_MAX / X_MAX, so |Σ x · q| < 2^31.
                let max = w.iter().fold(0f64, |m, &v| m.max((v as f64).abs()));
                let sum: f64 = w.iter().map(|&v| (v as f64).abs()).sum();
                let scale = (max / MULT_CONV_LEVELS).max(sum * X_MAX / ACC_MAX);
                let scale = if scale > 0.0 { scale } else { 1.0 };
                weights.extend(w.iter().map(|&v| (v as f64 / scale).round().clamp(-MULT_CONV_LEVELS, MULT_CONV_LEVELS) as i32));
                scale * two(-fx)
            })
            .collect(),
    };
    let (lo, hi) = match l.act {
        Act::None => (Q_MIN, Q_MAX),
        Act::Relu => (0, Q_MAX),
        Act::Relu6 => (0, (6i64 << fy).min(Q_MAX)),
        // Applied after the requantisation, by `hswish`.
        Act::Hswish => (Q_MIN, Q_MAX),
    };
    let requant: Vec<Requant16> = (0..l.cout)
        .map(|c| {
            let inv = l.bn.gamma[c] as f64 / (l.bn.var[c] as f64 + BN_EPS as f64).sqrt();
            let (a, b) = (inv * acc_scale[c] * two(fy), (l.bn.beta[c] as f64 - inv * l.bn.mean[c] as f64) * two(fy));
            channel_requant(a, b, lo, hi, l.op == Op::Add)
        })
        .collect();
    let geometry = l.geometry(input[1], input[2]);
    let taps = match l.op {
        Op::Shift => Taps::Shift { shifts: &weights, signs: &signs },
        Op::Add => Taps::Add { weights: &weights, guard: &guard },
        Op::Mult => Taps::Mult { weights: &weights },
    };
    let plan = Plan::new(&geometry, &taps);
    let g = &geometry;
    let small_pointwise = g.k == 1 && g.stride == 1 && g.pad == 0 && g.groups == 1 && g.h * g.w <= BATCH_PIXELS;
    let batched = small_pointwise.then(|| {
        let side = Geometry { h: 1, w: BATCH_IMAGES * g.h * g.w, ..*g };
        Box::new(QConv { plan: Plan::new(&side, &taps), requant: requant.clone(), batched: None })
    });
    QConv { plan, requant, batched }
}

/// Quantises `g`: each tensor's scale from its largest value over the `n` calibration images
/// (run through the f32 reference), the weights as above.
///
/// # Errors
/// [`Error::Shape`] when `calibration` is not `n >= 1` images of the model's input shape.
pub fn quantize(g: &Graph, calibration: &[f32], n: usize) -> Result<Quantized> {
    let per = g.input.iter().product::<usize>();
    if n == 0 || Some(calibration.len()) != n.checked_mul(per) {
        return Err(Error::Shape(format!("calibration: {} values for {n} images of {:?} (need n >= 1)", calibration.len(), g.input)));
    }
    let out_shapes = shapes(g)?;
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
    for (i, node) in g.nodes.iter().enumerate() {
        match *node {
            // Pooling keeps its input's scale (a mean is no larger than the values), and so does
            // squeeze-and-excitation (gates are at most 1).
            Node::AvgPool | Node::Save | Node::Se(_) => frac[i + 1] = frac[i],
            // h-swish is applied to the requantised value: with 3 in range, a value that
            // saturates had an output larger than any seen in calibration (`hswish(v) = v` for
            // `v >= 3`).
            Node::Conv(l) if g.layers[l].act == Act::Hswish => frac[i + 1] = frac_for(max[i + 1].max(3.0)),
            Node::Final => frac[i + 1] = frac_for(max[i + 1].max(3.0)),
            _ => {}
        }
    }
    let (mut convs, mut se, mut final_conv) = (vec![None; g.layers.len()], vec![None; g.se.len()], None);
    for (i, node) in g.nodes.iter().enumerate() {
        let input = if i == 0 { g.input } else { out_shapes[i - 1] };
        match *node {
            Node::Conv(l) => convs[l] = Some(qconv(&g.layers[l], input, frac[i], frac[i + 1])),
            Node::Se(j) => se[j] = Some(QSe::new(&g.se[j], frac[i])),
            Node::Final => final_conv = g.final_conv.as_ref().map(|f| QDense::new(f, 127.0, pow2(-frac[i]), frac[i + 1], 1.0, 0.0)),
            _ => {}
        }
    }
    let logit_frac = frac_for(max[g.nodes.len() + 1]).min(LOGIT_FRAC_MAX);
    let fx = frac[g.nodes.len()];
    let classifier = g.classifier.as_ref().map(|c| QDense::new(c, 127.0, pow2(-fx), logit_frac, 1.0, 0.0));
    Ok(Quantized { graph: g.clone(), frac, convs, se, final_conv, classifier, logit_frac })
}

/// One layer in integers on `x` (`[c, h, w]` at the layer's input scale), its kernels on `isa`.
pub(super) fn qforward(isa: Isa, q: &QConv, x: &[i16], scratch: &mut Vec<i16>) -> Vec<i16> {
    let plan = &q.plan;
    let p = plan.padded(x, scratch);
    let (rows, cols, pitch) = (plan.rows(), plan.cols(), plan.pitch());
    let mut y = vec![0i16; q.requant.len() * rows * cols];
    let mut acc = vec![0i32; rows * pitch];
    for (oc, y) in y.chunks_exact_mut(rows * cols).enumerate() {
        plan.accumulate(isa, p, oc, &mut acc);
        requantize(isa, &acc, pitch, y, cols, &q.requant[oc]);
    }
    y
}

impl Quantized {
    /// Fractional bits of the integer logits.
    pub fn logit_frac(&self) -> i32 {
        self.logit_frac
    }

    /// Integer logits of one image (at scale `2^-logit_frac()`), on the fastest instruction set.
    ///
    /// # Errors
    /// [`Error::Shape`] when `image` is not `c · h · w` values, [`Error::NonFinite`] on NaN/Inf.
    pub fn logits_q(&self, image: &[f32]) -> Result<Vec<i32>> {
        self.logits_q_on(Isa::best(), image)
    }

    /// [`logits_q`](Self::logits_q) with the kernels on `isa` (every set gives the same bits).
    ///
    /// # Errors
    /// As [`logits_q`](Self::logits_q).
    pub fn logits_q_on(&self, isa: Isa, image: &[f32]) -> Result<Vec<i32>> {
        Ok(self.logits_q_batch(isa, image, 1)?.pop().expect("one image"))
    }

    /// The integer logits of `n` images (`images` holds them one after another), walking the
    /// graph once for all: with `n` = [`BATCH_IMAGES`], pointwise layers on small inputs run once
    /// over the batch (the images' pixels side by side; each output sums the same terms in the
    /// same order, so the bits are those of one image at a time), the other steps image by image.
    ///
    /// # Errors
    /// [`Error::Shape`] when `images` is not `n` images, [`Error::NonFinite`] on NaN/Inf.
    pub fn logits_q_batch(&self, isa: Isa, images: &[f32], n: usize) -> Result<Vec<Vec<i32>>> {
        let g = &self.graph;
        let per = g.input.iter().product::<usize>();
        if Some(images.len()) != n.checked_mul(per) || n == 0 {
            return Err(Error::Shape(format!("an image of {:?} has {per} values; got {} for {n} images", g.input, images.len())));
        }
        if images.iter().any(|v| !v.is_finite()) {
            return Err(Error::NonFinite("the image holds NaN or Inf".into()));
        }
        let f0 = pow2(self.frac[0]);
        let mut xs: Vec<Vec<i16>> =
            images.chunks_exact(per).map(|im| im.iter().map(|&v| saturate((v as f64 * f0).round() as i64) as i16).collect()).collect();
        let mut c = g.input[0];
        let mut saved: Vec<(Vec<Vec<i16>>, i32)> = Vec::new();
        let mut scratch = Vec::new();
        for (i, node) in g.nodes.iter().enumerate() {
            let (fin, fout) = (self.frac[i], self.frac[i + 1]);
            match *node {
                Node::Conv(l) => {
                    let q = self.convs[l].as_ref().expect("every layer is quantised");
                    match q.batched.as_deref().filter(|_| n == BATCH_IMAGES) {
                        Some(b) => {
                            // [n][cin][hw] → [cin][n·hw], one pass, and back.
                            let hw = xs[0].len() / c;
                            let mut side = vec![0i16; c * n * hw];
                            for (k, x) in xs.iter().enumerate() {
                                for (ch, plane) in x.chunks_exact(hw).enumerate() {
                                    side[(ch * n + k) * hw..][..hw].copy_from_slice(plane);
                                }
                            }
                            let y = qforward(isa, b, &side, &mut scratch);
                            let cout = g.layers[l].cout;
                            for (k, x) in xs.iter_mut().enumerate() {
                                *x = (0..cout).flat_map(|ch| y[(ch * n + k) * hw..][..hw].iter().copied()).collect();
                            }
                        }
                        None => xs.iter_mut().for_each(|x| *x = qforward(isa, q, x, &mut scratch)),
                    }
                    if g.layers[l].act == Act::Hswish {
                        xs.iter_mut().for_each(|x| hswish(x, fout));
                    }
                    c = g.layers[l].cout;
                }
                Node::Se(j) => {
                    let se = self.se[j].as_ref().expect("every SE is quantised");
                    xs.iter_mut().for_each(|x| se.apply(x));
                }
                Node::Final => {
                    let f = self.final_conv.as_ref().expect("the final conv is quantised");
                    for x in xs.iter_mut() {
                        let wide: Vec<i64> = x.iter().map(|&v| v as i64).collect();
                        *x = f.apply(&wide).into_iter().map(|v| saturate(v) as i16).collect();
                        hswish(x, fout);
                    }
                    c = f.outputs;
                }
                Node::Save => saved.push((xs.clone(), fin)),
                Node::AddSaved => {
                    let (a, fa) = saved.pop().expect("shapes() checked the shortcuts");
                    for (x, a) in xs.iter_mut().zip(a) {
                        for (v, a) in x.iter_mut().zip(a) {
                            *v = saturate(shift_round(*v as i64, fin - fout) + shift_round(a as i64, fa - fout)) as i16;
                        }
                    }
                }
                Node::AvgPool => {
                    for x in xs.iter_mut() {
                        let hw = (x.len() / c) as i64;
                        *x = x
                            .chunks_exact(hw as usize)
                            .map(|p| (2 * p.iter().map(|&v| v as i64).sum::<i64>() + hw).div_euclid(2 * hw) as i16)
                            .collect();
                    }
                }
            }
        }
        let clamp32 = |v: i64| v.clamp(i32::MIN as i64, i32::MAX as i64) as i32;
        Ok(xs
            .into_iter()
            .map(|x| match (&g.classifier, &self.classifier) {
                (Some(_), Some(c)) => c.apply(&x.iter().map(|&v| v as i64).collect::<Vec<_>>()).into_iter().map(clamp32).collect(),
                // A Shift or Add classifier conv already wrote the logits at the last node's scale.
                _ => x.iter().map(|&v| clamp32(shift_round(v as i64, self.frac[g.nodes.len()] - self.logit_frac))).collect(),
            })
            .collect())
    }

    /// Seconds [`logits_q`](Self::logits_q) takes for `image`, timed by [`median_time`] on
    /// `clock`.
    ///
    /// # Errors
    /// As [`logits_q`](Self::logits_q).
    pub fn time_image(&self, image: &[f32], reps: usize, clock: Clock) -> Result<f64> {
        self.logits_q(image)?;
        Ok(median_time(reps, clock, &mut || {}, &mut || {
            std::hint::black_box(self.logits_q(std::hint::black_box(image)).ok());
        }))
    }

    /// Logits `[n, classes]` as f32 (the integer logits times their scale).
    ///
    /// # Errors
    /// As [`logits_q`](Self::logits_q).
    pub fn logits(&self, images: &[f32], n: usize) -> Result<Vec<f32>> {
        let per = self.graph.input.iter().product::<usize>();
        if Some(images.len()) != n.checked_mul(per) {
            return Err(Error::Shape(format!("{} values for {n} images of {:?}", images.len(), self.graph.input)));
        }
        let scale = 2f32.powi(-self.logit_frac);
        Ok(self.logits_q_all(images, n)?.into_iter().map(|v| v as f32 * scale).collect())
    }

    /// The integer logits `[n, classes]` of `n` images, in batches of [`BATCH_IMAGES`] (natively
    /// the batches on rayon's threads).
    fn logits_q_all(&self, images: &[f32], n: usize) -> Result<Vec<i32>> {
        let per = self.graph.input.iter().product::<usize>();
        let batches = n.div_ceil(BATCH_IMAGES);
        let rows = crate::par::map(batches, |b| {
            let (i, j) = (b * BATCH_IMAGES, ((b + 1) * BATCH_IMAGES).min(n));
            self.logits_q_batch(Isa::best(), &images[i * per..j * per], j - i)
        });
        Ok(rows.into_iter().collect::<Result<Vec<_>>>()?.concat().concat())
    }

    /// Probabilities `[n, classes]` at `1/128` through the integer Shiftmax.
    ///
    /// # Errors
    /// As [`logits_q`](Self::logits_q).
    pub fn probabilities(&self, images: &[f32], n: usize) -> Result<Vec<u8>> {
        let per = self.graph.input.iter().product::<usize>();
        if Some(images.len()) != n.checked_mul(per) {
            return Err(Error::Shape(format!("{} values for {n} images of {:?}", images.len(), self.graph.input)));
        }
        let logits = self.logits_q_all(images, n)?;
        let mut out = vec![0u8; logits.len()];
        shiftmax(&logits, self.graph.classes, 2f32.powi(-self.logit_frac), &mut out);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `clamp(round(acc · a + b), lo, hi)` in `f64`.
    fn exact(a: f64, b: f64, lo: i64, hi: i64, acc: i32) -> i64 {
        (acc as f64 * a + b).round().clamp(lo as f64, hi as f64) as i64
    }

    /// Every channel requantisation, multipliers from 2^-20 to 2^40 of either sign, biases up to
    /// 2^34, sums over all of `i32` and near the unsaturated window: within a few output units
    /// of the exact value. The 15-bit multiplier is off by at most 2^-14 relative (rounding and
    /// the clamp at 2^15 − 1). A centred channel applies it to `(acc − offset) · a`, at most
    /// about 2^16 where an output does not saturate: 4 units, plus the bias's and the result's
    /// rounding. An uncentred one (multipliers below 1/2 outside adder layers) applies it to
    /// `acc · a` itself, so its error grows with the bias it cancels, and clamps its bias to 2^29
    /// (such biases are not drawn for it).
    #[test]
    fn channel_requantisation_is_within_a_few_units_of_the_exact_value() {
        let mut rng = crate::data::Rng::new(3);
        let mut unit = || (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        let (mut wide, mut inside) = (0, 0);
        for case in 0..4000 {
            let a = pow2(-20) * 2f64.powf(60.0 * unit()) * if unit() < 0.5 { -1.0 } else { 1.0 };
            let b = (unit() - 0.5) * 2f64.powf(35.0 * unit());
            let nonpositive = unit() < 0.5;
            let centred = a.abs() >= 0.5 || (nonpositive && -b / a <= 0.0);
            if !centred && b.abs() > pow2(29) {
                continue;
            }
            let (lo, hi) = [(Q_MIN, Q_MAX), (0, Q_MAX), (0, 6 << 10)][case % 3];
            let rq = channel_requant(a, b, lo, hi, nonpositive);
            wide += usize::from(a.abs() >= 0.5);
            let centre = (-b / a).clamp(i32::MIN as f64, i32::MAX as f64);
            for k in 0..64 {
                let acc = match k % 4 {
                    0 => (unit() * 2f64.powi(32) - 2f64.powi(31)) as i32,
                    // Around the sum where the output is 0, out to beyond saturation.
                    _ => (centre + (unit() - 0.5) * 2f64.powi(18) / a.abs().max(1.0)).clamp(i32::MIN as f64, i32::MAX as f64) as i32,
                };
                let acc = if nonpositive { acc.min(0) } else { acc };
                let (got, want) = (rq.apply(acc) as i64, exact(a, b, lo, hi, acc));
                inside += usize::from(want > lo && want < hi);
                let tol = if centred { 5.0 } else { 5.0 + (acc as f64 * a).abs() * pow2(-14) };
                assert!((got - want).abs() as f64 <= tol, "a = {a}, b = {b}, acc = {acc}: {got}, exact {want} ({rq:?})");
            }
        }
        assert!(wide > 1000 && inside > 20_000, "{wide} wide channels, {inside} unsaturated outputs");
    }

    /// Multipliers of zero, NaN or infinity give the clamped bias.
    #[test]
    fn degenerate_multipliers_give_the_bias() {
        for a in [0.0, f64::NAN, f64::INFINITY] {
            let rq = channel_requant(a, 123.4, Q_MIN, Q_MAX, false);
            assert_eq!([rq.apply(i32::MIN), rq.apply(0), rq.apply(i32::MAX)], [123; 3]);
            assert_eq!(channel_requant(a, 1e12, 0, 100, true).apply(-5), 100);
        }
    }
}
