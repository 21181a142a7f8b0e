use crate::error::{Error, Result};
use crate::nn::{AdderConv2d, AdderConv2dConfig, ShiftConv2d, ShiftConv2dConfig, ShiftMode};
use crate::ops::Conv2dGeometry;
use burn::module::{Module, ParamId};
use burn::nn::PaddingConfig2d;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::tensor::{Device, Tensor};

/// Which operator a convolution slot computes with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConvKind {
    /// Ordinary multiplicative convolution.
    Mult,
    /// Power-of-two weights (DeepShift-Q): bit-shifts at inference.
    Shift,
    /// Adder convolution (AdderNet): additions only.
    Add,
}

impl std::str::FromStr for ConvKind {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "mult" => Ok(Self::Mult),
            "shift" => Ok(Self::Shift),
            "add" | "adder" => Ok(Self::Add),
            _ => Err(Error::Config(format!("unknown conv kind {s:?}; valid: 'mult', 'shift', 'add'"))),
        }
    }
}

/// Configuration of one convolution slot.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ConvSlotConfig {
    /// The operator.
    pub kind: ConvKind,
    /// `[in, out]` channels.
    pub channels: [usize; 2],
    /// Square kernel size.
    pub kernel: usize,
    /// Stride, padding and groups.
    pub geometry: Conv2dGeometry,
    /// Shift parameterisation (used when `kind` is Shift).
    pub shift_mode: ShiftMode,
}

impl ConvSlotConfig {
    /// Creates the slot.
    ///
    /// # Errors
    /// [`Error::Shape`] / [`Error::Config`] when the geometry does not fit.
    pub fn init(&self, device: &Device) -> Result<ConvSlot> {
        let k = [self.kernel, self.kernel];
        let (mut mult, mut shift, mut add) = (None, None, None);
        match self.kind {
            ConvKind::Mult => {
                let [cin, cout] = self.channels;
                let g = self.geometry;
                g.check([1, cin, k[0], k[1]], [cout, cin / g.groups.max(1), k[0], k[1]])?;
                mult = Some(
                    Conv2dConfig::new(self.channels, k)
                        .with_stride(g.stride)
                        .with_padding(PaddingConfig2d::Explicit(g.padding[0], g.padding[1], g.padding[0], g.padding[1]))
                        .with_groups(g.groups)
                        .with_bias(false)
                        .init(device),
                )
            }
            ConvKind::Shift => {
                shift = Some(
                    ShiftConv2dConfig { geometry: self.geometry, mode: self.shift_mode, ..ShiftConv2dConfig::new(self.channels, k) }
                        .init(device)?,
                )
            }
            ConvKind::Add => {
                add = Some(AdderConv2dConfig { geometry: self.geometry, ..AdderConv2dConfig::new(self.channels, k) }.init(device)?)
            }
        }
        Ok(ConvSlot { mult, shift, add, geometry: self.geometry })
    }
}

/// A convolution computed by exactly one of Mult, Shift or Add (the other two are `None`).
#[derive(Module, Debug)]
pub struct ConvSlot {
    /// Multiplicative convolution (no bias; a BatchNorm follows).
    pub mult: Option<Conv2d>,
    /// Shift convolution.
    pub shift: Option<ShiftConv2d>,
    /// Adder convolution.
    pub add: Option<AdderConv2d>,
    /// Stride, padding and groups (the same for every kind).
    #[module(skip)]
    pub geometry: Conv2dGeometry,
}

impl ConvSlot {
    /// The operator of this slot.
    pub fn kind(&self) -> ConvKind {
        match (&self.mult, &self.shift) {
            (Some(_), _) => ConvKind::Mult,
            (_, Some(_)) => ConvKind::Shift,
            _ => ConvKind::Add,
        }
    }

    /// # Shapes
    /// - `x`: `[n, c_in, h, w]` → `[n, c_out, h_out, w_out]`
    ///
    /// # Errors
    /// [`Error::Shape`] when `x` does not fit.
    pub fn forward(&self, x: Tensor<4>) -> Result<Tensor<4>> {
        if let Some(c) = &self.mult {
            let w = c.weight.dims();
            self.geometry.check(x.dims(), w)?;
            return Ok(crate::ops::conv::conv2d(x, c.weight.val(), self.geometry));
        }
        if let Some(c) = &self.shift {
            return c.forward(x);
        }
        match &self.add {
            Some(c) => c.forward(x),
            None => Err(Error::Config("empty conv slot".into())),
        }
    }

    /// The id of the adder weight, if this slot is an adder (for AdderNet's gradient scaling).
    pub fn adder_weight_id(&self) -> Option<ParamId> {
        self.add.as_ref().map(|a| a.weight.id)
    }
}
