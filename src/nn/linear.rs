//! Multiplication-free fully-connected layers: [`ShiftLinear`] and [`AdderLinear`].

use crate::error::{Error, Result};
use crate::nn::{ShiftMode, ShiftWeight};
use crate::ops::adder_linear;
use burn::module::{Module, Param};
use burn::nn::Initializer;
use burn::tensor::{Device, Tensor};

fn check_input(x: &Tensor<2>, features: usize) -> Result<()> {
    let [n, c] = x.dims();
    if n == 0 || c != features {
        return Err(Error::Shape(format!("input [{n}, {c}]: expected [n > 0, {features}]")));
    }
    Ok(())
}

/// Configuration of a [`ShiftLinear`].
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ShiftLinearConfig {
    /// `[in, out]` features.
    pub features: [usize; 2],
    /// Weight bits, 2..=8. Default 5.
    pub weight_bits: u32,
    /// DeepShift-Q (default) or -PS.
    pub mode: ShiftMode,
}

impl ShiftLinearConfig {
    /// 5-bit DeepShift-Q.
    pub fn new(features: [usize; 2]) -> Self {
        Self { features, weight_bits: 5, mode: ShiftMode::Q }
    }

    /// Creates the layer (no bias: a BatchNorm or the loss follows).
    ///
    /// # Errors
    /// [`Error::Shape`] for a zero size, [`Error::Config`] for a bad bit width.
    pub fn init(&self, device: &Device) -> Result<ShiftLinear> {
        let [i, o] = self.features;
        Ok(ShiftLinear { weight: ShiftWeight::init([o, i, 1, 1], self.mode, self.weight_bits, device)? })
    }
}

/// `y = x · PoT(W)ᵀ`: a linear layer with power-of-two weights.
#[derive(Module, Debug)]
pub struct ShiftLinear {
    /// Weights, stored `[out, in, 1, 1]`.
    pub weight: ShiftWeight,
}

impl ShiftLinear {
    /// # Shapes
    /// - `x`: `[n, in]` → `[n, out]`
    ///
    /// # Errors
    /// [`Error::Shape`] when `x` does not have `in` features.
    pub fn forward(&self, x: Tensor<2>) -> Result<Tensor<2>> {
        let [o, i, _, _] = self.weight.dims();
        check_input(&x, i)?;
        let w = self.weight.value()?.reshape([o, i]);
        Ok(x.matmul(w.transpose()))
    }
}

/// Configuration of an [`AdderLinear`].
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AdderLinearConfig {
    /// `[in, out]` features.
    pub features: [usize; 2],
}

impl AdderLinearConfig {
    /// Creates the layer with N(0, 1) weights (AdderNet).
    ///
    /// # Errors
    /// [`Error::Shape`] for a zero size.
    pub fn init(&self, device: &Device) -> Result<AdderLinear> {
        let [i, o] = self.features;
        if i == 0 || o == 0 {
            return Err(Error::Shape(format!("features {:?} has a zero", self.features)));
        }
        Ok(AdderLinear { weight: Initializer::Normal { mean: 0.0, std: 1.0 }.init([o, i], device) })
    }
}

/// `y[n, m] = -Σ_c |x[n, c] - w[m, c]|` with AdderNet gradients. Follow it with BatchNorm.
#[derive(Module, Debug)]
pub struct AdderLinear {
    /// Weights `[out, in]`.
    pub weight: Param<Tensor<2>>,
}

impl AdderLinear {
    /// # Shapes
    /// - `x`: `[n, in]` → `[n, out]`
    ///
    /// # Errors
    /// [`Error::Shape`] when `x` does not have `in` features.
    pub fn forward(&self, x: Tensor<2>) -> Result<Tensor<2>> {
        check_input(&x, self.weight.dims()[1])?;
        adder_linear(x, self.weight.val())
    }
}
