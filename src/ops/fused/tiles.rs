//! Register-tiled inner kernels of the fused CPU adder convolution, generic over [`Lanes`].
//! Every tile reads the patch matrix `p: [kp, lp]` (`kp` a multiple of [`KB`], `lp` a multiple
//! of [`LB`](super::cpu::LB); see [`super::cpu`]) and writes whole lane vectors.

use super::cpu::KB;
use super::lanes::Lanes;

/// `out[i·lp + l] = -Σ_{kk<k} |p[kk·lp + l] - wt[kk·MB + i]|` for `MB` output rows.
#[inline(always)]
pub(super) fn fwd_tile<L: Lanes, const MB: usize>(p: &[f32], lp: usize, k: usize, wt: &[f32], out: &mut [f32]) {
    let w = L::W;
    let zero = L::splat(0.0);
    let mut lb = 0;
    while lb < lp {
        let mut a0 = [zero; MB];
        let mut a1 = [zero; MB];
        for kk in 0..k {
            let row = &p[kk * lp + lb..][..2 * w];
            let v0 = L::load(&row[..w]);
            let v1 = L::load(&row[w..]);
            let ws = &wt[kk * MB..][..MB];
            for i in 0..MB {
                let wv = L::splat(ws[i]);
                a0[i] = L::add(a0[i], L::abs(L::sub(v0, wv)));
                a1[i] = L::add(a1[i], L::abs(L::sub(v1, wv)));
            }
        }
        for i in 0..MB {
            let o = &mut out[i * lp + lb..][..2 * w];
            L::store(&mut o[..w], L::sub(zero, a0[i]));
            L::store(&mut o[w..], L::sub(zero, a1[i]));
        }
        lb += 2 * w;
    }
}

/// `dp[kk·lp + l] = Σ_{mm<mg} g[mm·lp + l] · clamp(w[mm·kp + kk] - p[kk·lp + l], -1, 1)`.
#[inline(always)]
pub(super) fn bwd_input_tile<L: Lanes>(p: &[f32], lp: usize, kp: usize, g: &[f32], mg: usize, w: &[f32], dp: &mut [f32]) {
    let wl = L::W;
    let zero = L::splat(0.0);
    for kb in (0..kp).step_by(KB) {
        let mut lb = 0;
        while lb < lp {
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

/// `gp[mm·kp + kk] += Σ_l g[mm·lp + l] · p[kk·lp + l]`.
#[inline(always)]
pub(super) fn bwd_weight_tile<L: Lanes>(p: &[f32], lp: usize, kp: usize, g: &[f32], mg: usize, gp: &mut [f32]) {
    let wl = L::W;
    let zero = L::splat(0.0);
    for mm in 0..mg {
        let grow = &g[mm * lp..][..lp];
        for kb in (0..kp).step_by(KB) {
            let mut acc = [zero; KB];
            let mut lb = 0;
            while lb < lp {
                let gv = L::load(&grow[lb..][..wl]);
                for i in 0..KB {
                    acc[i] = L::add(acc[i], L::mul(gv, L::load(&p[(kb + i) * lp + lb..][..wl])));
                }
                lb += wl;
            }
            for i in 0..KB {
                gp[mm * kp + kb + i] += L::hsum(acc[i]);
            }
        }
    }
}

/// Σ of a row whose length is a multiple of the lane count.
#[inline(always)]
pub(super) fn row_sum<L: Lanes>(row: &[f32]) -> f32 {
    let mut acc = L::splat(0.0);
    for c in row.chunks_exact(L::W) {
        acc = L::add(acc, L::load(c));
    }
    L::hsum(acc)
}
