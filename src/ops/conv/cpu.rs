//! CPU kernels of the depthwise convolution (groups = channels, one filter per channel) on
//! contiguous f32 NCHW data, direct loops without im2col:
//! - [`forward`] reads each plane through the zero-padded, column-phase-split copy [`Padded`],
//!   so that every tap of a block of [`LANES`] outputs is one contiguous run (two [`Lanes`]
//!   vectors), a plane per task on rayon; with stride 1 it is also the input gradient (the
//!   output gradient convolved with the filter rotated by 180°, see [`super`]);
//! - [`backward_input`] scatters each output's gradient over its taps into a [`Padded`] plane
//!   (strides > 1), a plane per task on rayon;
//! - [`backward_weight`] reads each plane through [`Padded`] too, each tap summed over the
//!   plane in two vectors, a channel per task on rayon.
//!
//! Summation order is fixed by the loops (deterministic, and the same on every thread count);
//! it differs from burn's im2col GEMM, so results agree with burn's `conv2d` up to float
//! rounding.

use crate::ops::fused::cpu::CpuIsa;
use crate::ops::fused::lanes::{Lanes, Scalar};

/// Geometry of a depthwise convolution: input `[n, c, h, w]`, weight `[c, 1, kh, kw]`, output
/// `[n, c, ho, wo]`; dilation 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DwDims {
    /// Images.
    pub n: usize,
    /// Channels (= groups).
    pub c: usize,
    /// Input `[h, w]`.
    pub input: [usize; 2],
    /// Kernel `[kh, kw]`.
    pub kernel: [usize; 2],
    /// Stride `[sh, sw]` (≥ 1).
    pub stride: [usize; 2],
    /// Zero padding `[ph, pw]` on each side.
    pub padding: [usize; 2],
    /// Output `[ho, wo]`.
    pub output: [usize; 2],
}

impl DwDims {
    /// The geometry, or `None` when the kernel does not fit the padded input or a stride is 0.
    pub fn new(n: usize, c: usize, input: [usize; 2], kernel: [usize; 2], stride: [usize; 2], padding: [usize; 2]) -> Option<Self> {
        let mut output = [0; 2];
        for i in 0..2 {
            let padded = input[i] + 2 * padding[i];
            if stride[i] == 0 || kernel[i] == 0 || kernel[i] > padded {
                return None;
            }
            output[i] = (padded - kernel[i]) / stride[i] + 1;
        }
        Some(Self { n, c, input, kernel, stride, padding, output })
    }

    pub(crate) fn in_plane(&self) -> usize {
        self.input[0] * self.input[1]
    }

    pub(crate) fn out_plane(&self) -> usize {
        self.output[0] * self.output[1]
    }

    pub(crate) fn taps(&self) -> usize {
        self.kernel[0] * self.kernel[1]
    }
}

/// Planes per rayon task: enough work per task to amortise the scheduling (~16 K values).
fn planes_per_task(plane: usize) -> usize {
    (16_384 / plane.max(1)).max(1)
}

/// `f(first_plane, block)` for consecutive blocks of whole planes of `out`, on rayon natively.
pub(crate) fn per_planes(out: &mut [f32], plane: usize, f: impl Fn(usize, &mut [f32]) + Sync + Send) {
    let per = planes_per_task(plane);
    crate::par::blocks(out, per * plane, |b, o| f(b * per, o));
}

/// Outputs computed together in registers (two SSE / SIMD128 vectors).
pub(crate) const LANES: usize = 8;

/// One input plane, zero-padded and split by column phase so that every tap of every stride
/// reads a contiguous run: row `r` of the padded plane (`r < h + 2·ph`) holds `sw` runs of
/// [`Padded::run`] values, run `φ` holding padded columns `φ, φ + sw, φ + 2·sw, …`. Output
/// column `ox` at kernel column `kx` reads run `kx % sw` at index `ox + kx / sw`.
pub(crate) struct Padded {
    /// Values per phase run: the output width rounded up to [`LANES`], plus `(kw − 1) / sw`,
    /// so that whole blocks of [`LANES`] outputs read inside the run (zeros past the input).
    pub(crate) run: usize,
    /// `[h + 2·ph][sw][run]`.
    data: Vec<f32>,
}

impl Padded {
    pub(crate) fn new(d: &DwDims) -> Self {
        let run = d.output[1].div_ceil(LANES) * LANES + (d.kernel[1] - 1) / d.stride[1];
        Self { run, data: vec![0f32; (d.input[0] + 2 * d.padding[0]) * d.stride[1] * run] }
    }

    /// Loads `plane` (`[h, w]`); the padding stays zero.
    pub(crate) fn load(&mut self, d: &DwDims, plane: &[f32]) {
        let ([ph, pw], sw, iw, run) = (d.padding, d.stride[1], d.input[1], self.run);
        for (iy, row) in plane.chunks(iw).enumerate() {
            let dst = &mut self.data[(iy + ph) * sw * run..][..sw * run];
            match sw {
                1 => dst[pw..pw + iw].copy_from_slice(row),
                2 => {
                    let (first, second) = pair_runs(dst, run, pw, iw);
                    for ((a, b), pair) in first.iter_mut().zip(second.iter_mut()).zip(row.chunks_exact(2)) {
                        (*a, *b) = (pair[0], pair[1]);
                    }
                    if iw % 2 == 1 {
                        first[iw / 2] = row[iw - 1];
                    }
                }
                _ => {
                    for (ix, &v) in row.iter().enumerate() {
                        dst[((ix + pw) % sw) * run + (ix + pw) / sw] = v;
                    }
                }
            }
        }
    }

    /// The inverse of [`Padded::load`]: writes the values of the input's positions into `plane`
    /// (`[h, w]`), dropping the padding.
    pub(crate) fn unload(&mut self, d: &DwDims, plane: &mut [f32]) {
        let ([ph, pw], sw, iw, run) = (d.padding, d.stride[1], d.input[1], self.run);
        for (iy, row) in plane.chunks_mut(iw).enumerate() {
            let src = &mut self.data[(iy + ph) * sw * run..][..sw * run];
            match sw {
                1 => row.copy_from_slice(&src[pw..pw + iw]),
                2 => {
                    let (first, second) = pair_runs(src, run, pw, iw);
                    for ((a, b), pair) in first.iter().zip(second.iter()).zip(row.chunks_exact_mut(2)) {
                        (pair[0], pair[1]) = (*a, *b);
                    }
                    if iw % 2 == 1 {
                        row[iw - 1] = first[iw / 2];
                    }
                }
                _ => {
                    for (ix, v) in row.iter_mut().enumerate() {
                        *v = src[((ix + pw) % sw) * run + (ix + pw) / sw];
                    }
                }
            }
        }
    }

    /// Sets every value, padding included, to zero.
    pub(crate) fn clear(&mut self) {
        self.data.fill(0.0);
    }

    /// Offset in a padded row of the run that kernel column `kx` reads, for each `kx`.
    pub(crate) fn tap_offsets(&self, d: &DwDims) -> Vec<usize> {
        let sw = d.stride[1];
        (0..d.kernel[1]).map(|kx| (kx % sw) * self.run + kx / sw).collect()
    }

    /// The [`LANES`] values that outputs `ox0..ox0 + LANES` of padded row `r` read at the tap
    /// offset `off` ([`Padded::tap_offsets`]).
    #[inline(always)]
    pub(crate) fn tap(&self, row_len: usize, r: usize, off: usize, ox0: usize) -> &[f32; LANES] {
        let at = r * row_len + off + ox0;
        self.data[at..at + LANES].try_into().expect("LANES values")
    }

    /// [`Padded::tap`], writable.
    #[inline(always)]
    pub(crate) fn tap_mut(&mut self, row_len: usize, r: usize, off: usize, ox0: usize) -> &mut [f32; LANES] {
        let at = r * row_len + off + ox0;
        (&mut self.data[at..at + LANES]).try_into().expect("LANES values")
    }
}

/// `y[n, c, oy, ox] = Σ_{ky, kx} w[c, ky, kx] · xpad[n, c, oy·sh + ky, ox·sw + kx]`, the taps
/// summed in row-major order from zero with the instruction set `isa` (every set gives the
/// same bits).
///
/// # Panics
/// When the slice lengths differ from `d`.
pub fn forward(isa: CpuIsa, d: DwDims, x: &[f32], w: &[f32]) -> Vec<f32> {
    assert_eq!((x.len(), w.len()), (d.n * d.c * d.in_plane(), d.c * d.taps()), "depthwise forward: slice lengths");
    match isa {
        CpuIsa::Scalar => forward_lanes::<Scalar>(&d, x, w),
        #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
        CpuIsa::Simd128 => forward_lanes::<crate::ops::fused::lanes::Simd128>(&d, x, w),
        #[cfg(target_arch = "x86_64")]
        CpuIsa::Sse2 | CpuIsa::Avx2 | CpuIsa::Avx512 => forward_lanes::<crate::ops::fused::lanes::Sse2>(&d, x, w),
    }
}

fn forward_lanes<L: Lanes>(d: &DwDims, x: &[f32], w: &[f32]) -> Vec<f32> {
    direct_lanes::<L>(d, x, w, |xv, wv| L::mul(xv, wv), |a| a)
}

/// The direct depthwise kernel shared by the multiplicative and the adder convolutions:
/// `y[oy, ox] = finish(Σ_{ky, kx} term(xpad[oy·sh + ky, ox·sw + kx], w[ky, kx]))`, the taps
/// summed in row-major order from zero, each plane read through [`Padded`]; planes at most
/// [`Lanes::W`] wide take one vector per row, wider ones blocks of [`LANES`].
pub(crate) fn direct_lanes<L: Lanes>(
    d: &DwDims,
    x: &[f32],
    w: &[f32],
    term: impl Fn(L::V, L::V) -> L::V + Sync + Send,
    finish: impl Fn(L::V) -> L::V + Sync + Send,
) -> Vec<f32> {
    assert_eq!(2 * L::W, LANES, "two vectors per block");
    let (ip, op, taps) = (d.in_plane(), d.out_plane(), d.taps());
    let ([kh, kw], sh, wo, v) = (d.kernel, d.stride[0], d.output[1], L::W);
    let mut y = vec![0f32; d.n * d.c * op];
    per_planes(&mut y, op, |first, block| {
        let mut pad = Padded::new(d);
        let (offs, row_len) = (pad.tap_offsets(d), d.stride[1] * pad.run);
        let zero = L::splat(0.0);
        let mut out = [0f32; LANES];
        for (j, yp) in block.chunks_mut(op).enumerate() {
            let p = first + j;
            pad.load(d, &x[p * ip..][..ip]);
            let ws = &w[(p % d.c) * taps..][..taps];
            if wo <= v {
                // Narrow planes (4×4, 2×2): one vector per row instead of two half-empty ones.
                for (oy, yrow) in yp.chunks_mut(wo).enumerate() {
                    let mut a0 = zero;
                    for ky in 0..kh {
                        for (kx, &off) in offs.iter().enumerate() {
                            let src = pad.tap(row_len, oy * sh + ky, off, 0);
                            a0 = L::add(a0, term(L::load(&src[..v]), L::splat(ws[ky * kw + kx])));
                        }
                    }
                    L::store(&mut out[..v], finish(a0));
                    yrow.copy_from_slice(&out[..wo]);
                }
                continue;
            }
            for (oy, yrow) in yp.chunks_mut(wo).enumerate() {
                for ox0 in (0..wo).step_by(LANES) {
                    let (mut a0, mut a1) = (zero, zero);
                    for ky in 0..kh {
                        for (kx, &off) in offs.iter().enumerate() {
                            let src = pad.tap(row_len, oy * sh + ky, off, ox0);
                            let wv = L::splat(ws[ky * kw + kx]);
                            a0 = L::add(a0, term(L::load(&src[..v]), wv));
                            a1 = L::add(a1, term(L::load(&src[v..]), wv));
                        }
                    }
                    let (a0, a1) = (finish(a0), finish(a1));
                    let len = LANES.min(wo - ox0);
                    if len == LANES {
                        L::store(&mut yrow[ox0..][..v], a0);
                        L::store(&mut yrow[ox0 + v..][..v], a1);
                    } else {
                        L::store(&mut out[..v], a0);
                        L::store(&mut out[v..], a1);
                        yrow[ox0..ox0 + len].copy_from_slice(&out[..len]);
                    }
                }
            }
        }
    });
    y
}

/// Stride 2: the runs of one padded row that hold input columns `0, 2, 4, …` (`first`, as many
/// as there are) and `1, 3, 5, …` (`second`). Column `ix` sits at padded column `ix + pw`, in
/// run `(ix + pw) % 2` at index `(ix + pw) / 2`.
#[inline(always)]
fn pair_runs(row: &mut [f32], run: usize, pw: usize, iw: usize) -> (&mut [f32], &mut [f32]) {
    let (even, odd) = row.split_at_mut(run);
    let (h, n_first, n_second) = (pw / 2, iw.div_ceil(2), iw / 2);
    if pw.is_multiple_of(2) {
        (&mut even[h..h + n_first], &mut odd[h..h + n_second])
    } else {
        (&mut odd[h..h + n_first], &mut even[h + 1..h + 1 + n_second])
    }
}

/// Input gradient, any stride, by scattering each output's gradient over its taps:
/// `dx[n, c, oy·sh + ky − ph, ox·sw + kx − pw] += w[c, ky, kx] · dy[n, c, oy, ox]`, into a
/// [`Padded`] plane (where every tap of a block of [`LANES`] outputs is one contiguous run)
/// that is then unloaded without its padding; per position, the terms are added in the order
/// of `(oy, ox block, ky, kx)` with the instruction set `isa` (every set gives the same bits).
/// With stride 1, [`super`] uses [`forward`] over the rotated filter instead.
///
/// # Panics
/// When the slice lengths differ from `d`.
pub fn backward_input(isa: CpuIsa, d: DwDims, w: &[f32], dy: &[f32]) -> Vec<f32> {
    assert_eq!((w.len(), dy.len()), (d.c * d.taps(), d.n * d.c * d.out_plane()), "depthwise input gradient: slice lengths");
    match isa {
        CpuIsa::Scalar => backward_input_lanes::<Scalar>(&d, w, dy),
        #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
        CpuIsa::Simd128 => backward_input_lanes::<crate::ops::fused::lanes::Simd128>(&d, w, dy),
        #[cfg(target_arch = "x86_64")]
        CpuIsa::Sse2 | CpuIsa::Avx2 | CpuIsa::Avx512 => backward_input_lanes::<crate::ops::fused::lanes::Sse2>(&d, w, dy),
    }
}

fn backward_input_lanes<L: Lanes>(d: &DwDims, w: &[f32], dy: &[f32]) -> Vec<f32> {
    scatter_lanes::<L, false>(d, w, dy, &[], |wv, _| wv)
}

/// The scatter of a depthwise input gradient, shared by the multiplicative and the adder
/// convolutions: `dx[tap position] += g · term(w[tap], x[tap position])` for every output `g`
/// and tap, into a [`Padded`] plane unloaded at the end; per position, the terms are added in
/// the order of `(oy, ox block, ky, kx)`. `x` is read (through its own padded copy) only when
/// `READS_X`; otherwise `term` gets zeros for it.
pub(crate) fn scatter_lanes<L: Lanes, const READS_X: bool>(
    d: &DwDims,
    w: &[f32],
    dy: &[f32],
    x: &[f32],
    term: impl Fn(L::V, L::V) -> L::V + Sync + Send,
) -> Vec<f32> {
    assert_eq!(2 * L::W, LANES, "two vectors per block");
    let (ip, op, taps) = (d.in_plane(), d.out_plane(), d.taps());
    let ([kh, kw], sh, wo, v) = (d.kernel, d.stride[0], d.output[1], L::W);
    let mut dx = vec![0f32; d.n * d.c * ip];
    per_planes(&mut dx, ip, |first, block| {
        let (mut xpad, mut dpad) = (Padded::new(d), Padded::new(d));
        let (offs, row_len) = (dpad.tap_offsets(d), d.stride[1] * dpad.run);
        let zero = L::splat(0.0);
        // Zeros past `wo`: those lanes add `0 · t` (t finite) to padding or real positions.
        let mut grow = vec![0f32; wo.div_ceil(LANES) * LANES];
        for (j, dxp) in block.chunks_mut(ip).enumerate() {
            let p = first + j;
            if READS_X {
                xpad.load(d, &x[p * ip..][..ip]);
            }
            dpad.clear();
            let ws = &w[(p % d.c) * taps..][..taps];
            for (oy, g) in dy[p * op..][..op].chunks(wo).enumerate() {
                grow[..wo].copy_from_slice(g);
                for ox0 in (0..wo).step_by(LANES) {
                    let (g0, g1) = (L::load(&grow[ox0..][..v]), L::load(&grow[ox0 + v..][..v]));
                    for ky in 0..kh {
                        for (kx, &off) in offs.iter().enumerate() {
                            let wv = L::splat(ws[ky * kw + kx]);
                            let (x0, x1) = if READS_X {
                                let src = xpad.tap(row_len, oy * sh + ky, off, ox0);
                                (L::load(&src[..v]), L::load(&src[v..]))
                            } else {
                                (zero, zero)
                            };
                            let (t0, t1) = (term(wv, x0), term(wv, x1));
                            let dst = dpad.tap_mut(row_len, oy * sh + ky, off, ox0);
                            let (s0, s1) = (L::add(L::load(&dst[..v]), L::mul(g0, t0)), L::add(L::load(&dst[v..]), L::mul(g1, t1)));
                            L::store(&mut dst[..v], s0);
                            L::store(&mut dst[v..], s1);
                        }
                    }
                }
            }
            dpad.unload(d, dxp);
        }
    });
    dx
}

/// Weight gradient: `dw[c, ky, kx] = Σ_{n, oy, ox} dy[n, c, oy, ox] · x[n, c, oy·sh + ky − ph, ox·sw + kx − pw]`,
/// each tap summed over an image's plane in vectors of the instruction set `isa` (every set
/// gives the same bits), across images in f64; a channel per task on rayon.
///
/// # Panics
/// When the slice lengths differ from `d`.
pub fn backward_weight(isa: CpuIsa, d: DwDims, x: &[f32], dy: &[f32]) -> Vec<f32> {
    assert_eq!((x.len(), dy.len()), (d.n * d.c * d.in_plane(), d.n * d.c * d.out_plane()), "depthwise weight gradient: slice lengths");
    match isa {
        CpuIsa::Scalar => backward_weight_lanes::<Scalar>(&d, x, dy),
        #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
        CpuIsa::Simd128 => backward_weight_lanes::<crate::ops::fused::lanes::Simd128>(&d, x, dy),
        #[cfg(target_arch = "x86_64")]
        CpuIsa::Sse2 | CpuIsa::Avx2 | CpuIsa::Avx512 => backward_weight_lanes::<crate::ops::fused::lanes::Sse2>(&d, x, dy),
    }
}

fn backward_weight_lanes<L: Lanes>(d: &DwDims, x: &[f32], dy: &[f32]) -> Vec<f32> {
    assert_eq!(2 * L::W, LANES, "two vectors per block");
    let (ip, op, taps) = (d.in_plane(), d.out_plane(), d.taps());
    let ([kh, kw], sh, [ho, wo], v) = (d.kernel, d.stride[0], d.output, L::W);
    let per = crate::par::map(d.c, |ch| {
        let mut acc = vec![0f64; taps];
        let mut pad = Padded::new(d);
        let (offs, row_len) = (pad.tap_offsets(d), d.stride[1] * pad.run);
        // The gradient plane with rows rounded up to LANES, zeros past `wo` (the padded input
        // there is not zero, the gradient must be).
        let gw = wo.div_ceil(LANES) * LANES;
        let mut gpad = vec![0f32; ho * gw];
        let zero = L::splat(0.0);
        for i in 0..d.n {
            let p = i * d.c + ch;
            pad.load(d, &x[p * ip..][..ip]);
            for (dst, g) in gpad.chunks_mut(gw).zip(dy[p * op..][..op].chunks(wo)) {
                dst[..wo].copy_from_slice(g);
            }
            if wo <= v {
                // Narrow planes: one vector per row (the gradient is zero past `wo`).
                for ky in 0..kh {
                    for (kx, &off) in offs.iter().enumerate() {
                        let mut a0 = zero;
                        for (oy, grow) in gpad.chunks(gw).enumerate() {
                            let src = pad.tap(row_len, oy * sh + ky, off, 0);
                            a0 = L::add(a0, L::mul(L::load(&grow[..v]), L::load(&src[..v])));
                        }
                        acc[ky * kw + kx] += L::hsum(a0) as f64;
                    }
                }
                continue;
            }
            for ky in 0..kh {
                for (kx, &off) in offs.iter().enumerate() {
                    let (mut a0, mut a1) = (zero, zero);
                    for (oy, grow) in gpad.chunks(gw).enumerate() {
                        for ox0 in (0..wo).step_by(LANES) {
                            let src = pad.tap(row_len, oy * sh + ky, off, ox0);
                            a0 = L::add(a0, L::mul(L::load(&grow[ox0..][..v]), L::load(&src[..v])));
                            a1 = L::add(a1, L::mul(L::load(&grow[ox0 + v..][..v]), L::load(&src[v..])));
                        }
                    }
                    acc[ky * kw + kx] += L::hsum(L::add(a0, a1)) as f64;
                }
            }
        }
        acc
    });
    per.into_iter().flatten().map(|v| v as f32).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `(y, dx, dw)` from the definition, plain loops.
    fn naive(d: DwDims, x: &[f32], w: &[f32], dy: &[f32]) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
        let [h, iw] = d.input;
        let [ho, wo] = d.output;
        let [kh, kw] = d.kernel;
        let (mut y, mut dx, mut dw) = (vec![0f32; dy.len()], vec![0f32; x.len()], vec![0f32; w.len()]);
        for p in 0..d.n * d.c {
            for (oy, ox, ky, kx) in
                (0..ho).flat_map(|a| (0..wo).flat_map(move |b| (0..kh).flat_map(move |c| (0..kw).map(move |e| (a, b, c, e)))))
            {
                let iy = (oy * d.stride[0] + ky) as isize - d.padding[0] as isize;
                let ix = (ox * d.stride[1] + kx) as isize - d.padding[1] as isize;
                if iy >= 0 && ix >= 0 && (iy as usize) < h && (ix as usize) < iw {
                    let (xi, wi, g) =
                        (p * h * iw + iy as usize * iw + ix as usize, (p % d.c) * kh * kw + ky * kw + kx, dy[p * ho * wo + oy * wo + ox]);
                    y[p * ho * wo + oy * wo + ox] += w[wi] * x[xi];
                    dx[xi] += w[wi] * g;
                    dw[wi] += x[xi] * g;
                }
            }
        }
        (y, dx, dw)
    }

    #[test]
    fn gradients_match_the_definition() {
        let mut seed = 1u32;
        let mut r = || {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (seed >> 8) as f32 / (1 << 24) as f32 - 0.5
        };
        for (input, kernel, stride, padding) in [
            ([5, 7], [3, 3], [1, 1], [1, 1]),
            ([6, 6], [3, 3], [2, 2], [1, 1]),
            ([7, 4], [5, 3], [2, 1], [2, 0]),
            ([2, 2], [3, 3], [1, 2], [1, 1]),
            ([9, 11], [3, 3], [3, 3], [0, 2]),
        ] {
            let d = DwDims::new(2, 3, input, kernel, stride, padding).unwrap();
            let x: Vec<f32> = (0..d.n * d.c * d.in_plane()).map(|_| r()).collect();
            let w: Vec<f32> = (0..d.c * d.taps()).map(|_| r()).collect();
            let dy: Vec<f32> = (0..d.n * d.c * d.out_plane()).map(|_| r()).collect();
            let (want_y, want_dx, want_dw) = naive(d, &x, &w, &dy);
            let mut cases = vec![
                ("dx", backward_input(CpuIsa::Scalar, d, &w, &dy), want_dx.clone()),
                ("dw", backward_weight(CpuIsa::Scalar, d, &x, &dy), want_dw.clone()),
            ];
            for isa in CpuIsa::available() {
                let y = forward(isa, d, &x, &w);
                assert_eq!(y, forward(CpuIsa::Scalar, d, &x, &w), "{}: the same bits on every instruction set", isa.name());
                cases.push(("y", y, want_y.clone()));
                let dx = backward_input(isa, d, &w, &dy);
                assert_eq!(dx, backward_input(CpuIsa::Scalar, d, &w, &dy), "{}: the same bits on every instruction set", isa.name());
                cases.push(("dx", dx, want_dx.clone()));
                let dw = backward_weight(isa, d, &x, &dy);
                assert_eq!(dw, backward_weight(CpuIsa::Scalar, d, &x, &dy), "{}: the same bits on every instruction set", isa.name());
                cases.push(("dw", dw, want_dw.clone()));
            }
            for (what, got, want) in cases {
                assert_eq!(got.len(), want.len(), "{what} length");
                for (g, e) in got.iter().zip(&want) {
                    assert!((g - e).abs() <= 1e-5, "{what} {input:?} {kernel:?} {stride:?}: {g} vs {e}");
                }
            }
        }
    }
}
