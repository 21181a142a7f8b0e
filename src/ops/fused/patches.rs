//! The patch matrix `P` of [`super::cpu`]: one group's receptive fields gathered as columns
//! ([`im2col`]) and its gradient added back onto the image ([`col2im`]).

use super::cpu::AdderShape;

/// Gathers one group's receptive fields of image `xn: [c, h, w]` into columns
/// `col0..col0 + l` of `p: [kp, lp]`; nothing else is written.
pub(super) fn im2col(s: &AdderShape, xn: &[f32], grp: usize, p: &mut [f32], lp: usize, col0: usize) {
    let (cg, hw) = (s.cg(), s.h * s.w);
    let [sh, sw] = s.stride;
    let [ph, pw] = s.padding;
    for cl in 0..cg {
        let plane = &xn[(grp * cg + cl) * hw..][..hw];
        for i in 0..s.kh {
            for j in 0..s.kw {
                let kk = (cl * s.kh + i) * s.kw + j;
                let row = &mut p[kk * lp + col0..][..s.l()];
                for oh in 0..s.ho {
                    let out = &mut row[oh * s.wo..][..s.wo];
                    let ih = (oh * sh + i).wrapping_sub(ph);
                    if ih >= s.h {
                        out.fill(0.0);
                        continue;
                    }
                    let src = &plane[ih * s.w..][..s.w];
                    for (ow, o) in out.iter_mut().enumerate() {
                        let iw = (ow * sw + j).wrapping_sub(pw);
                        *o = if iw < s.w { src[iw] } else { 0.0 };
                    }
                }
            }
        }
    }
}

/// Adds columns `col0..col0 + l` of `dp: [kp, lp]` onto the input-gradient image
/// `dxn: [c, h, w]` (inverse of [`im2col`]).
pub(super) fn col2im(s: &AdderShape, dp: &[f32], lp: usize, col0: usize, grp: usize, dxn: &mut [f32]) {
    let (cg, hw) = (s.cg(), s.h * s.w);
    let [sh, sw] = s.stride;
    let [ph, pw] = s.padding;
    for cl in 0..cg {
        let plane = &mut dxn[(grp * cg + cl) * hw..][..hw];
        for i in 0..s.kh {
            for j in 0..s.kw {
                let kk = (cl * s.kh + i) * s.kw + j;
                let row = &dp[kk * lp + col0..][..s.l()];
                for oh in 0..s.ho {
                    let ih = (oh * sh + i).wrapping_sub(ph);
                    if ih >= s.h {
                        continue;
                    }
                    let dst = &mut plane[ih * s.w..][..s.w];
                    for (ow, &v) in row[oh * s.wo..][..s.wo].iter().enumerate() {
                        let iw = (ow * sw + j).wrapping_sub(pw);
                        if iw < s.w {
                            dst[iw] += v;
                        }
                    }
                }
            }
        }
    }
}
