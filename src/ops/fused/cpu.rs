//! Fused CPU adder convolution, forward and both AdderNet backward passes, on f32 slices.
//!
//! Depthwise convolutions take the direct kernels of [`super::depthwise`]. Otherwise, per
//! group and pass of images the receptive fields are gathered once into a patch matrix
//! `P[k, l]` (`k = c_g·kh·kw` rows padded to [`KB`]; `l` = the output pixels of one or more
//! images, padded to [`LB`]; padding is zero), and every output is a register-tiled L1
//! "matmul" over it:
//! - forward: `y[m, l] = -Σ_k |P[k, l] - w[m, k]|`;
//! - input gradient: `dP[k, l] = Σ_m G[m, l] · clamp(w[m, k] - P[k, l], -1, 1)`, scattered back
//!   to `x` (col2im);
//! - weight gradient: `dW[m, k] = Σ_{n,l} G[m, l] · P[k, l]  -  w[m, k] · Σ_{n,l} G[m, l]`.
//!
//! Memory is `O(k·l)` per thread, never `O(n·m·k·l)`. Natively the batch is split across
//! rayon threads (weight-gradient partials are summed at the end); wasm runs one thread.
//! The kernels are generic over [`Lanes`] (the tiles through [`Tiles`]); every instruction set
//! gives the same bits.

use super::lanes::{Lanes, Scalar};
use super::patches::{col2im, im2col};
use super::tiles::Tiles;
use crate::error::Result;
use crate::ops::Conv2dGeometry;

/// Column padding of `P`: eight columns, the reductions' block (see [`super::tiles`]).
pub const LB: usize = 8;
/// Row padding of `P`: the input-gradient kernel handles 4 rows of `P` at a time.
pub const KB: usize = 4;

/// A validated adder-convolution problem (all sizes in elements, dilation 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdderShape {
    /// Batch.
    pub n: usize,
    /// Input channels.
    pub c: usize,
    /// Input height.
    pub h: usize,
    /// Input width.
    pub w: usize,
    /// Output channels.
    pub m: usize,
    /// Kernel height.
    pub kh: usize,
    /// Kernel width.
    pub kw: usize,
    /// Stride `[sh, sw]`.
    pub stride: [usize; 2],
    /// Zero padding `[ph, pw]`.
    pub padding: [usize; 2],
    /// Groups.
    pub groups: usize,
    /// Output height.
    pub ho: usize,
    /// Output width.
    pub wo: usize,
}

impl AdderShape {
    /// Validates `x: [n, c, h, w]` against `weight: [m, c/groups, kh, kw]`.
    ///
    /// # Errors
    /// [`crate::Error::Shape`] as [`Conv2dGeometry::check`].
    pub fn new(x: [usize; 4], weight: [usize; 4], geo: Conv2dGeometry) -> Result<Self> {
        let [ho, wo] = geo.check(x, weight)?;
        let [n, c, h, w] = x;
        let [m, _, kh, kw] = weight;
        Ok(Self { n, c, h, w, m, kh, kw, stride: geo.stride, padding: geo.padding, groups: geo.groups, ho, wo })
    }
    pub(super) fn cg(&self) -> usize {
        self.c / self.groups
    }
    fn mg(&self) -> usize {
        self.m / self.groups
    }
    /// Rows of `P` (one group's receptive field).
    fn k(&self) -> usize {
        self.cg() * self.kh * self.kw
    }
    /// 1×1, stride 1, no padding: `P` is the image itself, one row per input channel.
    fn plain_pointwise(&self) -> bool {
        self.kh == 1 && self.kw == 1 && self.stride == [1, 1] && self.padding == [0, 0]
    }
    fn kp(&self) -> usize {
        self.k().div_ceil(KB) * KB
    }
    /// Output pixels per image.
    pub(super) fn l(&self) -> usize {
        self.ho * self.wo
    }
    /// Elements of `x`.
    pub fn x_len(&self) -> usize {
        self.n * self.c * self.h * self.w
    }
    /// Elements of the weight.
    pub fn w_len(&self) -> usize {
        self.m * self.k()
    }
    /// Elements of `y`.
    pub fn y_len(&self) -> usize {
        self.n * self.m * self.l()
    }
}

/// Which vector instruction set a CPU kernel call uses. The wide x86-64 sets exist in
/// [`CpuIsa::available`] only where the CPU has them; kernels written for four lanes (the
/// depthwise convolutions, the BatchNorm gate) run SSE2 under them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CpuIsa {
    /// Portable `[f32; 4]` code.
    Scalar,
    /// WebAssembly SIMD128.
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    Simd128,
    /// x86-64 SSE2.
    #[cfg(target_arch = "x86_64")]
    Sse2,
    /// x86-64 AVX2 (8 lanes) for the adder's patch-matrix tiles.
    #[cfg(target_arch = "x86_64")]
    Avx2,
    /// x86-64 AVX-512F (16 lanes) for the adder's patch-matrix tiles.
    #[cfg(target_arch = "x86_64")]
    Avx512,
}

/// Environment variable that caps [`CpuIsa::best`] natively, as it caps the integer engine's
/// [`Isa::best`](crate::infer::kernels::Isa::best): `scalar`, `sse2`, `avx2` or `avx512`.
pub use crate::infer::kernels::CPU_CAPABILITY_ENV;

impl CpuIsa {
    /// The fastest set this build and CPU support (the one training uses), capped by
    /// [`CPU_CAPABILITY_ENV`] when it names one of [`CpuIsa::available`].
    pub fn best() -> Self {
        #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
        return CpuIsa::Simd128;
        #[cfg(target_arch = "x86_64")]
        {
            static BEST: std::sync::OnceLock<CpuIsa> = std::sync::OnceLock::new();
            #[allow(clippy::needless_return)]
            return *BEST.get_or_init(|| crate::infer::kernels::capped(&Self::available(), Self::name));
        }
        #[allow(unreachable_code)]
        CpuIsa::Scalar
    }
    /// Every set this build and CPU support, narrowest first (the conformance suite runs each).
    pub fn available() -> Vec<Self> {
        // `mut` is unused where the build has no wider set (wasm32 without SIMD128).
        #[allow(unused_mut)]
        let mut v = vec![CpuIsa::Scalar];
        #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
        v.push(CpuIsa::Simd128);
        #[cfg(target_arch = "x86_64")]
        {
            v.push(CpuIsa::Sse2);
            if std::arch::is_x86_feature_detected!("avx2") {
                v.push(CpuIsa::Avx2);
                if std::arch::is_x86_feature_detected!("avx512f") {
                    v.push(CpuIsa::Avx512);
                }
            }
        }
        v
    }
    /// Panics unless this CPU runs `self` (a wide set named by hand on an older CPU); the
    /// wide kernels execute their instructions only after this check.
    fn assert_supported(self) {
        assert!(Self::available().contains(&self), "{} is not supported by this CPU", self.name());
    }
    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            CpuIsa::Scalar => Scalar::NAME,
            #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
            CpuIsa::Simd128 => super::lanes::Simd128::NAME,
            #[cfg(target_arch = "x86_64")]
            CpuIsa::Sse2 => super::lanes::Sse2::NAME,
            #[cfg(target_arch = "x86_64")]
            CpuIsa::Avx2 => super::lanes::Avx2::NAME,
            #[cfg(target_arch = "x86_64")]
            CpuIsa::Avx512 => super::lanes::Avx512::NAME,
        }
    }
}

macro_rules! with_isa {
    ($isa:expr, $f:ident, $($arg:expr),*) => {
        match $isa {
            CpuIsa::Scalar => $f::<Scalar>($($arg),*),
            #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
            CpuIsa::Simd128 => $f::<super::lanes::Simd128>($($arg),*),
            #[cfg(target_arch = "x86_64")]
            CpuIsa::Sse2 => $f::<super::lanes::Sse2>($($arg),*),
            #[cfg(target_arch = "x86_64")]
            CpuIsa::Avx2 => $f::<super::tiles::Avx2Tiles>($($arg),*),
            #[cfg(target_arch = "x86_64")]
            CpuIsa::Avx512 => $f::<super::tiles::Avx512Tiles>($($arg),*),
        }
    };
}

/// Forward pass: returns `y: [n, m, h_out, w_out]` (row-major) for row-major `x` and `weight`.
///
/// # Panics
/// When the slice lengths differ from `s` (callers validate shapes first).
pub fn forward(isa: CpuIsa, s: &AdderShape, x: &[f32], weight: &[f32]) -> Vec<f32> {
    assert_eq!((x.len(), weight.len()), (s.x_len(), s.w_len()), "adder forward: slice lengths");
    isa.assert_supported();
    with_isa!(isa, forward_impl, s, x, weight)
}

/// Backward pass for the upstream gradient `gy` (shape of `y`): returns `(dx, dweight)`, the
/// AdderNet gradients (HardTanh input gradient, full-precision weight gradient).
///
/// # Panics
/// When the slice lengths differ from `s`.
pub fn backward(isa: CpuIsa, s: &AdderShape, x: &[f32], weight: &[f32], gy: &[f32]) -> (Vec<f32>, Vec<f32>) {
    assert_eq!((x.len(), weight.len(), gy.len()), (s.x_len(), s.w_len(), s.y_len()), "adder backward: slice lengths");
    isa.assert_supported();
    with_isa!(isa, backward_impl, s, x, weight, gy)
}

/// Images per parallel chunk.
fn batch_chunk(n: usize) -> usize {
    #[cfg(not(target_family = "wasm"))]
    let threads = rayon::current_num_threads().max(1);
    #[cfg(target_family = "wasm")]
    let threads = 1;
    n.div_ceil(threads).max(1)
}

/// Columns of `P` gathered per pass: small feature maps are batched over several images so
/// the vector tiles stay full (a 1×1 output alone would fill one lane of eight).
const TARGET_COLS: usize = 256;

/// Images per pass for `l` output pixels each.
fn images_per_pass(l: usize) -> usize {
    TARGET_COLS.div_ceil(l).max(1)
}

fn forward_impl<T: Tiles>(s: &AdderShape, x: &[f32], weight: &[f32]) -> Vec<f32> {
    if super::depthwise::applies(s) {
        return super::depthwise::forward::<T::Four>(s, x, weight);
    }
    let (k, kp, mg, l) = (s.k(), s.kp(), s.mg(), s.l());
    // Blocks of 4 output channels, weights transposed to [k][4] so a tile reads 4 at once.
    let blocks4 = mg / 4;
    let mut wt = vec![0.0f32; s.groups * blocks4 * k * 4];
    for grp in 0..s.groups {
        for b in 0..blocks4 {
            let dst = &mut wt[(grp * blocks4 + b) * k * 4..][..k * 4];
            for i in 0..4 {
                let row = &weight[(grp * mg + b * 4 + i) * k..][..k];
                for (kk, &v) in row.iter().enumerate() {
                    dst[kk * 4 + i] = v;
                }
            }
        }
    }
    let per_y = s.m * l;
    let per_x = s.c * s.h * s.w;
    let mut y = vec![0.0f32; s.y_len()];
    let nb = batch_chunk(s.n);
    let run = |ci: usize, ychunk: &mut [f32]| {
        let count = ychunk.len() / per_y;
        let sub = images_per_pass(l).min(count);
        let max_lp = (sub * l).div_ceil(LB) * LB;
        let mut p = vec![0.0f32; kp * max_lp];
        let mut tile = vec![0.0f32; 4 * max_lp];
        for sb in (0..count).step_by(sub) {
            let cnt = sub.min(count - sb);
            let lp = (cnt * l).div_ceil(LB) * LB;
            let x0 = (ci * nb + sb) * per_x;
            // A plain pointwise pass reads the image as P and writes y in place.
            let direct = s.plain_pointwise() && cnt == 1 && lp == l;
            for grp in 0..s.groups {
                let pm: &[f32] = if direct {
                    &x[x0 + grp * k * l..][..k * l]
                } else {
                    p[..kp * lp].fill(0.0);
                    for j in 0..cnt {
                        im2col(s, &x[x0 + j * per_x..][..per_x], grp, &mut p[..kp * lp], lp, j * l);
                    }
                    &p[..kp * lp]
                };
                let mut out_rows = |mo: usize, rows: usize, tile: &mut [f32], f: &dyn Fn(&mut [f32])| {
                    if direct {
                        f(&mut ychunk[sb * per_y + mo * l..][..rows * l]);
                        return;
                    }
                    f(&mut tile[..rows * lp]);
                    for i in 0..rows {
                        for j in 0..cnt {
                            ychunk[(sb + j) * per_y + (mo + i) * l..][..l].copy_from_slice(&tile[i * lp + j * l..][..l]);
                        }
                    }
                };
                for b in 0..blocks4 {
                    let wb = &wt[(grp * blocks4 + b) * k * 4..][..k * 4];
                    out_rows(grp * mg + b * 4, 4, &mut tile, &|o| T::fwd::<4>(pm, lp, k, wb, o));
                }
                for mm in blocks4 * 4..mg {
                    let mo = grp * mg + mm;
                    out_rows(mo, 1, &mut tile, &|o| T::fwd::<1>(pm, lp, k, &weight[mo * k..][..k], o));
                }
            }
        }
    };
    #[cfg(not(target_family = "wasm"))]
    {
        use rayon::prelude::*;
        y.par_chunks_mut(nb * per_y).enumerate().for_each(|(ci, c)| run(ci, c));
    }
    #[cfg(target_family = "wasm")]
    y.chunks_mut(nb * per_y).enumerate().for_each(|(ci, c)| run(ci, c));
    y
}

fn backward_impl<T: Tiles>(s: &AdderShape, x: &[f32], weight: &[f32], gy: &[f32]) -> (Vec<f32>, Vec<f32>) {
    if super::depthwise::applies(s) {
        return super::depthwise::backward::<T::Four>(s, x, weight, gy);
    }
    let (k, kp, mg, l) = (s.k(), s.kp(), s.mg(), s.l());
    // Weights padded to [m][kp] (zeros beyond k) for the 4-row input-gradient tile.
    let mut wpad = vec![0.0f32; s.m * kp];
    for mo in 0..s.m {
        wpad[mo * kp..][..k].copy_from_slice(&weight[mo * k..][..k]);
    }
    let per_y = s.m * l;
    let per_x = s.c * s.h * s.w;
    let mut dx = vec![0.0f32; s.x_len()];
    let nb = batch_chunk(s.n);
    // Returns this chunk's Σ G·Pᵀ as [m][kp] and Σ G per output channel.
    let run = |ci: usize, dxchunk: &mut [f32]| -> (Vec<f32>, Vec<f32>) {
        let count = dxchunk.len() / per_x;
        let sub = images_per_pass(l).min(count);
        let max_lp = (sub * l).div_ceil(LB) * LB;
        let mut p = vec![0.0f32; kp * max_lp];
        let mut dp = vec![0.0f32; kp * max_lp];
        let mut g = vec![0.0f32; mg * max_lp];
        let mut gp = vec![0.0f32; s.m * kp];
        let mut gsum = vec![0.0f32; s.m];
        for sb in (0..count).step_by(sub) {
            let cnt = sub.min(count - sb);
            let lp = (cnt * l).div_ceil(LB) * LB;
            let n0 = ci * nb + sb;
            // A plain pointwise pass reads the image as P and G, and writes dP into dx.
            let direct = s.plain_pointwise() && cnt == 1 && lp == l && kp == k;
            for grp in 0..s.groups {
                let wg = &wpad[grp * mg * kp..][..mg * kp];
                let (pm, gm): (&[f32], &[f32]) = if direct {
                    (&x[n0 * per_x + grp * k * l..][..k * l], &gy[n0 * per_y + grp * mg * l..][..mg * l])
                } else {
                    // Zero padding columns: they must add nothing to the weight gradient.
                    p[..kp * lp].fill(0.0);
                    g[..mg * lp].fill(0.0);
                    for j in 0..cnt {
                        let n = n0 + j;
                        im2col(s, &x[n * per_x..][..per_x], grp, &mut p[..kp * lp], lp, j * l);
                        for mm in 0..mg {
                            g[mm * lp + j * l..][..l].copy_from_slice(&gy[n * per_y + (grp * mg + mm) * l..][..l]);
                        }
                    }
                    (&p[..kp * lp], &g[..mg * lp])
                };
                if direct {
                    T::bwd_input(pm, lp, kp, gm, mg, wg, &mut dxchunk[sb * per_x + grp * k * l..][..k * l]);
                } else {
                    T::bwd_input(pm, lp, kp, gm, mg, wg, &mut dp);
                    for j in 0..cnt {
                        col2im(s, &dp[..kp * lp], lp, j * l, grp, &mut dxchunk[(sb + j) * per_x..][..per_x]);
                    }
                }
                T::bwd_weight(pm, lp, kp, gm, mg, &mut gp[grp * mg * kp..][..mg * kp]);
                for mm in 0..mg {
                    gsum[grp * mg + mm] += T::row_sum(&gm[mm * lp..][..lp]);
                }
            }
        }
        (gp, gsum)
    };
    #[cfg(not(target_family = "wasm"))]
    let (gp, gsum) = {
        use rayon::prelude::*;
        let parts: Vec<_> = dx.par_chunks_mut(nb * per_x).enumerate().map(|(ci, c)| run(ci, c)).collect();
        sum_parts(parts)
    };
    #[cfg(target_family = "wasm")]
    let (gp, gsum) = sum_parts(dx.chunks_mut(nb * per_x).enumerate().map(|(ci, c)| run(ci, c)).collect());
    let mut dw = vec![0.0f32; s.w_len()];
    for mo in 0..s.m {
        for kk in 0..k {
            dw[mo * k + kk] = gp[mo * kp + kk] - weight[mo * k + kk] * gsum[mo];
        }
    }
    (dx, dw)
}

/// Sums per-chunk partials in chunk order (deterministic for a given thread count).
fn sum_parts(parts: Vec<(Vec<f32>, Vec<f32>)>) -> (Vec<f32>, Vec<f32>) {
    let mut it = parts.into_iter();
    let (mut a, mut b) = it.next().expect("at least one image");
    for (pa, pb) in it {
        a.iter_mut().zip(pa).for_each(|(u, v)| *u += v);
        b.iter_mut().zip(pb).for_each(|(u, v)| *u += v);
    }
    (a, b)
}
