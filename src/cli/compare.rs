//! `shiftaddaug compare`: runs a grid of training configs over seeds and prints a markdown table.

use super::args::{Cli, Command, CompareArgs, Grid};
use super::train::train;
use clap::Parser;

/// One row of a comparison grid: a label and the extra flags it adds to the common ones.
const GRID_MAIN: [(&str, &str); 5] = [
    ("Mult direct", "--conv mult --aug off"),
    ("Shift direct", "--conv shift --aug off"),
    ("Shift + ShiftAddAug", "--conv shift --aug on"),
    ("Add direct", "--conv add --aug off"),
    ("Add + ShiftAddAug", "--conv add --aug on"),
];
/// Ablations of "Shift + ShiftAddAug" and "Add + ShiftAddAug" (R1, H1), the main grid's rows.
const GRID_ABLATION: [(&str, &str); 5] = [
    ("Shift aug R0 (no remap)", "--conv shift --aug on --remap r0"),
    ("Shift aug R1 H2", "--conv shift --aug on --remap r1 --aug-mode h2"),
    ("Shift aug R1 B", "--conv shift --aug on --remap r1 --aug-mode b"),
    ("Shift aug MF-only", "--conv shift --aug on --aug-mode mf-only"),
    ("Add aug R0 (no remap)", "--conv add --aug on --remap r0"),
];
/// The other baselines: NetAug (Mult augmenting Mult) and DeepShift-PS (the static model,
/// evaluated without BN re-estimation).
const GRID_BASELINES: [(&str, &str); 2] =
    [("Mult + NetAug", "--conv mult --aug on"), ("Shift direct (DeepShift-PS)", "--conv shift --shift-mode ps --aug off")];

/// Why `compare` stopped.
pub(super) enum Failed {
    /// A bad option or combination, in the common options or a row (before any run trains).
    Options(String),
    /// A run failed.
    Run(String),
}

/// `shiftaddaug compare`: trains every grid row for every seed with the common options,
/// prints each result as it lands and then a markdown table (mean and spread = max − min over
/// seeds). A row's own flags override the common ones.
pub(super) fn compare(args: CompareArgs, argv: &[String]) -> Result<(), Failed> {
    let grid: &[(&str, &str)] = match args.grid {
        Grid::Main => &GRID_MAIN,
        Grid::Ablation => &GRID_ABLATION,
        Grid::Baselines => &GRID_BASELINES,
    };
    let seeds = args.seeds;
    if seeds.is_empty() {
        return Err(Failed::Options("--seeds: give at least one seed".into()));
    }
    // Checks the common options' combination before the first run (each row's, below).
    args.train.resolve_with(false).map_err(Failed::Options)?;
    // The common options as given (minus compare's own), `--out none` unless given.
    let mut common = vec!["--out".to_string(), "none".to_string()];
    let mut it = argv.iter();
    while let Some(f) = it.next() {
        match f.as_str() {
            "--grid" | "--seeds" => {
                it.next();
            }
            f if f.starts_with("--grid=") || f.starts_with("--seeds=") => {}
            _ => common.push(f.clone()),
        }
    }
    // A row's run: the common options, its own flags, the seed. The direct rows drop the common
    // augmentation options. Every row is checked before the first one trains.
    let row = |label: &str, flags: &str, seed: u64| -> Result<super::args::Args, String> {
        let mut argv = vec!["shiftaddaug".to_string(), "train".to_string()];
        argv.extend(common.iter().cloned());
        argv.extend(flags.split(' ').map(String::from));
        argv.extend(["--seed".to_string(), seed.to_string()]);
        match Cli::try_parse_from(&argv).map_err(|e| e.to_string())?.command {
            Command::Train(t) => t.resolve_with(false).map_err(|e| format!("{label}: {e}")),
            other => Err(format!("internal: {other:?} parsed from a train command line")),
        }
    };
    for (label, flags) in grid {
        row(label, flags, seeds[0]).map_err(Failed::Options)?;
    }
    let mut rows = Vec::new();
    for (label, flags) in grid {
        let mut accs = Vec::new();
        for &seed in &seeds {
            let o = train(row(label, flags, seed).map_err(Failed::Run)?)
                .map_err(|e| Failed::Run(format!("{label} seed {seed}: [{}] {e}", e.code())))?;
            println!("RESULT | {label} | seed {seed} | accuracy {:.4} | {:.0} s", o.accuracy, o.seconds);
            accs.push((o.accuracy, o.seconds));
        }
        rows.push((label, accs));
    }
    println!("\n| model | {} | mean | spread | time per run |", seeds.iter().map(|s| format!("seed {s}")).collect::<Vec<_>>().join(" | "));
    println!("|---|{}---|---|---|", "---|".repeat(seeds.len()));
    for (label, accs) in rows {
        let v: Vec<f32> = accs.iter().map(|a| a.0 * 100.0).collect();
        let mean = v.iter().sum::<f32>() / v.len() as f32;
        let spread = v.iter().cloned().fold(f32::MIN, f32::max) - v.iter().cloned().fold(f32::MAX, f32::min);
        let secs = accs.iter().map(|a| a.1).sum::<f64>() / accs.len() as f64;
        println!(
            "| {label} | {} | {mean:.2} | {spread:.2} | {secs:.0} s |",
            v.iter().map(|x| format!("{x:.2}")).collect::<Vec<_>>().join(" | ")
        );
    }
    println!("\ncommon flags: {}", common.join(" "));
    Ok(())
}
