//! Shiftmax: an integer-only softmax for the deployed model's probabilities (I-ViT, Li & Gu,
//! ICCV 2023; METHOD.md §2.6). The exponential is computed with shifts and additions only; the
//! normaliser is one integer division per row and one integer product per class, so the MF
//! layers before it stay multiplication-free.
//!
//! In METHOD terms, for logits `z = I · S` (integers `I` at a float scale `S`):
//! 1. `I ← I − max(I)` (every value ≤ 0).
//! 2. **ShiftExp** approximates `e^(I·S) = 2^(I·S·log2 e)`: `I_p = I + (I >> 1) − (I >> 4)`
//!    (`× 1.4375 ≈ log2 e`); with `x0 = ⌊−1/S⌋` (the integer for −1 in base-2 exponent units,
//!    negative), `I_p = max(I_p, n·x0)`, `q = I_p / x0` (the integer part of the exponent, ≥ 0),
//!    `r = I_p − q·x0 ∈ (x0, 0]` (the fraction), and `2^(r/x0) ≈ 1 + r/(2·|x0|)` (linear) gives
//!    `exp = ⌊(r/2 − x0) · 2^(n − q)⌋` at scale `S / 2^n`. Here `n` = [`SHIFT_EXP_BITS`].
//! 3. `out = ⌊exp · ⌊(2^31 − 1) / Σ exp⌋ / 2^(32 − b)⌋` with `b` = 8 output bits: probabilities
//!    as integers at scale `1 / 2^(b−1)` (0 ..= 128 for 8 bits, so a `u8`).
//!
//! Against the float softmax ([`softmax_f32`], kept for comparison), on random rows of 10 logits:
//! max abs error 0.038 at `S` = 1/16, 0.026 at 1/64, 0.031 at 1/1024 (tests below); ShiftExp
//! alone is within 12 % of `e^x` relative down to `e^-8`.

/// `n` of ShiftExp: its output scale is `S / 2^n` (I-ViT's PyTorch code uses 15).
pub const SHIFT_EXP_BITS: u32 = 15;

/// Output bits `b`: probabilities at scale `1 / 2^(b − 1)`.
pub const SHIFTMAX_OUTPUT_BITS: u32 = 8;

/// The scale of [`shiftmax`]'s outputs: `out · SHIFTMAX_SCALE` is a probability.
pub const SHIFTMAX_SCALE: f32 = 1.0 / (1u32 << (SHIFTMAX_OUTPUT_BITS - 1)) as f32;

/// `x0 = ⌊−1/S⌋` for a logit scale `S`, or `None` when `S` is not in `(0, 1]` or `x0` would not
/// fit the integer range ShiftExp needs (`|x0| ≤ 2^15`, so `exp` stays below `2^31`).
pub fn shift_exp_x0(scale: f32) -> Option<i64> {
    if !(scale > 0.0 && scale <= 1.0) {
        return None;
    }
    let x0 = (-1.0 / scale as f64).floor() as i64;
    (x0 >= -(1 << 15)).then_some(x0)
}

/// ShiftExp of `i ≤ 0` with `x0` from [`shift_exp_x0`]: `≈ e^(i·S) · 2^n`, in `[0, −x0 · 2^n]`.
#[inline]
pub fn shift_exp(i: i64, x0: i64) -> i64 {
    let n = SHIFT_EXP_BITS as i64;
    let ip = (i + (i >> 1) - (i >> 4)).max(n * x0);
    let q = ip / x0; // Both ≤ 0 (x0 < 0): a non-negative quotient, truncation = floor.
    let r = ip - q * x0;
    // ⌊(r/2 − x0) · 2^(n − q)⌋ exactly, with 0 ≤ q ≤ n.
    ((r - 2 * x0) << (n - q)) >> 1
}

/// Integer-only softmax of each row of `logits` (`rows × classes`, integers at scale `scale`):
/// probabilities at [`SHIFTMAX_SCALE`], written to `out`.
///
/// # Panics
/// When `out.len() != logits.len()`, `classes` is 0 or does not divide `logits.len()`, or
/// `scale` has no [`shift_exp_x0`] (callers validate: the engine picks the scale).
pub fn shiftmax(logits: &[i32], classes: usize, scale: f32, out: &mut [u8]) {
    assert!(classes > 0 && logits.len().is_multiple_of(classes) && out.len() == logits.len(), "shiftmax: shapes");
    let x0 = shift_exp_x0(scale).expect("shiftmax: scale in (0, 1] with |⌊−1/S⌋| ≤ 2^15");
    let mut exp = vec![0i64; classes];
    for (row, o) in logits.chunks_exact(classes).zip(out.chunks_exact_mut(classes)) {
        let max = *row.iter().max().expect("classes > 0") as i64;
        for (e, &v) in exp.iter_mut().zip(row) {
            *e = shift_exp(v as i64 - max, x0);
        }
        let sum = exp.iter().sum::<i64>().clamp(1, i32::MAX as i64);
        let factor = i32::MAX as i64 / sum;
        for (o, &e) in o.iter_mut().zip(&exp) {
            *o = ((e * factor) >> (32 - SHIFTMAX_OUTPUT_BITS)) as u8;
        }
    }
}

/// Float softmax of each row (`rows × classes`), for comparison with [`shiftmax`].
pub fn softmax_f32(logits: &[f32], classes: usize) -> Vec<f32> {
    let mut out = Vec::with_capacity(logits.len());
    for row in logits.chunks_exact(classes) {
        let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let e: Vec<f32> = row.iter().map(|v| (v - max).exp()).collect();
        let sum: f32 = e.iter().sum();
        out.extend(e.iter().map(|v| v / sum));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Seeded uniform floats in `[lo, hi)`.
    fn uniform(seed: &mut u64, n: usize, lo: f32, hi: f32) -> Vec<f32> {
        (0..n)
            .map(|_| {
                *seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
                lo + (*seed >> 40) as f32 / (1u64 << 24) as f32 * (hi - lo)
            })
            .collect()
    }

    /// The largest |Shiftmax − softmax| over random rows of 10 logits in `[−spread, spread]`,
    /// quantised at `scale`.
    fn max_error(scale: f32, spread: f32, rows: usize) -> f32 {
        let mut seed = 7;
        let z = uniform(&mut seed, rows * 10, -spread, spread);
        let ints: Vec<i32> = z.iter().map(|v| (v / scale).round() as i32).collect();
        let want = softmax_f32(&z, 10);
        let mut got = vec![0u8; ints.len()];
        shiftmax(&ints, 10, scale, &mut got);
        got.iter().zip(&want).map(|(&g, &w)| (g as f32 * SHIFTMAX_SCALE - w).abs()).fold(0.0, f32::max)
    }

    #[test]
    fn shift_exp_follows_the_exponential() {
        // e^(i·S) · 2^n within 13 % relative down to e^-8 (measured: ≤ 12.0 % at scale 1/16,
        // 9.8 % at 1/64, 9.2 % at 1/1024: I-ViT's linear fraction and 1.4375 for log2 e); never
        // negative and never above e^0.
        for scale in [1.0 / 16.0, 1.0 / 64.0, 1.0 / 1024.0] {
            let x0 = shift_exp_x0(scale).unwrap();
            let one = (1i64 << SHIFT_EXP_BITS) as f64;
            let mut i = 0i64;
            while (i as f64) * (scale as f64) > -8.0 {
                let got = shift_exp(i, x0) as f64 / (one * -x0 as f64);
                let want = (i as f64 * scale as f64).exp();
                assert!((0.0..=1.0 + 1e-9).contains(&got), "scale {scale} i {i}: {got}");
                assert!((got - want).abs() <= 0.13 * want + 1e-4, "scale {scale} i {i}: {got} vs {want}");
                i -= 1 + (i.unsigned_abs() as i64) / 50;
            }
        }
    }

    #[test]
    fn shiftmax_is_close_to_softmax() {
        // Measured over 2 000 rows of 10 logits: ≤ 0.038 at scale 1/16, ≤ 0.026 at 1/64, ≤ 0.031 at
        // 1/1024 (ShiftExp's error plus the 8-bit output's truncation, steps of 1/128).
        for (scale, bound) in [(1.0 / 16.0, 0.04), (1.0 / 64.0, 0.03), (1.0 / 1024.0, 0.035)] {
            for spread in [1.0, 4.0, 12.0] {
                let e = max_error(scale, spread, 2000);
                assert!(e <= bound, "scale {scale} spread {spread}: max abs error {e} > {bound}");
            }
        }
    }

    #[test]
    fn shiftmax_rows_sum_to_about_one_and_keep_the_argmax() {
        let mut seed = 3;
        let z = uniform(&mut seed, 500 * 10, -6.0, 6.0);
        let scale = 1.0 / 256.0;
        let ints: Vec<i32> = z.iter().map(|v| (v / scale).round() as i32).collect();
        let mut p = vec![0u8; ints.len()];
        shiftmax(&ints, 10, scale, &mut p);
        for (row, zr) in p.chunks(10).zip(z.chunks(10)) {
            let sum: u32 = row.iter().map(|&v| v as u32).sum();
            assert!((118..=128).contains(&sum), "row sums to {sum}/128");
            let top = |v: &[f32]| v.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).unwrap().0;
            let pf: Vec<f32> = row.iter().map(|&v| v as f32).collect();
            let (ti, tz) = (top(&pf), top(zr));
            // Ties in 8 bits may pick another index; its logit is then within rounding of the top.
            assert!(ti == tz || row[ti] == row[tz], "argmax {ti} vs {tz}");
        }
    }

    #[test]
    fn extreme_inputs_stay_in_range() {
        let scale = 1.0 / 128.0;
        let ints = [i32::MIN, 0, i32::MAX, 5, -5, 0, 0, 0, 0, 0];
        let mut p = [0u8; 10];
        shiftmax(&ints, 10, scale, &mut p);
        // The clamped classes keep ShiftExp's floor `−x0` (2^-15 of the top): 127, not 128.
        assert!(p[2] >= 127, "{p:?}");
        assert!(p.iter().enumerate().all(|(i, &v)| i == 2 || v == 0), "{p:?}");
        assert_eq!(shift_exp_x0(0.0), None);
        assert_eq!(shift_exp_x0(2.0), None);
        assert_eq!(shift_exp_x0(1e-6), None);
        assert_eq!(shift_exp_x0(f32::NAN), None);
    }
}
