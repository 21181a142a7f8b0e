//! Stage 2 of METHOD.md §5.3 on a trained ShiftAddAug supernet ([`AugNet`]): which widths of
//! the SubNet (the supernet as trained, its largest widths) form the MF TargetNet under the
//! limits. The genes are the supernet's own width factors: the stem, DS block, head and every
//! block without a shortcut take a factor of `aug.widthList`, every block's expansion a factor
//! of `aug.expandList` (sorted ascending, so gene value 0 is the narrowest). A candidate is
//! scored by its inherited weights: the supernet's tiny pass at the candidate's widths, its
//! BatchNorm statistics re-estimated on held-out training images, its accuracy on others.
//!
//! Our choices ([I]): only widths are searched (kernel sizes and depths are fixed by the
//! trained spec: the supernet does not share weights across them yet), and the chosen
//! TargetNet is written as a plan, the [`NetSpec`] with its widths, that `train --plan` trains
//! with ShiftAddAug like any zoo model.

use super::{Cost, Genome, Scored, SearchResult, Space};
use crate::aug::{Arch, AugNet, AugNetConfig, NetSpec};
use crate::cost::{self, Convention, UnitEnergies};
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::train::{BN_RESET_BATCH, evaluate, reset_bn};

/// The width genes of a supernet config.
#[derive(Debug, Clone)]
pub struct WidthSpace {
    config: AugNetConfig,
    widths: Vec<f32>,
    expands: Vec<f32>,
    /// Per gene: `(layer index of [`AugNetConfig::arch_with`], true for an expansion gene)`.
    genes: Vec<(usize, bool)>,
}

fn sorted(list: &[f32]) -> Vec<f32> {
    let mut v = list.to_vec();
    v.sort_by(f32::total_cmp);
    v.dedup();
    v
}

impl WidthSpace {
    /// The space of `config`'s supernet.
    ///
    /// # Errors
    /// [`Error::Config`] when the supernet was not trained with augmentation (it has one width).
    pub fn new(config: &AugNetConfig) -> Result<Self> {
        config.validate()?;
        if !config.aug.enabled {
            return Err(Error::Config("search needs a supernet trained with augmentation (aug.enabled, CLI --aug on)".into()));
        }
        let s = &config.spec;
        let mut genes = vec![(0, false)];
        if !s.ds_shortcut {
            genes.push((1, false));
        }
        for (i, b) in s.blocks.iter().enumerate() {
            genes.push((i, true));
            if !b.has_shortcut() {
                genes.push((2 + i, false));
            }
        }
        if s.head.is_some() {
            genes.push((2 + s.blocks.len(), false));
        }
        Ok(Self { config: config.clone(), widths: sorted(&config.aug.width_list), expands: sorted(&config.aug.expand_list), genes })
    }

    /// Choices per gene.
    pub fn space(&self) -> Space {
        Space { choices: self.genes.iter().map(|&(_, e)| if e { self.expands.len() } else { self.widths.len() }).collect() }
    }

    /// The widths of `g`, never above the supernet's.
    ///
    /// # Panics
    /// When `g` has the wrong length or a value out of range.
    pub fn arch(&self, g: &Genome) -> Arch {
        assert_eq!(g.len(), self.genes.len(), "one value per gene");
        let factor = |layer: usize, expand: bool| {
            self.genes
                .iter()
                .zip(g)
                .find(|((l, e), _)| *l == layer && *e == expand)
                .map_or(1.0, |(_, &v)| if expand { self.expands[v] } else { self.widths[v] })
        };
        self.config.arch_with(|l| factor(l, false), |b| factor(b, true)).min(&self.config.max_arch())
    }

    /// The config whose tiny model has the widths of `g`.
    pub fn config_of(&self, g: &Genome) -> AugNetConfig {
        self.config.with_tiny_arch(&self.arch(g))
    }

    /// The plan of `g`: the spec with its widths.
    pub fn plan(&self, g: &Genome) -> NetSpec {
        self.config_of(g).spec
    }

    /// The deployed cost of `g`: MACs and parameters of its tiny model, and its compute
    /// energy per image (METHOD.md §8.2: 32-bit unit energies, one per MAC by operator, as
    /// ShiftAddNAS charges).
    pub fn cost(&self, net: &AugNet, g: &Genome) -> Cost {
        let mut candidate = net.clone();
        candidate.config = self.config_of(g);
        let layers = candidate.config.tiny_layers();
        let e = UnitEnergies::for_bits(32).expect("32-bit unit energies");
        let energy: f64 = cost::layer_costs(&layers, Convention::PerMac, &e).iter().map(|l| l.energy_pj).sum();
        Cost {
            macs: layers.iter().map(cost::Layer::macs).sum(),
            params: candidate.tiny_param_count() as u64,
            energy_pj: energy.round() as u64,
        }
    }
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
    let mut candidate = net.clone();
    candidate.config = space.config_of(g);
    let candidate = reset_bn(candidate, holdout.bn, holdout.bn.len(), BN_RESET_BATCH)?;
    Ok(evaluate(&candidate, net.config.num_classes, holdout.eval, BN_RESET_BATCH).await?.accuracy as f64)
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
