use crate::error::{Error, Result};
use crate::ops::{min_exponent, pot_quantize, ps_min_exponent, ps_weight};
use burn::module::{Module, Param};
use burn::nn::Initializer;
use burn::tensor::{Device, Tensor};

/// How shift weights are parameterised (DeepShift).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ShiftMode {
    /// DeepShift-Q: a real weight rounded to `sign · 2^p` (STE). The form weight sharing needs.
    #[default]
    Q,
    /// DeepShift-PS: trainable shift `P` and sign `S` (ternary sign); direct-training baseline.
    Ps,
}

/// The weights of a shift layer, stored `[out, in/groups, kh, kw]` (linear layers use `kh = kw = 1`).
#[derive(Module, Debug)]
pub struct ShiftWeight {
    /// Real weight (mode Q).
    pub weight: Option<Param<Tensor<4>>>,
    /// Shift parameter `P` (mode PS).
    pub shift: Option<Param<Tensor<4>>>,
    /// Sign parameter `S` (mode PS).
    pub sign: Option<Param<Tensor<4>>>,
    /// Smallest exponent.
    pub p_min: i32,
}

impl ShiftWeight {
    /// Q: kaiming-uniform weights (`a = √5`, as DeepShift); PS: `P ~ U(-10, -1)`, `S ~ U(-1, 1)`.
    ///
    /// # Errors
    /// [`Error::Config`] for a bit width outside 2..=8.
    pub fn init(shape: [usize; 4], mode: ShiftMode, bits: u32, device: &Device) -> Result<Self> {
        if shape.contains(&0) {
            return Err(Error::Shape(format!("weight shape {shape:?} has a zero dimension")));
        }
        Ok(match mode {
            ShiftMode::Q => {
                let fan_in = shape[1] * shape[2] * shape[3];
                let w = Initializer::KaimingUniform { gain: 1.0 / 3f64.sqrt(), fan_out_only: false }.init_with(
                    shape,
                    Some(fan_in),
                    None,
                    device,
                );
                Self { weight: Some(w), shift: None, sign: None, p_min: min_exponent(bits)? }
            }
            ShiftMode::Ps => Self {
                weight: None,
                shift: Some(Initializer::Uniform { min: -10.0, max: -1.0 }.init(shape, device)),
                sign: Some(Initializer::Uniform { min: -1.0, max: 1.0 }.init(shape, device)),
                p_min: ps_min_exponent(bits)?,
            },
        })
    }

    /// The parameterisation in use.
    pub fn mode(&self) -> ShiftMode {
        if self.weight.is_some() { ShiftMode::Q } else { ShiftMode::Ps }
    }

    /// Stored shape `[out, in/groups, kh, kw]`.
    pub fn dims(&self) -> [usize; 4] {
        match (&self.weight, &self.shift) {
            (Some(w), _) => w.dims(),
            (_, Some(p)) => p.dims(),
            _ => [0; 4],
        }
    }

    /// The power-of-two weights the forward pass uses (with the mode's gradients).
    ///
    /// # Errors
    /// [`Error::Config`] for an empty `ShiftWeight`.
    pub fn value(&self) -> Result<Tensor<4>> {
        match (&self.weight, &self.shift, &self.sign) {
            (Some(w), _, _) => Ok(pot_quantize(w.val(), self.p_min)),
            (None, Some(p), Some(s)) => ps_weight(p.val(), s.val(), self.p_min),
            _ => Err(Error::Config("shift weight has neither a weight (Q) nor shift and sign (PS)".into())),
        }
    }
}
