//! The layer plan of a supernet: the one walk over stem → DS block → MBConv blocks (with their
//! SE) → head → final conv → classifier, at the widths of an [`Arch`]. Every consumer reads it:
//! [`AugNetConfig::init`] and the import build the modules from it, the forward pass
//! ([`AugNet::features`]) runs them in its order, [`AugNet::layers`] and the export list them by
//! it, and the cost model ([`AugNetConfig::tiny_layers`]) counts on it.

use super::RemapKind;
use super::blocks::{Classifier, DynLinear, DynMbConv, DynSe, se_width};
use super::config::{Arch, AugNetConfig};
use super::dyn_layers::{DynConv, DynConvBn};
use super::net::AugNet;
use crate::error::Result;
use crate::models::Act;
use crate::nn::{ConvKind, DynBn};
use burn::tensor::Device;

/// Where a layer sits in the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    /// The 3×3 stem conv.
    Stem,
    /// The DS block's 3×3 depthwise conv.
    DsDepthwise,
    /// The DS block's 1×1 conv.
    DsPointwise,
    /// Block `b`'s 1×1 expansion.
    Expand(usize),
    /// Block `b`'s k×k depthwise conv.
    Depthwise(usize),
    /// Block `b`'s squeeze-and-excitation reduction (dense, with bias).
    SeReduce(usize),
    /// Block `b`'s squeeze-and-excitation expansion (dense, with bias).
    SeExpand(usize),
    /// Block `b`'s 1×1 projection.
    Project(usize),
    /// The 1×1 head conv.
    Head,
    /// MobileNetV3's final conv on the pooled features (dense, with bias, then h-swish).
    Final,
    /// The classifier on the pooled features: dense with bias (Mult), or an MF 1×1 conv + BN.
    Classifier,
}

impl Slot {
    /// The layer's tensor-name prefix in an export (docs/FORMAT.md), e.g. `blocks.3.expand`.
    pub fn name(self) -> String {
        match self {
            Slot::Stem => "stem".into(),
            Slot::DsDepthwise => "ds.dw".into(),
            Slot::DsPointwise => "ds.pw".into(),
            Slot::Expand(b) => format!("blocks.{b}.expand"),
            Slot::Depthwise(b) => format!("blocks.{b}.depthwise"),
            Slot::SeReduce(b) => format!("blocks.{b}.se.reduce"),
            Slot::SeExpand(b) => format!("blocks.{b}.se.expand"),
            Slot::Project(b) => format!("blocks.{b}.project"),
            Slot::Head => "head".into(),
            Slot::Final => "final".into(),
            Slot::Classifier => "classifier".into(),
        }
    }

    /// Whether the layer reads the pooled features (one value per channel) rather than a map.
    pub fn pooled(self) -> bool {
        matches!(self, Slot::Final | Slot::Classifier)
    }
}

/// One layer of a plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlannedLayer {
    /// Where it sits.
    pub slot: Slot,
    /// Its operator (`Mult` for the dense layers).
    pub op: ConvKind,
    /// A dense layer with bias (SE, final conv, Mult classifier); otherwise a conv + BatchNorm.
    pub dense: bool,
    /// `[in, out]` channels at the plan's widths.
    pub io: [usize; 2],
    /// Kernel size (1 for dense layers).
    pub kernel: usize,
    /// Stride (1 for dense layers).
    pub stride: usize,
    /// Depthwise (one input channel per output).
    pub depthwise: bool,
    /// The activation after the layer (after its BatchNorm). The SE's own ReLU and hard
    /// sigmoid belong to the SE block and are not listed.
    pub act: Act,
}

impl PlannedLayer {
    fn conv(slot: Slot, op: ConvKind, io: [usize; 2], kernel: usize, stride: usize, depthwise: bool, act: Act) -> Self {
        Self { slot, op, dense: false, io, kernel, stride, depthwise, act }
    }

    fn dense(slot: Slot, io: [usize; 2], act: Act) -> Self {
        Self { slot, op: ConvKind::Mult, dense: true, io, kernel: 1, stride: 1, depthwise: false, act }
    }
}

impl AugNetConfig {
    /// The network's layers in forward order at widths `a` (the tiny, the largest or a sampled
    /// architecture of this config); a block of middle width 0 in `a` has none.
    pub fn plan(&self, a: &Arch) -> Vec<PlannedLayer> {
        use PlannedLayer as L;
        let s = &self.spec;
        let max = self.max_arch();
        let dw_op = self.depthwise.unwrap_or(self.conv);
        let mut v = vec![
            L::conv(Slot::Stem, self.stem_conv, [self.input_shape[0], a.stem], 3, self.stem_stride, false, s.stem_act),
            L::conv(Slot::DsDepthwise, dw_op, [a.stem, a.stem], 3, 1, true, s.ds_act),
            L::conv(Slot::DsPointwise, self.conv, [a.stem, a.ds], 1, 1, false, Act::None),
        ];
        let mut cur = a.ds;
        for (b, (((bs, &[m, o]), &[max_m, _]), &k)) in s.blocks.iter().zip(&a.blocks).zip(&max.blocks).zip(&a.kernels).enumerate() {
            if m == 0 {
                // Not in this model: identity through the shortcut.
                continue;
            }
            let [pw, dw] = a.ops[b];
            v.push(L::conv(Slot::Expand(b), pw, [cur, m], 1, 1, false, bs.act));
            v.push(L::conv(Slot::Depthwise(b), dw, [m, m], k, bs.stride, true, bs.act));
            if bs.se {
                // `make_divisible` is not monotone: never above the stored hidden width.
                let hidden = se_width(m).min(se_width(max_m));
                v.push(L::dense(Slot::SeReduce(b), [m, hidden], Act::None));
                v.push(L::dense(Slot::SeExpand(b), [hidden, m], Act::None));
            }
            v.push(L::conv(Slot::Project(b), pw, [m, o], 1, 1, false, Act::None));
            cur = o;
        }
        if s.head.is_some() {
            v.push(L::conv(Slot::Head, self.conv, [cur, a.head], 1, 1, false, s.stem_act));
        }
        let mut features = a.features();
        if let Some(w) = s.final_conv {
            v.push(L::dense(Slot::Final, [features, w], Act::Hswish));
            features = w;
        }
        let io = [features, self.num_classes];
        v.push(match self.classifier {
            ConvKind::Mult => L::dense(Slot::Classifier, io, Act::None),
            kind => L::conv(Slot::Classifier, kind, io, 1, 1, false, Act::None),
        });
        v
    }

    /// The tiny model's layers for the cost model ([`crate::cost`]), in forward order: each
    /// convolution with its operator, the SE and final FCs (Mult, as 1×1 layers over one pixel)
    /// and the classifier, as [`plan`](Self::plan) lists them at the tiny widths. The classifier
    /// is costed as its operator's dense layer. The parameter count and the peak activation are
    /// counted on them too.
    pub fn tiny_layers(&self) -> Vec<crate::cost::Layer> {
        use crate::cost::{Layer, Timing};
        use crate::infer::format::{Act as A, Op};
        use crate::infer::kernels::Geometry;
        let op = |k: ConvKind| match k {
            ConvKind::Mult => Op::Mult,
            ConvKind::Shift => Op::Shift,
            ConvKind::Add => Op::Add,
        };
        let act = |a: Act| match a {
            Act::Relu6 => A::Relu6,
            Act::Relu => A::Relu,
            Act::Hswish => A::Hswish,
            Act::None => A::None,
        };
        let [_, h, w] = self.input_shape;
        let mut size = [h, w];
        self.plan(&self.tiny_arch())
            .into_iter()
            .map(|p| {
                let [cin, cout] = p.io;
                let on_map = !p.dense && !p.slot.pooled();
                let [h, w] = if on_map { size } else { [1, 1] };
                let groups = if p.depthwise { cin } else { 1 };
                let geo = Geometry { cin, cout, k: p.kernel, stride: p.stride, pad: p.kernel / 2, groups, h, w };
                if on_map {
                    let (ho, wo) = geo.out();
                    size = [ho, wo];
                }
                let layer = Layer::new(p.slot.name(), op(p.op), geo).with_act(act(p.act));
                match p.slot {
                    Slot::SeReduce(_) => layer.with_bias().timed(Timing::SeBlock { plane: size[0] * size[1] }),
                    Slot::SeExpand(_) => layer.with_bias().timed(Timing::InSeBlock),
                    _ if p.dense => layer.with_bias(),
                    // Convs keep `Layer::new`'s BatchNorm; an MF classifier is a 1×1 conv with a
                    // BatchNorm over the classes.
                    _ => layer,
                }
            })
            .collect()
    }

    /// The tiny model's peak activation values for one image, as [`crate::cost::peak_activation`]
    /// counts them on its export: the largest, over the forward steps, of a step's input plus its
    /// output plus the shortcut input held meanwhile (remembering a shortcut input and adding it
    /// back are steps too).
    pub fn tiny_peak_activation(&self) -> u64 {
        self.peak_activation_of(&self.tiny_layers())
    }

    /// [`tiny_peak_activation`](Self::tiny_peak_activation) from this config's
    /// [`tiny_layers`](Self::tiny_layers), already computed.
    pub fn peak_activation_of(&self, layers: &[crate::cost::Layer]) -> u64 {
        let s = &self.spec;
        let plan = self.plan(&self.tiny_arch());
        debug_assert_eq!(plan.len(), layers.len(), "tiny_layers lists the plan");
        let mut peak = self.input_shape.iter().product::<usize>() as u64;
        // `x`: the current map; `y`: the depthwise output an SE gates; `held`: a shortcut input
        // kept aside; `last`: channels of the last map, which pooling reads.
        let (mut x, mut y, mut held, mut last, mut pooled) = (0u64, 0u64, 0u64, 0u64, false);
        for (p, l) in plan.iter().zip(layers) {
            let (ho, wo) = l.geo.out();
            let (i, o) = ((l.geo.cin * l.geo.h * l.geo.w) as u64, (l.geo.cout * ho * wo) as u64);
            // Runs the layer with `held` values kept aside; its output size.
            let step = |peak: &mut u64, held: u64| {
                *peak = (*peak).max(i + o + held);
                o
            };
            let shortcut = |b: usize| s.blocks[b].has_shortcut();
            match p.slot {
                Slot::Stem | Slot::Head => x = step(&mut peak, 0),
                Slot::DsDepthwise | Slot::Expand(_) => {
                    let keep = match p.slot {
                        Slot::Expand(b) => shortcut(b),
                        _ => s.ds_shortcut,
                    };
                    held = if keep { x } else { 0 };
                    // Remembering `x` for a shortcut: input, output and the copy.
                    peak = peak.max(3 * held);
                    y = step(&mut peak, held);
                }
                Slot::Depthwise(_) => y = step(&mut peak, held),
                // The excitation scales its input: input and output of one size.
                Slot::SeReduce(_) => peak = peak.max(2 * y + held),
                Slot::SeExpand(_) => {}
                Slot::DsPointwise | Slot::Project(_) => {
                    x = step(&mut peak, held);
                    if held > 0 {
                        peak = peak.max(2 * x);
                    }
                    held = 0;
                }
                Slot::Final | Slot::Classifier => {
                    if !pooled {
                        // Pooling: the last map and one value per channel.
                        pooled = true;
                        peak = peak.max(x + last);
                    }
                    if !p.dense || p.slot == Slot::Final {
                        step(&mut peak, 0);
                    }
                }
            }
            if !p.dense && !p.slot.pooled() {
                last = l.geo.cout as u64;
            }
        }
        peak
    }

    /// A conv + BN of the plan, stored at `p.io` (the largest widths in a supernet), its weights
    /// drawn from `seed`.
    fn new_conv(&self, p: &PlannedLayer, seed: u64, device: &Device) -> DynConvBn {
        let remap =
            if !self.aug.enabled || (p.op == ConvKind::Shift && !self.aug.remap_for_shift) { RemapKind::R0 } else { self.aug.remap };
        let mut conv = DynConv::new(p.op, p.io, p.kernel, p.stride, p.depthwise, remap, self.adder_std, seed, device);
        conv.remap.fc_grad = self.aug.remap_fc_grad;
        let mut layer = DynConvBn::new(conv, DynBn::new(p.io[1], device));
        if self.aug.subnet_op_bn {
            layer.op_bn_kinds = self.other_ops(p.slot, p.op);
            layer.op_bn = layer.op_bn_kinds.iter().map(|_| DynBn::new(p.io[1], device)).collect();
        }
        layer
    }

    /// The operators other than `own` that sub-networks run the conv at `slot` as (a block's
    /// [`op_choices`](Self::op_choices) at the conv's position), in choice order.
    fn other_ops(&self, slot: Slot, own: ConvKind) -> Vec<ConvKind> {
        let (b, at) = match slot {
            Slot::Expand(b) | Slot::Project(b) => (b, 0),
            Slot::Depthwise(b) => (b, 1),
            _ => return Vec::new(),
        };
        let mut v: Vec<ConvKind> = Vec::new();
        for ops in self.op_choices(b) {
            if ops[at] != own && !v.contains(&ops[at]) {
                v.push(ops[at]);
            }
        }
        v
    }

    /// Builds the supernet (weights at the largest widths).
    ///
    /// # Errors
    /// As [`validate`](Self::validate).
    pub fn init(&self, device: &Device) -> Result<AugNet> {
        self.validate()?;
        let mut seed = self.aug.seed.wrapping_mul(31).wrapping_add(7);
        let plan = self.plan(&self.max_arch());
        AugNet::assemble(
            self.clone(),
            &plan,
            |p| {
                seed = seed.wrapping_add(1);
                Ok(self.new_conv(p, seed, device))
            },
            |p| Ok(DynLinear::new(p.io[0], p.io[1], device)),
        )
    }

    /// The conv + BN of the plan the import fills with stored weights (fresh weights of seed 0).
    pub(crate) fn conv_template(&self, p: &PlannedLayer, device: &Device) -> DynConvBn {
        self.new_conv(p, 0, device)
    }
}

impl AugNet {
    /// The supernet of `config` whose layers, in the order of `plan`, `conv` (conv + BN layers)
    /// and `linear` (dense layers) build. `plan` is `config`'s plan at the widths the layers are
    /// stored at.
    ///
    /// # Errors
    /// The first error of `conv` or `linear`; nothing is built then.
    pub(crate) fn assemble(
        config: AugNetConfig,
        plan: &[PlannedLayer],
        mut conv: impl FnMut(&PlannedLayer) -> Result<DynConvBn>,
        mut linear: impl FnMut(&PlannedLayer) -> Result<DynLinear>,
    ) -> Result<AugNet> {
        let mut convs = std::collections::VecDeque::new();
        let mut linears = std::collections::VecDeque::new();
        for p in plan {
            if p.dense { linears.push_back(linear(p)?) } else { convs.push_back(conv(p)?) }
        }
        // The plan lists every layer the config has, in this order.
        let mut c = || convs.pop_front().expect("a conv layer of the plan");
        let mut l = || linears.pop_front().expect("a dense layer of the plan");
        let (stem, ds_dw, ds_pw) = (c(), c(), c());
        let blocks = config
            .spec
            .blocks
            .iter()
            .map(|b| {
                let (expand, depthwise) = (c(), c());
                let se = b.se.then(|| DynSe { reduce: l(), expand: l() });
                DynMbConv { expand, depthwise, se, project: c() }
            })
            .collect();
        let head = config.spec.head.map(|_| c());
        let final_conv = config.spec.final_conv.map(|_| l());
        let classifier = match config.classifier {
            ConvKind::Mult => Classifier::Mult(l()),
            _ => Classifier::Mf(c()),
        };
        Ok(AugNet { stem, ds_dw, ds_pw, blocks, head, final_conv, classifier, config })
    }

    /// The conv + BN layer at `slot`; `None` for a dense slot (or a slot this model lacks).
    pub(crate) fn conv_at(&self, slot: Slot) -> Option<&DynConvBn> {
        match slot {
            Slot::Stem => Some(&self.stem),
            Slot::DsDepthwise => Some(&self.ds_dw),
            Slot::DsPointwise => Some(&self.ds_pw),
            Slot::Expand(b) => self.blocks.get(b).map(|b| &b.expand),
            Slot::Depthwise(b) => self.blocks.get(b).map(|b| &b.depthwise),
            Slot::Project(b) => self.blocks.get(b).map(|b| &b.project),
            Slot::Head => self.head.as_ref(),
            Slot::Classifier => match &self.classifier {
                Classifier::Mf(l) => Some(l),
                Classifier::Mult(_) => None,
            },
            Slot::SeReduce(_) | Slot::SeExpand(_) | Slot::Final => None,
        }
    }

    /// Every conv + BN layer with its slot, mutable (what [`conv_at`](Self::conv_at) reads).
    pub(crate) fn convs_mut(&mut self) -> Vec<(Slot, &mut DynConvBn)> {
        let mut v = vec![(Slot::Stem, &mut self.stem), (Slot::DsDepthwise, &mut self.ds_dw), (Slot::DsPointwise, &mut self.ds_pw)];
        for (b, blk) in self.blocks.iter_mut().enumerate() {
            v.extend([(Slot::Expand(b), &mut blk.expand), (Slot::Depthwise(b), &mut blk.depthwise), (Slot::Project(b), &mut blk.project)]);
        }
        if let Some(h) = &mut self.head {
            v.push((Slot::Head, h));
        }
        if let Classifier::Mf(l) = &mut self.classifier {
            v.push((Slot::Classifier, l));
        }
        v
    }

    /// The BatchNorms of the tiny model's plan, in its order, each the one of the operator the
    /// plan runs the layer as ([`DynConvBn::bn_for`]; a block of the augmented model only has
    /// none there).
    pub(crate) fn tiny_bns_mut(&mut self) -> Vec<&mut DynBn> {
        let plan = self.config.plan(&self.config.tiny_arch());
        let mut convs = self.convs_mut();
        plan.iter()
            .filter(|p| !p.dense)
            .map(|p| {
                let i = convs.iter().position(|(s, _)| *s == p.slot).expect("a conv of the plan");
                convs.swap_remove(i).1.bn_for_mut(p.op)
            })
            .collect()
    }

    /// The dense layer at `slot`; `None` for a conv slot (or a slot this model lacks).
    pub(crate) fn linear_at(&self, slot: Slot) -> Option<&DynLinear> {
        match slot {
            Slot::SeReduce(b) => self.blocks.get(b)?.se.as_ref().map(|s| &s.reduce),
            Slot::SeExpand(b) => self.blocks.get(b)?.se.as_ref().map(|s| &s.expand),
            Slot::Final => self.final_conv.as_ref(),
            Slot::Classifier => match &self.classifier {
                Classifier::Mult(l) => Some(l),
                Classifier::Mf(_) => None,
            },
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::NetSpec;

    /// Every layer of `plan` is in `net` with the plan's operator and shape, and `net` has no
    /// other layer.
    fn check(net: &AugNet, plan: &[PlannedLayer]) {
        for p in plan {
            let name = p.slot.name();
            if p.dense {
                let l = net.linear_at(p.slot).unwrap_or_else(|| panic!("no dense {name}"));
                assert_eq!(l.weight.dims(), p.io, "{name}");
                assert!(net.conv_at(p.slot).is_none(), "{name}");
            } else {
                let l = net.conv_at(p.slot).unwrap_or_else(|| panic!("no conv {name}"));
                let cin = if p.depthwise { 1 } else { p.io[0] };
                assert_eq!(l.conv.weight.dims(), [p.io[1], cin, p.kernel, p.kernel], "{name}");
                assert_eq!((l.conv.kind, l.conv.stride, l.conv.depthwise), (p.op, p.stride, p.depthwise), "{name}");
                assert_eq!(l.bn.gamma.dims(), [p.io[1]], "{name}");
            }
        }
        let convs = plan.iter().filter(|p| !p.dense).count();
        let se = net.blocks.iter().filter(|b| b.se.is_some()).count();
        let mult_classifier = matches!(net.classifier, Classifier::Mult(_)) as usize;
        assert_eq!(plan.len() - convs, 2 * se + net.final_conv.is_some() as usize + mult_classifier);
        assert_eq!(convs, 3 + 3 * net.blocks.len() + net.head.is_some() as usize + 1 - mult_classifier);
    }

    /// The supernet `init` builds is its plan at the largest widths, and its static tiny model
    /// the plan at the tiny widths, for every zoo model (SE, head, final conv) with a Mult and
    /// an MF classifier and a block with operators of its own, with depthwise banks wider than
    /// the tiny kernels; `layers` lists the plan's convs.
    #[test]
    fn modules_are_the_plan() {
        let device = Device::flex();
        let specs = [NetSpec::mbv2_tiny(), NetSpec::mcunet(), NetSpec::proxyless_035(), NetSpec::mobilenet_v3_035()];
        for (mut spec, classifier) in specs.into_iter().zip([ConvKind::Mult, ConvKind::Add, ConvKind::Shift, ConvKind::Mult]) {
            (spec.blocks[1].conv, spec.blocks[1].depthwise) = (Some(ConvKind::Mult), Some(ConvKind::Add));
            let mut cfg = AugNetConfig { spec, classifier, ..AugNetConfig::new([1, 32, 32], 10, ConvKind::Shift) };
            // Elastic kernels: depthwise banks stored at 5×5 (7×7 where the spec has 7), the
            // static tiny model at the spec's kernels.
            (cfg.aug.subnets, cfg.aug.subnet_kernels) = (1, vec![5]);
            let (tiny, max) = (cfg.tiny_arch(), cfg.max_arch());
            assert_ne!(tiny, max, "augmented widths");
            assert!(max.kernels.iter().zip(&cfg.spec.blocks).all(|(&k, b)| k == b.kernel.max(5)));
            let net = cfg.init(&device).unwrap();
            check(&net, &cfg.plan(&max));
            check(&net.export_tiny(), &cfg.plan(&tiny));
            let listed: Vec<_> = net.layers(&max).into_iter().map(|l| (l.name, l.tiny, l.active)).collect();
            let planned: Vec<_> =
                cfg.plan(&tiny).iter().zip(&cfg.plan(&max)).filter(|(t, _)| !t.dense).map(|(t, m)| (t.slot.name(), t.io, m.io)).collect();
            assert_eq!(listed, planned);
            let mut net = net;
            let bns: Vec<_> = net.tiny_bns_mut().into_iter().map(|bn| bn.gamma.id).collect();
            let planned: Vec<_> = cfg.plan(&tiny).iter().filter(|p| !p.dense).map(|p| net.conv_at(p.slot).unwrap().bn.gamma.id).collect();
            assert_eq!(bns, planned);
        }
    }
}
