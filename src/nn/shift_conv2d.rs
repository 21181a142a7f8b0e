use crate::error::Result;
use crate::ops::{Conv2dGeometry, min_exponent, pot_quantize};
use burn::module::{Module, Param};
use burn::nn::Initializer;
use burn::tensor::module::conv2d;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Device, Tensor};

/// Configuration of a [`ShiftConv2d`] (DeepShift-Q: real weights rounded to signed powers of two).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ShiftConv2dConfig {
    /// `[in, out]` channels.
    pub channels: [usize; 2],
    /// Kernel `[kh, kw]`.
    pub kernel_size: [usize; 2],
    /// Stride, padding and groups.
    pub geometry: Conv2dGeometry,
    /// Weight bits (1 sign + exponent); exponents lie in `[-(2^(bits-1)-1), 0]`. Default 5.
    pub weight_bits: u32,
}

impl ShiftConv2dConfig {
    /// A stride-1, unpadded, ungrouped config with 5-bit weights.
    pub fn new(channels: [usize; 2], kernel_size: [usize; 2]) -> Self {
        Self {
            channels,
            kernel_size,
            geometry: Conv2dGeometry { stride: [1, 1], padding: [0, 0], groups: 1 },
            weight_bits: 5,
        }
    }

    /// Checks the config and creates the layer with kaiming-uniform weights (`a = √5`, as DeepShift).
    ///
    /// # Errors
    /// [`crate::Error::Config`] for a bad bit width, [`crate::Error::Shape`] for channels not
    /// divisible by groups or a zero dimension.
    pub fn init(&self, device: &Device) -> Result<ShiftConv2d> {
        let p_min = min_exponent(self.weight_bits)?;
        let [cin, cout] = self.channels;
        let g = self.geometry.groups;
        let [kh, kw] = self.kernel_size;
        // Validates groups/channels with a dummy spatial size large enough for the kernel.
        self.geometry.check([1, cin, kh, kw], [cout, cin / g.max(1), kh, kw])?;
        let fan_in = cin / g * kh * kw;
        let shape = [cout, cin / g, kh, kw];
        let weight = Initializer::KaimingUniform { gain: 1.0 / 3f64.sqrt(), fan_out_only: false }
            .init_with(shape, Some(fan_in), None, device);
        Ok(ShiftConv2d { weight, geometry: self.geometry, p_min })
    }
}

/// Shift convolution: a conv2d whose weights are `sign(w)·2^p` (DeepShift-Q), with a
/// straight-through gradient to the real weight `w`.
#[derive(Module, Debug)]
pub struct ShiftConv2d {
    /// Real weights `[c_out, c_in/groups, kh, kw]`; the forward uses their power-of-two rounding.
    pub weight: Param<Tensor<4>>,
    /// Stride, padding and groups.
    #[module(skip)]
    pub geometry: Conv2dGeometry,
    /// Smallest exponent (`-15` for 5 bits).
    pub p_min: i32,
}

impl ShiftConv2d {
    /// The power-of-two weights actually used by the forward pass.
    pub fn quantized_weight(&self) -> Tensor<4> {
        pot_quantize(self.weight.val(), self.p_min)
    }

    /// # Shapes
    /// - `x`: `[n, c_in, h, w]` → `[n, c_out, h_out, w_out]`
    ///
    /// # Errors
    /// [`crate::Error::Shape`] when `x` does not match the layer.
    pub fn forward(&self, x: Tensor<4>) -> Result<Tensor<4>> {
        let w = self.weight.val();
        self.geometry.check(x.dims(), w.dims())?;
        let g = self.geometry;
        Ok(conv2d(x, self.quantized_weight(), None, ConvOptions::new(g.stride, g.padding, [1, 1], g.groups)))
    }
}
