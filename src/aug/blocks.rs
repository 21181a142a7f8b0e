//! The supernet's composite blocks: the dynamic MBConv (expand → depthwise → optional SE →
//! project), squeeze-and-excitation, the sliced multiplicative linear layer (SE, final conv,
//! Mult classifier), and the classifier itself (Mult linear, or MF 1×1 conv + BN).

use super::dyn_layers::{ConvRun, DynConvBn};
use super::make_divisible;
use super::{AugMode, Pass};
use crate::models::{Act, hard_sigmoid};
use crate::nn::permute_param;
use burn::module::{Module, Param};
use burn::nn::Initializer;
use burn::tensor::{Device, Int, Tensor};

/// A multiplicative linear layer `[max_in, max_out]` with bias, used on a leading slice.
#[derive(Module, Debug)]
pub struct DynLinear {
    /// Weight `[in, out]`.
    pub weight: Param<Tensor<2>>,
    /// Bias `[out]`.
    pub bias: Param<Tensor<1>>,
}

impl DynLinear {
    /// PyTorch's default init: uniform in `±1/√in` for weight and bias.
    pub fn new(max_in: usize, max_out: usize, device: &Device) -> Self {
        let bound = 1.0 / (max_in as f64).sqrt();
        let init = Initializer::Uniform { min: -bound, max: bound };
        Self { weight: init.init([max_in, max_out], device), bias: init.init([max_out], device) }
    }

    /// `x: [n, i]` → `[n, o]` with the leading `[i, o]` slice.
    pub fn forward(&self, x: Tensor<2>, o: usize) -> Tensor<2> {
        let i = x.dims()[1];
        let w = self.weight.val().narrow(0, 0, i).narrow(1, 0, o);
        x.matmul(w) + self.bias.val().narrow(0, 0, o).unsqueeze::<2>()
    }

    /// The static `[i, o]` slice.
    pub fn slice(&self, i: usize, o: usize) -> Self {
        Self {
            weight: Param::from_tensor(self.weight.val().narrow(0, 0, i).narrow(1, 0, o).detach()),
            bias: Param::from_tensor(self.bias.val().narrow(0, 0, o).detach()),
        }
    }
}

/// Squeeze-and-excitation (MobileNetV3): `x · hsigmoid(W₂ relu(W₁ pool(x) + b₁) + b₂)`, with a
/// hidden width of [`se_width`] of the active channels. Multiplicative in every pass.
#[derive(Module, Debug)]
pub struct DynSe {
    /// `[max_c, max_hidden]`.
    pub reduce: DynLinear,
    /// `[max_hidden, max_c]`.
    pub expand: DynLinear,
}

/// SE hidden width for `c` channels: `make_divisible(c / 4)` (torchvision's MobileNetV3).
pub fn se_width(c: usize) -> usize {
    make_divisible(c as f32 / 4.0)
}

impl DynSe {
    /// An SE over at most `max_c` channels.
    pub fn new(max_c: usize, device: &Device) -> Self {
        let h = se_width(max_c);
        Self { reduce: DynLinear::new(max_c, h, device), expand: DynLinear::new(h, max_c, device) }
    }

    /// Hidden width for `c` active channels ([`se_width`], never above the stored one:
    /// `make_divisible` is not monotone).
    fn hidden(&self, c: usize) -> usize {
        se_width(c).min(self.reduce.weight.dims()[1])
    }

    /// `x: [n, c, h, w]` gated per channel.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let [n, c, _, _] = x.dims();
        let hidden = self.hidden(c);
        let s = x.clone().mean_dim(3).mean_dim(2).reshape([n, c]);
        let z = burn::tensor::activation::relu(self.reduce.forward(s, hidden));
        let g = hard_sigmoid(self.expand.forward(z, c));
        x * g.reshape([n, c, 1, 1])
    }

    /// Reorders the gated channels by `perm` (SE rows of `reduce`, columns and bias of `expand`).
    pub fn permute(self, perm: Tensor<1, Int>) -> Self {
        let reduce = DynLinear { weight: permute_param(self.reduce.weight, 0, perm.clone()), ..self.reduce };
        let expand =
            DynLinear { weight: permute_param(self.expand.weight, 1, perm.clone()), bias: permute_param(self.expand.bias, 0, perm) };
        Self { reduce, expand }
    }

    /// The static slice for `c` channels.
    pub fn slice(&self, c: usize) -> Self {
        let h = self.hidden(c);
        Self { reduce: self.reduce.slice(c, h), expand: self.expand.slice(h, c) }
    }
}

/// Expand → depthwise → (SE) → project, each conv a dynamic conv + BN; [`AugNet::features`](super::AugNet::features)
/// runs them as the plan lists them.
#[derive(Module, Debug)]
pub struct DynMbConv {
    /// 1×1 expansion (activation of the block).
    pub expand: DynConvBn,
    /// Depthwise (activation of the block).
    pub depthwise: DynConvBn,
    /// Squeeze-and-excitation after the depthwise conv.
    pub se: Option<DynSe>,
    /// 1×1 projection (linear).
    pub project: DynConvBn,
}

impl DynMbConv {
    /// Permutes the middle channels (expand rows, depthwise channels, their BNs, SE, project
    /// columns): the block computes the same function.
    pub fn permute_mid(self, perm: Tensor<1, Int>) -> Self {
        DynMbConv {
            expand: self.expand.permute_out(perm.clone()),
            depthwise: self.depthwise.permute_out(perm.clone()),
            se: self.se.map(|s| s.permute(perm.clone())),
            project: self.project.permute_in(perm),
        }
    }

    /// Applies `f` to each conv + BN.
    pub fn map_layers(self, f: impl Fn(DynConvBn) -> DynConvBn) -> Self {
        DynMbConv { expand: f(self.expand), depthwise: f(self.depthwise), se: self.se, project: f(self.project) }
    }
}

/// The classifier on the pooled features: a Mult linear layer with bias (default), or an MF
/// (Shift / Add) 1×1 conv + BatchNorm over the classes; see `AugNetConfig::classifier`.
#[derive(Module, Debug)]
pub enum Classifier {
    /// `[max_features, classes]` linear with bias.
    Mult(DynLinear),
    /// 1×1 conv `[classes, max_features, 1, 1]` + BN over the classes, on `[n, f, 1, 1]`.
    Mf(DynConvBn),
}

impl Classifier {
    /// Number of classes.
    pub fn classes(&self) -> usize {
        match self {
            Classifier::Mult(l) => l.weight.dims()[1],
            Classifier::Mf(l) => l.conv.weight.dims()[0],
        }
    }

    /// `x: [n, a_f]` (active features, of which the leading `t_f` are the tiny ones) → logits
    /// `[n, classes]`. An MF classifier computes augmented passes under H2 as H1 (the augmented
    /// features reach the logits through Mult).
    pub fn forward(&self, x: Tensor<2>, t_f: usize, pass: Pass) -> Tensor<2> {
        let k = self.classes();
        match self {
            Classifier::Mult(l) => l.forward(x, k),
            Classifier::Mf(l) => {
                let [n, a_f] = x.dims();
                let pass = if pass == Pass::Aug(AugMode::H2) { Pass::Aug(AugMode::H1) } else { pass };
                l.forward(x.reshape([n, a_f, 1, 1]), ConvRun { t: [t_f, k], a: [a_f, k], kernel: 1, op: l.conv.kind }, pass, Act::None)
                    .reshape([n, k])
            }
        }
    }
}
