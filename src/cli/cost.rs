//! `shiftaddaug cost DIR`: the compute cost of the export in `DIR` (`shiftaddaug::cost`).

use super::args::CostArgs;
use shiftaddaug::cost::{self, Convention, UnitEnergies};
use shiftaddaug::infer::format::Op;

/// Prints MACs by operator, operation counts, energy (µJ per image), weights and peak
/// activation values, and with `--layers` one row per layer.
pub(super) fn cost(a: CostArgs) -> Result<(), shiftaddaug::Error> {
    let g = super::deploy::read_export(&a.dir)?;
    let (c, e) = (Convention::by_name(&a.convention)?, UnitEnergies::for_bits(a.bits)?);
    let s = cost::summary_of_graph(&g, c, &e)?;
    if a.layers {
        println!("| layer | op | MACs | mults | adds | shifts | energy (pJ) |\n|---|---|---|---|---|---|---|");
        for l in &s.layers {
            println!(
                "| {} | {:?} | {} | {} | {} | {} | {:.1} |",
                l.name, l.op, l.macs, l.counts.mults, l.counts.adds, l.counts.shifts, l.energy_pj
            );
        }
    }
    let op = |o: Op| s.macs[cost::op_index(o)];
    println!(
        "input {:?}: {} MACs (Mult {}, Shift {}, Add {})\n{}-bit unit energies, {} convention: {} multiplications, {} additions, {} shifts = {:.3} µJ per image\n{} weights; {} values read, {} written; peak activation {} values",
        g.input,
        s.macs.iter().sum::<u64>(),
        op(Op::Mult),
        op(Op::Shift),
        op(Op::Add),
        a.bits,
        a.convention,
        s.counts.mults,
        s.counts.adds,
        s.counts.shifts,
        s.energy_pj * 1e-6,
        s.weights,
        s.counts.reads,
        s.counts.writes,
        s.peak_activation
    );
    if a.dataflow {
        dataflow(&g, a.batch, a.bits, a.layers)?;
    }
    Ok(())
}

/// Prints the dataflow estimate (`cost::dataflow`): energy by memory level per image and
/// latency per batch, per layer with `layers`.
fn dataflow(g: &shiftaddaug::infer::format::Graph, batch: usize, bits: u32, layers: bool) -> Result<(), shiftaddaug::Error> {
    let est = cost::dataflow::estimate(&cost::layers_of_graph(g)?, batch, bits)?;
    let per_image = |pj: f64| pj * 1e-6 / batch as f64;
    if layers {
        println!(
            "| layer | op | compute (µJ) | DRAM | buffer | NoC | RF | total (µJ) | latency (ms) |\n|---|---|---|---|---|---|---|---|---|"
        );
        for l in &est {
            let e = &l.energy;
            println!(
                "| {} | {:?} | {:.4} | {:.4} | {:.4} | {:.4} | {:.4} | {:.4} | {:.4} |",
                l.name,
                l.op,
                per_image(e.compute),
                per_image(e.dram),
                per_image(e.buffer),
                per_image(e.noc),
                per_image(e.rf),
                per_image(e.total()),
                l.latency_s * 1e3
            );
        }
    }
    let (e, latency_s) = cost::dataflow::total(&est);
    println!(
        "dataflow estimate (METHOD.md §8.3, {bits}-bit, batch {batch}): {:.3} µJ per image (compute {:.3}, DRAM {:.3}, buffer {:.3}, NoC {:.3}, register files {:.3}); latency {:.4} ms per batch",
        per_image(e.total()),
        per_image(e.compute),
        per_image(e.dram),
        per_image(e.buffer),
        per_image(e.noc),
        per_image(e.rf),
        latency_s * 1e3
    );
    Ok(())
}
