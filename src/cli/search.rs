//! `shiftaddaug search CHECKPOINT`: the MF TargetNet inside a trained ShiftAddAug supernet
//! under MAC / parameter / energy limits (`shiftaddaug::nas`), scored on held-out training images.
//! Its genes are widths (and blocks, `--depth`), plus a depthwise kernel and an operator per block
//! when the supernet trained `--subnet-kernels` / `--subnet-ops`.

use super::train::{io_at, json, write_export};
use clap::Args as ClapArgs;
use shiftaddaug::aug::AugNetConfig;
use shiftaddaug::cost::latency::{LatencyTable, PredictLatency};
use shiftaddaug::data::{FASHION_MNIST_DIR, Split, load_fashion_mnist};
use shiftaddaug::engine::latency::{BackendLatencyTable, BlockingTable};
use shiftaddaug::engine::{block_on, cpu_device};
use shiftaddaug::nas::supernet::{Holdout, Report, WidthSpace, default_shrink, inherited, score};
use shiftaddaug::nas::{Evolution, EvolutionConfig, LatencyEngine, SearchOptions, Step};
use shiftaddaug::train::checkpoint::read_header;
use shiftaddaug::train::{BN_RESET_BATCH, Trainer, evaluate};
use std::cell::{Cell, RefCell};
use std::path::PathBuf;
use std::time::Instant;

/// Timed runs per layer of the latency table (the median counts).
const LATENCY_REPS: usize = 15;

/// The options of `search`.
#[derive(ClapArgs, Debug)]
pub(super) struct SearchArgs {
    /// A supernet checkpoint (`train --aug on --out DIR` writes DIR/checkpoint.bin).
    pub(super) checkpoint: PathBuf,
    /// Limit on the TargetNet's multiply-accumulates per image.
    #[arg(long, value_name = "N")]
    pub(super) max_macs: Option<u64>,
    /// Limit on the TargetNet's parameters.
    #[arg(long, value_name = "N")]
    pub(super) max_params: Option<u64>,
    /// Limit on the TargetNet's compute energy per image, µJ (32-bit unit energies, one per
    /// MAC by operator: `cost --bits 32`).
    #[arg(long, value_name = "UJ")]
    pub(super) max_energy_uj: Option<f64>,
    /// Limit on the TargetNet's peak activation values per image (a step's input and output
    /// plus the shortcut input held; `cost` prints it for an export).
    #[arg(long, value_name = "N")]
    pub(super) max_peak_activation: Option<u64>,
    /// Limit on the TargetNet's latency per image on this machine, ms, in the engine
    /// `--latency-engine` names, predicted from a table of its layers timed here (`shiftaddaug
    /// latency`).
    #[arg(long, value_name = "MS")]
    pub(super) max_latency_ms: Option<f64>,
    /// What `--max-latency-ms` limits: `integer`, the integer engine's time per image (one
    /// thread; what a deployed model runs), or `float`, the training module's float model on the
    /// CPU (what `predict` of a trained model runs), each from a table of its layers timed here.
    #[arg(long, default_value = "integer", value_parser = ["integer", "float"])]
    pub(super) latency_engine: String,
    /// Candidates per generation.
    #[arg(long, default_value_t = EvolutionConfig::default().population)]
    pub(super) population: usize,
    /// Generations after the initial population [default: 20; with --resume: the saved
    /// number, or more to continue a finished search].
    #[arg(long, value_name = "N")]
    pub(super) generations: Option<usize>,
    /// Share of each generation kept as parents.
    #[arg(long, default_value_t = EvolutionConfig::default().parent_ratio)]
    pub(super) parent_ratio: f64,
    /// Share of the children made by mutation (the rest by crossover).
    #[arg(long, default_value_t = EvolutionConfig::default().mutation_ratio)]
    pub(super) mutation_ratio: f64,
    /// Probability that a mutation redraws each gene.
    #[arg(long, default_value_t = EvolutionConfig::default().mutation_prob)]
    pub(super) mutation_prob: f64,
    /// Width factors below 1 offered besides the supernet's widthList / expandList, so that a
    /// TargetNet can narrow some layers to widen others [default: the supernet's
    /// --subnet-shrink when it trained sub-networks (--subnets), else 0.5,0.75].
    #[arg(long, value_delimiter = ',')]
    pub(super) shrink: Option<Vec<f32>>,
    /// Also choose which blocks with a shortcut the TargetNet keeps; the others stay in the
    /// augmented model (depth augmentation: marked `augOnly` in the plan).
    #[arg(long)]
    pub(super) depth: bool,
    /// Seed of the search.
    #[arg(long, default_value_t = 0)]
    pub(super) seed: u64,
    /// Held-out images each candidate's BatchNorm statistics are re-estimated on.
    #[arg(long, value_name = "N", default_value_t = 2_000)]
    pub(super) bn_images: usize,
    /// Held-out images each candidate is scored on.
    #[arg(long, value_name = "N", default_value_t = 2_000)]
    pub(super) eval_images: usize,
    /// Fashion-MNIST folder. The held-out images are the last bn + eval of the training set:
    /// train the supernet on fewer (`--train-limit`) to keep them unseen.
    #[arg(long, default_value = FASHION_MNIST_DIR)]
    pub(super) data: PathBuf,
    /// Writes search.json (every candidate, the front, the best), front.svg (accuracy against
    /// MACs), plan.json (the best's spec, for `train --plan`) here after every generation, and
    /// state.json to resume from; at the end model.json + model.safetensors, the best with the
    /// supernet's weights (an export, as `train --out` writes).
    #[arg(long, value_name = "DIR", default_value = "shiftaddaug-search")]
    pub(super) out: PathBuf,
    /// Continue the search saved in --out (its state.json); the evolution options and limits
    /// are the saved ones, except a larger --generations.
    #[arg(long)]
    pub(super) resume: bool,
}

/// Runs the search and writes its results; progress goes to stderr.
pub(super) fn search(a: SearchArgs) -> Result<(), shiftaddaug::Error> {
    let start = Instant::now();
    let bytes = std::fs::read(&a.checkpoint).map_err(io_at(&a.checkpoint))?;
    let header = read_header(&bytes)?;
    let cfg: AugNetConfig = serde_json::from_str(&header.model_config).map_err(|e| {
        shiftaddaug::Error::Config(format!("the checkpoint holds no supernet config ({e}); search needs a zoo model's checkpoint"))
    })?;
    let space = WidthSpace::new(&cfg, &a.shrink.clone().unwrap_or_else(|| default_shrink(&cfg)), a.depth)?;
    let device = cpu_device().autodiff();
    let mut trainer = Trainer::new(cfg.init(&device)?, cfg.num_classes, header.train_config.clone())?;
    trainer.restore(&bytes, &header.model_config)?;
    let net = trainer.into_model();

    let mut train_set = load_fashion_mnist(&a.data, Split::Train)?;
    let [_, h, _] = cfg.input_shape;
    if h > 28 {
        train_set = train_set.pad_to(h);
    }
    let held = a.bn_images.checked_add(a.eval_images).filter(|&n| n >= 2 && a.bn_images >= 1 && a.eval_images >= 1 && n <= train_set.len());
    let Some(held) = held else {
        return Err(shiftaddaug::Error::Config(format!(
            "--bn-images {} and --eval-images {} must each be >= 1 and together at most the {} training images",
            a.bn_images,
            a.eval_images,
            train_set.len()
        )));
    };
    let first = train_set.len() - held;
    let (bn, eval) = (train_set.slice(first, first + a.bn_images), train_set.slice(first + a.bn_images, train_set.len()));
    let holdout = Holdout { bn: &bn, eval: &eval };

    let opts = SearchOptions {
        max_macs: a.max_macs,
        max_params: a.max_params,
        max_energy_uj: a.max_energy_uj,
        max_peak_activation: a.max_peak_activation,
        max_latency_ms: a.max_latency_ms,
        latency_engine: if a.latency_engine == "float" { LatencyEngine::Float } else { LatencyEngine::Integer },
        population: a.population,
        generations: a.generations.unwrap_or(EvolutionConfig::default().generations),
        parent_ratio: a.parent_ratio,
        mutation_ratio: a.mutation_ratio,
        mutation_prob: a.mutation_prob,
        seed: a.seed,
        shrink: a.shrink.clone(),
        depth: a.depth,
    };
    let (evo, constraint) = (
        opts.evolution()?,
        opts.constraint().map_err(|e| match e {
            // The SDK's option names, as this command spells them.
            shiftaddaug::Error::Config(m) => {
                shiftaddaug::Error::Config(m.replace("maxEnergyUj", "--max-energy-uj").replace("maxLatencyMs", "--max-latency-ms"))
            }
            e => e,
        })?,
    );
    // Latency is predicted when a limit asks for it (here or in a resumed search).
    let table: RefCell<Box<dyn PredictLatency>> = RefCell::new(if opts.latency_engine == LatencyEngine::Float {
        Box::new(BlockingTable::new(BackendLatencyTable::new(&net.config, &cpu_device(), 1, LATENCY_REPS)))
    } else {
        Box::new(LatencyTable::native(LATENCY_REPS))
    });
    let timed = Cell::new(constraint.max_latency_ns.is_some());
    let cost = |g: &Vec<usize>| {
        if !timed.get() {
            return Ok(space.priced(&net, g, None));
        }
        let mut t = table.borrow_mut();
        Ok(space.priced(&net, g, Some(t.as_mut())))
    };
    let state_path = a.out.join("state.json");
    let mut e = if a.resume {
        let text = std::fs::read_to_string(&state_path).map_err(io_at(&state_path))?;
        let mut e: Evolution = serde_json::from_str(&text)
            .map_err(|err| shiftaddaug::Error::Config(format!("{}: not a saved search ({err})", state_path.display())))?;
        if e.choices() != space.space().choices {
            return Err(shiftaddaug::Error::Config(format!(
                "{} was saved for another supernet or search space (--shrink, --depth)",
                state_path.display()
            )));
        }
        if let Some(n) = a.generations {
            e.extend_generations(n);
        }
        e.resume();
        timed.set(e.constraint().max_latency_ns.is_some());
        eprintln!("search: resuming at generation {} with {} candidates scored", e.generation(), e.scored());
        e
    } else {
        Evolution::seeded(&space.space(), &evo, &constraint, &cost, &[space.tiny_genome()])?
    };
    eprintln!(
        "search: {} width choices over {} genes ({} architectures); supernet's own tiny model {} MACs; held-out training images {first}..{}",
        space.space().choices.iter().sum::<usize>(),
        space.space().choices.len(),
        space.space().size(),
        cfg.tiny_macs(),
        train_set.len()
    );
    std::fs::create_dir_all(&a.out).map_err(io_at(&a.out))?;
    let (ps, pp) = (a.out.join("search.json"), a.out.join("plan.json"));
    // search.json, plan.json and state.json as they stand (after each generation).
    let save = |e: &Evolution| -> Result<(), shiftaddaug::Error> {
        let result = e.result();
        let r = Report::of(&space, &result);
        let report = serde_json::json!({
            "checkpoint": a.checkpoint.display().to_string(),
            "constraint": e.constraint(),
            "latencyEngine": a.latency_engine,
            "evolution": e.config(),
            "generation": e.generation(),
            "finished": e.is_stopped(),
            "heldOut": { "bnImages": a.bn_images, "evalImages": a.eval_images, "first": first },
            "best": r.best,
            "front": r.front,
            "evaluated": r.evaluated,
        });
        std::fs::write(&ps, serde_json::to_string_pretty(&report).expect("json")).map_err(io_at(&ps))?;
        std::fs::write(&pp, json(&space.plan(&result.best.genome))).map_err(io_at(&pp))?;
        let pf = a.out.join("front.svg");
        std::fs::write(&pf, shiftaddaug::nas::svg::front_svg(&result.evaluated, &result.front, &result.best)).map_err(io_at(&pf))?;
        let tmp = a.out.join("state.json.tmp");
        std::fs::write(&tmp, json(e)).map_err(io_at(&tmp))?;
        std::fs::rename(&tmp, &state_path).map_err(io_at(&state_path))
    };
    loop {
        match e.next(&cost)? {
            Step::Score(g, _) => e.report(block_on(score(&space, &net, &g, &holdout))?),
            Step::Generation(generation, best) => {
                eprintln!(
                    "generation {generation}: best held-out accuracy {:.4} at {} MACs, {} parameters, {:.4} µJ{} ({} scored, {:.0} s)",
                    best.accuracy,
                    best.cost.macs,
                    best.cost.params,
                    best.cost.energy_pj as f64 * 1e-6,
                    latency(best.cost.latency_ns),
                    e.scored(),
                    start.elapsed().as_secs_f64()
                );
                save(&e)?;
            }
            Step::Done => break,
        }
    }
    save(&e)?;
    let result = e.result();
    // The best TargetNet as the supernet trained it (no retraining), with the test accuracy
    // that was not used to choose it.
    let model = inherited(&space, &net, &result.best.genome, &bn)?;
    write_export(&a.out, block_on(shiftaddaug::export::export_supernet(&model))?)?;
    let mut test_set = load_fashion_mnist(&a.data, Split::Test)?;
    if h > 28 {
        test_set = test_set.pad_to(h);
    }
    let (held_out, test) = (
        block_on(evaluate(&model, cfg.num_classes, &eval, BN_RESET_BATCH))?.accuracy,
        block_on(evaluate(&model, cfg.num_classes, &test_set, BN_RESET_BATCH))?.accuracy,
    );
    println!(
        "the best with the supernet's weights (BatchNorm re-estimated on the held-out images): held-out accuracy {held_out:.4}, test accuracy {test:.4} on {} images",
        test_set.len()
    );
    println!(
        "best: held-out accuracy {:.4}, {} MACs, {} parameters, {:.4} µJ{} ({} candidates evaluated, {} on the front, {:.0} s)\nresults: {} (plot: front.svg)\nplan: {} (train it with `shiftaddaug train --plan {} --aug on`)",
        result.best.accuracy,
        result.best.cost.macs,
        result.best.cost.params,
        result.best.cost.energy_pj as f64 * 1e-6,
        latency(result.best.cost.latency_ns),
        result.evaluated.len(),
        result.front.len(),
        start.elapsed().as_secs_f64(),
        ps.display(),
        pp.display(),
        pp.display()
    );
    Ok(())
}

/// `", X ms predicted"` for a measured latency, else nothing.
fn latency(ns: u64) -> String {
    if ns == 0 { String::new() } else { format!(", {:.3} ms predicted", ns as f64 * 1e-6) }
}
