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

/// Power-of-two quantisation with a straight-through gradient (DeepShift-Q).
///
/// The forward value is exactly `sign(w) * 2^p` (no rounding error from the STE), so an
/// exported model that stores `(sign, p)` reproduces it bit for bit.
pub fn pot_quantize<const D: usize>(w: Tensor<D>, p_min: i32) -> Tensor<D> {
    let p = pot_exponent(w.clone(), p_min);
    let q = p.clone().ones_like().mul_scalar(2.0).powf(p).mul(w.clone().detach().sign());
    // q + (w - w) has the value of q and the gradient of w.
    q + (w.clone() - w.detach())
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
    fn bit_width_is_checked() {
        assert_eq!(min_exponent(5).unwrap(), -15);
        assert_eq!(min_exponent(6).unwrap(), -31);
        let e = min_exponent(1).unwrap_err().to_string();
        assert!(e.contains("weight_bits = 1") && e.contains("2..=8"), "{e}");
        assert!(min_exponent(9).is_err());
    }
}
