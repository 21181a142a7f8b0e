//! Configuration of the ShiftAddAug supernet: the tiny and largest widths of a spec, the
//! per-step architecture sampling and MAC counts. The layers themselves: [`super::plan`].

use super::{AugConfig, make_divisible};
use crate::data::Rng;
use crate::error::{Error, Result};
use crate::models::NetSpec;
use crate::nn::ConvKind;

/// Active widths, depthwise kernel sizes and block operators of one (tiny, augmented or sub-)
/// model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arch {
    /// Stem output.
    pub stem: usize,
    /// DS-block output.
    pub ds: usize,
    /// `[mid, out]` per MBConv block; `mid` 0: the model skips the block (identity through its
    /// shortcut).
    pub blocks: Vec<[usize; 2]>,
    /// Head conv output (0 without a head conv).
    pub head: usize,
    /// Depthwise kernel size per MBConv block (at most the stored bank's; a smaller one is the
    /// bank's centre).
    pub kernels: Vec<usize>,
    /// `[pointwise, depthwise]` operators per MBConv block.
    pub ops: Vec<[ConvKind; 2]>,
}

impl Arch {
    /// Every width and kernel the smaller of `self`'s and `other`'s (same layers), `self`'s
    /// operators.
    pub fn min(&self, other: &Arch) -> Arch {
        Arch {
            stem: self.stem.min(other.stem),
            ds: self.ds.min(other.ds),
            blocks: self.blocks.iter().zip(&other.blocks).map(|(a, b)| [a[0].min(b[0]), a[1].min(b[1])]).collect(),
            head: self.head.min(other.head),
            kernels: self.kernels.iter().zip(&other.kernels).map(|(a, b)| *a.min(b)).collect(),
            ops: self.ops.clone(),
        }
    }

    /// Channels entering the classifier.
    pub fn features(&self) -> usize {
        if self.head > 0 { self.head } else { self.blocks.last().map_or(self.ds, |b| b[1]) }
    }
}

/// `a ∪ b` ascending, without repeats: the factors of a layer in a space of widths.
pub(crate) fn factor_union(a: &[f32], b: &[f32]) -> Vec<f32> {
    let mut v = [a, b].concat();
    v.sort_by(f32::total_cmp);
    v.dedup();
    v
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
    /// Mult-augments-Mult baseline); a block of the spec may name its own
    /// ([`BlockSpec::conv`](crate::models::BlockSpec::conv)).
    pub conv: ConvKind,
    /// Operator of the depthwise convs when different from `conv` (a block's own `conv` or
    /// `depthwise` wins).
    #[serde(default)]
    pub depthwise: Option<ConvKind>,
    /// Stem stride (1 for 28–32 px inputs, 2 for ImageNet sizes).
    #[serde(default = "one")]
    pub stem_stride: usize,
    /// Operator of the 3×3 stem conv: `mult` (default; AdderNet and ShiftAddNet keep the first
    /// layer multiplicative), `shift` or `add`. Under augmentation an MF stem is hybrid like
    /// every other MF layer.
    #[serde(default = "mult", skip_serializing_if = "is_mult")]
    pub stem_conv: ConvKind,
    /// Operator of the classifier: `mult` (default: a linear layer with bias), or `shift` /
    /// `add`: a 1×1 conv of that operator over the pooled features `[n, f, 1, 1]` followed by
    /// BatchNorm over the classes (AdderNet's final FC + BN), whose BN shift is the bias. In
    /// augmented passes its logits sum the MF product of the tiny features and the Mult product
    /// of the augmented ones (H1) under H1 and H2: the classifier has no augmented outputs, and
    /// H2's rule (tiny outputs read tiny inputs only) would cut the augmented features off.
    #[serde(default = "mult", skip_serializing_if = "is_mult")]
    pub classifier: ConvKind,
    /// The architecture.
    #[serde(default = "NetSpec::mbv2_tiny")]
    pub spec: NetSpec,
    /// Augmentation settings.
    #[serde(default)]
    pub aug: AugConfig,
    /// Standard deviation of the Add layers' weights at init (default 10): they consume
    /// `gain · R(W)` with the gain of [`adder_gain`](super::dyn_layers::adder_gain). `null` uses
    /// the weights as stored (exported models, whose weights have the gain folded in).
    #[serde(default = "default_adder_std")]
    pub adder_std: Option<f32>,
}

/// Default [`AugNetConfig::adder_std`].
pub const DEFAULT_ADDER_STD: f32 = 10.0;

fn one() -> usize {
    1
}

fn mult() -> ConvKind {
    ConvKind::Mult
}

fn is_mult(k: &ConvKind) -> bool {
    *k == ConvKind::Mult
}

fn default_adder_std() -> Option<f32> {
    Some(DEFAULT_ADDER_STD)
}

impl AugNetConfig {
    /// MobileNetV2-Tiny with the default augmentation for `conv`.
    pub fn new(input_shape: [usize; 3], num_classes: usize, conv: ConvKind) -> Self {
        Self {
            input_shape,
            num_classes,
            conv,
            depthwise: None,
            stem_stride: 1,
            stem_conv: ConvKind::Mult,
            classifier: ConvKind::Mult,
            spec: NetSpec::mbv2_tiny(),
            aug: AugConfig::default(),
            adder_std: default_adder_std(),
        }
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
        if let Some(s) = self.adder_std
            && !(s.is_finite() && s > 0.0)
        {
            return Err(Error::Config(format!("adderStd {s} must be a positive number (or null: weights as stored)")));
        }
        if self.spec.ds_shortcut && self.spec.stem != self.spec.ds {
            return Err(Error::Config(format!("spec.dsShortcut needs stem = ds, got {} and {}", self.spec.stem, self.spec.ds)));
        }
        if self.spec.blocks.is_empty() {
            return Err(Error::Config("spec has no MBConv blocks".into()));
        }
        if let Some(j) = self.spec.blocks.iter().position(|b| b.aug_only && !b.has_shortcut()) {
            return Err(Error::Config(format!(
                "spec.blocks[{j}].augOnly needs a block with a shortcut (stride 1, in = out, shortcut not false): the tiny model skips it"
            )));
        }
        Ok(())
    }

    fn wmax(&self) -> f32 {
        if self.aug.enabled { self.aug.width_list.iter().cloned().fold(1.0, f32::max) } else { 1.0 }
    }

    fn emax(&self) -> f32 {
        if self.aug.enabled { self.aug.expand_list.iter().cloned().fold(1.0, f32::max) } else { 1.0 }
    }

    /// Multiply-accumulates of the tiny model for one image (convolutions, SE and final FCs,
    /// classifier; BatchNorm, pooling, activations and SE gating not counted, as in NetAug's figures).
    pub fn tiny_macs(&self) -> u64 {
        self.tiny_layers().iter().map(crate::cost::Layer::macs).sum()
    }

    /// The tiny model's widths (middle width 0 for the blocks of the augmented model only).
    pub fn tiny_arch(&self) -> Arch {
        let s = &self.spec;
        Arch {
            stem: s.stem,
            ds: s.ds,
            blocks: s.blocks.iter().map(|b| [if b.aug_only { 0 } else { b.channels[1] }, b.channels[2]]).collect(),
            head: s.head.unwrap_or(0),
            kernels: s.blocks.iter().map(|b| b.kernel).collect(),
            ops: self.spec_ops(),
        }
    }

    /// Each block's own `[pointwise, depthwise]` operators.
    fn spec_ops(&self) -> Vec<[ConvKind; 2]> {
        self.spec.blocks.iter().map(|b| b.ops(self.conv, self.depthwise).into()).collect()
    }

    /// The operators block `b` takes in sub-networks: its own first, then each of
    /// [`subnetOps`](super::AugConfig::subnet_ops) for all its convs (no repeats).
    pub fn op_choices(&self, b: usize) -> Vec<[ConvKind; 2]> {
        let mut v: Vec<[ConvKind; 2]> = vec![self.spec.blocks[b].ops(self.conv, self.depthwise).into()];
        if self.aug.enabled {
            for &op in &self.aug.subnet_ops {
                if !v.contains(&[op, op]) {
                    v.push([op, op]);
                }
            }
        }
        v
    }

    /// The depthwise kernel sizes block `b` takes in sub-networks: its own and
    /// [`subnetKernels`](super::AugConfig::subnet_kernels) (ascending, no repeats).
    pub fn kernel_choices(&self, b: usize) -> Vec<usize> {
        let mut v = vec![self.spec.blocks[b].kernel];
        if self.aug.enabled {
            v.extend(&self.aug.subnet_kernels);
        }
        v.sort_unstable();
        v.dedup();
        v
    }

    /// The largest widths (every factor at its maximum) and kernels: the stored banks.
    pub fn max_arch(&self) -> Arch {
        let mut a = self.arch_with(|_| self.wmax(), |_| self.emax());
        a.kernels = (0..a.kernels.len()).map(|b| self.kernel_choices(b).last().copied().unwrap_or(1)).collect();
        a
    }

    /// This config with the tiny model's widths, kernels and operators set to `a` (a plan: the
    /// spec with those widths, kernels, and a block's `conv` / `depthwise` set where its
    /// operators differ from its own; blocks keep their shortcuts as they are, and a block without one gets `shortcut: false`
    /// so that equal widths do not add one). A block of middle width 0 in `a` becomes
    /// [`augOnly`](crate::models::BlockSpec::aug_only); `a` may skip only blocks with a shortcut.
    ///
    /// # Panics
    /// When `a` has another number of blocks than the spec.
    pub fn with_tiny_arch(&self, a: &Arch) -> AugNetConfig {
        assert_eq!(a.blocks.len(), self.spec.blocks.len(), "one [mid, out] per block");
        let mut c = self.clone();
        let s = &mut c.spec;
        s.stem = a.stem;
        s.ds = if s.ds_shortcut { a.stem } else { a.ds };
        let mut cur = s.ds;
        let own = self.spec_ops();
        for (i, ((b, &[m, o]), &k)) in s.blocks.iter_mut().zip(&a.blocks).zip(&a.kernels).enumerate() {
            b.kernel = k;
            if a.ops[i] != own[i] {
                let [pw, dw] = a.ops[i];
                (b.conv, b.depthwise) = (Some(pw), (dw != pw).then_some(dw));
            }
            let shortcut = b.has_shortcut();
            let out = if shortcut { cur } else { o };
            // A skipped block stays in the augmented model at its base expansion ratio.
            let [bi, bm, _] = b.channels;
            let mid = match m {
                0 if cur == bi => bm,
                0 => make_divisible(cur as f32 * bm as f32 / bi as f32),
                m => m,
            };
            b.channels = [cur, mid, out];
            b.aug_only = m == 0;
            if !shortcut {
                b.shortcut = Some(false);
            }
            cur = out;
        }
        if s.head.is_some() {
            s.head = Some(a.head);
        }
        c
    }

    /// Widths for per-layer width factors `wf(i)` (i = 0 stem, 1 DS, 2 + b block b, last head)
    /// and expand factors `ef(b)`; blocks with a shortcut keep their input width.
    pub(crate) fn arch_with(&self, wf: impl Fn(usize) -> f32, ef: impl Fn(usize) -> f32) -> Arch {
        let s = &self.spec;
        let wd = |base: usize, f: f32| {
            if f == 1.0 { base } else { make_divisible(base as f32 * f) }
        };
        let stem = wd(s.stem, wf(0));
        let ds = if s.ds_shortcut { stem } else { wd(s.ds, wf(1)) };
        let mut cur = ds;
        let mut blocks = Vec::with_capacity(s.blocks.len());
        for (i, b) in s.blocks.iter().enumerate() {
            let [bi, bm, bo] = b.channels;
            let ratio = bm as f32 / bi as f32;
            let e = ef(i);
            let mid = if cur == bi && e == 1.0 { bm } else { make_divisible(cur as f32 * ratio * e) };
            let out = if b.has_shortcut() { cur } else { wd(bo, wf(2 + i)) };
            blocks.push([mid, out]);
            cur = out;
        }
        let head = s.head.map_or(0, |h| wd(h, wf(2 + s.blocks.len())));
        Arch { stem, ds, blocks, head, kernels: s.blocks.iter().map(|b| b.kernel).collect(), ops: self.spec_ops() }
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

    /// Sub-network `i` of `step` (stage 1, [`AugConfig::subnets`](super::AugConfig::subnets)):
    /// every width factor drawn from `subnetShrink ∪ widthList`, every expand factor from
    /// `subnetShrink ∪ expandList`, each uniformly and independently, never above the stored
    /// widths; with `subnetDepth`, each block with a shortcut then skipped with probability 1/2
    /// (middle width 0), and with [`subnetKernels`](super::AugConfig::subnet_kernels) each
    /// kept block's depthwise kernel drawn uniformly from [`kernel_choices`](Self::kernel_choices),
    /// and with [`subnetOps`](super::AugConfig::subnet_ops) its operators from
    /// [`op_choices`](Self::op_choices). Deterministic in `aug.seed`, `step` and `i`;
    /// independent of [`sample_arch`](Self::sample_arch).
    pub fn sample_subnet(&self, step: usize, i: usize) -> Arch {
        let seed = self.aug.seed ^ (step as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (i as u64 + 1).wrapping_mul(0xD1B5_4A32_D192_ED03);
        let rng = std::cell::RefCell::new(Rng::new(seed));
        let shrink = &self.aug.subnet_shrink;
        let (wl, el) = (factor_union(shrink, &self.aug.width_list), factor_union(shrink, &self.aug.expand_list));
        let pick = |list: &[f32]| list[rng.borrow_mut().below(list.len())];
        let mut a = self.arch_with(|_| pick(&wl), |_| pick(&el)).min(&self.max_arch());
        // The tiny model's blocks of the augmented model only stay out of every MF model.
        for (w, b) in a.blocks.iter_mut().zip(&self.spec.blocks) {
            if b.aug_only || (self.aug.subnet_depth && b.has_shortcut() && rng.borrow_mut().below(2) == 0) {
                w[0] = 0;
            }
        }
        // Drawn after the depth, so that runs without kernels or operators draw the same widths
        // and depths.
        if !self.aug.subnet_kernels.is_empty() {
            for (b, k) in a.kernels.iter_mut().enumerate() {
                let choices = self.kernel_choices(b);
                *k = choices[rng.borrow_mut().below(choices.len())];
            }
        }
        if !self.aug.subnet_ops.is_empty() {
            for (b, op) in a.ops.iter_mut().enumerate() {
                let choices = self.op_choices(b);
                *op = choices[rng.borrow_mut().below(choices.len())];
            }
        }
        a
    }
}
