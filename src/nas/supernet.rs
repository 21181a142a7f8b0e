//! Stage 2 of METHOD.md §5.3 on a trained ShiftAddAug supernet ([`AugNet`]): which widths of
//! the SubNet (the supernet as trained, its largest widths) form the MF TargetNet under the
//! limits. The genes are width factors of the supernet's tiny model: the stem, DS block, head
//! and every block without a shortcut take a factor of `shrink` ∪ `aug.widthList`, every
//! block's expansion a factor of `shrink` ∪ `aug.expandList` (sorted ascending, so gene value 0
//! is the narrowest; `shrink`, factors below 1, lets a TargetNet narrow some layers to widen
//! others at the same cost). A candidate is scored by its inherited weights (the leading
//! channels): the supernet's tiny pass at the candidate's widths, its BatchNorm statistics
//! re-estimated on held-out training images, its accuracy on others.
//!
//! Our choices ([I]): only widths are searched (kernel sizes and depths are fixed by the
//! trained spec: the supernet does not share weights across them yet), and the chosen
//! TargetNet is written as a plan, the [`NetSpec`] with its widths, that `train --plan` trains
//! with ShiftAddAug like any zoo model.

use super::{Cost, Genome, Scored, SearchResult, Space};
use crate::aug::{Arch, AugNet, AugNetConfig, NetSpec};
use crate::cost::latency::LatencyTable;
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
    /// The space of `config`'s supernet, with the narrowing factors `shrink` (each in (0, 1)).
    ///
    /// # Errors
    /// [`Error::Config`] when the supernet was not trained with augmentation (it has one width)
    /// or a shrink factor is out of range.
    pub fn new(config: &AugNetConfig, shrink: &[f32]) -> Result<Self> {
        config.validate()?;
        if !config.aug.enabled {
            return Err(Error::Config("search needs a supernet trained with augmentation (aug.enabled, CLI --aug on)".into()));
        }
        if let Some(f) = shrink.iter().find(|f| !(**f > 0.0 && **f < 1.0)) {
            return Err(Error::Config(format!("shrink factor {f} must be in (0, 1)")));
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
        let with = |list: &[f32]| sorted(&[shrink, list].concat());
        Ok(Self { config: config.clone(), widths: with(&config.aug.width_list), expands: with(&config.aug.expand_list), genes })
    }

    /// Choices per gene.
    pub fn space(&self) -> Space {
        Space { choices: self.genes.iter().map(|&(_, e)| if e { self.expands.len() } else { self.widths.len() }).collect() }
    }

    /// The genome of the supernet's own tiny model (factor 1 everywhere).
    pub fn tiny_genome(&self) -> Genome {
        self.genes
            .iter()
            .map(|&(_, e)| {
                let list = if e { &self.expands } else { &self.widths };
                list.iter().position(|&f| f == 1.0).expect("widthList and expandList contain 1")
            })
            .collect()
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

    /// The deployed cost of `g`: MACs, parameters and peak activation values of its tiny model,
    /// and its compute energy per image (METHOD.md §8.2: 32-bit unit energies, one per MAC by operator, as
    /// ShiftAddNAS charges).
    pub fn cost(&self, net: &AugNet, g: &Genome) -> Cost {
        self.priced(net, g, None)
    }

    /// [`cost`](Self::cost) with the predicted latency of one image in the integer engine when a
    /// `table` is given: the sum of the layers' times in it (timed there on first use).
    pub fn priced(&self, net: &AugNet, g: &Genome, table: Option<&mut LatencyTable>) -> Cost {
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

/// Default narrowing factors of [`WidthSpace::new`].
pub const DEFAULT_SHRINK: [f32; 2] = [0.5, 0.75];

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
        let space = WidthSpace::new(&cfg, &DEFAULT_SHRINK).unwrap();
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

    #[test]
    fn bad_spaces_are_typed_errors() {
        assert!(WidthSpace::new(&config(false), &DEFAULT_SHRINK).unwrap_err().to_string().contains("augmentation"));
        for bad in [[0.0f32], [1.0], [f32::NAN]] {
            assert_eq!(WidthSpace::new(&config(true), &bad).unwrap_err().code(), "INVALID_CONFIG");
        }
    }
}
