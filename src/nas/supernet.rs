//! Stage 2 of METHOD.md §5.3 on a trained ShiftAddAug supernet ([`AugNet`]): which widths,
//! blocks, kernels and operators of the SubNet (the supernet as trained, its largest widths) form the MF
//! TargetNet under the limits. The genes are width factors of the supernet's tiny model: the
//! stem, DS block, head and every block without a shortcut take a factor of `shrink` ∪
//! `aug.widthList`, every block's expansion a factor of `shrink` ∪ `aug.expandList` (sorted
//! ascending, so gene value 0 is the narrowest; `shrink`, factors below 1, lets a TargetNet
//! narrow some layers to widen others at the same cost). With `depth`, every block with a
//! shortcut also has a depth gene: 0 leaves it to the augmented model (METHOD.md §5.3's depth
//! augmentation: the TargetNet skips it, the augmented passes run it as Mult;
//! [`BlockSpec::aug_only`]), 1 keeps it. In a supernet trained with
//! [`AugConfig::subnet_kernels`], every block also has a kernel gene: its depthwise kernel size
//! from [`AugNetConfig::kernel_choices`], smallest first (the centre of the stored bank,
//! Once-for-All's elastic kernel without its transformation matrices), and in one trained with
//! [`AugConfig::subnet_ops`] an operator gene: the block's own operators or one of those for all
//! its convs (a TargetNet mixing Shift and Add blocks). A candidate is scored by
//! its inherited weights (the leading channels): the supernet's tiny pass at the candidate's
//! widths, depth, kernels and operators, its BatchNorm statistics re-estimated on held-out training
//! images, its accuracy on others.
//!
//! Stage 1 is the supernet's training with [`AugConfig::subnets`]: each step also trains
//! sub-networks drawn from this space (widths; depth with `subnetDepth`; kernels with
//! `subnetKernels`; operators with `subnetOps`), each computed as [`score`] computes that
//! candidate, so candidates away from the tiny model's widths inherit weights trained for them.
//! [`inherited`] exports the chosen one as it stands.
//!
//! Our choices ([I]): operators and kernel sizes are fixed by the trained spec unless the
//! supernet trained others (then they share the bank and, for operators, the BatchNorm); depth is
//! chosen per block rather than as the first `d` blocks of a stage, and the chosen TargetNet is
//! written as a plan, the [`NetSpec`] with its widths, kernels, block operators and `augOnly`
//! blocks, that `train --plan` trains with ShiftAddAug like any zoo model.
//!
//! [`AugConfig::subnets`]: crate::aug::AugConfig::subnets
//!
//! [`AugConfig::subnet_kernels`]: crate::aug::AugConfig::subnet_kernels
//!
//! [`AugConfig::subnet_ops`]: crate::aug::AugConfig::subnet_ops
//!
//! [`BlockSpec::aug_only`]: crate::models::BlockSpec::aug_only

use super::{Cost, Genome, Scored, SearchResult, Space};
use crate::aug::config::factor_union;
use crate::aug::{Arch, AugNet, AugNetConfig, NetSpec};
use crate::cost::latency::PredictLatency;
use crate::cost::{self, Convention, UnitEnergies};
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::train::{BN_RESET_BATCH, evaluate, reset_bn};

/// One gene of a [`WidthSpace`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Gene {
    /// The width factor of layer `i` of [`AugNetConfig::arch_with`] (0 stem, 1 DS, 2 + b block
    /// b, last head).
    Width(usize),
    /// The expansion factor of block `b`.
    Expand(usize),
    /// Whether the TargetNet keeps block `b` (1) or leaves it to the augmented model (0).
    Depth(usize),
    /// The depthwise kernel size of block `b` (an index into its kernel choices).
    Kernel(usize),
    /// The operators of block `b` (an index into its operator choices, its own first).
    Op(usize),
}

/// The width (and depth) genes of a supernet config.
#[derive(Debug, Clone)]
pub struct WidthSpace {
    config: AugNetConfig,
    widths: Vec<f32>,
    expands: Vec<f32>,
    genes: Vec<Gene>,
}

impl WidthSpace {
    /// The space of `config`'s supernet, with the narrowing factors `shrink` (each in (0, 1)),
    /// with `depth`, a depth gene per block with a shortcut, and a kernel gene per block when
    /// the supernet trained [`subnetKernels`](crate::aug::AugConfig::subnet_kernels). A block the
    /// supernet already leaves to its augmented model (`augOnly`) stays there and has no gene.
    ///
    /// # Errors
    /// [`Error::Config`] when the supernet was not trained with augmentation (it has one width)
    /// or a shrink factor is out of range.
    pub fn new(config: &AugNetConfig, shrink: &[f32], depth: bool) -> Result<Self> {
        config.validate()?;
        if !config.aug.enabled {
            return Err(Error::Config("search needs a supernet trained with augmentation (aug.enabled, CLI --aug on)".into()));
        }
        if let Some(f) = shrink.iter().find(|f| !(**f > 0.0 && **f < 1.0)) {
            return Err(Error::Config(format!("shrink factor {f} must be in (0, 1)")));
        }
        let s = &config.spec;
        let mut genes = vec![Gene::Width(0)];
        if !s.ds_shortcut {
            genes.push(Gene::Width(1));
        }
        for (i, b) in s.blocks.iter().enumerate() {
            if b.aug_only {
                continue;
            }
            genes.push(Gene::Expand(i));
            if !b.has_shortcut() {
                genes.push(Gene::Width(2 + i));
            } else if depth {
                genes.push(Gene::Depth(i));
            }
            if config.kernel_choices(i).len() > 1 {
                genes.push(Gene::Kernel(i));
            }
            if config.op_choices(i).len() > 1 {
                genes.push(Gene::Op(i));
            }
        }
        if s.head.is_some() {
            genes.push(Gene::Width(2 + s.blocks.len()));
        }
        let with = |list: &[f32]| factor_union(shrink, list);
        Ok(Self { config: config.clone(), widths: with(&config.aug.width_list), expands: with(&config.aug.expand_list), genes })
    }

    /// Choices per gene.
    pub fn space(&self) -> Space {
        let n = |g: &Gene| match g {
            Gene::Width(_) => self.widths.len(),
            Gene::Expand(_) => self.expands.len(),
            Gene::Depth(_) => 2,
            Gene::Kernel(b) => self.config.kernel_choices(*b).len(),
            Gene::Op(b) => self.config.op_choices(*b).len(),
        };
        Space { choices: self.genes.iter().map(n).collect() }
    }

    /// `n` genomes for a latency check: the supernet's own tiny model, then uniform random ones
    /// drawn from `seed`.
    pub fn sample_genomes(&self, n: usize, seed: u64) -> Vec<Genome> {
        let (choices, mut rng) = (self.space().choices, crate::data::Rng::new(seed));
        (0..n).map(|i| if i == 0 { self.tiny_genome() } else { choices.iter().map(|&c| rng.below(c)).collect() }).collect()
    }

    /// The genome of the supernet's own tiny model (factor 1 everywhere, every block kept, the
    /// spec's kernels).
    pub fn tiny_genome(&self) -> Genome {
        let one = |list: &[f32]| list.iter().position(|&f| f == 1.0).expect("widthList and expandList contain 1");
        self.genes
            .iter()
            .map(|g| match g {
                Gene::Width(_) => one(&self.widths),
                Gene::Expand(_) => one(&self.expands),
                Gene::Depth(_) => 1,
                Gene::Kernel(b) => {
                    let k = self.config.spec.blocks[*b].kernel;
                    self.config.kernel_choices(*b).iter().position(|&c| c == k).expect("a block's own kernel is a choice")
                }
                // A block's own operators are its first choice.
                Gene::Op(_) => 0,
            })
            .collect()
    }

    /// The widths, kernels and operators of `g`, never above the supernet's; middle width 0 for
    /// the blocks it leaves to the augmented model.
    ///
    /// # Panics
    /// When `g` has the wrong length or a value out of range.
    pub fn arch(&self, g: &Genome) -> Arch {
        assert_eq!(g.len(), self.genes.len(), "one value per gene");
        let value = |gene: Gene| self.genes.iter().zip(g).find(|(x, _)| **x == gene).map(|(_, &v)| v);
        let width = |l: usize| value(Gene::Width(l)).map_or(1.0, |v| self.widths[v]);
        let expand = |b: usize| value(Gene::Expand(b)).map_or(1.0, |v| self.expands[v]);
        let mut a = self.config.arch_with(width, expand).min(&self.config.max_arch());
        for (b, (w, spec)) in a.blocks.iter_mut().zip(&self.config.spec.blocks).enumerate() {
            if spec.aug_only || value(Gene::Depth(b)) == Some(0) {
                w[0] = 0;
            }
        }
        for (b, k) in a.kernels.iter_mut().enumerate() {
            if let Some(v) = value(Gene::Kernel(b)) {
                *k = self.config.kernel_choices(b)[v];
            }
        }
        for (b, op) in a.ops.iter_mut().enumerate() {
            if let Some(v) = value(Gene::Op(b)) {
                *op = self.config.op_choices(b)[v];
            }
        }
        a
    }

    /// The config whose tiny model has the widths of `g`.
    pub fn config_of(&self, g: &Genome) -> AugNetConfig {
        self.config.with_tiny_arch(&self.arch(g))
    }

    /// The plan of `g`: the spec with its widths.
    pub fn plan(&self, g: &Genome) -> NetSpec {
        self.config_of(g).spec
    }

    /// The deployed cost of `g`: MACs, parameters and peak activation values of its tiny model,
    /// and its compute energy per image (METHOD.md §8.2: 32-bit unit energies, one per MAC by operator, as
    /// ShiftAddNAS charges).
    pub fn cost(&self, net: &AugNet, g: &Genome) -> Cost {
        self.priced(net, g, None)
    }

    /// [`cost`](Self::cost) with the predicted latency of one image when a `table` is given (the
    /// integer engine's, [`crate::cost::latency::LatencyTable`], or the float model's): the sum of the layers' times in
    /// it (timed there on first use).
    pub fn priced(&self, net: &AugNet, g: &Genome, table: Option<&mut dyn PredictLatency>) -> Cost {
        let mut candidate = net.clone();
        candidate.config = self.config_of(g);
        let layers = candidate.config.tiny_layers();
        let e = UnitEnergies::for_bits(32).expect("32-bit unit energies");
        let energy: f64 = cost::layer_costs(&layers, Convention::PerMac, &e).iter().map(|l| l.energy_pj).sum();
        Cost {
            macs: layers.iter().map(cost::Layer::macs).sum(),
            params: candidate.tiny_param_count() as u64,
            energy_pj: energy.round() as u64,
            peak_activation: candidate.config.peak_activation_of(&layers),
            latency_ns: table.map_or(0, |t| (t.predict_s(&layers) * 1e9).round() as u64),
        }
    }
}

/// Default narrowing factors of [`WidthSpace::new`] for a supernet trained without sub-networks.
pub const DEFAULT_SHRINK: [f32; 2] = [0.5, 0.75];

/// The narrowing factors a search of `config`'s supernet offers by default: those its
/// sub-networks were trained with ([`AugConfig::subnet_shrink`], stage 1) when it trained some,
/// else [`DEFAULT_SHRINK`].
///
/// [`AugConfig::subnet_shrink`]: crate::aug::AugConfig::subnet_shrink
pub fn default_shrink(config: &AugNetConfig) -> Vec<f32> {
    if config.aug.subnets > 0 { config.aug.subnet_shrink.clone() } else { DEFAULT_SHRINK.to_vec() }
}

/// Held-out images of a candidate's scoring: BatchNorm statistics from `bn`, accuracy on
/// `eval` (both from the training set, never the test set).
pub struct Holdout<'a> {
    /// BatchNorm re-estimation images.
    pub bn: &'a Dataset,
    /// Scoring images.
    pub eval: &'a Dataset,
}

/// The inherited-weight accuracy of `g`: the supernet's tiny pass at `g`'s widths after its
/// BatchNorm statistics are re-estimated on `holdout.bn` (on a copy; `net` is not changed).
///
/// # Errors
/// As [`reset_bn`] and [`evaluate`].
pub async fn score(space: &WidthSpace, net: &AugNet, g: &Genome, holdout: &Holdout<'_>) -> Result<f64> {
    let candidate = with_bn(space, net, g, holdout.bn)?;
    Ok(evaluate(&candidate, net.config.num_classes, holdout.eval, BN_RESET_BATCH).await?.accuracy as f64)
}

/// The static TargetNet of `g` with inherited weights, deployable without retraining: the
/// supernet's tiny pass at `g`'s widths and depth with its BatchNorm statistics re-estimated
/// on `bn` (as [`score`] scores it), exported as [`AugNet::export_tiny`] exports a tiny model.
///
/// # Errors
/// As [`reset_bn`].
pub fn inherited(space: &WidthSpace, net: &AugNet, g: &Genome, bn: &Dataset) -> Result<AugNet> {
    Ok(with_bn(space, net, g, bn)?.export_tiny())
}

/// A copy of `net` whose tiny model is `g`, its BatchNorm statistics re-estimated on `bn`.
fn with_bn(space: &WidthSpace, net: &AugNet, g: &Genome, bn: &Dataset) -> Result<AugNet> {
    let mut candidate = net.clone();
    candidate.config = space.config_of(g);
    reset_bn(candidate, bn, bn.len(), BN_RESET_BATCH)
}

/// A scored candidate with its plan (what the CLI writes and the SDK returns).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Candidate {
    /// Its choices.
    pub genome: Genome,
    /// Held-out accuracy.
    pub accuracy: f64,
    /// MACs, parameters, compute energy.
    pub cost: Cost,
    /// The generation it was first scored in.
    pub generation: usize,
    /// Its spec, for `train --plan` / `createModel({ spec })`.
    pub plan: NetSpec,
}

impl Candidate {
    /// `s` with its plan in `space`.
    pub fn of(space: &WidthSpace, s: &Scored) -> Self {
        Self { genome: s.genome.clone(), accuracy: s.accuracy, cost: s.cost, generation: s.generation, plan: space.plan(&s.genome) }
    }
}

/// A [`SearchResult`] with plans.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// The most accurate candidate that meets the limits.
    pub best: Candidate,
    /// The Pareto front of accuracy against MACs, by increasing MACs.
    pub front: Vec<Candidate>,
    /// Every candidate scored, in order.
    pub evaluated: Vec<Candidate>,
}

impl Report {
    /// `r` with plans from `space`.
    pub fn of(space: &WidthSpace, r: &SearchResult) -> Self {
        let all = |v: &[Scored]| v.iter().map(|s| Candidate::of(space, s)).collect();
        Self { best: Candidate::of(space, &r.best), front: all(&r.front), evaluated: all(&r.evaluated) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::ConvKind;

    fn config(aug: bool) -> AugNetConfig {
        let mut c = AugNetConfig::new([1, 32, 32], 10, ConvKind::Shift);
        c.aug.enabled = aug;
        c
    }

    #[test]
    fn the_tiny_genome_is_the_tiny_model_and_genes_cover_every_layer() {
        let cfg = config(true);
        let space = WidthSpace::new(&cfg, &DEFAULT_SHRINK, false).unwrap();
        let g = space.tiny_genome();
        assert_eq!(space.arch(&g), cfg.tiny_arch());
        let plan = space.plan(&g);
        assert_eq!(cfg.with_tiny_arch(&space.arch(&g)).tiny_macs(), cfg.tiny_macs());
        assert_eq!(
            plan.blocks.iter().map(|b| b.has_shortcut()).collect::<Vec<_>>(),
            cfg.spec.blocks.iter().map(|b| b.has_shortcut()).collect::<Vec<_>>()
        );
        // Stem, DS, one expansion per block, one width per block without a shortcut, head.
        let plain = cfg.spec.blocks.iter().filter(|b| !b.has_shortcut()).count();
        assert_eq!(g.len(), 2 + cfg.spec.blocks.len() + plain + 1);
        // Gene 0 everywhere is the narrowest model; the last choice the widest.
        let narrow = space.arch(&vec![0; g.len()]);
        assert!(narrow.stem < cfg.tiny_arch().stem && narrow.blocks.iter().zip(&cfg.tiny_arch().blocks).all(|(a, b)| a[0] <= b[0]));
        let widest: Genome = space.space().choices.iter().map(|n| n - 1).collect();
        assert_eq!(space.arch(&widest), cfg.max_arch());
    }

    /// A search offers the narrowing factors the supernet's sub-networks trained (stage 1).
    #[test]
    fn the_default_shrink_is_the_trained_one() {
        let mut cfg = config(true);
        assert_eq!(default_shrink(&cfg), DEFAULT_SHRINK.to_vec());
        cfg.aug.subnet_shrink = vec![0.25];
        assert_eq!(default_shrink(&cfg), DEFAULT_SHRINK.to_vec(), "no sub-networks trained");
        cfg.aug.subnets = 1;
        assert_eq!(default_shrink(&cfg), vec![0.25]);
        let space = WidthSpace::new(&cfg, &default_shrink(&cfg), false).unwrap();
        assert_eq!(space.widths, vec![0.25, 1.0, 1.8, 2.6]);
    }

    #[test]
    fn bad_spaces_are_typed_errors() {
        assert!(WidthSpace::new(&config(false), &DEFAULT_SHRINK, false).unwrap_err().to_string().contains("augmentation"));
        for bad in [[0.0f32], [1.0], [f32::NAN]] {
            assert_eq!(WidthSpace::new(&config(true), &bad, false).unwrap_err().code(), "INVALID_CONFIG");
        }
    }

    /// Depth genes: one per block with a shortcut; 0 leaves the block to the augmented model
    /// (the plan marks it `augOnly`, the cost is the spec's without it), the tiny genome keeps
    /// every block, and a block the supernet already leaves out has no gene.
    #[test]
    fn depth_genes_leave_blocks_to_the_augmented_model() {
        let cfg = config(true);
        let space = WidthSpace::new(&cfg, &DEFAULT_SHRINK, true).unwrap();
        let flat = WidthSpace::new(&cfg, &DEFAULT_SHRINK, false).unwrap();
        let shortcuts: Vec<usize> = (0..cfg.spec.blocks.len()).filter(|&b| cfg.spec.blocks[b].has_shortcut()).collect();
        assert!(shortcuts.len() >= 2);
        assert_eq!(space.space().choices.len(), flat.space().choices.len() + shortcuts.len());
        let g = space.tiny_genome();
        assert_eq!(space.arch(&g), cfg.tiny_arch());
        let k = shortcuts[1];
        let pos = space.genes.iter().position(|x| *x == Gene::Depth(k)).unwrap();
        let mut dropped = g.clone();
        dropped[pos] = 0;
        let plan = space.plan(&dropped);
        assert_eq!(plan.blocks.iter().map(|b| b.aug_only).collect::<Vec<_>>(), (0..plan.blocks.len()).map(|b| b == k).collect::<Vec<_>>());
        let net = cfg.init(&burn::tensor::Device::flex()).unwrap();
        let (kept, left) = (space.cost(&net, &g), space.cost(&net, &dropped));
        let mut without = cfg.clone();
        without.spec.blocks.remove(k);
        assert_eq!((left.macs, left.params), (without.tiny_macs(), without.tiny_layers().iter().map(cost::Layer::params).sum()));
        assert!(left.macs < kept.macs && left.params < kept.params);
        let narrow = space.arch(&vec![0; g.len()]);
        assert!(shortcuts.iter().all(|&b| narrow.blocks[b][0] == 0));
        // A supernet that already leaves block k to its augmented model: no genes for it.
        let mut aug_only = cfg.clone();
        aug_only.spec.blocks[k].aug_only = true;
        let s2 = WidthSpace::new(&aug_only, &DEFAULT_SHRINK, true).unwrap();
        assert_eq!(s2.space().choices.len(), space.space().choices.len() - 2);
        let widest: Genome = s2.space().choices.iter().map(|n| n - 1).collect();
        assert_eq!(s2.arch(&s2.tiny_genome()), aug_only.tiny_arch());
        assert_eq!(s2.arch(&widest).blocks[k][0], 0);
    }

    /// A supernet with one sub-network per step and `set`'s stage-1 choices, its space and tiny
    /// genome: the space has one gene `is_gene` per block more than without `set` (none there),
    /// and the tiny genome is the tiny model.
    fn with_block_genes(set: impl FnOnce(&mut AugNetConfig), is_gene: fn(&Gene) -> bool) -> (AugNetConfig, WidthSpace, Genome) {
        let mut cfg = config(true);
        let flat = WidthSpace::new(&cfg, &DEFAULT_SHRINK, false).unwrap();
        assert!(!flat.genes.iter().any(is_gene), "no such genes without the stage-1 choices");
        cfg.aug.subnets = 1;
        set(&mut cfg);
        let space = WidthSpace::new(&cfg, &DEFAULT_SHRINK, false).unwrap();
        assert_eq!(space.space().choices.len(), flat.space().choices.len() + cfg.spec.blocks.len());
        assert_eq!(space.genes.iter().filter(|g| is_gene(g)).count(), cfg.spec.blocks.len());
        let g = space.tiny_genome();
        assert_eq!(space.arch(&g), cfg.tiny_arch());
        (cfg, space, g)
    }

    /// Kernel genes: one per block of a supernet trained with `subnetKernels`, none otherwise;
    /// the tiny genome keeps the spec's kernels, a gene's value is the plan's kernel (its
    /// depthwise MACs scale with k²), and the widest genome is the stored banks.
    #[test]
    fn kernel_genes_choose_the_depthwise_kernels() {
        let (cfg, space, g) = with_block_genes(|c| c.aug.subnet_kernels = vec![7, 5], |g| matches!(g, Gene::Kernel(_)));
        let n = cfg.spec.blocks.len();
        assert_eq!(
            space.plan(&g).blocks.iter().map(|b| b.kernel).collect::<Vec<_>>(),
            cfg.spec.blocks.iter().map(|b| b.kernel).collect::<Vec<_>>()
        );
        let b = n - 1;
        let pos = space.genes.iter().position(|x| *x == Gene::Kernel(b)).unwrap();
        assert_eq!(space.space().choices[pos], 3, "3, 5 and 7");
        let net = cfg.init(&burn::tensor::Device::flex()).unwrap();
        let base = space.cost(&net, &g);
        let mut seven = g.clone();
        seven[pos] = 2;
        assert_eq!(space.plan(&seven).blocks[b].kernel, 7);
        // Only block b's depthwise MACs change: k² from 9 to 49.
        let a = cfg.tiny_arch();
        let dw = |k: u64| cfg.tiny_layers().iter().find(|l| l.name == format!("blocks.{b}.depthwise")).map(|l| l.macs()).unwrap() / 9 * k;
        assert_eq!(space.cost(&net, &seven).macs - base.macs, dw(49) - dw(9));
        assert_eq!(a.kernels[b], 3);
        let widest: Genome = space.space().choices.iter().map(|n| n - 1).collect();
        assert_eq!(space.arch(&widest), cfg.max_arch());
        assert_eq!(cfg.max_arch().kernels, vec![7; n]);
    }

    /// Operator genes: one per block of a supernet trained with `subnetOps`; the tiny genome
    /// keeps the spec's operators, value 1 makes every conv of the block the other operator in
    /// the plan, the cost (energy per MAC by operator) and the export.
    #[test]
    fn op_genes_choose_the_block_operators() {
        let (cfg, space, g) = with_block_genes(|c| c.aug.subnet_ops = vec![ConvKind::Add], |g| matches!(g, Gene::Op(_)));
        assert!(
            space.plan(&g).blocks.iter().all(|x| (x.conv, x.depthwise) == (None, None)),
            "the tiny genome keeps the config's operators"
        );
        let b = 2;
        let pos = space.genes.iter().position(|x| *x == Gene::Op(b)).unwrap();
        let mut add = g.clone();
        add[pos] = 1;
        let plan = space.plan(&add);
        assert_eq!((plan.blocks[b].conv, plan.blocks[b].depthwise), (Some(ConvKind::Add), None));
        assert!(plan.blocks.iter().enumerate().all(|(i, x)| i == b || x.conv.is_none()), "other blocks keep the config's operator");
        let net = cfg.init(&burn::tensor::Device::flex()).unwrap();
        let (shift, adder) = (space.cost(&net, &g), space.cost(&net, &add));
        assert_eq!(adder.macs, shift.macs);
        assert!(adder.energy_pj > shift.energy_pj, "an Add MAC costs more than a shift: {} vs {}", adder.energy_pj, shift.energy_pj);
        let candidate = AugNet { config: space.config_of(&add), ..net.clone() };
        let exported = candidate.export_tiny();
        let kinds: Vec<_> = exported.layers(&exported.config.tiny_arch()).into_iter().map(|l| (l.name, l.layer.conv.kind)).collect();
        for (name, kind) in kinds {
            let want = if name.starts_with(&format!("blocks.{b}.")) {
                ConvKind::Add
            } else if name.starts_with("blocks.") || name.starts_with("ds.") || name == "head" {
                ConvKind::Shift
            } else {
                ConvKind::Mult
            };
            assert_eq!(kind, want, "{name}");
        }
        let mut bad = cfg.clone();
        bad.aug.subnet_ops = vec![ConvKind::Mult];
        assert!(bad.validate().unwrap_err().to_string().contains("valid: shift, add"));
    }
}
