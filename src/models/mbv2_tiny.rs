//! MobileNetV2-Tiny (NetAug's tiny model; METHOD.md Appendix A) with every convolution slot
//! selectable as Mult, Shift or Add. Its layers are those of the zoo's plan
//! ([`NetSpec::mbv2_tiny`]), which drives both `init` and the MAC count.

use super::NetSpec;
use crate::error::{Error, Result};
use crate::nn::{ConvKind, ConvSlot, ConvSlotConfig, ShiftMode};
use crate::ops::Conv2dGeometry;
use burn::module::{Module, ParamId};
use burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig};
use burn::tensor::activation::relu6;
use burn::tensor::module::adaptive_avg_pool2d;
use burn::tensor::{Device, Tensor};

/// One inverted-residual (MBConv) block: `kernel`, `stride`, `[in, mid, out]` channels, and
/// whether it has an identity shortcut (NetAug: stride 1, in = out, not the first block of a
/// stage).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlockSpec {
    /// Depthwise kernel size.
    pub kernel: usize,
    /// Depthwise stride.
    pub stride: usize,
    /// `[in, mid, out]` channels (1×1 expand to `mid`, depthwise, 1×1 project to `out`).
    pub channels: [usize; 3],
    /// `Some(false)`: no identity shortcut even where the shapes allow one (the first block of
    /// a stage). Absent (JSON) or `None`: a shortcut wherever stride is 1 and in = out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shortcut: Option<bool>,
    /// Activation after the expand and depthwise convs (default ReLU6).
    #[serde(default, skip_serializing_if = "Act::is_relu6")]
    pub act: Act,
    /// Squeeze-and-excitation after the depthwise conv (MobileNetV3; multiplicative).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub se: bool,
    /// Operator of the block's convs when it is not the model's (a plan with operators mixed
    /// per block): the expand and project 1×1 convs, and the depthwise conv unless `depthwise`
    /// names another. Absent: the model's `conv` (and `depthwise`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conv: Option<ConvKind>,
    /// Operator of the block's depthwise conv when it differs from the block's `conv`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub depthwise: Option<ConvKind>,
    /// The block belongs to the augmented model only (METHOD.md §5.3, depth augmentation): the
    /// tiny model skips it (identity through its shortcut, which it must have) and the
    /// augmented passes run it as a Mult block at their widths, with `channels[1]` its base
    /// middle width. The export leaves it out.
    #[serde(default, rename = "augOnly", skip_serializing_if = "std::ops::Not::not")]
    pub aug_only: bool,
}

/// An activation of the zoo's models.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Act {
    /// `min(max(x, 0), 6)`.
    #[default]
    Relu6,
    /// `max(x, 0)`.
    Relu,
    /// `x · relu6(x + 3) / 6` (MobileNetV3).
    Hswish,
    /// Identity.
    None,
}

impl Act {
    /// Applies the activation.
    pub fn apply<const D: usize>(self, x: Tensor<D>) -> Tensor<D> {
        match self {
            Act::Relu6 => relu6(x),
            Act::Relu => burn::tensor::activation::relu(x),
            Act::Hswish => x.clone().mul(hard_sigmoid(x)),
            Act::None => x,
        }
    }

    /// Whether this is the default ReLU6 (serde).
    pub fn is_relu6(&self) -> bool {
        *self == Act::Relu6
    }
}

/// `relu6(x + 3) / 6` (MobileNetV3's h-sigmoid).
pub fn hard_sigmoid<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    relu6(x.add_scalar(3.0)).div_scalar(6.0)
}

impl BlockSpec {
    /// A block with a shortcut wherever the shapes allow one (stride 1, in = out).
    pub const fn new(kernel: usize, stride: usize, i: usize, m: usize, o: usize) -> Self {
        BlockSpec {
            kernel,
            stride,
            channels: [i, m, o],
            shortcut: None,
            act: Act::Relu6,
            se: false,
            conv: None,
            depthwise: None,
            aug_only: false,
        }
    }

    /// The first block of a stage: no shortcut even when the shapes allow one.
    pub const fn stage_start(kernel: usize, stride: usize, i: usize, m: usize, o: usize) -> Self {
        BlockSpec {
            kernel,
            stride,
            channels: [i, m, o],
            shortcut: Some(false),
            act: Act::Relu6,
            se: false,
            conv: None,
            depthwise: None,
            aug_only: false,
        }
    }

    /// The same block with activation `act` and squeeze-and-excitation `se`.
    pub const fn with(self, act: Act, se: bool) -> Self {
        BlockSpec { act, se, ..self }
    }

    /// Operators `(1×1, depthwise)` of the block in a model whose operators are `conv` and
    /// `depthwise`: the block's own where it names them, by the model's rule (`depthwise`
    /// absent: the same as `conv`).
    pub fn ops(&self, conv: ConvKind, depthwise: Option<ConvKind>) -> (ConvKind, ConvKind) {
        match self.conv {
            Some(c) => (c, self.depthwise.unwrap_or(c)),
            None => (conv, self.depthwise.or(depthwise).unwrap_or(conv)),
        }
    }

    /// Whether the block adds its input to its output.
    pub fn has_shortcut(&self) -> bool {
        self.shortcut != Some(false) && self.stride == 1 && self.channels[0] == self.channels[2]
    }
}

const fn b(kernel: usize, stride: usize, i: usize, m: usize, o: usize) -> BlockSpec {
    BlockSpec::new(kernel, stride, i, m, o)
}

/// The MBConv blocks of MobileNetV2-Tiny after the stem and the depthwise-separable block,
/// including the head MBConv 56→336→112 (NetAug `tiny_mbv2`).
pub const MBV2_TINY_BLOCKS: [BlockSpec; 16] = [
    b(3, 2, 8, 48, 8),
    b(3, 1, 8, 48, 8),
    b(3, 2, 8, 48, 16),
    b(3, 1, 16, 96, 16),
    b(3, 1, 16, 96, 16),
    b(3, 2, 16, 96, 24),
    b(3, 1, 24, 144, 24),
    b(3, 1, 24, 144, 24),
    b(3, 1, 24, 144, 24),
    b(3, 1, 24, 144, 32),
    b(3, 1, 32, 192, 32),
    b(3, 1, 32, 192, 32),
    b(3, 2, 32, 192, 56),
    b(3, 1, 56, 336, 56),
    b(3, 1, 56, 336, 56),
    b(3, 1, 56, 336, 112),
];

/// Configuration of [`MobileNetV2Tiny`]. JSON field names are camelCase.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MobileNetV2TinyConfig {
    /// Input `[channels, height, width]`.
    pub input_shape: [usize; 3],
    /// Number of classes.
    pub num_classes: usize,
    /// Operator of every 1×1 and depthwise convolution and of the head conv. Default Shift.
    #[serde(default = "shift")]
    pub conv: ConvKind,
    /// Operator of the depthwise convolutions when it differs from `conv` (AddConv on depthwise
    /// layers is known to be weak; METHOD.md §2.5). Default: same as `conv`.
    #[serde(default)]
    pub depthwise: Option<ConvKind>,
    /// Stem stride: 2 as in NetAug (ImageNet sizes), 1 for 28×28 / 32×32 inputs. Default 1.
    #[serde(default = "one")]
    pub stem_stride: usize,
    /// Shift layers: DeepShift-Q (default) or -PS.
    #[serde(default)]
    pub shift_mode: ShiftMode,
}

fn shift() -> ConvKind {
    ConvKind::Shift
}

fn one() -> usize {
    1
}

/// One planned convolution: what to build and its output size.
#[derive(Debug, Clone)]
struct ConvPlan {
    slot: ConvSlotConfig,
    out_size: [usize; 2],
}

impl ConvPlan {
    fn macs(&self) -> u64 {
        let s = &self.slot;
        (self.out_size[0] * self.out_size[1] * s.channels[1] * (s.channels[0] / s.geometry.groups) * s.kernel * s.kernel) as u64
    }
}

/// Every convolution in order: stem, DS (dw, pw), then (expand, dw, project) per block, head;
/// the blocks' shortcuts and the head's width, all read from [`NetSpec::mbv2_tiny`].
struct Plan {
    convs: Vec<ConvPlan>,
    residual: Vec<bool>,
    head: usize,
}

impl MobileNetV2TinyConfig {
    /// A config with the defaults (Shift, stem stride 1).
    pub fn new(input_shape: [usize; 3], num_classes: usize) -> Self {
        Self { input_shape, num_classes, conv: ConvKind::Shift, depthwise: None, stem_stride: 1, shift_mode: ShiftMode::Q }
    }

    /// The layers of [`NetSpec::mbv2_tiny`], the architecture plan every zoo consumer reads:
    /// its stem, DS block, blocks (each block's `conv` / `depthwise` override, if any, over the
    /// config's; augmented-only blocks left out, as in the export) and head. This model has
    /// ReLU6 everywhere and no squeeze-excitation, as that spec.
    fn plan(&self) -> Result<Plan> {
        let spec = NetSpec::mbv2_tiny();
        let [c, h, w] = self.input_shape;
        super::check_classifier_config(self.input_shape, self.num_classes, self.stem_stride)?;
        let head = spec.head.ok_or_else(|| Error::Config("the MobileNetV2-Tiny spec has no head conv".into()))?;
        let dw_kind = self.depthwise.unwrap_or(self.conv);
        let mut size = [h, w];
        let mut convs = Vec::new();
        let mut push = |kind, channels: [usize; 2], kernel: usize, stride: usize, groups: usize| -> Result<()> {
            let geometry = Conv2dGeometry { stride: [stride; 2], padding: [kernel / 2; 2], groups };
            size = geometry.output_size(size, [kernel; 2])?;
            let slot = ConvSlotConfig { kind, channels, kernel, geometry, shift_mode: self.shift_mode };
            convs.push(ConvPlan { slot, out_size: size });
            Ok(())
        };
        push(ConvKind::Mult, [c, spec.stem], 3, self.stem_stride, 1)?;
        push(dw_kind, [spec.stem, spec.stem], 3, 1, spec.stem)?;
        push(self.conv, [spec.stem, spec.ds], 1, 1, 1)?;
        let mut last = spec.ds;
        let blocks: Vec<&BlockSpec> = spec.blocks.iter().filter(|b| !b.aug_only).collect();
        for blk in &blocks {
            let [i, m, o] = blk.channels;
            let (pw, dw) = (blk.conv.unwrap_or(self.conv), blk.depthwise.or(blk.conv).unwrap_or(dw_kind));
            push(pw, [i, m], 1, 1, 1)?;
            push(dw, [m, m], blk.kernel, blk.stride, m)?;
            push(pw, [m, o], 1, 1, 1)?;
            last = o;
        }
        push(self.conv, [last, head], 1, 1, 1)?;
        Ok(Plan { convs, residual: blocks.iter().map(|b| b.has_shortcut()).collect(), head })
    }

    /// Checks the config.
    ///
    /// # Errors
    /// [`Error::Config`] naming the bad value and the valid choices.
    pub fn validate(&self) -> Result<()> {
        self.plan().map(|_| ())
    }

    /// Multiply-accumulates of one forward pass for one image (convolutions + classifier;
    /// BatchNorm and pooling not counted, as in NetAug's figures).
    ///
    /// # Errors
    /// As [`validate`](Self::validate).
    pub fn macs(&self) -> Result<u64> {
        let plan = self.plan()?;
        Ok(plan.convs.iter().map(ConvPlan::macs).sum::<u64>() + (plan.head * self.num_classes) as u64)
    }

    /// Builds the model.
    ///
    /// # Errors
    /// As [`validate`](Self::validate).
    pub fn init(&self, device: &Device) -> Result<MobileNetV2Tiny> {
        let Plan { convs, residual, head } = self.plan()?;
        let mut it = convs.into_iter().map(|p| -> Result<ConvBn> {
            Ok(ConvBn { conv: p.slot.init(device)?, bn: BatchNormConfig::new(p.slot.channels[1]).init(device) })
        });
        let mut next = || it.next().expect("plan has every layer");
        let stem = next()?;
        let ds_dw = next()?;
        let ds_pw = next()?;
        let mut blocks = Vec::with_capacity(residual.len());
        for residual in residual {
            blocks.push(MbConv { expand: next()?, depthwise: next()?, project: next()?, residual });
        }
        let classifier = LinearConfig::new(head, self.num_classes).init(device);
        let head = next()?;
        Ok(MobileNetV2Tiny { stem, ds_dw, ds_pw, blocks, head, classifier, input_shape: self.input_shape })
    }
}

/// A convolution slot followed by BatchNorm.
#[derive(Module, Debug)]
pub struct ConvBn {
    /// The convolution (Mult, Shift or Add).
    pub conv: ConvSlot,
    /// BatchNorm over its output channels.
    pub bn: BatchNorm,
}

impl ConvBn {
    fn forward(&self, x: Tensor<4>, act: bool) -> Result<Tensor<4>> {
        let y = self.bn.forward(self.conv.forward(x)?);
        Ok(if act { relu6(y) } else { y })
    }
}

/// Inverted residual block: 1×1 expand (ReLU6) → k×k depthwise (ReLU6) → 1×1 project (linear).
#[derive(Module, Debug)]
pub struct MbConv {
    /// 1×1 expansion.
    pub expand: ConvBn,
    /// Depthwise convolution.
    pub depthwise: ConvBn,
    /// 1×1 projection.
    pub project: ConvBn,
    /// Identity shortcut (stride 1 and in = out).
    pub residual: bool,
}

/// MobileNetV2-Tiny; see [`MobileNetV2TinyConfig`].
#[derive(Module, Debug)]
pub struct MobileNetV2Tiny {
    /// Multiplicative 3×3 stem.
    pub stem: ConvBn,
    /// Depthwise-separable block: depthwise 3×3 ...
    pub ds_dw: ConvBn,
    /// ... and pointwise projection.
    pub ds_pw: ConvBn,
    /// MBConv blocks (the last one is the head MBConv).
    pub blocks: Vec<MbConv>,
    /// Head 1×1 convolution (112→448).
    pub head: ConvBn,
    /// Multiplicative classifier.
    pub classifier: Linear,
    /// Expected input `[c, h, w]`.
    pub input_shape: [usize; 3],
}

impl MobileNetV2Tiny {
    /// Logits.
    ///
    /// # Shapes
    /// - `x`: `[n, c, h, w]` with `[c, h, w] = input_shape` → `[n, num_classes]`
    ///
    /// # Errors
    /// [`Error::Shape`] when `x` does not match `input_shape`.
    pub fn forward(&self, x: Tensor<4>) -> Result<Tensor<2>> {
        let [n, c, h, w] = x.dims();
        if [c, h, w] != self.input_shape {
            return Err(Error::Shape(format!("model expects images {:?}, got {:?}", self.input_shape, [c, h, w])));
        }
        let x = self.stem.forward(x, true)?;
        let x = self.ds_dw.forward(x, true)?;
        let mut x = self.ds_pw.forward(x, false)?;
        for blk in &self.blocks {
            let y = blk.expand.forward(x.clone(), true)?;
            let y = blk.depthwise.forward(y, true)?;
            let y = blk.project.forward(y, false)?;
            x = if blk.residual { x + y } else { y };
        }
        let x = self.head.forward(x, true)?;
        let width = x.dims()[1];
        let pooled = adaptive_avg_pool2d(x, [1, 1]).reshape([n, width]);
        Ok(self.classifier.forward(pooled))
    }

    fn slots(&self) -> impl Iterator<Item = &ConvSlot> {
        [&self.stem, &self.ds_dw, &self.ds_pw]
            .into_iter()
            .chain(self.blocks.iter().flat_map(|b| [&b.expand, &b.depthwise, &b.project]))
            .chain([&self.head])
            .map(|cb| &cb.conv)
    }
}

impl crate::train::ImageClassifier for MobileNetV2Tiny {
    fn logits(&self, x: Tensor<4>) -> Result<Tensor<2>> {
        self.forward(x)
    }

    fn input_shape(&self) -> [usize; 3] {
        self.input_shape
    }

    fn adder_weight_ids(&self) -> Vec<ParamId> {
        self.slots().filter_map(ConvSlot::adder_weight_id).collect()
    }
}
