//! Register-tiled inner kernels of the fused CPU adder convolution, generic over [`Lanes`],
//! and the [`Tiles`] set each instruction set runs. Every tile reads the patch matrix
//! `p: [kp, lp]` (`kp` a multiple of [`KB`], `lp` a multiple of [`LB`](super::cpu::LB); see [`super::cpu`]).
//!
//! The forward and input-gradient tiles work lane by lane (each output column sums over rows
//! in one fixed order), so any vector width gives the same bits. The weight-gradient tile and
//! [`row_sum`] reduce along a row: they keep eight partial sums, column `j` going to sum
//! `j mod 8` in column order, and add them as `((r0+r4)+(r1+r5)) + ((r2+r6)+(r3+r7))` on every
//! instruction set (two 4-lane accumulators or one 8-lane one).

use super::cpu::KB;
use super::lanes::Lanes;
use std::ops::Range;

/// `out[i·lp + l] = -Σ_{kk<k} |p[kk·lp + l] - wt[kk·MB + i]|` for `MB` output rows and the
/// columns `cols` (`W` divides its length): two vectors a step, then one.
#[inline(always)]
pub(super) fn fwd_tile<L: Lanes, const MB: usize>(p: &[f32], lp: usize, cols: Range<usize>, k: usize, wt: &[f32], out: &mut [f32]) {
    let mut lb = cols.start;
    while lb + 2 * L::W <= cols.end {
        fwd_step::<L, MB, 2>(p, lp, lb, k, wt, out);
        lb += 2 * L::W;
    }
    while lb < cols.end {
        fwd_step::<L, MB, 1>(p, lp, lb, k, wt, out);
        lb += L::W;
    }
}

#[inline(always)]
fn fwd_step<L: Lanes, const MB: usize, const NV: usize>(p: &[f32], lp: usize, lb: usize, k: usize, wt: &[f32], out: &mut [f32]) {
    let w = L::W;
    let zero = L::splat(0.0);
    let mut a = [[zero; NV]; MB];
    for kk in 0..k {
        let row = &p[kk * lp + lb..][..NV * w];
        let v: [L::V; NV] = core::array::from_fn(|j| L::load(&row[j * w..]));
        let ws = &wt[kk * MB..][..MB];
        for i in 0..MB {
            let wv = L::splat(ws[i]);
            for j in 0..NV {
                a[i][j] = L::add(a[i][j], L::abs(L::sub(v[j], wv)));
            }
        }
    }
    for i in 0..MB {
        let o = &mut out[i * lp + lb..][..NV * w];
        for j in 0..NV {
            L::store(&mut o[j * w..], L::sub(zero, a[i][j]));
        }
    }
}

/// `dp[kk·lp + l] = Σ_{mm<mg} g[mm·lp + l] · clamp(w[mm·kp + kk] - p[kk·lp + l], -1, 1)` for
/// the columns `cols` (`W` divides its length), where `g: [mg, lp]`.
#[inline(always)]
pub(super) fn bwd_input_tile<L: Lanes>(p: &[f32], lp: usize, cols: Range<usize>, kp: usize, g: &[f32], w: &[f32], dp: &mut [f32]) {
    let mg = g.len() / lp;
    debug_assert_eq!(mg * lp, g.len(), "g: [mg, lp]");
    let wl = L::W;
    let zero = L::splat(0.0);
    for kb in (0..kp).step_by(KB) {
        let mut lb = cols.start;
        while lb < cols.end {
            let pv: [L::V; KB] = core::array::from_fn(|i| L::load(&p[(kb + i) * lp + lb..][..wl]));
            let mut acc = [zero; KB];
            for mm in 0..mg {
                let gv = L::load(&g[mm * lp + lb..][..wl]);
                let ws = &w[mm * kp + kb..][..KB];
                for i in 0..KB {
                    let t = L::hardtanh(L::sub(L::splat(ws[i]), pv[i]));
                    acc[i] = L::add(acc[i], L::mul(gv, t));
                }
            }
            for i in 0..KB {
                L::store(&mut dp[(kb + i) * lp + lb..][..wl], acc[i]);
            }
            lb += wl;
        }
    }
}

/// Vectors of `L` per eight columns (`L::W` is 4 or 8 for the reducing kernels).
#[inline(always)]
fn per8<L: Lanes>() -> usize {
    assert!(L::W == 4 || L::W == 8, "the reductions run on 4- or 8-lane vectors");
    8 / L::W
}

/// The eight partial sums held in `acc` (lanes of `acc[0]`, then of `acc[1]` when 4-lane),
/// added in the one order of the module comment.
#[inline(always)]
fn sum8<L: Lanes>(acc: [L::V; 2]) -> f32 {
    let mut r = [0.0f32; 16];
    L::store(&mut r[..L::W], acc[0]);
    if per8::<L>() == 2 {
        L::store(&mut r[4..8], acc[1]);
    }
    ((r[0] + r[4]) + (r[1] + r[5])) + ((r[2] + r[6]) + (r[3] + r[7]))
}

/// `gp[mm·kp + kk] += Σ_l g[mm·lp + l] · p[kk·lp + l]` (eight partial sums per row).
#[inline(always)]
pub(super) fn bwd_weight_tile<L: Lanes>(p: &[f32], lp: usize, kp: usize, g: &[f32], mg: usize, gp: &mut [f32]) {
    let (wl, nv) = (L::W, per8::<L>());
    let zero = L::splat(0.0);
    for mm in 0..mg {
        let grow = &g[mm * lp..][..lp];
        for kb in (0..kp).step_by(KB) {
            let mut acc = [[zero; 2]; KB];
            for lb in (0..lp).step_by(8) {
                for j in 0..nv {
                    let gv = L::load(&grow[lb + j * wl..][..wl]);
                    for i in 0..KB {
                        acc[i][j] = L::add(acc[i][j], L::mul(gv, L::load(&p[(kb + i) * lp + lb + j * wl..][..wl])));
                    }
                }
            }
            for i in 0..KB {
                gp[mm * kp + kb + i] += sum8::<L>(acc[i]);
            }
        }
    }
}

/// Σ of a row whose length is a multiple of eight (eight partial sums).
#[inline(always)]
pub(super) fn row_sum<L: Lanes>(row: &[f32]) -> f32 {
    let (wl, nv) = (L::W, per8::<L>());
    let mut acc = [L::splat(0.0); 2];
    for c in row.chunks_exact(8) {
        for j in 0..nv {
            acc[j] = L::add(acc[j], L::load(&c[j * wl..]));
        }
    }
    sum8::<L>(acc)
}

/// The adder's tiles as one instruction set runs them. The four-lane sets instantiate the
/// generic tiles; the wide x86-64 sets enter them through `#[target_feature]` functions.
pub(super) trait Tiles {
    /// The four-lane set that runs the kernels written for four lanes (depthwise).
    type Four: Lanes;
    /// [`fwd_tile`] over all `lp` columns.
    fn fwd<const MB: usize>(p: &[f32], lp: usize, k: usize, wt: &[f32], out: &mut [f32]);
    /// [`bwd_input_tile`] over all `lp` columns.
    fn bwd_input(p: &[f32], lp: usize, kp: usize, g: &[f32], mg: usize, w: &[f32], dp: &mut [f32]);
    /// [`bwd_weight_tile`].
    fn bwd_weight(p: &[f32], lp: usize, kp: usize, g: &[f32], mg: usize, gp: &mut [f32]);
    /// [`row_sum`].
    fn row_sum(row: &[f32]) -> f32;
}

macro_rules! four_lane_tiles {
    ($t:ty) => {
        impl Tiles for $t {
            type Four = $t;
            fn fwd<const MB: usize>(p: &[f32], lp: usize, k: usize, wt: &[f32], out: &mut [f32]) {
                fwd_tile::<$t, MB>(p, lp, 0..lp, k, wt, out)
            }
            fn bwd_input(p: &[f32], lp: usize, kp: usize, g: &[f32], mg: usize, w: &[f32], dp: &mut [f32]) {
                bwd_input_tile::<$t>(p, lp, 0..lp, kp, &g[..mg * lp], w, dp)
            }
            fn bwd_weight(p: &[f32], lp: usize, kp: usize, g: &[f32], mg: usize, gp: &mut [f32]) {
                bwd_weight_tile::<$t>(p, lp, kp, g, mg, gp)
            }
            fn row_sum(row: &[f32]) -> f32 {
                row_sum::<$t>(row)
            }
        }
    };
}

four_lane_tiles!(super::lanes::Scalar);
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
four_lane_tiles!(super::lanes::Simd128);
#[cfg(target_arch = "x86_64")]
four_lane_tiles!(super::lanes::Sse2);

#[cfg(target_arch = "x86_64")]
pub(super) use x86::{Avx2Tiles, Avx512Tiles};

#[cfg(target_arch = "x86_64")]
mod x86 {
    //! The AVX2 and AVX-512 tile sets. Their entry points carry `#[target_feature]`, so the
    //! generic tiles inline into code compiled for the wider vectors; they are only called
    //! through [`super::super::cpu::CpuIsa`] variants that exist after runtime detection.

    use super::super::lanes::{Avx2, Avx512, Sse2};
    use super::{Tiles, bwd_input_tile, bwd_weight_tile, fwd_tile, row_sum};

    /// AVX2: 8-lane tiles.
    #[derive(Debug, Clone, Copy)]
    pub(in crate::ops::fused) struct Avx2Tiles;

    /// AVX-512F: 16-lane forward and input-gradient tiles (an 8-lane AVX2 step for a last
    /// 8 columns), the AVX2 reductions.
    #[derive(Debug, Clone, Copy)]
    pub(in crate::ops::fused) struct Avx512Tiles;

    #[target_feature(enable = "avx2")]
    fn fwd_avx2<const MB: usize>(p: &[f32], lp: usize, k: usize, wt: &[f32], out: &mut [f32]) {
        fwd_tile::<Avx2, MB>(p, lp, 0..lp, k, wt, out)
    }
    #[target_feature(enable = "avx2")]
    fn bwd_input_avx2(p: &[f32], lp: usize, kp: usize, g: &[f32], mg: usize, w: &[f32], dp: &mut [f32]) {
        bwd_input_tile::<Avx2>(p, lp, 0..lp, kp, &g[..mg * lp], w, dp)
    }
    #[target_feature(enable = "avx2")]
    fn bwd_weight_avx2(p: &[f32], lp: usize, kp: usize, g: &[f32], mg: usize, gp: &mut [f32]) {
        bwd_weight_tile::<Avx2>(p, lp, kp, g, mg, gp)
    }
    #[target_feature(enable = "avx2")]
    fn row_sum_avx2(row: &[f32]) -> f32 {
        row_sum::<Avx2>(row)
    }
    #[target_feature(enable = "avx512f,avx2")]
    fn fwd_avx512<const MB: usize>(p: &[f32], lp: usize, k: usize, wt: &[f32], out: &mut [f32]) {
        let wide = lp - lp % 16;
        fwd_tile::<Avx512, MB>(p, lp, 0..wide, k, wt, out);
        fwd_tile::<Avx2, MB>(p, lp, wide..lp, k, wt, out);
    }
    #[target_feature(enable = "avx512f,avx2")]
    fn bwd_input_avx512(p: &[f32], lp: usize, kp: usize, g: &[f32], mg: usize, w: &[f32], dp: &mut [f32]) {
        let wide = lp - lp % 16;
        let g = &g[..mg * lp];
        bwd_input_tile::<Avx512>(p, lp, 0..wide, kp, g, w, dp);
        bwd_input_tile::<Avx2>(p, lp, wide..lp, kp, g, w, dp);
    }

    // SAFETY (every `unsafe` call below): `CpuIsa::Avx2` / `CpuIsa::Avx512`, the only way to
    // reach these impls, are checked against runtime detection before any kernel runs
    // (`CpuIsa::assert_supported`).
    impl Tiles for Avx2Tiles {
        type Four = Sse2;
        fn fwd<const MB: usize>(p: &[f32], lp: usize, k: usize, wt: &[f32], out: &mut [f32]) {
            unsafe { fwd_avx2::<MB>(p, lp, k, wt, out) }
        }
        fn bwd_input(p: &[f32], lp: usize, kp: usize, g: &[f32], mg: usize, w: &[f32], dp: &mut [f32]) {
            unsafe { bwd_input_avx2(p, lp, kp, g, mg, w, dp) }
        }
        fn bwd_weight(p: &[f32], lp: usize, kp: usize, g: &[f32], mg: usize, gp: &mut [f32]) {
            unsafe { bwd_weight_avx2(p, lp, kp, g, mg, gp) }
        }
        fn row_sum(row: &[f32]) -> f32 {
            unsafe { row_sum_avx2(row) }
        }
    }

    impl Tiles for Avx512Tiles {
        type Four = Sse2;
        fn fwd<const MB: usize>(p: &[f32], lp: usize, k: usize, wt: &[f32], out: &mut [f32]) {
            unsafe { fwd_avx512::<MB>(p, lp, k, wt, out) }
        }
        fn bwd_input(p: &[f32], lp: usize, kp: usize, g: &[f32], mg: usize, w: &[f32], dp: &mut [f32]) {
            unsafe { bwd_input_avx512(p, lp, kp, g, mg, w, dp) }
        }
        fn bwd_weight(p: &[f32], lp: usize, kp: usize, g: &[f32], mg: usize, gp: &mut [f32]) {
            unsafe { bwd_weight_avx2(p, lp, kp, g, mg, gp) }
        }
        fn row_sum(row: &[f32]) -> f32 {
            unsafe { row_sum_avx2(row) }
        }
    }
}
