//! The integer engine's dense Mult layers (MobileNetV3's final conv, the classifier), its
//! squeeze-and-excitation and h-swish: values in `i64` with int8 weights, one requantisation
//! per output, as [`int`](super::int) does for convolutions.

use super::format::{Linear, Se};
use super::int::{MAX_FRAC, Requant, X_MAX, pow2, shift_round};

/// A dense Mult layer in integers: weights `[inputs, outputs]` of at most `levels` in magnitude
/// (one scale per output) and one requantisation per output of the `i64` sum.
#[derive(Debug, Clone)]
pub(super) struct QDense {
    pub(super) outputs: usize,
    weight: Vec<i32>,
    requant: Vec<Requant>,
}

impl QDense {
    /// `l` with weights of at most `levels` (127: int8, 32767: 16-bit), reading integers worth
    /// `in_unit` each, writing `(y · gain + offset) · 2^out_frac` for its real output `y`.
    pub(super) fn new(l: &Linear, levels: f64, in_unit: f64, out_frac: i32, gain: f64, offset: f64) -> Self {
        let scale: Vec<f64> = (0..l.classes)
            .map(|k| (0..l.features).fold(0f32, |m, f| m.max(l.weight[f * l.classes + k].abs())) as f64 / levels)
            .map(|s| if s > 0.0 { s } else { 1.0 })
            .collect();
        let weight =
            l.weight.iter().enumerate().map(|(i, &w)| (w as f64 / scale[i % l.classes]).round().clamp(-levels, levels) as i32).collect();
        let requant = (0..l.classes)
            .map(|k| Requant::new(scale[k] * in_unit * gain * pow2(out_frac), (l.bias[k] as f64 * gain + offset) * pow2(out_frac)))
            .collect();
        QDense { outputs: l.classes, weight, requant }
    }

    /// The requantised outputs for integer inputs `x`: `|x| <= 2^24` with 16-bit weights or
    /// `|x| <= 2^32` with int8, fewer than 2^23 of them, so that no sum leaves `i64`.
    pub(super) fn apply(&self, x: &[i64]) -> Vec<i64> {
        // Row by row of the weights (contiguous), all outputs' sums at once.
        let mut acc = vec![0i64; self.outputs];
        for (&v, row) in x.iter().zip(self.weight.chunks_exact(self.outputs)) {
            acc.iter_mut().zip(row).for_each(|(a, &w)| *a += v * w as i64);
        }
        acc.iter().zip(&self.requant).map(|(&a, rq)| rq.apply_wide(a)).collect()
    }
}

/// Seconds [`QDense::apply`] takes for a `features → outputs` layer with random weights and
/// inputs, timed by [`median_time`](super::timing::median_time) on `clock`.
pub(super) fn time_dense(features: usize, outputs: usize, reps: usize, clock: super::timing::Clock) -> f64 {
    let mut rng = crate::data::Rng::new(features as u64 * 131 + outputs as u64);
    let mut unit = || (rng.next_u64() >> 40) as f32 / (1u64 << 24) as f32 - 0.5;
    let l = Linear { features, classes: outputs, weight: (0..features * outputs).map(|_| unit()).collect(), bias: vec![0.0; outputs] };
    let q = QDense::new(&l, 127.0, pow2(-10), 10, 1.0, 0.0);
    let x: Vec<i64> = (0..features).map(|_| (unit() * 4096.0) as i64).collect();
    super::timing::median_time(reps, clock, &mut || {}, &mut || {
        std::hint::black_box(q.apply(std::hint::black_box(&x)));
    })
}

/// Seconds [`QSe::apply`] takes on `channels` channels of `plane` values with a `hidden`-wide
/// random block (the pooling, both FCs and the gating), timed like [`time_dense`]. Each run
/// gates a fresh copy of the same input (the copy is part of the time, one pass over it).
pub(super) fn time_se(channels: usize, hidden: usize, plane: usize, reps: usize, clock: super::timing::Clock) -> f64 {
    let mut rng = crate::data::Rng::new(channels as u64 * 977 + hidden as u64 * 7 + plane as u64);
    let mut unit = || (rng.next_u64() >> 40) as f32 / (1u64 << 24) as f32 - 0.5;
    let mut linear = |features: usize, classes: usize| Linear {
        features,
        classes,
        weight: (0..features * classes).map(|_| unit()).collect(),
        bias: (0..classes).map(|_| unit()).collect(),
    };
    let se = Se { reduce: linear(channels, hidden), expand: linear(hidden, channels) };
    let q = QSe::new(&se, 10);
    let x: Vec<i16> = (0..channels * plane).map(|_| (unit() * 4096.0) as i16).collect();
    let mut y = x.clone();
    super::timing::median_time(reps, clock, &mut || {}, &mut || {
        y.copy_from_slice(&x);
        q.apply(std::hint::black_box(&mut y));
    })
}

/// Squeeze-and-excitation in integers: the pooled means, `reduce` to a hidden layer at
/// `2^-hidden_frac` (values below 2^24), `expand` to one gate per channel at `2^-15` in
/// `[0, 2^15]` (h-sigmoid folded into its requantisation), then each value times its gate.
/// Both layers have 16-bit weights: a gate moves by a sixth of its input's error, and with int8
/// weights `squeeze_and_excitation_agrees_with_f64` fails (values off by 0.13 % and more; by 7 %
/// with weights up to 1 on activations up to 64).
#[derive(Debug, Clone)]
pub(super) struct QSe {
    reduce: QDense,
    expand: QDense,
}

/// Fractional bits of a gate.
const GATE_FRAC: i32 = 15;
/// Largest hidden value of a squeeze-and-excitation.
const HIDDEN_MAX: f64 = (1 << 24) as f64;
/// Weight magnitude of 16-bit dense layers.
pub(super) const LEVELS_16: f64 = 32767.0;

impl QSe {
    /// For an input `[c, h, w]` at `2^-fx`.
    pub(super) fn new(se: &Se, fx: i32) -> Self {
        // |pooled| <= X_MAX · 2^-fx: the hidden values' bound, with room for the weights' rounding.
        let bound = (0..se.reduce.classes)
            .map(|k| {
                let w: f64 = (0..se.reduce.features).map(|c| se.reduce.weight[c * se.reduce.classes + k].abs() as f64).sum();
                2.0 * w * X_MAX * pow2(-fx) + se.reduce.bias[k].abs() as f64
            })
            .fold(0f64, f64::max);
        let mut hidden_frac = MAX_FRAC;
        while hidden_frac > -MAX_FRAC && bound * pow2(hidden_frac) > HIDDEN_MAX {
            hidden_frac -= 1;
        }
        QSe {
            reduce: QDense::new(&se.reduce, LEVELS_16, pow2(-fx), hidden_frac, 1.0, 0.0),
            expand: QDense::new(&se.expand, LEVELS_16, pow2(-hidden_frac), GATE_FRAC, 1.0 / 6.0, 0.5),
        }
    }

    /// `x` (`[c, h, w]`) times its gates, in place, at the same scale.
    pub(super) fn apply(&self, x: &mut [i16]) {
        let hw = x.len() / self.expand.outputs;
        // Rounded to nearest, as average pooling does.
        let means: Vec<i64> =
            x.chunks_exact(hw).map(|c| (2 * c.iter().map(|&v| v as i64).sum::<i64>() + hw as i64).div_euclid(2 * hw as i64)).collect();
        let hidden: Vec<i64> = self.reduce.apply(&means).into_iter().map(|v| v.clamp(0, HIDDEN_MAX as i64)).collect();
        for (c, gate) in x.chunks_exact_mut(hw).zip(self.expand.apply(&hidden)) {
            let gate = gate.clamp(0, 1 << GATE_FRAC);
            c.iter_mut().for_each(|v| *v = shift_round(*v as i64 * gate, GATE_FRAC) as i16);
        }
    }
}

/// `hswish(v) = v · relu6(v + 3) / 6` of 16-bit values at `2^-f` (`f <= 13`, so that 3 and 6
/// are representable), rounded to nearest, in place.
pub(super) fn hswish(x: &mut [i16], f: i32) {
    let (three, six) = (3i64 << f, 6i64 << f);
    for v in x {
        let p = *v as i64 * (*v as i64 + three).clamp(0, six);
        // floor((2p + 6·2^f) / (12·2^f)) as a floor shift then a floor division by the constant
        // 3 (nested floors compose), which compiles to a multiplication: no division per value.
        *v = ((2 * p + six) >> (f + 2)).div_euclid(3) as i16;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Rng;

    fn uniform(rng: &mut Rng, n: usize, lo: f32, hi: f32) -> Vec<f32> {
        (0..n).map(|_| lo + (hi - lo) * (rng.next_u64() >> 40) as f32 / (1u64 << 24) as f32).collect()
    }

    /// Weights of a trained layer's spread: uniform within `±1/√features`.
    fn linear(rng: &mut Rng, features: usize, classes: usize) -> Linear {
        let a = 1.0 / (features as f32).sqrt();
        Linear { features, classes, weight: uniform(rng, features * classes, -a, a), bias: uniform(rng, classes, -1.0, 1.0) }
    }

    fn dense_f64(l: &Linear, x: &[f64]) -> Vec<f64> {
        (0..l.classes)
            .map(|k| l.bias[k] as f64 + x.iter().enumerate().map(|(f, v)| v * l.weight[f * l.classes + k] as f64).sum::<f64>())
            .collect()
    }

    /// Every 16-bit value: within half a unit of `hswish` of its real value.
    #[test]
    fn hswish_rounds_to_nearest() {
        for f in [4, 10, 13] {
            let mut x: Vec<i16> = (i16::MIN..=i16::MAX).collect();
            hswish(&mut x, f);
            for (v, q) in (i16::MIN..=i16::MAX).zip(x) {
                let r = v as f64 / pow2(f);
                let want = r * (r + 3.0).clamp(0.0, 6.0) / 6.0 * pow2(f);
                assert!((q as f64 - want).abs() <= 0.5, "f {f}, {v}: {q} against {want}");
            }
        }
    }

    /// An int8 dense layer on random inputs: within the weights' rounding (half a step of
    /// `max |w| / 127` per term) plus one output unit.
    #[test]
    fn dense_agrees_with_f64() {
        let mut rng = Rng::new(7);
        for (features, classes, fx, fy) in [(8, 3, 12, 10), (336, 40, 9, 11), (5, 17, 14, 6)] {
            let l = linear(&mut rng, features, classes);
            let q = QDense::new(&l, 127.0, pow2(-fx), fy, 1.0, 0.0);
            let x: Vec<i64> = uniform(&mut rng, features, -30000.0, 30000.0).iter().map(|&v| v as i64).collect();
            let real: Vec<f64> = x.iter().map(|&v| v as f64 * pow2(-fx)).collect();
            let bound = real.iter().map(|v| v.abs()).sum::<f64>() * 0.5 / 127.0 * pow2(fy) + 1.0;
            for (k, (got, want)) in q.apply(&x).into_iter().zip(dense_f64(&l, &real)).enumerate() {
                assert!(
                    (got as f64 - want * pow2(fy)).abs() <= bound,
                    "{features}→{classes}, output {k}: {got} against {}",
                    want * pow2(fy)
                );
            }
        }
    }

    /// Squeeze-and-excitation on random activations in `[−2^15, 2^15)` at their scale (values
    /// up to 4, 16 and 64): each value times its gate within 0.1 % of the f64 gate plus one unit.
    #[test]
    fn squeeze_and_excitation_agrees_with_f64() {
        let mut rng = Rng::new(11);
        for (c, hidden, hw, fx) in [(16, 8, 49, 13), (40, 16, 4, 11), (8, 8, 1, 9), (120, 32, 16, 11)] {
            let se = Se { reduce: linear(&mut rng, c, hidden), expand: linear(&mut rng, hidden, c) };
            let q = QSe::new(&se, fx);
            let x: Vec<i16> = uniform(&mut rng, c * hw, -32768.0, 32767.0).iter().map(|&v| v as i16).collect();
            let mut got = x.clone();
            q.apply(&mut got);
            let real: Vec<f64> = x.iter().map(|&v| v as f64 * pow2(-fx)).collect();
            let pooled: Vec<f64> = real.chunks_exact(hw).map(|p| p.iter().sum::<f64>() / hw as f64).collect();
            let z: Vec<f64> = dense_f64(&se.reduce, &pooled).into_iter().map(|v| v.max(0.0)).collect();
            let gates: Vec<f64> = dense_f64(&se.expand, &z).into_iter().map(|v| (v + 3.0).clamp(0.0, 6.0) / 6.0).collect();
            for (i, (&g, &v)) in got.iter().zip(&x).enumerate() {
                let want = v as f64 * gates[i / hw];
                assert!((g as f64 - want).abs() <= 0.001 * (v as f64).abs() + 1.0, "c {c}, value {i}: {g} against {want}");
            }
        }
    }
}
