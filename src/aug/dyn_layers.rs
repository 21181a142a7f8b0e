//! NetAug dynamic layers with ShiftAddAug's hybrid computing (METHOD.md §3.1–§3.2).
//!
//! Every tensor is stored at the largest augmented width; a pass uses its leading slice. In a
//! convolution, channels `[0, t)` are the target (tiny, MF) channels and `[t, a)` the augmented
//! (multiplicative) ones. MF operators always consume the remapped slice `R(W)`.

use super::remap::{Remap, RemapKind};
use super::{AugMode, Pass};
use crate::nn::{ConvKind, DynBn, permute_param};
use crate::ops::fused::adder_grad_scale;
use crate::ops::{Conv2dGeometry, adder_conv2d, min_exponent, pot_quantize};
use burn::module::{Module, Param};
use burn::nn::Initializer;
use burn::tensor::{Device, Int, Tensor};

/// Weight bits of shift layers under sharing (DeepShift-Q, exponents in [-15, 0]).
pub const SHARED_SHIFT_BITS: u32 = 5;

/// A convolution whose weight bank `[max_out, max_in / groups, k, k]` (depthwise:
/// `[max_c, 1, k, k]`) is shared by the tiny and the augmented passes.
#[derive(Module, Debug)]
pub struct DynConv {
    /// The shared raw (multiplicative-domain) weights, kaiming-uniform.
    pub weight: Param<Tensor<4>>,
    /// The remap applied wherever an MF operator consumes the weights.
    pub remap: Remap,
    /// Operator of the target channels (Mult for the stem).
    #[module(skip)]
    pub kind: ConvKind,
    /// Square kernel size.
    #[module(skip)]
    pub kernel: usize,
    /// Stride.
    #[module(skip)]
    pub stride: usize,
    /// Depthwise (groups = channels) or dense.
    #[module(skip)]
    pub depthwise: bool,
    /// AdderNet gradient scaling η of the MF weight (Add layers); the trainer sets it from
    /// [`TrainConfig::adder_eta`](crate::train::TrainConfig::adder_eta) (0.2 at init, its default).
    #[module(skip)]
    pub adder_eta: Option<f32>,
    /// Add layers consume `adder_gain · R(W)` (1 = as stored); see [`adder_gain`]. Set for every
    /// operator, so that a sub-network may run the layer as Add
    /// ([`AugConfig::subnet_ops`](super::AugConfig::subnet_ops)).
    #[module(skip)]
    pub adder_gain: f32,
    /// The adder weights' std at init that `adder_gain` gives (1 when the weights are used as stored).
    #[module(skip)]
    pub adder_std: f32,
}

/// The gain that gives an adder fed by a kaiming-uniform bank (std `1/√(3·fan_in)`) weights of
/// standard deviation `std` at init.
///
/// Why (METHOD.md §2.4, measured on MobileNetV2-Tiny): `−Σ|x − w|` with `|w|` small against the
/// unit-scale post-BN inputs is dominated by the common mode `−Σ|x|`, the same in every output
/// channel. Through depth the channels collapse onto one direction: at std 0.3 the pooled features
/// of the 50-adder net are perfectly correlated (mean |corr| 1.00), at std 1 (AdderNet's N(0, 1))
/// still 0.70 and no linear probe fits them; at std 3–10 they decorrelate (0.08, like Mult's 0.15),
/// because with `|w| ≫ |x|` an adder acts as `−Σ|w| + Σ sign(w)·x`, a ±1-weight linear map.
pub fn adder_gain(fan_in: usize, std: f32) -> f32 {
    std * (3.0 * fan_in as f32).sqrt()
}

/// How a pass runs a [`DynConv`]: the target (tiny) widths `t = [t_in, t_out]`, the active
/// widths `a = [a_in, a_out]` (depthwise: in = out), the kernel (odd, at most the bank's; a
/// smaller one is the bank's centre, padding `kernel / 2`) and the operator of the target
/// channels (the layer's own [`kind`](DynConv::kind), or another one a sub-network draws).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConvRun {
    /// Target widths.
    pub t: [usize; 2],
    /// Active widths.
    pub a: [usize; 2],
    /// Kernel size.
    pub kernel: usize,
    /// Operator of the target channels.
    pub op: ConvKind,
}

impl DynConv {
    /// A dense (`depthwise = false`) or depthwise layer with the largest widths `[max_in, max_out]`;
    /// run as Add, it applies [`adder_gain`] for weights of std `adder_std` (`None`: as stored).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        kind: ConvKind,
        max: [usize; 2],
        kernel: usize,
        stride: usize,
        depthwise: bool,
        remap: RemapKind,
        adder_std: Option<f32>,
        seed: u64,
        device: &Device,
    ) -> Self {
        let [max_in, max_out] = max;
        let cin = if depthwise { 1 } else { max_in };
        let fan_in = cin * kernel * kernel;
        let weight = Initializer::KaimingUniform { gain: 1.0 / 3f64.sqrt(), fan_out_only: false }.init_with(
            [max_out, cin, kernel, kernel],
            Some(fan_in),
            Some(max_out * kernel * kernel),
            device,
        );
        let remap =
            Remap::new(if kind == ConvKind::Mult { RemapKind::R0 } else { remap }, kernel, max_out * cin * kernel * kernel, seed, device);
        let (adder_gain, adder_std) = match adder_std {
            Some(s) => (adder_gain(fan_in, s), s),
            None => (1.0, 1.0),
        };
        Self { weight, remap, kind, kernel, stride, depthwise, adder_eta: Some(0.2), adder_gain, adder_std }
    }

    fn geometry(&self, groups: usize, k: usize) -> Conv2dGeometry {
        Conv2dGeometry { stride: [self.stride; 2], padding: [k / 2; 2], groups }
    }

    /// The centre `k × k` of weights stored at the bank's kernel (an odd `k` at most the bank's):
    /// the elastic kernel of [`AugConfig::subnet_kernels`](super::AugConfig::subnet_kernels).
    fn crop(&self, w: Tensor<4>, k: usize) -> Tensor<4> {
        debug_assert!(k <= self.kernel && k % 2 == 1, "kernel {k} of a {0}×{0} bank", self.kernel);
        if k == self.kernel {
            return w;
        }
        let [o, i, _, _] = w.dims();
        let c = (self.kernel - k) / 2;
        w.slice([0..o, 0..i, c..c + k, c..c + k])
    }

    fn mult(&self, x: Tensor<4>, w: Tensor<4>, groups: usize, k: usize) -> Tensor<4> {
        crate::ops::conv::conv2d(x, self.crop(w, k), self.geometry(groups, k))
    }

    /// The MF weight of a slice: `R(W)`, for Add `gain · R(W)` (and the adder gradient scaling
    /// step).
    ///
    /// The scaling targets norm `η·std·√k / gain²` on the adder weight, so the bank (after the chain
    /// rule through `gain`) gets per-element steps `η·std / gain`: η relative to the bank's scale
    /// `std / gain`, as AdderNet's η relative to its N(0, 1) weights.
    pub fn mf_weight(&self, w: Tensor<4>) -> Tensor<4> {
        self.mf_weight_as(w, self.kind)
    }

    /// [`mf_weight`](Self::mf_weight) for the layer run as `op`.
    pub fn mf_weight_as(&self, w: Tensor<4>, op: ConvKind) -> Tensor<4> {
        let r = self.remap.apply(w);
        if op != ConvKind::Add {
            return r;
        }
        let g = self.adder_gain;
        let r = if g == 1.0 { r } else { r.mul_scalar(g) };
        match self.adder_eta {
            Some(eta) => adder_grad_scale(r, eta * self.adder_std / (g * g)),
            None => r,
        }
    }

    /// The conv of operator `op` on the bank slice `w` at kernel `k`: the remap reads the whole
    /// slice, the conv its centre.
    fn mf(&self, x: Tensor<4>, w: Tensor<4>, groups: usize, k: usize, op: ConvKind) -> Tensor<4> {
        match op {
            ConvKind::Mult => self.mult(x, w, groups, k),
            ConvKind::Shift => self.mult(x, self.shift_weight(w), groups, k),
            ConvKind::Add => adder_conv2d(x, self.crop(self.mf_weight_as(w, op), k), self.geometry(groups, k))
                .expect("shapes fixed by the supernet plan"),
        }
    }

    /// The MF weight of the tiny model's block (`t = [in, out]` widths, kernel `k`) as the tiny
    /// pass computes it from the bank: `PoT(R(W))` for Shift, `gain · R(W)` for Add; `None` for
    /// Mult.
    pub fn target_weight(&self, [t_in, t_out]: [usize; 2], k: usize) -> Option<Tensor<4>> {
        let w = self.weight.val();
        let w = if self.depthwise { w.slice(0..t_out) } else { w.slice([0..t_out, 0..t_in]) };
        match self.kind {
            ConvKind::Mult => None,
            ConvKind::Shift => Some(self.crop(self.shift_weight(w), k)),
            ConvKind::Add => Some(self.crop(self.mf_weight(w), k)),
        }
    }

    /// The Shift weight of the target block, `PoT(R(W))`.
    fn shift_weight(&self, w: Tensor<4>) -> Tensor<4> {
        pot_quantize(self.mf_weight_as(w, ConvKind::Shift), min_exponent(SHARED_SHIFT_BITS).unwrap_or(-15))
    }

    /// `x: [n, a_in, h, w]` → `[n, a_out, h', w']` as `pass` runs the layer with `run`'s widths,
    /// kernel and operator ([`ConvRun`]).
    pub fn forward(&self, x: Tensor<4>, run: ConvRun, pass: Pass) -> Tensor<4> {
        let ConvRun { t, a, kernel: k, op } = run;
        let w = self.weight.val();
        let [t_in, t_out] = t;
        let [a_in, a_out] = a;
        if op == ConvKind::Shift
            && let Pass::Aug(mode @ (AugMode::H1 | AugMode::H2)) = pass
        {
            return self.shift_hybrid(x, w, t, a, mode, k);
        }
        if self.depthwise {
            let ws = |lo: usize, hi: usize| w.clone().slice(lo..hi);
            return match pass {
                Pass::Tiny | Pass::Sub => self.mf(x, ws(0, t_out), t_out, k, op),
                Pass::Aug(_) if op == ConvKind::Mult => self.mult(x, ws(0, a_out), a_out, k),
                Pass::Aug(AugMode::B) => self.mult(x, ws(0, a_out), a_out, k),
                Pass::Aug(AugMode::MfOnly) => self.mf(x, ws(0, a_out), a_out, k, op),
                Pass::Aug(_) => {
                    let yt = self.mf(x.clone().narrow(1, 0, t_out), ws(0, t_out), t_out, k, op);
                    if a_out == t_out {
                        return yt;
                    }
                    let ya = self.mult(x.narrow(1, t_out, a_out - t_out), ws(t_out, a_out), a_out - t_out, k);
                    Tensor::cat(vec![yt, ya], 1)
                }
            };
        }
        let ws = |o: std::ops::Range<usize>, i: std::ops::Range<usize>| w.clone().slice([o, i]);
        match pass {
            Pass::Tiny | Pass::Sub => self.mf(x, ws(0..t_out, 0..t_in), 1, k, op),
            Pass::Aug(_) if op == ConvKind::Mult => self.mult(x, ws(0..a_out, 0..a_in), 1, k),
            Pass::Aug(AugMode::B) => self.mult(x, ws(0..a_out, 0..a_in), 1, k),
            Pass::Aug(AugMode::MfOnly) => self.mf(x, ws(0..a_out, 0..a_in), 1, k, op),
            Pass::Aug(mode) => {
                let mut yt = self.mf(x.clone().narrow(1, 0, t_in), ws(0..t_out, 0..t_in), 1, k, op);
                if mode == AugMode::H1 && a_in > t_in {
                    yt = yt + self.mult(x.clone().narrow(1, t_in, a_in - t_in), ws(0..t_out, t_in..a_in), 1, k);
                }
                if a_out == t_out {
                    return yt;
                }
                let ya = self.mult(x, ws(t_out..a_out, 0..a_in), 1, k);
                Tensor::cat(vec![yt, ya], 1)
            }
        }
    }

    /// The hybrid pass (H1 / H2) of a Shift layer as one convolution. A shift conv is a Mult conv
    /// with power-of-two weights, so the per-block products of [`forward`](Self::forward)'s
    /// general path (`Σ` of an MF conv of the target inputs, a Mult conv of the augmented inputs
    /// and a Mult conv for the augmented outputs) are the blocks of one weight:
    /// `[[PoT(R(W_tt)), W_ta or 0 (H2)], [W_a·]]`. Same values up to float summation order,
    /// one im2col and no channel slicing or concatenation of activations.
    fn shift_hybrid(
        &self,
        x: Tensor<4>,
        w: Tensor<4>,
        [t_in, t_out]: [usize; 2],
        [a_in, a_out]: [usize; 2],
        mode: AugMode,
        k: usize,
    ) -> Tensor<4> {
        if self.depthwise {
            let mut wh = self.shift_weight(w.clone().slice(0..t_out));
            if a_out > t_out {
                wh = Tensor::cat(vec![wh, w.slice(t_out..a_out)], 0);
            }
            return self.mult(x, wh, a_out, k);
        }
        let mut top = self.shift_weight(w.clone().slice([0..t_out, 0..t_in]));
        if a_in > t_in {
            let rest = w.clone().slice([0..t_out, t_in..a_in]);
            let rest = if mode == AugMode::H1 { rest } else { rest.zeros_like() };
            top = Tensor::cat(vec![top, rest], 1);
        }
        let wh = if a_out > t_out { Tensor::cat(vec![top, w.slice([t_out..a_out, 0..a_in])], 0) } else { top };
        self.mult(x, wh, 1, k)
    }

    /// Permutes output channels (`dim = 0`) or input channels (`dim = 1`) of the bank.
    pub fn permute(self, dim: usize, perm: Tensor<1, Int>) -> Self {
        Self { weight: permute_param(self.weight, dim, perm), ..self }
    }
}

/// A dynamic convolution followed by a dynamic BatchNorm (and an activation in `forward`).
#[derive(Module, Debug)]
pub struct DynConvBn {
    /// The convolution.
    pub conv: DynConv,
    /// Its BatchNorm: the layer run as its own operator ([`DynConv::kind`]).
    pub bn: DynBn,
    /// One BatchNorm per other operator a sub-network may run the layer as
    /// ([`AugConfig::subnet_op_bn`](super::AugConfig::subnet_op_bn)), in the order of
    /// `op_bn_kinds`; empty when the operators share `bn`.
    pub op_bn: Vec<DynBn>,
    /// The operators of `op_bn`, none of them [`DynConv::kind`].
    #[module(skip)]
    pub op_bn_kinds: Vec<ConvKind>,
}

impl DynConvBn {
    /// `conv` with one BatchNorm for every operator.
    pub fn new(conv: DynConv, bn: DynBn) -> Self {
        Self { conv, bn, op_bn: Vec::new(), op_bn_kinds: Vec::new() }
    }

    /// The BatchNorm of the layer run as `op`: its own, or `op`'s when it has one.
    pub fn bn_for(&self, op: ConvKind) -> &DynBn {
        match self.op_bn_kinds.iter().position(|&k| k == op) {
            Some(i) => &self.op_bn[i],
            None => &self.bn,
        }
    }

    /// [`bn_for`](Self::bn_for), mutable.
    pub fn bn_for_mut(&mut self, op: ConvKind) -> &mut DynBn {
        match self.op_bn_kinds.iter().position(|&k| k == op) {
            Some(i) => &mut self.op_bn[i],
            None => &mut self.bn,
        }
    }

    /// See [`DynConv::forward`], then the BatchNorm of `run.op` ([`bn_for`](Self::bn_for)) and `act`.
    pub fn forward(&self, x: Tensor<4>, run: ConvRun, pass: Pass, act: crate::models::Act) -> Tensor<4> {
        self.bn_for(run.op).normalize_act(self.conv.forward(x, run, pass), pass == Pass::Tiny, act)
    }

    /// Permutes output channels of the conv and of every BatchNorm (`perm` over the bank's outputs).
    pub fn permute_out(self, perm: Tensor<1, Int>) -> Self {
        Self {
            conv: self.conv.permute(0, perm.clone()),
            bn: self.bn.permute(perm.clone()),
            op_bn: self.op_bn.into_iter().map(|b| b.permute(perm.clone())).collect(),
            op_bn_kinds: self.op_bn_kinds,
        }
    }

    /// Permutes input channels of the conv (its BatchNorms are over outputs: unchanged).
    pub fn permute_in(self, perm: Tensor<1, Int>) -> Self {
        Self { conv: self.conv.permute(1, perm), ..self }
    }
}
