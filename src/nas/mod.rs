//! Architecture search (METHOD.md §5): an evolutionary search (Once-for-All's: population,
//! parents, mutation and crossover) over a space of discrete choices, under hardware limits,
//! with candidates scored by a caller's evaluator. [`supernet`] binds it to a trained
//! ShiftAddAug supernet: stage 2 of §5.3, the MF TargetNet chosen inside the SubNet by
//! inherited-weight accuracy after BatchNorm re-estimation on a held-out split (stage 1, the
//! sub-networks trained with the supernet, is `AugConfig::subnets`).
//!
//! The search itself knows genomes (one choice index per gene), costs and accuracies only, so
//! it is tested here with closed-form evaluators.

pub mod supernet;
pub mod svg;

use crate::data::Rng;
use crate::error::{Error, Result};
use std::collections::HashMap;

/// One choice index per gene; index 0 is each gene's cheapest choice.
pub type Genome = Vec<usize>;

/// Largest population accepted (each generation holds this many candidates in memory).
pub const MAX_POPULATION: usize = 10_000;
/// Largest number of generations accepted.
pub const MAX_GENERATIONS: usize = 100_000;

/// Settings of the evolution (OFA's defaults: population 100, parent ratio 0.25, mutation
/// ratio 0.5, mutation probability 0.1).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct EvolutionConfig {
    /// Candidates per generation, 2 to [`MAX_POPULATION`].
    pub population: usize,
    /// Generations after the initial population, 0 to [`MAX_GENERATIONS`].
    pub generations: usize,
    /// Share of the population kept as parents, in (0, 1].
    pub parent_ratio: f64,
    /// Share of the children made by mutation (the rest by crossover), in [0, 1].
    pub mutation_ratio: f64,
    /// Probability that a mutation resamples each gene, in (0, 1].
    pub mutation_prob: f64,
    /// Seed of every random choice.
    pub seed: u64,
}

impl Default for EvolutionConfig {
    fn default() -> Self {
        Self { population: 100, generations: 20, parent_ratio: 0.25, mutation_ratio: 0.5, mutation_prob: 0.1, seed: 0 }
    }
}

impl EvolutionConfig {
    /// Checks the ranges.
    ///
    /// # Errors
    /// [`Error::Config`] naming the bad value and its valid range.
    pub fn validate(&self) -> Result<()> {
        let bad = |what: &str, v: f64, range: &str| Err(Error::Config(format!("{what} {v} must be in {range}")));
        if !(2..=MAX_POPULATION).contains(&self.population) {
            return bad("population", self.population as f64, &format!("[2, {MAX_POPULATION}]"));
        }
        if self.generations > MAX_GENERATIONS {
            return bad("generations", self.generations as f64, &format!("[0, {MAX_GENERATIONS}]"));
        }
        if !(self.parent_ratio > 0.0 && self.parent_ratio <= 1.0) {
            return bad("parentRatio", self.parent_ratio, "(0, 1]");
        }
        if !(0.0..=1.0).contains(&self.mutation_ratio) {
            return bad("mutationRatio", self.mutation_ratio, "[0, 1]");
        }
        if !(self.mutation_prob > 0.0 && self.mutation_prob <= 1.0) {
            return bad("mutationProb", self.mutation_prob, "(0, 1]");
        }
        Ok(())
    }
}

/// Whose latency a search's latency limit is on, each predicted from a table of its layers
/// timed on this machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LatencyEngine {
    /// The integer engine, one image, one thread ([`crate::cost::latency`]): what a deployed
    /// model runs.
    #[default]
    Integer,
    /// The training module's float model on the model's own device, one image
    /// ([`crate::engine::latency`]): what `predict` of a trained model runs.
    Float,
}

/// A search's settings as the SDK takes them (JSON camelCase): the limits (`maxEnergyUj` in µJ)
/// and the [`EvolutionConfig`] fields.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct SearchOptions {
    /// At most this many MACs.
    pub max_macs: Option<u64>,
    /// At most this many parameters.
    pub max_params: Option<u64>,
    /// At most this much compute energy, µJ.
    pub max_energy_uj: Option<f64>,
    /// At most this many peak activation values ([`Cost::peak_activation`]).
    pub max_peak_activation: Option<u64>,
    /// At most this predicted latency per image on this machine, ms, in
    /// [`latency_engine`](Self::latency_engine).
    pub max_latency_ms: Option<f64>,
    /// Whose latency `max_latency_ms` limits.
    pub latency_engine: LatencyEngine,
    /// See [`EvolutionConfig`].
    pub population: usize,
    /// See [`EvolutionConfig`].
    pub generations: usize,
    /// See [`EvolutionConfig`].
    pub parent_ratio: f64,
    /// See [`EvolutionConfig`].
    pub mutation_ratio: f64,
    /// See [`EvolutionConfig`].
    pub mutation_prob: f64,
    /// See [`EvolutionConfig`].
    pub seed: u64,
    /// Width factors below 1 offered besides the supernet's own ([`supernet::WidthSpace`]);
    /// `None`: [`supernet::default_shrink`].
    pub shrink: Option<Vec<f32>>,
    /// Also choose which blocks with a shortcut the TargetNet keeps; the others stay in the
    /// augmented model (depth augmentation; [`supernet::WidthSpace`]).
    pub depth: bool,
}

impl Default for SearchOptions {
    fn default() -> Self {
        let e = EvolutionConfig::default();
        Self {
            max_macs: None,
            max_params: None,
            max_energy_uj: None,
            max_peak_activation: None,
            max_latency_ms: None,
            latency_engine: LatencyEngine::Integer,
            population: e.population,
            generations: e.generations,
            parent_ratio: e.parent_ratio,
            mutation_ratio: e.mutation_ratio,
            mutation_prob: e.mutation_prob,
            seed: e.seed,
            shrink: None,
            depth: false,
        }
    }
}

impl SearchOptions {
    /// The evolution settings (checked).
    ///
    /// # Errors
    /// As [`EvolutionConfig::validate`].
    pub fn evolution(&self) -> Result<EvolutionConfig> {
        let e = EvolutionConfig {
            population: self.population,
            generations: self.generations,
            parent_ratio: self.parent_ratio,
            mutation_ratio: self.mutation_ratio,
            mutation_prob: self.mutation_prob,
            seed: self.seed,
        };
        e.validate()?;
        Ok(e)
    }

    /// The limits.
    ///
    /// # Errors
    /// [`Error::Config`] for an energy or latency limit that is not a positive number.
    pub fn constraint(&self) -> Result<Constraint> {
        if let Some(e) = self.max_energy_uj
            && !(e.is_finite() && e > 0.0)
        {
            return Err(Error::Config(format!("maxEnergyUj {e} must be a positive number")));
        }
        if let Some(l) = self.max_latency_ms
            && !(l.is_finite() && l > 0.0)
        {
            return Err(Error::Config(format!("maxLatencyMs {l} must be a positive number")));
        }
        Ok(Constraint {
            max_macs: self.max_macs,
            max_params: self.max_params,
            max_energy_pj: self.max_energy_uj.map(|e| (e * 1e6).round() as u64),
            max_peak_activation: self.max_peak_activation,
            max_latency_ns: self.max_latency_ms.map(|l| (l * 1e6).round() as u64),
        })
    }
}

/// The hardware cost of a candidate (of its deployed MF net, one image).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Cost {
    /// Multiply-accumulates (of any operator).
    pub macs: u64,
    /// Learnable parameters.
    pub params: u64,
    /// Compute energy, pJ (rounded).
    pub energy_pj: u64,
    /// Peak activation values of one image ([`crate::cost::peak_activation`]).
    #[serde(default)]
    pub peak_activation: u64,
    /// Predicted latency of one image on this machine, ns (rounded), in the search's
    /// [`LatencyEngine`]; 0 when not measured (no latency limit).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub latency_ns: u64,
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}

/// Limits a candidate must meet; `None` is no limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Constraint {
    /// At most this many MACs.
    pub max_macs: Option<u64>,
    /// At most this many parameters.
    pub max_params: Option<u64>,
    /// At most this much compute energy, pJ.
    #[serde(default)]
    pub max_energy_pj: Option<u64>,
    /// At most this many peak activation values ([`Cost::peak_activation`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_peak_activation: Option<u64>,
    /// At most this predicted latency, ns ([`Cost::latency_ns`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_latency_ns: Option<u64>,
}

impl std::fmt::Display for Constraint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut parts = Vec::new();
        if let Some(m) = self.max_macs {
            parts.push(format!("MACs <= {m}"));
        }
        if let Some(p) = self.max_params {
            parts.push(format!("parameters <= {p}"));
        }
        if let Some(e) = self.max_energy_pj {
            parts.push(format!("energy <= {:.6} µJ", e as f64 * 1e-6));
        }
        if let Some(p) = self.max_peak_activation {
            parts.push(format!("peak activation <= {p} values"));
        }
        if let Some(l) = self.max_latency_ns {
            parts.push(format!("latency <= {:.3} ms", l as f64 * 1e-6));
        }
        if parts.is_empty() { write!(f, "no limit") } else { write!(f, "{}", parts.join(" and ")) }
    }
}

impl Constraint {
    /// Whether `c` meets every limit.
    pub fn admits(&self, c: &Cost) -> bool {
        self.max_macs.is_none_or(|m| c.macs <= m)
            && self.max_params.is_none_or(|m| c.params <= m)
            && self.max_energy_pj.is_none_or(|m| c.energy_pj <= m)
            && self.max_peak_activation.is_none_or(|m| c.peak_activation <= m)
            && self.max_latency_ns.is_none_or(|m| c.latency_ns <= m)
    }
}

/// One evaluated candidate.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Scored {
    /// Its choices.
    pub genome: Genome,
    /// The evaluator's accuracy (higher is better).
    pub accuracy: f64,
    /// Its cost.
    pub cost: Cost,
    /// The generation it was first evaluated in (0: the initial population).
    pub generation: usize,
}

/// What a search returns.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SearchResult {
    /// The most accurate candidate that meets the constraint (ties: the cheaper in MACs, then
    /// the first evaluated).
    pub best: Scored,
    /// Every candidate evaluated, in evaluation order (all meet the constraint).
    pub evaluated: Vec<Scored>,
    /// The candidates no other one beats on both accuracy and MACs, by increasing MACs.
    pub front: Vec<Scored>,
}

/// The search space: how many choices each gene has (each ≥ 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Space {
    /// Choices per gene.
    pub choices: Vec<usize>,
}

impl Space {
    /// Number of architectures, saturating.
    pub fn size(&self) -> u64 {
        self.choices.iter().fold(1u64, |a, &n| a.saturating_mul(n as u64))
    }
}

/// Draws of a candidate that must meet the constraint before the last one is repaired
/// ([`Evolution`]).
const DRAWS: usize = 20;

fn unit(rng: &mut Rng) -> f64 {
    (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64
}

/// The non-dominated candidates of `all` in (accuracy ↑, MACs ↓), by increasing MACs.
pub fn pareto_front(all: &[Scored]) -> Vec<Scored> {
    let mut sorted: Vec<&Scored> = all.iter().collect();
    sorted.sort_by(|a, b| a.cost.macs.cmp(&b.cost.macs).then(b.accuracy.total_cmp(&a.accuracy)));
    let mut front: Vec<Scored> = Vec::new();
    for s in sorted {
        if front.last().is_none_or(|f| s.accuracy > f.accuracy) {
            front.push(s.clone());
        }
    }
    front
}

/// Where an [`Evolution`] stands: the candidates of the current generation still to score.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Evolution {
    space: Vec<usize>,
    config: EvolutionConfig,
    constraint: Constraint,
    rng: Rng,
    /// The generation being scored.
    generation: usize,
    /// Its candidates drawn so far with their costs; `pending[scored..]` await a score.
    pending: Vec<(Genome, Cost)>,
    scored: usize,
    /// The ranked population of the last complete generation.
    population: Vec<Scored>,
    /// Every distinct candidate scored, in order.
    evaluated: Vec<Scored>,
    /// No more generations.
    done: bool,
    /// Position in `evaluated` of each genome (rebuilt after deserialisation, see `position`).
    #[serde(skip)]
    index: HashMap<Genome, usize>,
}

/// What an [`Evolution`] asks for next.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Score this candidate (its cost is known) and [`Evolution::report`] its accuracy.
    Score(Genome, Cost),
    /// A generation is complete: its number and its best candidate.
    Generation(usize, Scored),
    /// The search is over.
    Done,
}

impl Evolution {
    /// Starts a search: validates the config and the space, checks that the cheapest candidate
    /// (every gene at 0) meets the constraint, and draws the initial population.
    ///
    /// # Errors
    /// [`Error::Config`] for a bad config or an empty space, or naming the cheapest candidate's
    /// cost when even it does not meet the constraint; whatever `cost` returns.
    pub fn new(space: &Space, config: &EvolutionConfig, constraint: &Constraint, cost: &dyn Fn(&Genome) -> Result<Cost>) -> Result<Self> {
        Self::seeded(space, config, constraint, cost, &[])
    }

    /// [`new`](Self::new) with `seeds` (e.g. a reference architecture) in the initial
    /// population, each one that fits the space and meets the constraint, before the random
    /// draws.
    ///
    /// # Errors
    /// As [`new`](Self::new).
    pub fn seeded(
        space: &Space,
        config: &EvolutionConfig,
        constraint: &Constraint,
        cost: &dyn Fn(&Genome) -> Result<Cost>,
        seeds: &[Genome],
    ) -> Result<Self> {
        config.validate()?;
        if space.choices.is_empty() || space.choices.contains(&0) {
            return Err(Error::Config(format!("empty search space (choices per gene {:?})", space.choices)));
        }
        let cheapest = cost(&vec![0; space.choices.len()])?;
        if !constraint.admits(&cheapest) {
            return Err(Error::Config(format!(
                "no architecture meets {constraint}: the cheapest has {} MACs, {} parameters, {:.6} µJ and a peak of {} activation values{}",
                cheapest.macs,
                cheapest.params,
                cheapest.energy_pj as f64 * 1e-6,
                cheapest.peak_activation,
                if cheapest.latency_ns > 0 { format!(", {:.3} ms predicted", cheapest.latency_ns as f64 * 1e-6) } else { String::new() }
            )));
        }
        let mut e = Self {
            space: space.choices.clone(),
            config: config.clone(),
            constraint: *constraint,
            rng: Rng::new(config.seed),
            generation: 0,
            pending: Vec::new(),
            scored: 0,
            population: Vec::new(),
            evaluated: Vec::new(),
            done: false,
            index: HashMap::new(),
        };
        for g in seeds.iter().filter(|g| g.len() == e.space.len() && g.iter().zip(&e.space).all(|(&v, &n)| v < n)).take(config.population) {
            let c = cost(g)?;
            if constraint.admits(&c) && !e.pending.iter().any(|(p, _)| p == g) {
                e.pending.push((g.clone(), c));
            }
        }
        while e.pending.len() < config.population {
            let choices = e.space.clone();
            let c = e.feasible(cost, &mut |r| choices.iter().map(|&n| r.below(n)).collect())?;
            e.pending.push(c);
        }
        Ok(e)
    }

    /// Draws with `make` until a candidate meets the constraint; after [`DRAWS`] misses, the
    /// last draw is repaired by narrowing random genes one step at a time (the cheapest genome,
    /// all zeros, meets it), so tight limits still give varied candidates.
    fn feasible(&mut self, cost: &dyn Fn(&Genome) -> Result<Cost>, make: &mut dyn FnMut(&mut Rng) -> Genome) -> Result<(Genome, Cost)> {
        let mut g = Vec::new();
        for _ in 0..DRAWS {
            g = make(&mut self.rng);
            let c = cost(&g)?;
            if self.constraint.admits(&c) {
                return Ok((g, c));
            }
        }
        loop {
            let c = cost(&g)?;
            let wide: Vec<usize> = (0..g.len()).filter(|&i| g[i] > 0).collect();
            if self.constraint.admits(&c) || wide.is_empty() {
                return Ok((g, c));
            }
            g[wide[self.rng.below(wide.len())]] -= 1;
        }
    }

    /// Where `g` is in `evaluated`, if it was scored (a hash lookup: searches score up to
    /// millions of candidates).
    fn position(&mut self, g: &Genome) -> Option<usize> {
        if self.index.len() != self.evaluated.len() {
            self.index = self.evaluated.iter().enumerate().map(|(i, s)| (s.genome.clone(), i)).collect();
        }
        self.index.get(g).copied()
    }

    /// What to do next: score a candidate (then [`report`](Self::report) its accuracy), take
    /// note of a completed generation (ranked; the next one is drawn with `cost`), or stop.
    /// Candidates scored before are taken from the record without asking again.
    ///
    /// # Errors
    /// Whatever `cost` returns.
    pub fn next(&mut self, cost: &dyn Fn(&Genome) -> Result<Cost>) -> Result<Step> {
        loop {
            if self.done {
                return Ok(Step::Done);
            }
            if self.scored == self.pending.len() {
                let genomes: Vec<Genome> = self.pending.iter().map(|(g, _)| g.clone()).collect();
                let at: Vec<usize> = genomes.iter().map(|g| self.position(g).expect("scored")).collect();
                let mut population: Vec<Scored> = at.into_iter().map(|i| self.evaluated[i].clone()).collect();
                rank(&mut population);
                self.population = population;
                let generation = self.generation;
                if generation < self.config.generations {
                    self.breed(cost)?;
                } else {
                    self.done = true;
                }
                return Ok(Step::Generation(generation, self.population[0].clone()));
            }
            let (g, c) = self.pending[self.scored].clone();
            match self.position(&g) {
                Some(_) => self.scored += 1,
                None => return Ok(Step::Score(g, c)),
            }
        }
    }

    /// Records the accuracy of the candidate [`next`](Self::next) asked for.
    ///
    /// # Panics
    /// When no candidate awaits a score.
    pub fn report(&mut self, accuracy: f64) {
        let (genome, cost) = self.pending[self.scored].clone();
        assert!(self.position(&genome).is_none(), "a score for a candidate next() did not ask for");
        self.scored += 1;
        self.index.insert(genome.clone(), self.evaluated.len());
        self.evaluated.push(Scored { genome, accuracy, cost, generation: self.generation });
    }

    /// The top `parent_ratio` of the population, then children by mutation and crossover.
    fn breed(&mut self, cost: &dyn Fn(&Genome) -> Result<Cost>) -> Result<()> {
        let n = self.config.population;
        let parents_n = ((n as f64 * self.config.parent_ratio).round() as usize).clamp(1, n);
        let mutants_n = ((n - parents_n) as f64 * self.config.mutation_ratio).round() as usize;
        let parents: Vec<Genome> = self.population[..parents_n].iter().map(|s| s.genome.clone()).collect();
        let mut next: Vec<(Genome, Cost)> = self.population[..parents_n].iter().map(|s| (s.genome.clone(), s.cost)).collect();
        let (choices, prob) = (self.space.clone(), self.config.mutation_prob);
        for i in 0..n - parents_n {
            let child = if i < mutants_n {
                let p = parents[self.rng.below(parents_n)].clone();
                self.feasible(cost, &mut |r| p.iter().zip(&choices).map(|(&v, &k)| if unit(r) < prob { r.below(k) } else { v }).collect())?
            } else {
                let (a, b) = (parents[self.rng.below(parents_n)].clone(), parents[self.rng.below(parents_n)].clone());
                self.feasible(cost, &mut |r| a.iter().zip(&b).map(|(&x, &y)| if r.below(2) == 0 { x } else { y }).collect())?
            };
            next.push(child);
        }
        self.generation += 1;
        self.pending = next;
        self.scored = 0;
        Ok(())
    }

    /// Ends the search after the current generation's results (the caller stopped it).
    pub fn stop(&mut self) {
        self.done = true;
    }

    /// Raises the number of generations to `n` (never lowers it); [`resume`](Self::resume)
    /// then continues a finished search. The continuation draws what one longer run would.
    pub fn extend_generations(&mut self, n: usize) {
        self.config.generations = self.config.generations.max(n);
    }

    /// Whether the search is over (finished or stopped).
    pub fn is_stopped(&self) -> bool {
        self.done
    }

    /// Continues a stopped search where it stopped, if generations remain (a finished search
    /// stays finished).
    pub fn resume(&mut self) {
        self.done = self.scored == self.pending.len() && self.generation >= self.config.generations;
    }

    /// The generation being scored (or the last one, when done).
    pub fn generation(&self) -> usize {
        self.generation
    }

    /// The search so far.
    ///
    /// # Panics
    /// Before any candidate was scored.
    pub fn result(&self) -> SearchResult {
        let mut all = self.evaluated.clone();
        rank(&mut all);
        SearchResult { best: all[0].clone(), evaluated: self.evaluated.clone(), front: pareto_front(&self.evaluated) }
    }

    /// Choices per gene of the space searched.
    pub fn choices(&self) -> &[usize] {
        &self.space
    }

    /// The evolution settings.
    pub fn config(&self) -> &EvolutionConfig {
        &self.config
    }

    /// The limits.
    pub fn constraint(&self) -> &Constraint {
        &self.constraint
    }

    /// Candidates scored so far.
    pub fn scored(&self) -> usize {
        self.evaluated.len()
    }
}

/// Most accurate first; ties: fewer MACs first, then the order given.
fn rank(pop: &mut [Scored]) {
    pop.sort_by(|a, b| b.accuracy.total_cmp(&a.accuracy).then(a.cost.macs.cmp(&b.cost.macs)));
}

/// Runs an [`Evolution`] to the end: `evaluate` once per distinct genome, `progress(generation,
/// best so far)` after each generation, which may stop the search by returning `false` (the
/// result so far is returned).
///
/// # Errors
/// As [`Evolution::new`]; whatever `cost` or `evaluate` return.
pub fn evolve(
    space: &Space,
    cfg: &EvolutionConfig,
    constraint: &Constraint,
    cost: &dyn Fn(&Genome) -> Result<Cost>,
    evaluate: &mut dyn FnMut(&Genome) -> Result<f64>,
    progress: &mut dyn FnMut(usize, &Scored) -> bool,
) -> Result<SearchResult> {
    let mut e = Evolution::new(space, cfg, constraint, cost)?;
    run(&mut e, cost, evaluate, progress)?;
    Ok(e.result())
}

/// Continues `e` to the end (see [`evolve`]).
///
/// # Errors
/// Whatever `cost` or `evaluate` return.
pub fn run(
    e: &mut Evolution,
    cost: &dyn Fn(&Genome) -> Result<Cost>,
    evaluate: &mut dyn FnMut(&Genome) -> Result<f64>,
    progress: &mut dyn FnMut(usize, &Scored) -> bool,
) -> Result<()> {
    loop {
        match e.next(cost)? {
            Step::Score(g, _) => e.report(evaluate(&g)?),
            Step::Generation(generation, best) => {
                if !progress(generation, &best) {
                    e.stop();
                }
            }
            Step::Done => break,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Cost and accuracy both grow with every gene: the best under a MAC limit spends it.
    fn cost_of(g: &Genome) -> Result<Cost> {
        let macs = g.iter().enumerate().map(|(i, &v)| (v as u64 + 1) * (i as u64 + 1)).sum();
        Ok(Cost { macs, params: macs / 2, energy_pj: macs * 3, peak_activation: macs, latency_ns: 0 })
    }

    fn accuracy_of(g: &Genome) -> f64 {
        g.iter().enumerate().map(|(i, &v)| v as f64 * (5 - i) as f64).sum::<f64>()
    }

    fn search(cfg: &EvolutionConfig, constraint: Constraint) -> Result<SearchResult> {
        let space = Space { choices: vec![4; 5] };
        evolve(&space, cfg, &constraint, &cost_of, &mut |g| Ok(accuracy_of(g)), &mut |_, _| true)
    }

    #[test]
    fn finds_the_optimum_under_the_limit_and_is_seeded() {
        let cfg = EvolutionConfig { population: 20, generations: 15, seed: 3, ..EvolutionConfig::default() };
        let constraint = Constraint { max_macs: Some(30), ..Constraint::default() };
        let r = search(&cfg, constraint).unwrap();
        // Exhaustive optimum over the 4^5 genomes.
        let best = (0..4usize.pow(5))
            .map(|k| (0..5).map(|i| (k / 4usize.pow(i)) % 4).collect::<Genome>())
            .filter(|g| cost_of(g).unwrap().macs <= 30)
            .map(|g| accuracy_of(&g))
            .fold(f64::MIN, f64::max);
        assert!(r.best.accuracy >= 0.85 * best, "{} against the optimum {best}", r.best.accuracy);
        let initial = r.evaluated.iter().filter(|s| s.generation == 0).map(|s| s.accuracy).fold(f64::MIN, f64::max);
        assert!(r.best.accuracy > initial, "the generations improve on the random population ({initial})");
        assert!(r.best.generation > 0);
        assert!(r.evaluated.iter().all(|s| constraint.admits(&s.cost)), "every candidate meets the limit");
        assert!(r.evaluated.len() < 4usize.pow(5), "the search evaluates a part of the space");
        // A limit only a few genomes meet: the repair still gives a varied population.
        let tight = Constraint { max_energy_pj: Some(51), ..Constraint::default() };
        let r2 = search(&EvolutionConfig { population: 8, generations: 2, ..cfg.clone() }, tight).unwrap();
        assert!(r2.evaluated.len() >= 4 && r2.evaluated.iter().all(|s| tight.admits(&s.cost)), "{:?}", r2.evaluated);
        assert_eq!(r, search(&cfg, constraint).unwrap(), "same seed, same search");
        assert_ne!(r.evaluated, search(&EvolutionConfig { seed: 4, ..cfg.clone() }, constraint).unwrap().evaluated);
    }

    #[test]
    fn the_front_is_non_dominated_and_sorted() {
        let cfg = EvolutionConfig { population: 12, generations: 3, seed: 1, ..EvolutionConfig::default() };
        let r = search(&cfg, Constraint::default()).unwrap();
        for w in r.front.windows(2) {
            assert!(w[0].cost.macs < w[1].cost.macs && w[0].accuracy < w[1].accuracy, "{w:?}");
        }
        for s in &r.evaluated {
            assert!(r.front.iter().any(|f| f.cost.macs <= s.cost.macs && f.accuracy >= s.accuracy), "{s:?} is covered by the front");
        }
        for f in &r.front {
            let beaten = r.evaluated.iter().any(|o| {
                (o.cost.macs <= f.cost.macs && o.accuracy > f.accuracy) || (o.cost.macs < f.cost.macs && o.accuracy >= f.accuracy)
            });
            assert!(!beaten, "{f:?} is dominated");
        }
    }

    #[test]
    fn bad_inputs_are_typed_errors() {
        let cfg = EvolutionConfig { population: 4, generations: 1, ..EvolutionConfig::default() };
        let e = search(&cfg, Constraint { max_macs: Some(14), ..Constraint::default() }).unwrap_err();
        assert!(
            e.to_string()
                .contains("no architecture meets MACs <= 14: the cheapest has 15 MACs, 7 parameters, 0.000045 µJ and a peak of 15"),
            "{e}"
        );
        for bad in [
            EvolutionConfig { population: 1, ..cfg.clone() },
            EvolutionConfig { population: MAX_POPULATION + 1, ..cfg.clone() },
            EvolutionConfig { generations: MAX_GENERATIONS + 1, ..cfg.clone() },
            EvolutionConfig { parent_ratio: 0.0, ..cfg.clone() },
            EvolutionConfig { mutation_ratio: 1.5, ..cfg.clone() },
            EvolutionConfig { mutation_prob: f64::NAN, ..cfg.clone() },
        ] {
            assert_eq!(search(&bad, Constraint::default()).unwrap_err().code(), "INVALID_CONFIG");
        }
        let empty = Space { choices: vec![3, 0] };
        let e = evolve(&empty, &cfg, &Constraint::default(), &cost_of, &mut |_| Ok(0.0), &mut |_, _| true).unwrap_err();
        assert_eq!(e.code(), "INVALID_CONFIG");
    }

    #[test]
    fn a_search_resumes_from_its_saved_state() {
        let cfg = EvolutionConfig { population: 10, generations: 4, seed: 9, ..EvolutionConfig::default() };
        let space = Space { choices: vec![4; 5] };
        let constraint = Constraint { max_macs: Some(32), ..Constraint::default() };
        let whole = evolve(&space, &cfg, &constraint, &cost_of, &mut |g| Ok(accuracy_of(g)), &mut |_, _| true).unwrap();
        let mut e = Evolution::new(&space, &cfg, &constraint, &cost_of).unwrap();
        run(&mut e, &cost_of, &mut |g| Ok(accuracy_of(g)), &mut |generation, _| generation < 2).unwrap();
        // Stopped after generation 2, saved as a CLI saves it after each generation.
        let saved = serde_json::to_string(&e).unwrap();
        let mut resumed: Evolution = serde_json::from_str(&saved).unwrap();
        assert!(resumed.is_stopped());
        resumed.resume();
        run(&mut resumed, &cost_of, &mut |g| Ok(accuracy_of(g)), &mut |_, _| true).unwrap();
        assert_eq!(resumed.result(), whole, "stopped, saved, loaded and continued = one run");
        // A finished search continued for more generations = one longer run.
        let longer = evolve(
            &space,
            &EvolutionConfig { generations: 6, ..cfg.clone() },
            &constraint,
            &cost_of,
            &mut |g| Ok(accuracy_of(g)),
            &mut |_, _| true,
        )
        .unwrap();
        resumed.resume();
        assert!(resumed.is_stopped(), "finished stays finished");
        resumed.extend_generations(6);
        resumed.resume();
        run(&mut resumed, &cost_of, &mut |g| Ok(accuracy_of(g)), &mut |_, _| true).unwrap();
        assert_eq!(resumed.result(), longer);
    }

    #[test]
    fn seeds_join_the_initial_population() {
        let cfg = EvolutionConfig { population: 5, generations: 0, seed: 2, ..EvolutionConfig::default() };
        let space = Space { choices: vec![4; 5] };
        let constraint = Constraint { max_macs: Some(30), ..Constraint::default() };
        let (fits, too_dear, wrong) = (vec![1, 1, 1, 1, 1], vec![3; 5], vec![9, 0, 0, 0, 0]);
        let mut e = Evolution::seeded(&space, &cfg, &constraint, &cost_of, &[fits.clone(), too_dear.clone(), wrong.clone()]).unwrap();
        run(&mut e, &cost_of, &mut |g| Ok(accuracy_of(g)), &mut |_, _| true).unwrap();
        let r = e.result();
        assert_eq!(r.evaluated[0].genome, fits, "the seed is scored first");
        assert_eq!(r.evaluated.len(), 5);
        assert!(!r.evaluated.iter().any(|s| s.genome == too_dear || s.genome == wrong));
    }

    #[test]
    fn progress_can_stop_the_search() {
        let cfg = EvolutionConfig { population: 6, generations: 50, ..EvolutionConfig::default() };
        let space = Space { choices: vec![4; 5] };
        let mut calls = 0;
        let r = evolve(&space, &cfg, &Constraint::default(), &cost_of, &mut |g| Ok(accuracy_of(g)), &mut |generation, _| {
            calls += 1;
            generation < 2
        })
        .unwrap();
        assert_eq!(calls, 3, "generations 0, 1 and 2 reported, then stopped");
        assert!(r.evaluated.iter().all(|s| s.generation <= 2));
    }
}
