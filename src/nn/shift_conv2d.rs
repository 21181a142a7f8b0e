use crate::error::Result;
use crate::nn::{ShiftMode, ShiftWeight};
use crate::ops::{Conv2dGeometry, round_to_fixed};
use burn::module::Module;
use burn::tensor::{Device, Tensor};

/// Configuration of a [`ShiftConv2d`] (weights are signed powers of two: bit-shifts at inference).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ShiftConv2dConfig {
    /// `[in, out]` channels.
    pub channels: [usize; 2],
    /// Kernel `[kh, kw]`.
    pub kernel_size: [usize; 2],
    /// Stride, padding and groups.
    pub geometry: Conv2dGeometry,
    /// Weight bits (1 sign + exponent), 2..=8; Q exponents lie in `[-(2^(bits-1)-1), 0]`. Default 5.
    pub weight_bits: u32,
    /// DeepShift-Q (default) or DeepShift-PS.
    pub mode: ShiftMode,
    /// Round inputs to fixed point `[int_bits, frac_bits]` (DeepShift uses `[16, 16]`) with a
    /// straight-through gradient. Default `None` (float activations).
    pub activation_fixed_point: Option<[u32; 2]>,
}

impl ShiftConv2dConfig {
    /// A stride-1, unpadded, ungrouped DeepShift-Q config with 5-bit weights, float activations.
    pub fn new(channels: [usize; 2], kernel_size: [usize; 2]) -> Self {
        Self {
            channels,
            kernel_size,
            geometry: Conv2dGeometry { stride: [1, 1], padding: [0, 0], groups: 1 },
            weight_bits: 5,
            mode: ShiftMode::Q,
            activation_fixed_point: None,
        }
    }

    /// Checks the config and creates the layer.
    ///
    /// # Errors
    /// [`crate::Error::Config`] for a bad bit width or fixed-point format, [`crate::Error::Shape`]
    /// for channels not divisible by groups or a zero dimension.
    pub fn init(&self, device: &Device) -> Result<ShiftConv2d> {
        let [cin, cout] = self.channels;
        let g = self.geometry.groups;
        let [kh, kw] = self.kernel_size;
        // Validates groups/channels with a dummy spatial size large enough for the kernel.
        self.geometry.check([1, cin, kh, kw], [cout, cin / g.max(1), kh, kw])?;
        if let Some([i, f]) = self.activation_fixed_point {
            round_to_fixed(Tensor::<1>::zeros([1], device), i, f)?;
        }
        let weight = ShiftWeight::init([cout, cin / g, kh, kw], self.mode, self.weight_bits, device)?;
        Ok(ShiftConv2d { weight, geometry: self.geometry, activation_fixed_point: self.activation_fixed_point })
    }
}

/// Shift convolution: a conv2d whose weights are `sign · 2^p` (DeepShift-Q or -PS).
#[derive(Module, Debug)]
pub struct ShiftConv2d {
    /// The weights (Q: real weight; PS: shift and sign), `[c_out, c_in/groups, kh, kw]`.
    pub weight: ShiftWeight,
    /// Stride, padding and groups.
    #[module(skip)]
    pub geometry: Conv2dGeometry,
    /// Fixed-point rounding of the input, `[int_bits, frac_bits]`.
    #[module(skip)]
    pub activation_fixed_point: Option<[u32; 2]>,
}

impl ShiftConv2d {
    /// The power-of-two weights actually used by the forward pass.
    ///
    /// # Errors
    /// [`crate::Error::Config`] for an empty weight.
    pub fn quantized_weight(&self) -> Result<Tensor<4>> {
        self.weight.value()
    }

    /// # Shapes
    /// - `x`: `[n, c_in, h, w]` → `[n, c_out, h_out, w_out]`
    ///
    /// # Errors
    /// [`crate::Error::Shape`] when `x` does not match the layer.
    pub fn forward(&self, x: Tensor<4>) -> Result<Tensor<4>> {
        self.geometry.check(x.dims(), self.weight.dims())?;
        let x = match self.activation_fixed_point {
            Some([i, f]) => round_to_fixed(x, i, f)?,
            None => x,
        };
        Ok(crate::ops::conv::conv2d(x, self.quantized_weight()?, self.geometry))
    }
}
