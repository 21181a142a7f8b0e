//! The Eyeriss-like dataflow estimator of METHOD.md §8.3 (the model of ShiftAddNAS's
//! simulator): per layer, every tiling of the batch `N = N0·N3`, the output channels
//! `M = M0·M1·M2·M3`, the input channels `C = C0·C1·C2` (`C3 = 1`) and the output rows
//! `E = E1·E3` that fits a 16 × 12 PE array with its register files and global buffer is
//! costed in memory accesses at each level, and the tiling minimising
//! `(energy − min)/max + (latency − min)/max` is kept.
//!
//! Energies are pJ: an operation costs the unit energy of its operator ([`UnitEnergies`]); a
//! 16-bit word moved costs 200 (DRAM), 6 × 3.7 (global buffer), 2 × 3.7 (NoC, inputs and
//! weights), 3.7 (NoC, partial sums), 3.7 (register file, inputs and partial sums) and
//! 2 × 3.7 (register file, weights), scaled by `word bits / 16`. Latency is one cycle of
//! 250 MHz per `N3·N0·M3·M2·M0·C2·C0·E3·F·S` step.
//!
//! Operator rules (ShiftAddNAS): Shift layers move `(16 + 5) / 2 = 10`-bit words and run
//! `32 / 10` steps per cycle; Add layers are on chip (no DRAM, global-buffer or input / weight
//! NoC traffic). Our own choices ([I], METHOD.md §9 item 9): a grouped convolution is costed
//! as its `groups` convolutions one after the other (a depthwise layer is `C` convolutions of
//! one channel); a convolution with one output row may leave `E1 = 1` (otherwise `E1 ≠ 1`);
//! a 1×1 input and output makes a layer fully connected (`E1 = 1` allowed).

use super::{Layer, UnitEnergies};
use crate::error::{Error, Result};
use crate::infer::format::Op;

/// Clock of the modelled accelerator, Hz.
pub const CLOCK_HZ: f64 = 250e6;

/// One layer's tiling (the factor names of METHOD.md §8.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[allow(missing_docs)]
pub struct Tiling {
    pub n0: u64,
    pub n3: u64,
    pub m0: u64,
    pub m1: u64,
    pub m2: u64,
    pub m3: u64,
    pub c0: u64,
    pub c1: u64,
    pub c2: u64,
    pub e1: u64,
    pub e3: u64,
}

/// Energy of one layer by level, pJ.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Breakdown {
    /// Operations.
    pub compute: f64,
    /// Off-chip memory.
    pub dram: f64,
    /// Global buffer.
    pub buffer: f64,
    /// Network on chip (inputs, weights and partial sums).
    pub noc: f64,
    /// Register files.
    pub rf: f64,
}

impl Breakdown {
    /// Sum of the levels, pJ.
    pub fn total(&self) -> f64 {
        self.compute + self.dram + self.buffer + self.noc + self.rf
    }

    fn scaled(self, k: f64) -> Self {
        Self { compute: self.compute * k, dram: self.dram * k, buffer: self.buffer * k, noc: self.noc * k, rf: self.rf * k }
    }
}

/// One layer's estimate.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerEstimate {
    /// The layer's name.
    pub name: String,
    /// Its operator.
    pub op: Op,
    /// Energy by level, pJ (all groups).
    pub energy: Breakdown,
    /// Latency, seconds (all groups).
    pub latency_s: f64,
    /// The chosen tiling of one group.
    pub tiling: Tiling,
}

/// Sizes of one group of a layer, in the notation of METHOD.md §8.3.
#[derive(Debug, Clone, Copy)]
struct Dims {
    n: u64,
    h: u64,
    w: u64,
    c: u64,
    m: u64,
    r: u64,
    s: u64,
    e: u64,
    f: u64,
    stride: u64,
    fc: bool,
    /// Operand width (32 or 8).
    bits: u32,
}

/// Memory (`mf`) and compute (`cf`) capacity factors: 1 at 32 bits, 2 and 4 at 8 bits.
fn factors(bits: u32) -> (u64, u64) {
    if bits >= 16 { (1, 1) } else { (2, 4) }
}

/// Whether `t` fits the PE array, the register files and the global buffer.
fn fits(d: &Dims, t: &Tiling) -> bool {
    let (mf, cf) = factors(d.bits);
    let sram = t.n0 * t.c1 * t.c0 * ((t.e1 - 1) * d.stride + d.r) * ((d.f - 1) * d.stride + d.s) + t.n0 * t.m2 * t.m1 * t.m0 * t.e1 * d.f;
    t.m0 <= 16 * mf
        && (d.fc || d.e == 1 || t.e1 != 1)
        && t.m1 * t.c1 * t.e1 * d.r < 192 * cf
        && t.c0 * d.s < 12 * mf
        && t.m0 * t.c0 * d.s < 960 * mf
        && sram < 65_536 * mf
}

/// Energy by level of tiling `t`, pJ.
fn energy(d: &Dims, t: &Tiling, op: Op, unit_op: f64) -> Breakdown {
    let (n, e, f) = (d.n as f64, d.e as f64, d.f as f64);
    let ifmap = n * (d.h * d.w * d.c) as f64;
    let weights = (d.r * d.s * d.c * d.m) as f64;
    let ofmap = n * e * f * d.m as f64;
    let [n3, n0, m3, m2, m1, m0, c2, c1, c0, e3, e1] = [t.n3, t.n0, t.m3, t.m2, t.m1, t.m0, t.c2, t.c1, t.c0, t.e3, t.e1].map(|v| v as f64);
    let (r, s) = (d.r as f64, d.s as f64);
    // C3 = 1 throughout.
    let compute = n * e * f * (d.m * d.r * d.s * d.c) as f64;
    let dram = m3 * ifmap + n3 * e3 * weights + ofmap;
    let buffer = m3 * m2 * ifmap + (2.0 * (c2 - 1.0)).max(1.0) * ofmap;
    let noc = m3 * m2 * m1 * r * (e / d.h as f64) * ifmap + n3 * e3 * e1 * weights;
    let noc_psum = (c2 * (c1 * r - 1.0)).max(1.0) * ofmap;
    let rf =
        m3 * m2 * m1 * r * (e / d.h as f64) * m0 * s * (f / d.w as f64) * ifmap + (c2 * c1 * r * (c0 * s - 1.0) * 2.0).max(1.0) * ofmap;
    let rf_w = n3 * e3 * e1 * f * n0 * weights;
    let word = op_word_bits(op, d) / 16.0;
    let off_chip = if op == Op::Add { 0.0 } else { 1.0 };
    Breakdown {
        compute: compute * unit_op,
        dram: off_chip * dram * 200.0 * word,
        buffer: off_chip * buffer * 6.0 * 3.7 * word,
        noc: (off_chip * noc * 2.0 + noc_psum) * 3.7 * word,
        rf: (rf + 2.0 * rf_w) * 3.7 * word,
    }
}

/// Bits of one word moved: 10 for Shift layers, the operand width otherwise.
fn op_word_bits(op: Op, d: &Dims) -> f64 {
    match op {
        Op::Shift => SHIFT_WORD_BITS,
        _ => d.bits as f64,
    }
}

const SHIFT_WORD_BITS: f64 = ((16 + 5) / 2) as f64;

/// Seconds of tiling `t`.
fn latency(d: &Dims, t: &Tiling, op: Op) -> f64 {
    let steps = t.n3 * t.n0 * t.m3 * t.m2 * t.m0 * t.c2 * t.c0 * t.e3 * d.f * d.s;
    let per_cycle = if op == Op::Shift { 32.0 / SHIFT_WORD_BITS } else { 1.0 };
    steps as f64 / CLOCK_HZ / per_cycle
}

/// The ordered factorisations of `v` into `k` factors.
fn factorisations(v: u64, k: usize) -> Vec<Vec<u64>> {
    if k == 1 {
        return vec![vec![v]];
    }
    let mut out = Vec::new();
    for d in (1..=v).filter(|d| v.is_multiple_of(*d)) {
        for mut rest in factorisations(v / d, k - 1) {
            rest.insert(0, d);
            out.push(rest);
        }
    }
    out
}

/// The estimate of one group, or `None` when no tiling fits.
fn estimate_group(d: &Dims, op: Op, unit_op: f64) -> Option<(Breakdown, f64, Tiling)> {
    let (ns, cs, es) = (factorisations(d.n, 2), factorisations(d.c, 3), factorisations(d.e, 2));
    let ms: Vec<_> = factorisations(d.m, 4).into_iter().filter(|m| m[0] <= 16 * factors(d.bits).0).collect();
    let mut cands = Vec::new();
    for nt in &ns {
        for mt in &ms {
            for ct in &cs {
                for et in &es {
                    let t = Tiling {
                        n0: nt[0],
                        n3: nt[1],
                        m0: mt[0],
                        m1: mt[1],
                        m2: mt[2],
                        m3: mt[3],
                        c0: ct[0],
                        c1: ct[1],
                        c2: ct[2],
                        e1: et[0],
                        e3: et[1],
                    };
                    if fits(d, &t) {
                        cands.push((energy(d, &t, op, unit_op), latency(d, &t, op), t));
                    }
                }
            }
        }
    }
    let (e_min, e_max) = cands.iter().map(|c| c.0.total()).fold((f64::INFINITY, 0f64), |(a, b), v| (a.min(v), b.max(v)));
    let (t_min, t_max) = cands.iter().map(|c| c.1).fold((f64::INFINITY, 0f64), |(a, b), v| (a.min(v), b.max(v)));
    let score = |c: &(Breakdown, f64, Tiling)| (c.0.total() - e_min) / e_max + (c.1 - t_min) / t_max;
    // The first of the best, in enumeration order (ties are common).
    cands.into_iter().fold(None, |best: Option<(Breakdown, f64, Tiling)>, c| match &best {
        Some(b) if score(b) <= score(&c) => best,
        _ => Some(c),
    })
}

/// The whole network's energy by level (pJ) and latency (s): the sums over `layers`.
pub fn total(layers: &[LayerEstimate]) -> (Breakdown, f64) {
    layers.iter().fold((Breakdown::default(), 0.0), |(b, t), l| {
        let e = &l.energy;
        let sum = Breakdown {
            compute: b.compute + e.compute,
            dram: b.dram + e.dram,
            buffer: b.buffer + e.buffer,
            noc: b.noc + e.noc,
            rf: b.rf + e.rf,
        };
        (sum, t + l.latency_s)
    })
}

/// The estimate of each layer for `batch` images at `bits` (32 or 8: unit energies and
/// capacity factors), in layer order.
///
/// # Errors
/// [`Error::Config`] for a batch of 0, other bit widths, or a layer no tiling fits.
pub fn estimate(layers: &[Layer], batch: usize, bits: u32) -> Result<Vec<LayerEstimate>> {
    if batch == 0 {
        return Err(Error::Config("dataflow estimate: batch must be at least 1".into()));
    }
    let units = UnitEnergies::for_bits(bits)?;
    layers
        .iter()
        .map(|l| {
            let g = l.geo;
            let (e, f) = g.out();
            let d = Dims {
                n: batch as u64,
                h: g.h as u64,
                w: g.w as u64,
                c: (g.cin / g.groups) as u64,
                m: (g.cout / g.groups) as u64,
                r: g.k as u64,
                s: g.k as u64,
                e: e as u64,
                f: f as u64,
                stride: g.stride as u64,
                fc: g.h == 1 && g.w == 1 && e == 1 && f == 1,
                bits,
            };
            let unit_op = match l.op {
                Op::Mult => units.mult,
                Op::Shift => units.shift,
                Op::Add => units.add,
            };
            let (b, t, tiling) = estimate_group(&d, l.op, unit_op)
                .ok_or_else(|| Error::Config(format!("dataflow estimate: no tiling fits layer {} ({g:?})", l.name)))?;
            Ok(LayerEstimate { name: l.name.clone(), op: l.op, energy: b.scaled(g.groups as f64), latency_s: t * g.groups as f64, tiling })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cost::tests::conv as layer;

    /// A 1×1 convolution of one channel on a 2×2 input has one tiling (`E1 = 2`); its energy,
    /// counted by hand from METHOD.md §8.3: ifmap 4, weights 1, ofmap 4, compute 4;
    /// DRAM 4 + 1 + 4 = 9, buffer 4 + 4 = 8, NoC 4 + 2 = 6, NoC psum 4, RF 4 + 4 = 8, RF weights 4.
    #[test]
    fn one_tiling_matches_the_hand_count() {
        let est = |op| estimate(&[layer(op, 1, 1, 1, 1, 1, 2)], 1, 32).unwrap().remove(0);
        let m = est(Op::Mult);
        let t = Tiling { n0: 1, n3: 1, m0: 1, m1: 1, m2: 1, m3: 1, c0: 1, c1: 1, c2: 1, e1: 2, e3: 1 };
        assert_eq!(m.tiling, t);
        // 32-bit words: × 2 against 16-bit ones.
        let want = Breakdown { compute: 4.0 * 3.7, dram: 9.0 * 400.0, buffer: 8.0 * 44.4, noc: (12.0 + 4.0) * 7.4, rf: (8.0 + 8.0) * 7.4 };
        for (got, want) in [
            (m.energy.compute, want.compute),
            (m.energy.dram, want.dram),
            (m.energy.buffer, want.buffer),
            (m.energy.noc, want.noc),
            (m.energy.rf, want.rf),
        ] {
            assert!((got - want).abs() < 1e-9, "{got} vs {want}");
        }
        assert!((m.energy.total() - 4206.8).abs() < 1e-9, "{}", m.energy.total());
        // 2 steps (E3·F·S = 1·2·1) at 250 MHz.
        assert!((m.latency_s - 8e-9).abs() < 1e-18);
        // Add: on chip, so only compute, partial sums and register files.
        let a = est(Op::Add);
        assert!((a.energy.total() - (4.0 * 0.9 + 4.0 * 7.4 + 16.0 * 7.4)).abs() < 1e-9, "{:?}", a.energy);
        assert_eq!(a.energy.dram + a.energy.buffer, 0.0);
        // Shift: 10-bit words (× 10/16) and 3.2 steps per cycle.
        let s = est(Op::Shift);
        let words = (9.0 * 200.0 + 8.0 * 22.2 + (12.0 + 4.0) * 3.7 + (8.0 + 8.0) * 3.7) * 10.0 / 16.0;
        assert!((s.energy.total() - (4.0 * 0.13 + words)).abs() < 1e-9, "{:?}", s.energy);
        assert!((s.latency_s - 2.5e-9).abs() < 1e-18);
    }

    /// The chosen tiling fits and factors the layer; a grouped layer costs its groups in turn.
    #[test]
    fn the_chosen_tiling_fits_and_factors_the_layer() {
        for (op, cin, cout, k, stride, groups, hw) in [
            (Op::Mult, 8, 48, 1, 1, 1, 16),
            (Op::Shift, 48, 48, 3, 2, 48, 16),
            (Op::Add, 24, 144, 1, 1, 1, 4),
            (Op::Mult, 112, 10, 1, 1, 1, 1),
        ] {
            let l = layer(op, cin, cout, k, stride, groups, hw);
            let est = estimate(std::slice::from_ref(&l), 2, 32).unwrap().remove(0);
            let (e, f) = l.geo.out();
            let d = Dims {
                n: 2,
                h: hw as u64,
                w: hw as u64,
                c: (cin / groups) as u64,
                m: (cout / groups) as u64,
                r: k as u64,
                s: k as u64,
                e: e as u64,
                f: f as u64,
                stride: stride as u64,
                fc: hw == 1,
                bits: 32,
            };
            assert!(fits(&d, &est.tiling), "{l:?}: {:?}", est.tiling);
            assert_eq!(est.tiling.n0 * est.tiling.n3, 2);
            assert_eq!(est.tiling.m0 * est.tiling.m1 * est.tiling.m2 * est.tiling.m3, d.m);
            assert_eq!(est.tiling.c0 * est.tiling.c1 * est.tiling.c2, d.c);
            assert_eq!(est.tiling.e1 * est.tiling.e3, d.e);
            let g = groups as f64;
            assert!(est.energy.compute > 0.0 && est.latency_s > 0.0);
            // Energies of the whole layer are groups × one group's.
            let one = estimate_group(&d, op, UnitEnergies::BITS_32.mult).unwrap();
            assert!((est.latency_s - one.1 * g).abs() <= 1e-12 * est.latency_s);
            assert_eq!(one.2, est.tiling);
        }
    }

    /// A convolution splits its output rows over the PE array (`E1 ≠ 1`) unless it has one row;
    /// a fully connected layer may keep `E1 = 1`.
    #[test]
    fn output_rows_split_across_the_array() {
        let d = Dims { n: 1, h: 4, w: 4, c: 1, m: 1, r: 1, s: 1, e: 4, f: 4, stride: 1, fc: false, bits: 32 };
        let t = |e1, e3| Tiling { n0: 1, n3: 1, m0: 1, m1: 1, m2: 1, m3: 1, c0: 1, c1: 1, c2: 1, e1, e3 };
        assert!(!fits(&d, &t(1, 4)) && fits(&d, &t(2, 2)) && fits(&d, &t(4, 1)));
        let one_row = Dims { h: 1, e: 1, ..d };
        assert!(fits(&one_row, &t(1, 1)));
        let fc = Dims { h: 1, w: 1, e: 1, f: 1, fc: true, ..d };
        assert!(fits(&fc, &t(1, 1)));
        // 17 output channels per PE column do not fit the 16-entry output register file.
        let wide = Dims { m: 17, ..one_row };
        assert!(!fits(&wide, &Tiling { m0: 17, ..t(1, 1) }) && fits(&wide, &Tiling { m1: 17, ..t(1, 1) }));
    }

    #[test]
    fn bad_arguments_are_config_errors() {
        let l = layer(Op::Mult, 1, 1, 1, 1, 1, 2);
        assert!(matches!(estimate(std::slice::from_ref(&l), 0, 32), Err(Error::Config(_))));
        assert!(matches!(estimate(std::slice::from_ref(&l), 1, 16), Err(Error::Config(_))));
    }
}
