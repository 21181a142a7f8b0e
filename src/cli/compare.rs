//! `shiftaddaug compare`: runs a grid of training configs over seeds and prints a markdown table.

use super::args::parse;
use super::train::train;

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

/// `shiftaddaug compare [--grid main|ablation|baselines] [--seeds 0,1] [train flags...]`: trains every
/// grid row for every seed with the common flags, prints each result as it lands and then a
/// markdown table (mean and spread = max − min over seeds).
pub(super) fn compare(args: &[String]) -> Result<(), String> {
    let mut grid: &[(&str, &str)] = &GRID_MAIN;
    let mut seeds = vec![0u64, 1];
    let mut common = vec!["--out".to_string(), "none".to_string()];
    let mut it = args.iter();
    while let Some(f) = it.next() {
        match f.as_str() {
            "--grid" => {
                grid = match it.next().map(String::as_str) {
                    Some("main") => &GRID_MAIN,
                    Some("ablation") => &GRID_ABLATION,
                    Some("baselines") => &GRID_BASELINES,
                    g => return Err(format!("--grid {}: valid: main, ablation, baselines", g.unwrap_or("(missing)"))),
                }
            }
            "--seeds" => {
                seeds = it
                    .next()
                    .ok_or("--seeds needs a value")?
                    .split(',')
                    .map(|s| s.trim().parse::<u64>().map_err(|_| format!("--seeds: {s:?} is not an integer")))
                    .collect::<Result<_, _>>()?
            }
            _ => common.push(f.clone()),
        }
    }
    let mut rows = Vec::new();
    for (label, flags) in grid {
        let mut accs = Vec::new();
        for &seed in &seeds {
            let mut argv = common.clone();
            argv.extend(flags.split(' ').map(String::from));
            argv.extend(["--seed".to_string(), seed.to_string()]);
            let a = parse(&argv)?;
            let o = train(a).map_err(|e| format!("{label} seed {seed}: {e}"))?;
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
