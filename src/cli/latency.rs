//! `shiftaddaug latency`: builds the latency table of this machine for random architectures of a
//! zoo supernet's search space (`cost::latency`) and checks its predictions against the measured
//! time of each whole deployed model in the integer engine.

use super::args::LatencyArgs;
use burn::tensor::Device;
use shiftaddaug::aug::AugNetConfig;
use shiftaddaug::cost::latency::LatencyTable;
use shiftaddaug::data::Rng;
use shiftaddaug::engine::block_on;
use shiftaddaug::export::export_supernet;
use shiftaddaug::infer::{format, int};
use shiftaddaug::models::NetSpec;
use shiftaddaug::nas::supernet::{DEFAULT_SHRINK, WidthSpace};

/// Prints one row per architecture (MACs, predicted and measured ms per image, error) and the
/// mean and largest error; writes the table to `--out` when given.
pub(super) fn latency(a: LatencyArgs) -> Result<(), shiftaddaug::Error> {
    let spec = NetSpec::by_name(&a.model)
        .ok_or_else(|| shiftaddaug::Error::Config(format!("model {}; valid: {}", a.model, NetSpec::NAMES.join(", "))))?;
    let cfg = AugNetConfig { spec, stem_stride: a.stem_stride, ..AugNetConfig::new([1, a.input_size, a.input_size], 10, a.conv) };
    let space = WidthSpace::new(&cfg, &DEFAULT_SHRINK, false)?;
    let genomes = space.sample_genomes(a.archs, a.seed);
    if a.engine == "float" {
        return float(&a, &space, &genomes);
    }
    let start = std::time::Instant::now();
    let now = move || start.elapsed().as_secs_f64();
    let clock = shiftaddaug::infer::timing::Clock { now: &now, resolution: 1e-7 };
    // A first pass over the tiny model's layers, thrown away: the first timings of a process
    // read up to 20 % high (page faults, clock ramp-up).
    LatencyTable::native(a.reps).predict_s(&space.config_of(&space.tiny_genome()).tiny_layers());
    let mut table = LatencyTable::native(a.reps);
    let device = Device::flex();
    device.seed(a.seed);
    let per = a.input_size * a.input_size;
    let mut rng = Rng::new(a.seed);
    let images: Vec<f32> = (0..8 * per).map(|_| (rng.next_u64() % 1000) as f32 / 1000.0).collect();
    println!("| architecture | MACs | predicted (ms) | measured (ms) | error |\n|---|---|---|---|---|");
    let mut errors = Vec::new();
    for (i, genome) in genomes.iter().enumerate() {
        let config = space.config_of(genome);
        let layers = config.tiny_layers();
        let predicted = table.predict_s(&layers);
        let (json, bytes) = block_on(export_supernet(&config.init(&device)?))?;
        let q = int::quantize(&format::parse(&json, &bytes)?, &images, 8)?;
        let measured = q.time_image(&images[..per], a.reps, clock)?;
        let err = predicted / measured - 1.0;
        errors.push(err.abs());
        let macs: u64 = layers.iter().map(shiftaddaug::cost::Layer::macs).sum();
        println!("| {i} {genome:?} | {macs} | {:.3} | {:.3} | {:+.1} % |", predicted * 1e3, measured * 1e3, err * 1e2);
    }
    summary(&a, &errors, table.len(), table.to_json())
}

/// Prints the mean and largest |error|; writes `json` (the table) to `--out` when given.
fn summary(a: &LatencyArgs, errors: &[f64], layers: usize, json: serde_json::Value) -> Result<(), shiftaddaug::Error> {
    let mean = errors.iter().sum::<f64>() / errors.len().max(1) as f64;
    let max = errors.iter().copied().fold(0.0, f64::max);
    println!("{} architectures, {layers} layers timed: mean |error| {:.1} %, largest {:.1} %", errors.len(), mean * 1e2, max * 1e2);
    if let Some(out) = &a.out {
        let text = serde_json::to_string_pretty(&json).expect("a JSON value");
        std::fs::write(out, text).map_err(super::train::io_at(out))?;
        println!("table: {}", out.display());
    }
    Ok(())
}

/// `--engine float`: the training module's float model on the CPU device.
fn float(a: &LatencyArgs, space: &WidthSpace, genomes: &[shiftaddaug::nas::Genome]) -> Result<(), shiftaddaug::Error> {
    let start = std::time::Instant::now();
    let now = move || start.elapsed().as_secs_f64() * 1e3;
    let configs: Vec<_> = genomes.iter().map(|g| space.config_of(g)).collect();
    let device = shiftaddaug::engine::cpu_device();
    let (rows, table) = block_on(shiftaddaug::engine::latency::check_fresh(&configs, &device, a.batch, a.reps, &now))?;
    println!(
        "float model on the CPU, batch {}\n\n| architecture | MACs | predicted (ms) | measured (ms) | error |\n|---|---|---|---|---|",
        a.batch
    );
    for (i, (r, g)) in rows.iter().zip(genomes).enumerate() {
        println!("| {i} {g:?} | {} | {:.3} | {:.3} | {:+.1} % |", r.macs, r.predicted_ms, r.measured_ms, r.error() * 1e2);
    }
    let errors: Vec<f64> = rows.iter().map(|r| r.error().abs()).collect();
    summary(a, &errors, table.len(), table.to_json())
}
