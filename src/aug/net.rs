//! The ShiftAddAug supernet of an MBConv tiny model: stem (Mult by default) → depthwise-separable
//! block → MBConv blocks → optional 1×1 head → average pool → classifier (Mult by default), every
//! layer stored at its largest augmented width.

pub use super::blocks::{Classifier, DynLinear, DynMbConv, DynSe, se_width};
use super::config::{Arch, AugNetConfig};
use super::dyn_layers::{ConvRun, DynConv, DynConvBn};
use super::plan::{PlannedLayer, Slot};
use super::{AugConfig, AugMode, Pass, RemapKind};
use crate::error::{Error, Result};
use crate::models::Act;
use crate::nn::ConvKind;
use crate::nn::DynBn;
use crate::train::{ImageClassifier, Progress};
use burn::module::{Module, Param, ParamId};
use burn::tensor::Tensor;
use burn::tensor::module::adaptive_avg_pool2d;

/// The supernet; see [`AugNetConfig`].
#[derive(Module, Debug)]
pub struct AugNet {
    /// Stem (`config.stem_conv`, Mult by default).
    pub stem: DynConvBn,
    /// DS block depthwise.
    pub ds_dw: DynConvBn,
    /// DS block pointwise.
    pub ds_pw: DynConvBn,
    /// MBConv blocks.
    pub blocks: Vec<DynMbConv>,
    /// Head 1×1 conv.
    pub head: Option<DynConvBn>,
    /// Multiplicative 1×1 conv with bias after pooling (MobileNetV3), `[max_features, width]`.
    pub final_conv: Option<DynLinear>,
    /// Classifier (`config.classifier`, Mult by default).
    pub classifier: Classifier,
    /// The configuration it was built from.
    #[module(skip)]
    pub config: AugNetConfig,
}

/// One conv + BN of a supernet, as [`AugNet::layers`] lists it.
pub struct LayerRef<'a> {
    /// Tensor-name prefix, e.g. `blocks.3.expand`.
    pub name: String,
    /// The layer.
    pub layer: &'a DynConvBn,
    /// Activation after the BN.
    pub act: Act,
    /// `[in, out]` widths in the tiny model (`[0, 0]` for a layer of the augmented model only).
    pub tiny: [usize; 2],
    /// `[in, out]` widths in the model of the widths asked for.
    pub active: [usize; 2],
    /// Kernel size in the model asked for (at most the stored bank's).
    pub kernel: usize,
    /// Operator of the target channels in the model asked for.
    pub op: ConvKind,
}

impl AugNet {
    /// Logits of the model with widths `a` computed as `pass` (`a` must be the tiny arch for
    /// [`Pass::Tiny`]; for [`Pass::Sub`] `a` is the MF model's own target widths: the logits
    /// are the tiny pass of [`AugNetConfig::with_tiny_arch`]`(a)` on these weights).
    ///
    /// # Shapes
    /// - `x`: `[n, c, h, w]` → `[n, classes]`
    ///
    /// # Errors
    /// [`Error::Shape`] when `x` does not match the input shape.
    pub fn forward(&self, x: Tensor<4>, a: &Arch, pass: Pass) -> Result<Tensor<2>> {
        let f = self.features(x, a, pass)?;
        let t_f = match pass {
            Pass::Sub => self.config.spec.final_conv.unwrap_or(a.features()),
            _ => self.tiny_features(),
        };
        Ok(self.classifier.forward(f, t_f, pass))
    }

    /// The features entering the classifier: pooled, `[n, a.features()]`, or after the final
    /// conv, `[n, final_conv]`; see [`forward`](Self::forward). Runs the layers of
    /// [`AugNetConfig::plan`] at widths `a` in its order, each with the tiny model's widths of the
    /// same slot.
    ///
    /// # Errors
    /// [`Error::Shape`] when `x` does not match the input shape.
    pub fn features(&self, x: Tensor<4>, a: &Arch, pass: Pass) -> Result<Tensor<2>> {
        let [n, c, h, w] = x.dims();
        if [c, h, w] != self.config.input_shape {
            return Err(Error::Shape(format!("model expects images {:?}, got {:?}", self.config.input_shape, [c, h, w])));
        }
        let spec = &self.config.spec;
        let plan = self.config.plan(a);
        let tiny = if pass == Pass::Sub { plan.clone() } else { self.config.plan(&self.config.tiny_arch()) };
        // The map; a shortcut input held from a block's first layer to its last one.
        let (mut x, mut held) = (x, None);
        for p in plan.iter().filter(|p| !p.slot.pooled()) {
            match p.slot {
                Slot::DsDepthwise if spec.ds_shortcut => held = Some(x.clone()),
                Slot::Expand(b) if spec.blocks[b].has_shortcut() => held = Some(x.clone()),
                _ => {}
            }
            x = match p.slot {
                Slot::SeReduce(b) => self.blocks[b].se.as_ref().expect("the SE of the plan").forward(x),
                // `DynSe::forward` ran both dense layers.
                Slot::SeExpand(_) => x,
                slot => {
                    // The tiny model's widths of the layer. A layer the tiny model lacks belongs to
                    // a block of the augmented model only (depth augmentation): an augmented pass
                    // runs it as Mult at its widths.
                    let (t, pass) = match tiny.iter().find(|t| t.slot == slot) {
                        Some(t) => (t.io, pass),
                        None => (p.io, Pass::Aug(AugMode::B)),
                    };
                    self.conv_at(slot).expect("a conv of the plan").forward(
                        x,
                        ConvRun { t, a: p.io, kernel: p.kernel, op: p.op },
                        pass,
                        p.act,
                    )
                }
            };
            if matches!(p.slot, Slot::DsPointwise | Slot::Project(_))
                && let Some(s) = held.take()
            {
                x = s + x;
            }
        }
        let pooled = adaptive_avg_pool2d(x, [1, 1]).reshape([n, a.features()]);
        Ok(match (&self.final_conv, plan.iter().find(|p| p.slot == Slot::Final)) {
            (Some(f), Some(p)) => p.act.apply(f.forward(pooled, p.io[1])),
            _ => pooled,
        })
    }

    /// Input width of the tiny model's classifier (the final conv's width, else the tiny features).
    pub(crate) fn tiny_features(&self) -> usize {
        self.config.spec.final_conv.unwrap_or(self.config.tiny_arch().features())
    }

    /// Every dynamic conv + BN in forward order (the MF classifier last), with its tensor-name
    /// prefix, activation and the tiny model's `[in, out]` widths.
    pub(crate) fn tiny_layers(&self) -> Vec<(String, &DynConvBn, Act, [usize; 2])> {
        self.layers(&self.config.tiny_arch()).into_iter().map(|l| (l.name, l.layer, l.act, l.tiny)).collect()
    }

    /// Every dynamic conv + BN in forward order (the MF classifier last) with the widths it has
    /// in the tiny model and in the model of widths `a` ([`AugNetConfig::plan`]).
    pub fn layers(&self, a: &Arch) -> Vec<LayerRef<'_>> {
        let tiny = self.config.plan(&self.config.tiny_arch());
        self.config
            .plan(a)
            .iter()
            .filter_map(|x| {
                let layer = self.conv_at(x.slot)?;
                // `[0, 0]`: not in the tiny model (a block of the augmented model only).
                let t = tiny.iter().find(|t| t.slot == x.slot).map_or([0, 0], |t| t.io);
                Some(LayerRef { name: x.slot.name(), layer, act: x.act, tiny: t, active: x.io, kernel: x.kernel, op: x.op })
            })
            .collect()
    }

    /// Learnable parameters of the tiny model (slices), counted like a static model: conv
    /// weights, BN scale and shift, SE, final conv, classifier. Remap parameters are training-only.
    pub fn tiny_param_count(&self) -> usize {
        self.config.tiny_layers().iter().map(crate::cost::Layer::params).sum::<u64>() as usize
    }

    /// Re-sorts every MBConv's middle channels by importance `Σ |W_project[:, c]|` (descending,
    /// over the whole bank): a pure permutation of expand rows, depthwise channels, their BNs,
    /// SE and project columns. The widest model's function is unchanged (in all-Mult mode B);
    /// the tiny model now owns the most important channels.
    ///
    /// Parameter ids are kept, so an optimiser's per-parameter state (SGD momentum, Adam
    /// moments) is *not* permuted with the values: after a sort at a step > 0 it acts on the
    /// channels' old positions until it decays. The training loop sorts at the start of each
    /// epoch while width augmentation is on; at step 0 no state exists yet.
    pub fn sort_channels(self) -> Self {
        let blocks = self
            .blocks
            .into_iter()
            .map(|b| {
                let imp = b.project.conv.weight.val().detach().abs().sum_dim(3).sum_dim(2).sum_dim(0);
                let n = imp.dims()[1];
                b.permute_mid(imp.reshape([n]).argsort_descending(0))
            })
            .collect();
        Self { blocks, ..self }
    }

    /// The static tiny model: a supernet whose widths are the tiny ones, with `R` folded into
    /// the MF weights (remap R0 afterwards), BN statistics and the classifier sliced. Its tiny
    /// pass computes the same values as this model's tiny pass (PoT of the same weights for
    /// Shift; the same adder weights for Add).
    pub fn export_tiny(&self) -> AugNet {
        let mut config = self.config.clone();
        config.aug = AugConfig { remap: RemapKind::R0, ..AugConfig::direct() };
        config.adder_std = None;
        // The blocks of the augmented model only are left out.
        config.spec.blocks.retain(|b| !b.aug_only);
        // Layer `l` as the tiny plan's `p` runs it: its widths, kernel and operator.
        let fold = |l: &DynConvBn, p: &PlannedLayer| -> DynConvBn {
            let ([i, o], k, op) = (p.io, p.kernel, p.op);
            let w = l.conv.weight.val().detach();
            let w = if l.conv.depthwise { w.narrow(0, 0, o) } else { w.narrow(0, 0, o).narrow(1, 0, i) };
            // The plan's operator: the layer's own, or the one a searched candidate gave it.
            let w = match op {
                ConvKind::Mult => w,
                ConvKind::Shift => l.conv.remap.apply(w),
                ConvKind::Add => l.conv.remap.apply(w).mul_scalar(l.conv.adder_gain),
            };
            // The tiny kernel: the centre of the bank, after the remap (as the tiny pass reads it).
            let c = (l.conv.kernel - k) / 2;
            let w = w.narrow(2, c, k).narrow(3, c, k).detach();
            let device = w.device();
            let rg = |t: Tensor<1>| Param::from_tensor(t.detach());
            // The BatchNorm the plan's operator runs with.
            let from = l.bn_for(op);
            let bn = DynBn {
                gamma: rg(from.gamma.val().narrow(0, 0, o)),
                beta: rg(from.beta.val().narrow(0, 0, o)),
                running_mean: burn::module::RunningState::new(from.running_mean.value().narrow(0, 0, o)),
                running_var: burn::module::RunningState::new(from.running_var.value().narrow(0, 0, o)),
                momentum: from.momentum,
                mode: from.mode,
            };
            let remap = super::Remap::new(RemapKind::R0, k, 0, 0, &device);
            DynConvBn::new(
                DynConv { weight: Param::from_tensor(w), remap, kind: op, kernel: k, adder_gain: 1.0, adder_std: 1.0, ..l.conv.clone() },
                bn,
            )
        };
        let plan = self.config.plan(&self.config.tiny_arch());
        // A supernet has every layer of its own plan.
        let layer = |p: &PlannedLayer| Ok(fold(self.conv_at(p.slot).expect("a conv of the plan"), p));
        let linear = |p: &PlannedLayer| Ok(self.linear_at(p.slot).expect("a dense layer of the plan").slice(p.io[0], p.io[1]));
        AugNet::assemble(config, &plan, layer, linear).expect("the closures do not fail")
    }

    /// R4's KL regulariser summed over the MF layers' tiny slices (None for other remaps).
    fn remap_penalty(&self) -> Option<Tensor<1>> {
        if self.config.aug.remap != RemapKind::R4 || !self.config.aug.enabled {
            return None;
        }
        let mut total: Option<Tensor<1>> = None;
        for (_, l, _, [i, o]) in self.tiny_layers() {
            if l.conv.kind == ConvKind::Mult {
                continue;
            }
            let w = l.conv.weight.val();
            let w = if l.conv.depthwise { w.narrow(0, 0, o) } else { w.narrow(0, 0, o).narrow(1, 0, i) };
            if let Some(kl) = l.conv.remap.kl_penalty(l.conv.remap.apply(w)) {
                total = Some(match total {
                    Some(s) => s + kl,
                    None => kl,
                });
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

    /// Every layer's [`DynConv::adder_eta`]: the Add passes scale their weights' gradients in
    /// the forward pass ([`DynConv::mf_weight_as`]).
    fn set_adder_eta(&mut self, eta: Option<f32>) {
        for (_, l) in self.convs_mut() {
            l.conv.adder_eta = eta;
        }
    }

    fn training_passes(&self, x: Tensor<4>, progress: Progress) -> Result<Vec<(Tensor<2>, f32)>> {
        let tiny = self.logits(x.clone())?;
        if !self.config.aug.enabled || (self.config.aug.alpha == 0.0 && self.config.aug.subnets == 0) {
            return Ok(vec![(tiny, 1.0)]);
        }
        let arch = self.config.sample_arch(progress.step, self.widths_augmented(progress));
        let mut passes = vec![(tiny, 1.0)];
        if self.config.aug.alpha > 0.0 {
            passes.push((self.forward(x.clone(), &arch, Pass::Aug(self.config.aug.mode))?, self.config.aug.alpha));
        }
        for i in 0..self.config.aug.subnets {
            let sub = self.config.sample_subnet(progress.step, i);
            passes.push((self.forward(x.clone(), &sub, Pass::Sub)?, self.config.aug.subnet_alpha));
        }
        Ok(passes)
    }

    fn extra_loss(&self) -> Option<Tensor<1>> {
        self.remap_penalty()
    }

    /// The tiny model's BatchNorms, in the order of its plan.
    fn bns_mut(&mut self) -> Vec<&mut DynBn> {
        self.tiny_bns_mut()
    }

    fn begin_epoch(self, progress: Progress) -> Self {
        if self.config.aug.enabled && self.config.aug.sort_channels && self.widths_augmented(progress) {
            self.sort_channels()
        } else {
            self
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::{BlockSpec, NetSpec};
    use burn::tensor::{Device, TensorData};

    fn read<const D: usize>(t: Tensor<D>) -> Vec<f32> {
        crate::engine::block_on(t.into_data_async()).unwrap().try_into_vec_as::<f32>().unwrap()
    }

    /// Stage 1 (METHOD.md §5.3): every sub-network pass is the candidate `search` scores with
    /// inherited weights (the tiny pass of the config with those target widths, bit for bit,
    /// here with MF stem and classifier too), leaves the tiny model's BatchNorm statistics
    /// alone, sends gradients to channels outside the tiny slice, and samples narrower and
    /// wider widths than the tiny model's (and, with `subnetDepth`, skipped blocks; with
    /// `subnetKernels`, other depthwise kernels, the centres of banks stored at the largest; with
    /// `subnetOps`, blocks of the other MF operator),
    /// deterministically per step and index. The static export of a candidate computes its
    /// logits (kernels cropped after the remap, as the pass reads them).
    #[test]
    fn subnet_passes_are_the_searched_candidates() {
        let device = Device::flex().autodiff();
        let b = BlockSpec::new;
        let spec = NetSpec::plain(8, 8, vec![b(3, 2, 8, 16, 8), b(3, 1, 8, 16, 8), b(3, 2, 8, 24, 16)], Some(32));
        let x = Tensor::<4>::from_data(
            TensorData::new((0..3 * 256).map(|i| ((i * 37 % 101) as f32 / 50.0) - 1.0).collect::<Vec<_>>(), [3, 1, 16, 16]),
            &device,
        );
        for conv in [ConvKind::Shift, ConvKind::Add] {
            // Shift: 3×3 blocks with 5×5 banks; Add: 3×3, 5×5 or 7×7 from 7×7 banks.
            let subnet_kernels = if conv == ConvKind::Shift { vec![5] } else { vec![7, 5] };
            // Operators: Shift blocks may run as Add and the other way round.
            let subnet_ops = vec![if conv == ConvKind::Shift { ConvKind::Add } else { ConvKind::Shift }];
            // Shift: a BatchNorm per operator; Add: shared.
            let aug = AugConfig {
                subnets: 2,
                subnet_alpha: 0.3,
                subnet_depth: conv == ConvKind::Add,
                subnet_kernels,
                subnet_ops,
                subnet_op_bn: conv == ConvKind::Shift,
                ..AugConfig::default()
            };
            let cfg =
                AugNetConfig { spec: spec.clone(), aug, stem_conv: conv, classifier: conv, ..AugNetConfig::new([1, 16, 16], 10, conv) };
            let net = cfg.init(&device).unwrap();
            let (tiny, max) = (cfg.tiny_arch(), cfg.max_arch());
            let bank = *cfg.aug.subnet_kernels.iter().max().unwrap();
            assert_eq!(max.kernels, vec![bank; 3]);
            assert_eq!(net.blocks[0].depthwise.conv.weight.dims()[2..], [bank, bank]);
            let mut kernels = std::collections::BTreeSet::new();
            let mut ops = std::collections::BTreeSet::new();
            let (mut narrower, mut wider, mut shallower) = (false, false, false);
            for step in 0..6 {
                for i in 0..2 {
                    let a = cfg.sample_subnet(step, i);
                    assert_eq!(a, cfg.sample_subnet(step, i), "seeded");
                    assert_eq!(a.min(&max), a, "never above the stored widths");
                    narrower |= a.stem < tiny.stem || a.blocks.iter().zip(&tiny.blocks).any(|(s, t)| s[0] < t[0]);
                    wider |= a.stem > tiny.stem || a.blocks.iter().zip(&tiny.blocks).any(|(s, t)| s[0] > t[0]);
                    shallower |= a.blocks.iter().any(|s| s[0] == 0);
                    kernels.extend(a.kernels.iter().copied());
                    ops.extend(a.blocks.iter().zip(&a.ops).filter(|(w, _)| w[0] > 0).map(|(_, o)| format!("{o:?}")));
                    let stats = read(net.stem.bn.running_mean.value_sync());
                    let sub = net.forward(x.clone(), &a, Pass::Sub).unwrap();
                    assert_eq!(read(net.stem.bn.running_mean.value_sync()), stats, "{conv:?}: a sub-network leaves the running statistics");
                    if a.stem > tiny.stem {
                        let grads = sub.clone().sum().backward();
                        let g = read(net.stem.conv.weight.grad(&grads).unwrap().narrow(0, tiny.stem, a.stem - tiny.stem));
                        assert!(g.iter().any(|v| *v != 0.0), "{conv:?}: channels outside the tiny slice learn");
                    }
                    let mut candidate = net.clone();
                    candidate.config = cfg.with_tiny_arch(&a);
                    assert_eq!(candidate.config.tiny_arch(), a);
                    let want = read(candidate.logits(x.clone()).unwrap());
                    assert_eq!(read(sub), want, "{conv:?} step {step} subnet {i}");
                    let exported = read(candidate.export_tiny().logits(x.clone()).unwrap());
                    let scale = want.iter().fold(1e-3f32, |m, v| m.max(v.abs()));
                    assert!(
                        exported.iter().zip(&want).all(|(e, w)| (e - w).abs() <= 1e-4 * scale),
                        "{conv:?} export {exported:?} vs {want:?}"
                    );
                }
            }
            let mut choices = cfg.aug.subnet_kernels.clone();
            choices.push(3);
            choices.sort_unstable();
            assert_eq!(kernels.into_iter().collect::<Vec<_>>(), choices, "every kernel choice drawn");
            assert_eq!(ops.len(), 2, "{conv:?}: both operators drawn for kept blocks: {ops:?}");
            assert!(narrower && wider, "the space has narrower and wider MF models");
            assert_eq!(shallower, cfg.aug.subnet_depth, "blocks are skipped with subnetDepth only");
            assert_ne!(cfg.sample_subnet(0, 0), cfg.sample_subnet(0, 1));
            let passes = net.training_passes(x.clone(), Progress { step: 3, total_steps: Some(10) }).unwrap();
            assert_eq!(passes.iter().map(|p| p.1).collect::<Vec<_>>(), vec![1.0, 0.5, 0.3, 0.3]);
        }
    }

    /// With `subnetOpBn`, a block's convs keep a BatchNorm for the other operator (no other
    /// layer has one): a pass running the block as that operator normalises with it, learns it,
    /// re-estimates it and exports it, and every pass running the block as its own operator
    /// neither reads nor changes it.
    #[test]
    fn each_operator_has_its_own_batchnorm() {
        let device = Device::flex().autodiff();
        let b = BlockSpec::new;
        let spec = NetSpec::plain(8, 8, vec![b(3, 1, 8, 16, 8), b(3, 2, 8, 16, 16)], Some(32));
        let aug = AugConfig { subnets: 1, subnet_ops: vec![ConvKind::Add], subnet_op_bn: true, ..AugConfig::default() };
        let cfg = AugNetConfig { spec, aug, ..AugNetConfig::new([1, 16, 16], 10, ConvKind::Shift) };
        let net = cfg.init(&device).unwrap();
        for p in cfg.plan(&cfg.max_arch()).iter().filter(|p| !p.dense) {
            let l = net.conv_at(p.slot).unwrap();
            let block = matches!(p.slot, Slot::Expand(_) | Slot::Depthwise(_) | Slot::Project(_));
            let want: &[ConvKind] = if block { &[ConvKind::Add] } else { &[] };
            assert_eq!((l.op_bn_kinds.as_slice(), l.op_bn.len()), (want, want.len()), "{:?}", p.slot);
        }
        // Block 0 run as Add; the Add BatchNorms given shifts of their own.
        let mut arch = cfg.tiny_arch();
        arch.ops[0] = [ConvKind::Add; 2];
        let shifted = |n: &AugNet| {
            let mut n = n.clone();
            let b0 = n.blocks.remove(0).map_layers(|mut l| {
                let bn = l.op_bn.remove(0);
                l.op_bn.push(DynBn { beta: Param::from_tensor(bn.beta.val().add_scalar(0.5).detach()), ..bn });
                l
            });
            n.blocks.insert(0, b0);
            n
        };
        let xs = |d: &Device| {
            Tensor::<4>::from_data(
                TensorData::new((0..4 * 256).map(|i| ((i * 29 % 97) as f32 / 48.0) - 1.0).collect::<Vec<_>>(), [4, 1, 16, 16]),
                d,
            )
        };
        let x = xs(&device);
        let tiny = read(net.logits(x.clone()).unwrap());
        let sub = read(net.forward(x.clone(), &arch, Pass::Sub).unwrap());
        let moved = shifted(&net);
        assert_eq!(read(moved.logits(x.clone()).unwrap()), tiny, "the own operator does not read the Add BatchNorm");
        assert_ne!(read(moved.forward(x.clone(), &arch, Pass::Sub).unwrap()), sub, "the Add block reads it");
        // Gradients: the Add pass to the Add BatchNorm only, the tiny pass to the own one only.
        let l = |n: &AugNet| n.blocks[0].expand.clone();
        let grads = net.forward(x.clone(), &arch, Pass::Sub).unwrap().sum().backward();
        assert!(l(&net).op_bn[0].gamma.grad(&grads).is_some() && l(&net).bn.gamma.grad(&grads).is_none());
        let grads = net.logits(x.clone()).unwrap().sum().backward();
        assert!(l(&net).op_bn[0].gamma.grad(&grads).is_none() && l(&net).bn.gamma.grad(&grads).is_some());
        // Re-estimation of the candidate's statistics and its export use the Add BatchNorms.
        let mut candidate = net.clone();
        candidate.config = cfg.with_tiny_arch(&arch);
        let stats = |n: &AugNet| (read(l(n).bn.running_mean.value()), read(l(n).op_bn[0].running_mean.value()));
        let images: Vec<f32> = (0..8 * 256).map(|i| ((i * 13 % 89) as f32 / 44.0) - 1.0).collect();
        let data = crate::data::Dataset::new(images, (0..8).map(|i| i % 10).collect(), [1, 16, 16], 10).unwrap();
        // (Read before: clones share their running statistics.)
        let before = stats(&candidate);
        let estimated = crate::train::reset_bn(candidate, &data, 8, 4).unwrap();
        let after = stats(&estimated);
        assert_eq!(after.0, before.0, "the own BatchNorm is not re-estimated");
        assert_ne!(after.1, before.1, "the Add BatchNorm is");
        // Evaluated on the device without autodiff (BatchNorm on running statistics).
        let x = xs(&Device::flex());
        let want = read(estimated.valid().logits(x.clone()).unwrap());
        let exported = read(estimated.export_tiny().valid().logits(x).unwrap());
        let scale = want.iter().fold(1e-3f32, |m, v| m.max(v.abs()));
        assert!(exported.iter().zip(&want).all(|(e, w)| (e - w).abs() <= 1e-4 * scale), "{exported:?} vs {want:?}");
    }

    /// [`TrainConfig::adder_eta`](crate::train::TrainConfig::adder_eta) reaches the supernet's
    /// layers, which scale their Add weights' gradients in the forward pass: the trainer sets it
    /// (also on a config change), and one SGD step from the same weights moves an Add layer's
    /// weights differently with and without it.
    #[test]
    fn the_trainers_adder_eta_reaches_every_layer() {
        use crate::train::{OptimizerKind, TrainConfig, Trainer};
        let device = Device::flex().autodiff();
        let spec = NetSpec::plain(8, 8, vec![BlockSpec::new(3, 1, 8, 16, 8)], Some(16));
        let cfg = AugNetConfig { spec, aug: AugConfig::direct(), ..AugNetConfig::new([1, 8, 8], 10, ConvKind::Add) };
        let slots: Vec<_> = cfg.plan(&cfg.tiny_arch()).iter().filter(|p| !p.dense).map(|p| p.slot).collect();
        let etas = |t: &Trainer<AugNet>| slots.iter().map(|&s| t.model().conv_at(s).unwrap().conv.adder_eta).collect::<Vec<_>>();
        let images: Vec<f32> = (0..4 * 64).map(|i| ((i * 13 % 89) as f32 / 44.0) - 1.0).collect();
        let step = |eta: Option<f32>| {
            let config = TrainConfig { adder_eta: eta, optimizer: OptimizerKind::Sgd, ..TrainConfig::default() };
            let mut t = Trainer::new(cfg.init(&device).unwrap(), 10, config.clone()).unwrap();
            assert_eq!(etas(&t), vec![eta; slots.len()]);
            crate::engine::block_on(t.train_batch(&images, &[0, 1, 2, 3], false)).unwrap();
            let w = read(t.model().blocks[0].expand.conv.weight.val());
            t.set_config(TrainConfig { adder_eta: Some(0.5), ..config }).unwrap();
            assert_eq!(etas(&t), vec![Some(0.5); slots.len()]);
            w
        };
        assert_ne!(step(None), step(Some(0.2)));
    }
}
