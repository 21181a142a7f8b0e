use crate::error::Result;
use crate::ops::{Conv2dGeometry, adder_conv2d};
use burn::module::{Module, Param};
use burn::nn::Initializer;
use burn::tensor::{Device, Tensor};

/// Configuration of an [`AdderConv2d`].
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AdderConv2dConfig {
    /// `[in, out]` channels.
    pub channels: [usize; 2],
    /// Kernel `[kh, kw]`.
    pub kernel_size: [usize; 2],
    /// Stride, padding and groups.
    pub geometry: Conv2dGeometry,
}

impl AdderConv2dConfig {
    /// A stride-1, unpadded, ungrouped config.
    pub fn new(channels: [usize; 2], kernel_size: [usize; 2]) -> Self {
        Self { channels, kernel_size, geometry: Conv2dGeometry { stride: [1, 1], padding: [0, 0], groups: 1 } }
    }

    /// Checks the config and creates the layer with N(0, 1) weights (as the AdderNet code:
    /// a small kaiming-scaled init collapses the features of deep adder nets, METHOD.md §2.4).
    ///
    /// # Errors
    /// [`crate::Error::Shape`] for channels not divisible by groups or a zero dimension.
    pub fn init(&self, device: &Device) -> Result<AdderConv2d> {
        let [cin, cout] = self.channels;
        let g = self.geometry.groups;
        let [kh, kw] = self.kernel_size;
        self.geometry.check([1, cin, kh, kw], [cout, cin / g.max(1), kh, kw])?;
        let weight = Initializer::Normal { mean: 0.0, std: 1.0 }.init([cout, cin / g, kh, kw], device);
        Ok(AdderConv2d { weight, geometry: self.geometry })
    }
}

/// Adder convolution `y = -Σ|patch(x) - w|` (AdderNet) with AdderNet's gradients. Always
/// follow it with BatchNorm: its outputs are ≤ 0 and large in magnitude.
#[derive(Module, Debug)]
pub struct AdderConv2d {
    /// Weights `[c_out, c_in/groups, kh, kw]`.
    pub weight: Param<Tensor<4>>,
    /// Stride, padding and groups.
    #[module(skip)]
    pub geometry: Conv2dGeometry,
}

impl AdderConv2d {
    /// # Shapes
    /// - `x`: `[n, c_in, h, w]` → `[n, c_out, h_out, w_out]`
    ///
    /// # Errors
    /// [`crate::Error::Shape`] when `x` does not match the layer.
    pub fn forward(&self, x: Tensor<4>) -> Result<Tensor<4>> {
        adder_conv2d(x, self.weight.val(), self.geometry)
    }
}
