//! ShiftAddAug: a multiplication-free tiny net trained as the leading slice of a wider
//! multiplicative net (NetAug layout, hybrid computing, heterogeneous weight sharing).
//! METHOD.md §3–§4; every `[I]` choice there is a field of [`AugConfig`].
//!
//! - [`remap`]: the weight remaps R0–R4 (default R1);
//! - [`dyn_layers`]: sliced convolutions / BatchNorm with the hybrid pass;
//! - [`blocks`]: the dynamic MBConv, squeeze-and-excitation and sliced linear layers;
//! - [`config`]: widths of the tiny and augmented models, sampling, MAC counts;
//! - [`plan`]: the layer plan, the one walk over a supernet's layers that building, listing,
//!   exporting and costing read;
//! - [`net`]: the supernet of a tiny model spec (MobileNetV2-Tiny, MCUNet, ProxylessNAS, MobileNetV3), sampling, channel sorting
//!   and export of the static tiny model (its BatchNorms are re-estimated by [`crate::train::BnEstimator`]).

pub mod blocks;
pub mod config;
pub mod dyn_layers;
pub mod net;
pub mod plan;
pub mod remap;

pub use crate::models::NetSpec;
pub use config::{Arch, AugNetConfig};
pub use net::AugNet;
pub use remap::{FcGrad, Remap, RemapKind};

use crate::error::{Error, Result};
use crate::nn::ConvKind;

/// What the augmented pass computes (METHOD.md §3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum AugMode {
    /// Hybrid: target outputs `MF(X_t; R(W_tt)) + Mult(X_a; W_ta)`, augmented outputs Mult.
    #[default]
    H1,
    /// Hybrid, isolated target: target outputs `MF(X_t; R(W_tt))` only.
    H2,
    /// All-Mult augmented pass on the raw weights (target channels included).
    B,
    /// MF-only augmentation: the augmented channels use the MF operator too.
    MfOnly,
}

impl std::str::FromStr for AugMode {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "h1" => Ok(Self::H1),
            "h2" => Ok(Self::H2),
            "b" => Ok(Self::B),
            "mf-only" | "mfonly" => Ok(Self::MfOnly),
            _ => Err(Error::Config(format!("unknown augmentation mode {s:?}; valid: h1, h2, b, mf-only"))),
        }
    }
}

/// Which pass a forward computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pass {
    /// The deployed tiny MF model (target widths only).
    Tiny,
    /// An augmented model in the given mode.
    Aug(AugMode),
    /// A sub-network of the search space (stage 1 of METHOD.md §5.3): the MF model at other
    /// widths, computed as the tiny pass computes the tiny model but without updating BatchNorm
    /// running statistics (they belong to the tiny model).
    Sub,
}

/// Largest [`AugConfig::subnets`] accepted (each adds a pass per step at sampled widths: about
/// three direct steps for MobileNetV2-Tiny, BENCHMARKS.md).
pub const MAX_SUBNETS: usize = 8;

/// Augmentation settings (JSON camelCase). `enabled = false` trains the tiny net directly (one
/// pass per step, same supernet code, so direct and augmented runs share everything else).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct AugConfig {
    /// Train augmented models besides the tiny one.
    pub enabled: bool,
    /// Output-width factors (stem, DS block, blocks without shortcut, head); must contain 1.
    pub width_list: Vec<f32>,
    /// MBConv expand factors; must contain 1.
    pub expand_list: Vec<f32>,
    /// Augmented-pass semantics.
    pub mode: AugMode,
    /// Remap from the shared bank to MF weights.
    pub remap: RemapKind,
    /// Whether Shift layers get the Laplace remap too (else identity before PoT).
    pub remap_for_shift: bool,
    /// Whether the remap FC's gradient is the mean or the sum over the rows it transforms.
    pub remap_fc_grad: FcGrad,
    /// Weight α of the augmented loss in `L_tiny + α·L_aug`. Default 0.5: it beat METHOD.md's
    /// α = 1 for Shift on 3 000 images × 2 epochs (mean of 4 runs against 2; the spread is
    /// several points) and on one 60 000-image epoch (+0.49 pt, two seeds), and for Add on both
    /// budgets (full epoch: +0.51 pt, seed 0 only; BENCHMARKS.md).
    pub alpha: f32,
    /// Fraction of training after which widths stay at the tiny ones (expand still sampled).
    pub stop_width_aug: f32,
    /// Re-sort MBConv middle channels by importance at each epoch start while widths are augmented.
    pub sort_channels: bool,
    /// Seed of the per-step architecture sampling.
    pub seed: u64,
    /// Sub-networks of the search space trained per step besides the tiny and augmented passes
    /// (stage 1 of METHOD.md §5.3, weight sharing as Once-for-All's): each an MF model whose
    /// per-layer factors are drawn from `subnetShrink ∪ widthList` and `subnetShrink ∪
    /// expandList`, the space `search` scores with inherited weights. 0: none.
    pub subnets: usize,
    /// Narrowing factors (each in (0, 1)) of the sub-networks, besides the lists' own.
    pub subnet_shrink: Vec<f32>,
    /// Weight of each sub-network's loss.
    pub subnet_alpha: f32,
    /// Sub-networks also skip each block with a shortcut with probability 1/2 (the depth genes
    /// of `search --depth`).
    pub subnet_depth: bool,
    /// Depthwise kernel sizes (each 3, 5 or 7) the sub-networks draw each block's from, besides
    /// the block's own (Once-for-All's elastic kernel; the kernel genes of `search`). A block's
    /// depthwise bank is stored at its largest choice and a smaller kernel is its centre, read
    /// after the remap ([I]: OFA's kernel-transformation matrices are not used). The tiny and
    /// augmented passes use the spec's kernels; only sub-networks (`subnets` ≥ 1) train the
    /// others. Fixed when the model is created. Empty (default): kernels fixed by the spec.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub subnet_kernels: Vec<usize>,
    /// Multiplication-free operators (`shift`, `add`) the sub-networks draw each block's from
    /// besides its own: the block's convs all take the drawn one (the search's operator genes).
    /// Every operator reads the same bank through the layer's remap (Add with its gain,
    /// [`AugNetConfig::adder_std`](config::AugNetConfig::adder_std)); the BatchNorms are shared
    /// unless [`subnet_op_bn`](Self::subnet_op_bn). The tiny and augmented passes use the spec's
    /// operators. Empty (default): operators fixed by the spec.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub subnet_ops: Vec<ConvKind>,
    /// With [`subnet_ops`](Self::subnet_ops): each conv of a block keeps one BatchNorm (scale,
    /// shift, statistics) per operator it may run as, used wherever the layer runs as that
    /// operator (sub-networks, search candidates, their export) ([I]); false (default): the
    /// operators share the layer's BatchNorm. Fixed when the model is created, with `subnet_ops`.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub subnet_op_bn: bool,
}

/// The depthwise kernel sizes [`AugConfig::subnet_kernels`] accepts.
pub const SUBNET_KERNELS: [usize; 3] = [3, 5, 7];

impl Default for AugConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            width_list: vec![1.0, 1.8, 2.6],
            expand_list: vec![1.0, 1.6, 2.2, 2.8],
            mode: AugMode::H1,
            remap: RemapKind::R1,
            remap_for_shift: true,
            remap_fc_grad: FcGrad::Mean,
            alpha: 0.5,
            stop_width_aug: 0.5,
            sort_channels: true,
            seed: 0,
            subnets: 0,
            subnet_shrink: vec![0.5, 0.75],
            subnet_alpha: 0.5,
            subnet_depth: false,
            subnet_kernels: Vec::new(),
            subnet_ops: Vec::new(),
            subnet_op_bn: false,
        }
    }
}

impl AugConfig {
    /// Direct training of the tiny net (no augmented pass).
    pub fn direct() -> Self {
        Self { enabled: false, width_list: vec![1.0], expand_list: vec![1.0], ..Self::default() }
    }

    /// Checks the lists and numbers.
    ///
    /// # Errors
    /// [`Error::Config`] naming the bad value and what is valid.
    pub fn validate(&self) -> Result<()> {
        for (name, list) in [("widthList", &self.width_list), ("expandList", &self.expand_list)] {
            if list.is_empty() {
                return Err(Error::Config(format!("{name} is empty; give factors >= 1 including 1, e.g. [1.0, 1.8, 2.6]")));
            }
            if let Some(f) = list.iter().find(|f| !f.is_finite() || **f < 1.0) {
                return Err(Error::Config(format!("{name} has factor {f}; every factor must be >= 1 (1 is the tiny model)")));
            }
            if !list.contains(&1.0) {
                return Err(Error::Config(format!("{name} = {list:?} lacks 1.0, the tiny model's factor")));
            }
        }
        if !self.alpha.is_finite() || self.alpha < 0.0 {
            return Err(Error::Config(format!("alpha = {}; must be a finite number >= 0", self.alpha)));
        }
        if self.subnets > MAX_SUBNETS {
            return Err(Error::Config(format!("subnets = {}; must be in [0, {MAX_SUBNETS}]", self.subnets)));
        }
        if !self.enabled && self.subnets > 0 {
            return Err(Error::Config(format!(
                "subnets = {} trains sub-networks with the supernet, which direct training (enabled: false) does not have; set enabled: true or subnets: 0",
                self.subnets
            )));
        }
        if let Some(f) = self.subnet_shrink.iter().find(|f| !(**f > 0.0 && **f < 1.0)) {
            return Err(Error::Config(format!("subnetShrink has factor {f}; every factor must be in (0, 1)")));
        }
        if !self.subnet_alpha.is_finite() || self.subnet_alpha < 0.0 {
            return Err(Error::Config(format!("subnetAlpha = {}; must be a finite number >= 0", self.subnet_alpha)));
        }
        if let Some(k) = self.subnet_kernels.iter().find(|k| !SUBNET_KERNELS.contains(k)) {
            return Err(Error::Config(format!("subnetKernels has kernel size {k}; valid: {SUBNET_KERNELS:?}")));
        }
        if self.subnet_ops.contains(&ConvKind::Mult) {
            let names: Vec<String> = self.subnet_ops.iter().map(|k| format!("{k:?}").to_lowercase()).collect();
            return Err(Error::Config(format!(
                "subnetOps = [{}] has mult; valid: shift, add (the TargetNet is multiplication-free)",
                names.join(", ")
            )));
        }
        if self.subnet_op_bn && self.subnet_ops.is_empty() {
            return Err(Error::Config("subnetOpBn keeps a BatchNorm per sub-network operator; it needs subnetOps (e.g. [\"add\"])".into()));
        }
        if !(0.0..=1.0).contains(&self.stop_width_aug) {
            return Err(Error::Config(format!("stopWidthAug = {}; must be a fraction in [0, 1]", self.stop_width_aug)));
        }
        Ok(())
    }
}

/// `max(8, (v + 4) / 8 · 8)`, plus 8 when that is below 0.9·v (NetAug `make_divisible`).
pub fn make_divisible(v: f32) -> usize {
    let r = (((v + 4.0) as usize) / 8 * 8).max(8);
    if (r as f32) < 0.9 * v { r + 8 } else { r }
}
