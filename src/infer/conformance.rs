//! The integer kernels against their definition: [`accumulate_reference`] sums each output's
//! receptive field one term at a time, and [`conformance`] compares every instruction set's
//! [`Plan`] and [`requantize`] with it on random layers. The native, Node and Chromium test tiers
//! run it.

use super::kernels::{Geometry, Isa, Plan, Taps};
use super::requant::{Requant16, requantize};

/// The plain per-output definition: every output sums its receptive field, zero padded.
pub fn accumulate_reference(g: &Geometry, taps: &Taps, x: &[i16], oc: usize) -> Vec<i32> {
    let (ho, wo) = g.out();
    let (cg, fan) = (g.cin / g.groups, g.fan_in());
    let g0 = if g.groups == 1 { 0 } else { oc };
    let mut out = Vec::with_capacity(ho * wo);
    for oy in 0..ho {
        for ox in 0..wo {
            let mut acc = 0i32;
            for ic in 0..cg {
                for ky in 0..g.k {
                    for kx in 0..g.k {
                        let (iy, ix) = ((oy * g.stride + ky) as isize - g.pad as isize, (ox * g.stride + kx) as isize - g.pad as isize);
                        let inside = iy >= 0 && ix >= 0 && iy < g.h as isize && ix < g.w as isize;
                        let p = if inside { x[((g0 + ic) * g.h + iy as usize) * g.w + ix as usize] as i32 } else { 0 };
                        let t = oc * fan + (ic * g.k + ky) * g.k + kx;
                        let term = match *taps {
                            Taps::Shift { shifts, signs } => {
                                let s = shifts[t];
                                let v = if s >= 0 { p << s } else { p >> -s };
                                v.wrapping_mul(signs[t] as i32)
                            }
                            Taps::Add { weights, guard } => (p << guard[oc]).wrapping_sub(weights[t]).wrapping_abs().wrapping_neg(),
                            Taps::Mult { weights } => p.wrapping_mul(weights[t]),
                        };
                        acc = acc.wrapping_add(term);
                    }
                }
            }
            out.push(acc);
        }
    }
    out
}

/// A full-range `i32` from 31-bit draws.
fn rng_i32(r: &mut impl FnMut(u64) -> usize) -> i32 {
    ((r(1 << 31) as u32) << 1 | r(2) as u32) as i32
}

/// Runs `cases` random convolutions (operator, kernel size 1/3/5, stride 1/2/3, padding,
/// dense or depthwise, odd sizes, full-range 16-bit inputs and weights) through a [`Plan`] on
/// `isa` and through [`accumulate_reference`], and random requantisations of full-range sums
/// through [`requantize`] and [`Requant16::apply`]. Returns the number of outputs compared, or the
/// first case that differs. The native, Node and Chromium test tiers call it for every [`Isa`].
pub fn conformance(isa: Isa, seed: u64, cases: usize) -> Result<usize, String> {
    let mut rng = crate::data::Rng::new(seed);
    let mut r = |n: u64| (rng.next_u64() % n) as usize;
    let mut compared = 0;
    for case in 0..cases {
        let k = [1, 3, 5][r(3)];
        let (stride, pad) = (1 + r(3), r(k as u64));
        let depthwise = r(2) == 0;
        let cin = 1 + r(5);
        let (cout, groups) = if depthwise { (cin, cin) } else { (1 + r(5), 1) };
        let g = Geometry { cin, cout, k, stride, pad, groups, h: k + r(12), w: k + r(12) };
        let n = cout * g.fan_in();
        let x: Vec<i16> = (0..cin * g.h * g.w).map(|_| r(65536) as i16).collect();
        let wide: Vec<i32> = (0..n).map(|_| r(1 << 24) as i32 - (1 << 23)).collect();
        let narrow: Vec<i32> = (0..n).map(|_| r(65536) as i32 - 32768).collect();
        let shifts: Vec<i32> = (0..n).map(|_| r(47) as i32 - 31).collect();
        let signs: Vec<i8> = (0..n).map(|_| r(3) as i8 - 1).collect();
        let guard: Vec<u32> = (0..cout).map(|_| r(9) as u32).collect();
        for (op, taps) in [
            ("shift", Taps::Shift { shifts: &shifts, signs: &signs }),
            ("add", Taps::Add { weights: &wide, guard: &guard }),
            ("mult", Taps::Mult { weights: &narrow }),
        ] {
            let plan = Plan::new(&g, &taps);
            let mut buf = Vec::new();
            let p = plan.padded(&x, &mut buf);
            let mut acc = vec![0i32; plan.rows() * plan.pitch()];
            for oc in 0..cout {
                plan.accumulate(isa, p, oc, &mut acc);
                let got: Vec<i32> = acc.chunks_exact(plan.pitch()).flat_map(|r| &r[..plan.cols()]).copied().collect();
                if got != accumulate_reference(&g, &taps, &x, oc) {
                    return Err(format!("{}: case {case} ({op}, {g:?}), output channel {oc} differs from the reference", isa.name()));
                }
                compared += got.len();
            }
        }
        let rq = Requant16::new(
            rng_i32(&mut r),
            r(65535) as i32 - 32767,
            r(31) as u32,
            r(1 << 22) as i32 - (1 << 21),
            -(r(40000) as i32),
            r(40000) as i32,
        );
        // Half of them with a window and a pre-shift (the requantisation of multipliers >= 1/2).
        let rq = if r(2) == 0 { rq.with_window(rng_i32(&mut r), rng_i32(&mut r), r(31) as u32) } else { rq };
        // A plane of `rows` rows of `cols` values read from rows of `pitch ≥ cols` sums.
        let (rows, cols) = (1 + r(4), 1 + r(40));
        let pitch = cols + r(9);
        let acc: Vec<i32> = (0..rows * pitch).map(|_| rng_i32(&mut r)).collect();
        let mut y = vec![0i16; rows * cols];
        requantize(isa, &acc, pitch, &mut y, cols, &rq);
        let want = |j: usize| rq.apply(acc[j / cols * pitch + j % cols]);
        if let Some(j) = (0..y.len()).find(|&j| y[j] != want(j)) {
            return Err(format!(
                "{}: case {case}, requantisation {rq:?} of {} gives {}, not {}",
                isa.name(),
                acc[j / cols * pitch + j % cols],
                y[j],
                want(j)
            ));
        }
        compared += y.len();
    }
    Ok(compared)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::infer::kernels::Isa;

    /// Every instruction set's plane kernel gives the per-output reference's bits.
    #[test]
    fn every_isa_matches_the_per_output_reference() {
        assert_eq!(Isa::available().last(), Some(&Isa::best()));
        for isa in Isa::available() {
            let n = conformance(isa, 17, 300).unwrap_or_else(|e| panic!("{e}"));
            assert!(n > 50_000, "{}: only {n} outputs compared", isa.name());
        }
    }
}
