//! The ShiftAddAug supernet of an MBConv tiny model: stem (Mult) → depthwise-separable block →
//! MBConv blocks → optional 1×1 head → average pool → Mult classifier, every layer stored at
//! its largest augmented width.

use super::dyn_layers::{DynBn, DynConv, DynConvBn};
use super::{AugConfig, Pass, RemapKind, make_divisible};
use crate::data::{Dataset, Rng};
use crate::error::{Error, Result};
use crate::models::{BlockSpec, MBV2_TINY_BLOCKS};
use crate::nn::ConvKind;
use crate::train::{ImageClassifier, Progress};
use burn::module::{Module, Param, ParamId};
use burn::tensor::module::adaptive_avg_pool2d;
use burn::tensor::{Device, Tensor, TensorData};

/// An MBConv tiny model: stem output, DS-block output, MBConv blocks, optional head conv.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct NetSpec {
    /// Stem 3×3 conv output channels.
    pub stem: usize,
    /// Depthwise-separable block output channels.
    pub ds: usize,
    /// MBConv blocks.
    pub blocks: Vec<BlockSpec>,
    /// 1×1 head conv output channels (None: pool the last block directly).
    pub head: Option<usize>,
}

impl NetSpec {
    /// MobileNetV2-Tiny (METHOD.md Appendix A).
    pub fn mbv2_tiny() -> Self {
        Self { stem: 16, ds: 8, blocks: MBV2_TINY_BLOCKS.to_vec(), head: Some(448) }
    }

    /// MCUNet (ImageNet r176 model of METHOD.md Appendix A): no head conv, the head MBConv
    /// 96→480→160 feeds the pooled classifier.
    pub fn mcunet() -> Self {
        let (s, b) = (BlockSpec::stage_start, BlockSpec::new);
        Self {
            stem: 16,
            ds: 8,
            blocks: vec![
                s(7, 2, 8, 24, 16), b(3, 1, 16, 80, 16), b(7, 1, 16, 80, 16), b(5, 1, 16, 64, 16),
                s(5, 2, 16, 80, 24), b(5, 1, 24, 120, 24), b(5, 1, 24, 120, 24),
                s(3, 2, 24, 120, 40), b(7, 1, 40, 240, 40), b(5, 1, 40, 160, 40),
                s(5, 1, 40, 200, 48), b(7, 1, 48, 240, 48), b(3, 1, 48, 240, 48),
                s(3, 2, 48, 288, 96), b(7, 1, 96, 480, 96), b(3, 1, 96, 384, 96),
                s(7, 1, 96, 480, 160),
            ],
            head: None,
        }
    }

    /// ProxylessNAS-Mobile w0.35 (r160): stages of (kernel, expand) with widths
    /// 16, 16, 32, 32, 64 and strides 2, 2, 2, 1, 2; head MBConv k7 e6 → 112, conv 112 → 1280.
    pub fn proxyless_035() -> Self {
        let stages: [(usize, usize, &[(usize, usize)]); 5] = [
            (16, 2, &[(5, 3), (3, 3)]),
            (16, 2, &[(7, 3), (3, 3), (5, 3), (5, 3)]),
            (32, 2, &[(7, 6), (5, 3), (5, 3), (5, 3)]),
            (32, 1, &[(5, 6), (5, 3), (5, 3), (5, 3)]),
            (64, 2, &[(7, 6), (7, 6), (7, 3), (7, 3)]),
        ];
        let mut blocks = Vec::new();
        let mut cur = 8;
        for (out, stride, ks) in stages {
            for (j, &(k, e)) in ks.iter().enumerate() {
                let mid = super::make_divisible((cur * e) as f32);
                blocks.push(if j == 0 { BlockSpec::stage_start(k, stride, cur, mid, out) } else { BlockSpec::new(k, 1, cur, mid, out) });
                cur = out;
            }
        }
        blocks.push(BlockSpec::stage_start(7, 1, cur, super::make_divisible((cur * 6) as f32), 112));
        Self { stem: 16, ds: 8, blocks, head: Some(1280) }
    }
}

/// Active widths of one (tiny or augmented) model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arch {
    /// Stem output.
    pub stem: usize,
    /// DS-block output.
    pub ds: usize,
    /// `[mid, out]` per MBConv block.
    pub blocks: Vec<[usize; 2]>,
    /// Head conv output (0 without a head conv).
    pub head: usize,
}

impl Arch {
    /// Channels entering the classifier.
    pub fn features(&self) -> usize {
        if self.head > 0 { self.head } else { self.blocks.last().map_or(self.ds, |b| b[1]) }
    }
}

/// Configuration of [`AugNet`] (JSON camelCase).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AugNetConfig {
    /// Input `[channels, height, width]`.
    pub input_shape: [usize; 3],
    /// Classes.
    pub num_classes: usize,
    /// MF operator of the tiny model's 1×1, depthwise and head convs (`mult` for NetAug's
    /// Mult-augments-Mult baseline).
    pub conv: ConvKind,
    /// Operator of the depthwise convs when different from `conv`.
    #[serde(default)]
    pub depthwise: Option<ConvKind>,
    /// Stem stride (1 for 28–32 px inputs, 2 for ImageNet sizes).
    #[serde(default = "one")]
    pub stem_stride: usize,
    /// The architecture.
    #[serde(default = "NetSpec::mbv2_tiny")]
    pub spec: NetSpec,
    /// Augmentation settings.
    #[serde(default)]
    pub aug: AugConfig,
}

fn one() -> usize {
    1
}

impl AugNetConfig {
    /// MobileNetV2-Tiny with the default augmentation for `conv`.
    pub fn new(input_shape: [usize; 3], num_classes: usize, conv: ConvKind) -> Self {
        Self { input_shape, num_classes, conv, depthwise: None, stem_stride: 1, spec: NetSpec::mbv2_tiny(), aug: AugConfig::default() }
    }

    /// Checks the config (including that the input survives every stride).
    ///
    /// # Errors
    /// [`Error::Config`] naming the bad value and the valid choices.
    pub fn validate(&self) -> Result<()> {
        self.aug.validate()?;
        crate::models::check_classifier_config(self.input_shape, self.num_classes, self.stem_stride)?;
        let [_, h, w] = self.input_shape;
        let strides: usize = self.stem_stride * self.spec.blocks.iter().map(|b| b.stride).product::<usize>();
        if h < strides || w < strides {
            return Err(Error::Config(format!("inputShape {:?} is smaller than the total stride {strides}", self.input_shape)));
        }
        if self.spec.blocks.is_empty() {
            return Err(Error::Config("spec has no MBConv blocks".into()));
        }
        Ok(())
    }

    fn wmax(&self) -> f32 {
        if self.aug.enabled { self.aug.width_list.iter().cloned().fold(1.0, f32::max) } else { 1.0 }
    }

    fn emax(&self) -> f32 {
        if self.aug.enabled { self.aug.expand_list.iter().cloned().fold(1.0, f32::max) } else { 1.0 }
    }

    /// Multiply-accumulates of the tiny model for one image (convolutions and classifier;
    /// BatchNorm and pooling not counted, as in NetAug's figures).
    pub fn tiny_macs(&self) -> u64 {
        let t = self.tiny_arch();
        let [c, h, w] = self.input_shape;
        let mut size = [h, w];
        let mut macs = 0u64;
        let mut conv = |i: usize, o: usize, k: usize, stride: usize, dw: bool| {
            let p = k / 2;
            size = [(size[0] + 2 * p - k) / stride + 1, (size[1] + 2 * p - k) / stride + 1];
            macs += (size[0] * size[1] * o * if dw { 1 } else { i } * k * k) as u64;
        };
        conv(c, t.stem, 3, self.stem_stride, false);
        conv(t.stem, t.stem, 3, 1, true);
        conv(t.stem, t.ds, 1, 1, false);
        let mut cur = t.ds;
        for (b, &[m, o]) in self.spec.blocks.iter().zip(&t.blocks) {
            conv(cur, m, 1, 1, false);
            conv(m, m, b.kernel, b.stride, true);
            conv(m, o, 1, 1, false);
            cur = o;
        }
        if t.head > 0 {
            conv(cur, t.head, 1, 1, false);
        }
        macs + (t.features() * self.num_classes) as u64
    }

    /// The tiny model's widths.
    pub fn tiny_arch(&self) -> Arch {
        let s = &self.spec;
        Arch { stem: s.stem, ds: s.ds, blocks: s.blocks.iter().map(|b| [b.channels[1], b.channels[2]]).collect(), head: s.head.unwrap_or(0) }
    }

    /// The largest widths (every factor at its maximum).
    pub fn max_arch(&self) -> Arch {
        self.arch_with(|_| self.wmax(), |_| self.emax())
    }

    /// Widths for per-layer width factors `wf(i)` (i = 0 stem, 1 DS, 2 + b block b, last head)
    /// and expand factors `ef(b)`; blocks with a shortcut keep their input width.
    fn arch_with(&self, wf: impl Fn(usize) -> f32, ef: impl Fn(usize) -> f32) -> Arch {
        let s = &self.spec;
        let wd = |base: usize, f: f32| if f == 1.0 { base } else { make_divisible(base as f32 * f) };
        let stem = wd(s.stem, wf(0));
        let ds = wd(s.ds, wf(1));
        let mut cur = ds;
        let mut blocks = Vec::with_capacity(s.blocks.len());
        for (i, b) in s.blocks.iter().enumerate() {
            let [bi, bm, bo] = b.channels;
            let ratio = bm as f32 / bi as f32;
            let e = ef(i);
            let mid = if cur == bi && e == 1.0 { bm } else { make_divisible(cur as f32 * ratio * e) };
            let out = if residual(b) { cur } else { wd(bo, wf(2 + i)) };
            blocks.push([mid, out]);
            cur = out;
        }
        let head = s.head.map_or(0, |h| wd(h, wf(2 + s.blocks.len())));
        Arch { stem, ds, blocks, head }
    }

    /// A random augmented architecture for `step` (deterministic in `aug.seed` and `step`).
    /// Widths stay tiny when `widths` is false (after `stopWidthAug`).
    pub fn sample_arch(&self, step: usize, widths: bool) -> Arch {
        let rng = std::cell::RefCell::new(Rng::new(self.aug.seed ^ (step as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)));
        let pick = |list: &[f32]| list[rng.borrow_mut().below(list.len())];
        let wl = &self.aug.width_list;
        let el = &self.aug.expand_list;
        let max = self.max_arch();
        let mut a = self.arch_with(|_| if widths { pick(wl) } else { 1.0 }, |_| pick(el));
        // make_divisible is not strictly monotone: never exceed the stored widths.
        a.stem = a.stem.min(max.stem);
        a.ds = a.ds.min(max.ds);
        for (b, m) in a.blocks.iter_mut().zip(&max.blocks) {
            b[0] = b[0].min(m[0]);
            b[1] = b[1].min(m[1]);
        }
        a.head = a.head.min(max.head);
        a
    }

    /// Builds the supernet (weights at the largest widths).
    ///
    /// # Errors
    /// As [`validate`](Self::validate).
    pub fn init(&self, device: &Device) -> Result<AugNet> {
        self.validate()?;
        let max = self.max_arch();
        let dw_kind = self.depthwise.unwrap_or(self.conv);
        let mut seed = self.aug.seed.wrapping_mul(31).wrapping_add(7);
        let mut layer = |kind: ConvKind, io: [usize; 2], k: usize, stride: usize, dw: bool| {
            seed = seed.wrapping_add(1);
            let remap = if !self.aug.enabled || (kind == ConvKind::Shift && !self.aug.remap_for_shift) { RemapKind::R0 } else { self.aug.remap };
            DynConvBn { conv: DynConv::new(kind, io, k, stride, dw, remap, seed, device), bn: DynBn::new(io[1], device) }
        };
        let c = self.input_shape[0];
        let stem = layer(ConvKind::Mult, [c, max.stem], 3, self.stem_stride, false);
        let ds_dw = layer(dw_kind, [max.stem, max.stem], 3, 1, true);
        let ds_pw = layer(self.conv, [max.stem, max.ds], 1, 1, false);
        let mut cur = max.ds;
        let mut blocks = Vec::new();
        for (b, [mid, out]) in self.spec.blocks.iter().zip(max.blocks.iter().copied()) {
            blocks.push(DynMbConv {
                expand: layer(self.conv, [cur, mid], 1, 1, false),
                depthwise: layer(dw_kind, [mid, mid], b.kernel, b.stride, true),
                project: layer(self.conv, [mid, out], 1, 1, false),
            });
            cur = out;
        }
        let head = self.spec.head.map(|_| layer(self.conv, [cur, max.head], 1, 1, false));
        let feat = max.features();
        let bound = 1.0 / (feat as f64).sqrt();
        let classifier = DynLinear {
            weight: burn::nn::Initializer::Uniform { min: -bound, max: bound }.init([feat, self.num_classes], device),
            bias: burn::nn::Initializer::Uniform { min: -bound, max: bound }.init([self.num_classes], device),
        };
        Ok(AugNet { stem, ds_dw, ds_pw, blocks, head, classifier, config: self.clone() })
    }
}

fn residual(b: &BlockSpec) -> bool {
    b.has_shortcut()
}

/// Expand → depthwise → project, each a dynamic conv + BN.
#[derive(Module, Debug)]
pub struct DynMbConv {
    /// 1×1 expansion (ReLU6).
    pub expand: DynConvBn,
    /// Depthwise (ReLU6).
    pub depthwise: DynConvBn,
    /// 1×1 projection (linear).
    pub project: DynConvBn,
}

/// The multiplicative classifier `[max_features, classes]`, sliced by input features.
#[derive(Module, Debug)]
pub struct DynLinear {
    /// Weight `[features, classes]`.
    pub weight: Param<Tensor<2>>,
    /// Bias `[classes]`.
    pub bias: Param<Tensor<1>>,
}

/// The supernet; see [`AugNetConfig`].
#[derive(Module, Debug)]
pub struct AugNet {
    /// Multiplicative stem.
    pub stem: DynConvBn,
    /// DS block depthwise.
    pub ds_dw: DynConvBn,
    /// DS block pointwise.
    pub ds_pw: DynConvBn,
    /// MBConv blocks.
    pub blocks: Vec<DynMbConv>,
    /// Head 1×1 conv.
    pub head: Option<DynConvBn>,
    /// Classifier.
    pub classifier: DynLinear,
    /// The configuration it was built from.
    #[module(skip)]
    pub config: AugNetConfig,
}

impl AugNet {
    /// Logits of the model with widths `a` computed as `pass` (`a` must be the tiny arch for
    /// [`Pass::Tiny`]).
    ///
    /// # Shapes
    /// - `x`: `[n, c, h, w]` → `[n, classes]`
    ///
    /// # Errors
    /// [`Error::Shape`] when `x` does not match the input shape.
    pub fn forward(&self, x: Tensor<4>, a: &Arch, pass: Pass) -> Result<Tensor<2>> {
        let [n, c, h, w] = x.dims();
        if [c, h, w] != self.config.input_shape {
            return Err(Error::Shape(format!("model expects images {:?}, got {:?}", self.config.input_shape, [c, h, w])));
        }
        let t = self.config.tiny_arch();
        let x = self.stem.forward(x, [c, t.stem], [c, a.stem], pass, true);
        let x = self.ds_dw.forward(x, [t.stem; 2], [a.stem; 2], pass, true);
        let mut x = self.ds_pw.forward(x, [t.stem, t.ds], [a.stem, a.ds], pass, false);
        let (mut ti, mut ai) = (t.ds, a.ds);
        for ((blk, tb), (ab, spec)) in self.blocks.iter().zip(&t.blocks).zip(a.blocks.iter().zip(&self.config.spec.blocks)) {
            let y = blk.expand.forward(x.clone(), [ti, tb[0]], [ai, ab[0]], pass, true);
            let y = blk.depthwise.forward(y, [tb[0]; 2], [ab[0]; 2], pass, true);
            let y = blk.project.forward(y, [tb[0], tb[1]], [ab[0], ab[1]], pass, false);
            x = if residual(spec) { x + y } else { y };
            (ti, ai) = (tb[1], ab[1]);
        }
        if let Some(head) = &self.head {
            x = head.forward(x, [ti, t.head], [ai, a.head], pass, true);
        }
        let f = a.features();
        let pooled = adaptive_avg_pool2d(x, [1, 1]).reshape([n, f]);
        let wt = self.classifier.weight.val().narrow(0, 0, f);
        Ok(pooled.matmul(wt) + self.classifier.bias.val().unsqueeze::<2>())
    }

    /// Every dynamic conv + BN in order.
    fn layers(&self) -> impl Iterator<Item = &DynConvBn> {
        [&self.stem, &self.ds_dw, &self.ds_pw]
            .into_iter()
            .chain(self.blocks.iter().flat_map(|b| [&b.expand, &b.depthwise, &b.project]))
            .chain(self.head.iter())
    }

    /// Learnable parameters of the tiny model (slices), counted like a static model: conv
    /// weights, BN scale and shift, classifier. Remap parameters are training-only.
    pub fn tiny_param_count(&self) -> usize {
        let t = self.config.tiny_arch();
        let c = self.config.input_shape[0];
        let mut count = 0;
        let mut conv = |i: usize, o: usize, k: usize, dw: bool| count += if dw { o * k * k } else { i * o * k * k } + 2 * o;
        conv(c, t.stem, 3, false);
        conv(t.stem, t.stem, 3, true);
        conv(t.stem, t.ds, 1, false);
        let mut cur = t.ds;
        for (b, [m, o]) in self.config.spec.blocks.iter().zip(t.blocks.iter().copied()) {
            conv(cur, m, 1, false);
            conv(m, m, b.kernel, true);
            conv(m, o, 1, false);
            cur = o;
        }
        if t.head > 0 {
            conv(cur, t.head, 1, false);
        }
        count + t.features() * self.config.num_classes + self.config.num_classes
    }

    /// Re-sorts every MBConv's middle channels by importance `Σ |W_project[:, c]|` (descending,
    /// over the whole bank): a pure permutation of expand rows, depthwise channels, their BNs
    /// and project columns. The widest model's function is unchanged (in all-Mult mode B);
    /// the tiny model now owns the most important channels.
    pub fn sort_channels(self) -> Self {
        let blocks = self
            .blocks
            .into_iter()
            .map(|b| {
                let imp = b.project.conv.weight.val().detach().abs().sum_dim(3).sum_dim(2).sum_dim(0);
                let n = imp.dims()[1];
                let perm = imp.reshape([n]).argsort_descending(0);
                DynMbConv {
                    expand: DynConvBn { conv: b.expand.conv.permute(0, perm.clone()), bn: b.expand.bn.permute(perm.clone()) },
                    depthwise: DynConvBn { conv: b.depthwise.conv.permute(0, perm.clone()), bn: b.depthwise.bn.permute(perm.clone()) },
                    project: DynConvBn { conv: b.project.conv.permute(1, perm), bn: b.project.bn },
                }
            })
            .collect();
        Self { blocks, ..self }
    }

    /// Sets every BatchNorm's running-statistics momentum.
    pub fn with_bn_momentum(self, momentum: f64) -> Self {
        let set = |l: DynConvBn| DynConvBn { bn: DynBn { momentum, ..l.bn }, ..l };
        Self {
            stem: set(self.stem),
            ds_dw: set(self.ds_dw),
            ds_pw: set(self.ds_pw),
            blocks: self
                .blocks
                .into_iter()
                .map(|b| DynMbConv { expand: set(b.expand), depthwise: set(b.depthwise), project: set(b.project) })
                .collect(),
            head: self.head.map(set),
            ..self
        }
    }

    /// The static tiny model: a supernet whose widths are the tiny ones, with `R` folded into
    /// the MF weights (remap R0 afterwards), BN statistics and the classifier sliced. Its tiny
    /// pass computes the same values as this model's tiny pass (PoT of the same weights for
    /// Shift; the same adder weights for Add).
    pub fn export_tiny(&self) -> AugNet {
        let t = self.config.tiny_arch();
        let mut config = self.config.clone();
        config.aug = AugConfig { remap: RemapKind::R0, ..AugConfig::direct() };
        let c = self.config.input_shape[0];
        let fold = |l: &DynConvBn, i: usize, o: usize| -> DynConvBn {
            let w = l.conv.weight.val().detach();
            let w = if l.conv.depthwise { w.narrow(0, 0, o) } else { w.narrow(0, 0, o).narrow(1, 0, i) };
            let w = if l.conv.kind == ConvKind::Mult { w } else { l.conv.remap.apply(w) }.detach();
            let device = w.device();
            let rg = |t: Tensor<1>| Param::from_tensor(t.detach());
            let bn = DynBn {
                gamma: rg(l.bn.gamma.val().narrow(0, 0, o)),
                beta: rg(l.bn.beta.val().narrow(0, 0, o)),
                running_mean: burn::module::RunningState::new(l.bn.running_mean.value().narrow(0, 0, o)),
                running_var: burn::module::RunningState::new(l.bn.running_var.value().narrow(0, 0, o)),
                momentum: l.bn.momentum,
            };
            let remap = super::Remap::new(RemapKind::R0, l.conv.kernel, 0, 0, &device);
            DynConvBn { conv: DynConv { weight: Param::from_tensor(w), remap, ..l.conv.clone() }, bn }
        };
        let mut cur = t.ds;
        let blocks = self
            .blocks
            .iter()
            .zip(&t.blocks)
            .map(|(b, &[m, o])| {
                let r = DynMbConv { expand: fold(&b.expand, cur, m), depthwise: fold(&b.depthwise, m, m), project: fold(&b.project, m, o) };
                cur = o;
                r
            })
            .collect();
        let head = self.head.as_ref().map(|h| fold(h, cur, t.head));
        let f = t.features();
        AugNet {
            stem: fold(&self.stem, c, t.stem),
            ds_dw: fold(&self.ds_dw, t.stem, t.stem),
            ds_pw: fold(&self.ds_pw, t.stem, t.ds),
            blocks,
            head,
            classifier: DynLinear {
                weight: Param::from_tensor(self.classifier.weight.val().narrow(0, 0, f).detach()),
                bias: Param::from_tensor(self.classifier.bias.val().detach()),
            },
            config,
        }
    }

    /// R4's KL regulariser summed over the MF layers' tiny slices (None for other remaps).
    fn remap_penalty(&self) -> Option<Tensor<1>> {
        if self.config.aug.remap != RemapKind::R4 || !self.config.aug.enabled {
            return None;
        }
        let t = self.config.tiny_arch();
        let mut total: Option<Tensor<1>> = None;
        let c = self.config.input_shape[0];
        let mut io = vec![[c, t.stem], [t.stem, t.stem], [t.stem, t.ds]];
        let mut cur = t.ds;
        for &[m, o] in &t.blocks {
            io.extend([[cur, m], [m, m], [m, o]]);
            cur = o;
        }
        io.push([cur, t.head]);
        for (l, [i, o]) in self.layers().zip(io) {
            if l.conv.kind == ConvKind::Mult {
                continue;
            }
            let w = l.conv.weight.val();
            let w = if l.conv.depthwise { w.narrow(0, 0, o) } else { w.narrow(0, 0, o).narrow(1, 0, i) };
            if let Some(kl) = l.conv.remap.kl_penalty(l.conv.remap.apply(w)) {
                total = Some(match total { Some(s) => s + kl, None => kl });
            }
        }
        total.map(|t| t.mul_scalar(super::remap::R4_KL_WEIGHT))
    }

    fn widths_augmented(&self, progress: Progress) -> bool {
        match progress.total_steps {
            Some(total) if total > 0 => (progress.step as f32) < self.config.aug.stop_width_aug * total as f32,
            _ => true,
        }
    }
}

impl ImageClassifier for AugNet {
    fn logits(&self, x: Tensor<4>) -> Result<Tensor<2>> {
        self.forward(x, &self.config.tiny_arch(), Pass::Tiny)
    }

    fn input_shape(&self) -> [usize; 3] {
        self.config.input_shape
    }

    /// Adder gradient scaling happens in the graph (on the MF weight), not here.
    fn adder_weight_ids(&self) -> Vec<ParamId> {
        Vec::new()
    }

    fn training_passes(&self, x: Tensor<4>, progress: Progress) -> Result<Vec<(Tensor<2>, f32)>> {
        let tiny = self.logits(x.clone())?;
        if !self.config.aug.enabled || self.config.aug.alpha == 0.0 {
            return Ok(vec![(tiny, 1.0)]);
        }
        let arch = self.config.sample_arch(progress.step, self.widths_augmented(progress));
        let aug = self.forward(x, &arch, Pass::Aug(self.config.aug.mode))?;
        Ok(vec![(tiny, 1.0), (aug, self.config.aug.alpha)])
    }

    fn extra_loss(&self) -> Option<Tensor<1>> {
        self.remap_penalty()
    }

    fn begin_epoch(self, progress: Progress) -> Self {
        if self.config.aug.enabled && self.config.aug.sort_channels && self.widths_augmented(progress) { self.sort_channels() } else { self }
    }
}

/// Re-estimates the tiny model's BatchNorm statistics on up to `images` training images
/// (NetAug `reset_bn`: cumulative average of batch statistics), in order, batches of `batch`.
/// `model` must be on an autodiff device (BN uses batch statistics there).
///
/// # Errors
/// [`Error::Shape`] / [`Error::Dataset`] when the data do not fit the model.
pub fn reset_bn(model: AugNet, data: &Dataset, images: usize, batch: usize) -> Result<AugNet> {
    if data.image_shape != model.config.input_shape {
        return Err(Error::Shape(format!("dataset images are {:?}, model expects {:?}", data.image_shape, model.config.input_shape)));
    }
    let device = model.devices().first().cloned().ok_or_else(|| Error::Config("model has no parameters".into()))?;
    let n = images.min(data.len());
    let [c, h, w] = data.image_shape;
    let mut model = model;
    for (k, start) in (0..n).step_by(batch.max(1)).enumerate() {
        let end = (start + batch.max(1)).min(n);
        let idx: Vec<usize> = (start..end).collect();
        let (x, _) = data.gather(&idx);
        let x = Tensor::<4>::from_data(TensorData::new(x, [end - start, c, h, w]), &device);
        model = model.with_bn_momentum(1.0 / (k + 1) as f64);
        let _ = model.logits(x)?;
    }
    Ok(model.with_bn_momentum(0.1))
}
