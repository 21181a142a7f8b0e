//! Power-of-two (shift) weights, DeepShift-Q form, built from tensor ops (the reference).
//!
//! `pot(w) = sign(w) * 2^clamp(round(log2 |w|), p_min, 0)` with `p_min = -(2^(bits-1) - 1)`
//! (`bits = 5` gives exponents in `[-15, 0]`). The gradient is the straight-through estimator:
//! `d pot(w) / d w = 1`. A zero weight stays zero (`sign(0) = 0`).

use crate::error::{Error, Result};
use burn::tensor::Tensor;

/// Smallest and largest supported weight bit widths (1 sign bit + exponent bits).
pub const SHIFT_BITS_RANGE: std::ops::RangeInclusive<u32> = 2..=8;

/// The smallest exponent representable with `bits` weight bits: `-(2^(bits-1) - 1)`.
///
/// # Errors
/// [`Error::Config`] when `bits` is outside [`SHIFT_BITS_RANGE`].
pub fn min_exponent(bits: u32) -> Result<i32> {
    if !SHIFT_BITS_RANGE.contains(&bits) {
        return Err(Error::Config(format!(
            "weight_bits = {bits} is out of range; valid: {}..={}",
            SHIFT_BITS_RANGE.start(),
            SHIFT_BITS_RANGE.end()
        )));
    }
    Ok(-((1i32 << (bits - 1)) - 1))
}

/// The power-of-two exponent of each weight, `clamp(round(log2 |w|), p_min, 0)`, as floats.
/// No gradient flows through it.
pub fn pot_exponent<const D: usize>(w: Tensor<D>, p_min: i32) -> Tensor<D> {
    let w = w.detach();
    // ln|w| / ln 2; log(0) = -inf is clamped to p_min (the weight is zeroed by sign(0) anyway).
    w.abs().log().div_scalar(std::f32::consts::LN_2).round().clamp(p_min as f32, 0.0)
}

/// Power-of-two quantisation with a straight-through gradient (DeepShift-Q): one fused pass on
/// the CPU ([`super::pot`]), [`pot_quantize_reference`] elsewhere; the same bits either way.
///
/// The forward value is exactly `sign(w) * 2^p` (no rounding error from the STE), so an
/// exported model that stores `(sign, p)` reproduces it bit for bit.
pub fn pot_quantize<const D: usize>(w: Tensor<D>, p_min: i32) -> Tensor<D> {
    if super::pot::pot_fused(&w) {
        return super::pot::pot_quantize_fused(w, p_min);
    }
    pot_quantize_reference(w, p_min)
}

/// [`pot_quantize`] from burn's tensor ops (every device; the oracle of the fused kernel).
pub fn pot_quantize_reference<const D: usize>(w: Tensor<D>, p_min: i32) -> Tensor<D> {
    let p = pot_exponent(w.clone(), p_min);
    let q = p.clone().ones_like().mul_scalar(2.0).powf(p).mul(w.clone().detach().sign());
    // q + (w - w) has the value of q and the gradient of w.
    q + (w.clone() - w.detach())
}

/// The smallest exponent of DeepShift-PS with `bits` weight bits: `-(2^(bits-1) - 2)`
/// (`-14` for 5 bits; one code is kept for the ternary zero).
///
/// # Errors
/// [`Error::Config`] when `bits` is outside [`SHIFT_BITS_RANGE`].
pub fn ps_min_exponent(bits: u32) -> Result<i32> {
    Ok(min_exponent(bits)? + 1)
}

/// DeepShift-PS weights `2^p · s` from trainable shift `P` and sign `S` parameters:
/// `p = round(clamp(P, p_min, 0))`, `s = sign(round(S)) ∈ {-1, 0, +1}` (zero when `|S| < 0.5`).
///
/// Gradients as in DeepShift: `dL/dS = dL/dW` (straight through) and
/// `dL/dP = dL/dW · W · ln 2`.
///
/// # Errors
/// [`Error::Shape`] when `shift` and `sign` differ in shape.
pub fn ps_weight<const D: usize>(shift: Tensor<D>, sign: Tensor<D>, p_min: i32) -> Result<Tensor<D>> {
    if shift.dims() != sign.dims() {
        return Err(Error::Shape(format!("shift {:?} and sign {:?} must have the same shape", shift.dims(), sign.dims())));
    }
    let p = shift.clone().detach().clamp(p_min as f32, 0.0).round();
    let s = sign.clone().detach().round().sign();
    let w = p.clone().ones_like().mul_scalar(2.0).powf(p).mul(s);
    // Value w; gradients: 1 to `sign`, w·ln2 to `shift`.
    let grad_shift = w.clone().mul_scalar(std::f32::consts::LN_2).mul(shift.clone() - shift.detach());
    Ok(w + (sign.clone() - sign.detach()) + grad_shift)
}

/// Rounds activations to fixed point with `int_bits` integer and `frac_bits` fraction bits
/// (DeepShift: 16.16): `floor(x · 2^frac) / 2^frac`, clamped to `[-2^(int-1), 2^(int-1) - 2^-frac]`;
/// straight-through gradient.
///
/// # Errors
/// [`Error::Config`] when `int_bits` is not in 1..=24 or `frac_bits` not in 0..=24.
pub fn round_to_fixed<const D: usize>(x: Tensor<D>, int_bits: u32, frac_bits: u32) -> Result<Tensor<D>> {
    if !(1..=24).contains(&int_bits) || frac_bits > 24 {
        return Err(Error::Config(format!("fixed point {int_bits}.{frac_bits}: integer bits must be in 1..=24, fraction bits in 0..=24")));
    }
    let scale = (frac_bits as f32).exp2();
    let max = (int_bits as f32 - 1.0).exp2();
    let q = x.clone().detach().mul_scalar(scale).floor().div_scalar(scale).clamp(-max, max - 1.0 / scale);
    Ok(q + (x.clone() - x.detach()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Device, TensorData};

    fn vals(t: Tensor<1>) -> Vec<f32> {
        crate::engine::block_on(t.into_data_async()).unwrap().try_into_vec_as::<f32>().unwrap()
    }

    #[test]
    fn hand_cases_from_method_appendix_b() {
        let device = Device::flex();
        let w = Tensor::<1>::from_floats([0.3, -0.7, 1e-6, 3.0, 0.0, -0.125, 0.75], &device);
        let q = vals(pot_quantize(w, min_exponent(5).unwrap()));
        assert_eq!(q, vec![0.25, -0.5, 2f32.powi(-15), 1.0, 0.0, -0.125, 1.0]);
    }

    #[test]
    fn straight_through_gradient_is_identity() {
        let device = Device::flex().autodiff();
        let w = Tensor::<1>::from_data(TensorData::from([0.3f32, -0.7, 2.0]), &device).require_grad();
        let loss = pot_quantize(w.clone(), -15).mul(Tensor::from_floats([1.0, 2.0, 3.0], &device)).sum();
        let g = w.grad(&loss.backward()).unwrap();
        assert_eq!(vals(g), vec![1.0, 2.0, 3.0]);
    }

    #[test]
    fn deepshift_ps_hand_cases_and_gradients() {
        let device = Device::flex().autodiff();
        assert_eq!(ps_min_exponent(5).unwrap(), -14);
        // METHOD.md Appendix B: S = 0.4 → s = 0; P = -2.6 → p = -3.
        let p = Tensor::<1>::from_data(TensorData::from([-2.6f32, -2.6, -0.4, -20.0, 3.0]), &device).require_grad();
        let s = Tensor::<1>::from_data(TensorData::from([0.4f32, -0.6, 0.9, 1.0, -2.0]), &device).require_grad();
        let w = ps_weight(p.clone(), s.clone(), -14).unwrap();
        assert_eq!(vals(w.clone()), vec![0.0, -0.125, 1.0, 2f32.powi(-14), -1.0]);
        let g_up = Tensor::from_floats([1.0, 2.0, 3.0, 4.0, 5.0], &device);
        let grads = w.mul(g_up).sum().backward();
        assert_eq!(vals(s.grad(&grads).unwrap()), vec![1.0, 2.0, 3.0, 4.0, 5.0]);
        let ln2 = std::f32::consts::LN_2;
        let want = [0.0, 2.0 * -0.125 * ln2, 3.0 * ln2, 4.0 * 2f32.powi(-14) * ln2, 5.0 * -ln2];
        for (a, b) in vals(p.grad(&grads).unwrap()).iter().zip(want) {
            assert!((a - b).abs() < 1e-7, "{a} vs {b}");
        }
        let bad = ps_weight(Tensor::<1>::zeros([2], &device), Tensor::zeros([3], &device), -14);
        assert_eq!(bad.unwrap_err().code(), "SHAPE_MISMATCH");
    }

    #[test]
    fn fixed_point_rounding() {
        let device = Device::flex().autodiff();
        let x = Tensor::<1>::from_data(TensorData::from([0.30078125f32, -0.3, 1e6, -1e6, 2.75]), &device).require_grad();
        let q = round_to_fixed(x.clone(), 4, 2).unwrap();
        // 4.2 fixed point: step 0.25, range [-8, 7.75]; floor rounds towards -inf.
        assert_eq!(vals(q.clone()), vec![0.25, -0.5, 7.75, -8.0, 2.75]);
        let g = x.grad(&q.sum().backward()).unwrap();
        assert_eq!(vals(g), vec![1.0; 5]);
        let exact = round_to_fixed(Tensor::<1>::from_floats([0.1, -3.5], &Device::flex()), 16, 16).unwrap();
        assert_eq!(vals(exact), vec![(0.1f32 * 65536.0).floor() / 65536.0, -3.5]);
        assert_eq!(round_to_fixed(Tensor::<1>::zeros([1], &Device::flex()), 0, 16).unwrap_err().code(), "INVALID_CONFIG");
    }

    #[test]
    fn bit_width_is_checked() {
        assert_eq!(min_exponent(5).unwrap(), -15);
        assert_eq!(min_exponent(6).unwrap(), -31);
        let e = min_exponent(1).unwrap_err().to_string();
        assert!(e.contains("weight_bits = 1") && e.contains("2..=8"), "{e}");
        assert!(min_exponent(9).is_err());
    }
}
