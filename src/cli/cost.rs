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
    Ok(())
}
