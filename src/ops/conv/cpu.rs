//! CPU kernels of the depthwise convolution's backward pass (groups = channels, one filter per
//! channel) on contiguous f32 NCHW data, direct loops without im2col (the forward pass, and the
//! stride-1 input gradient, are burn's direct depthwise kernel; see [`super`]):
//! - [`backward_input`] scatters each output's gradient over its taps (strides > 1), a plane
//!   per task on rayon;
//! - [`backward_weight`] reads each plane through a zero-padded, column-phase-split copy
//!   (`Padded`) so that every tap is a contiguous run of `LANES` values, summed in
//!   registers (SSE2 natively, SIMD128 in the wasm build), a channel per task on rayon.
//!
//! Summation order is fixed by the loops (deterministic, and the same on every thread count);
//! it differs from burn's im2col GEMM, so results agree with burn's `conv2d` up to float
//! rounding.

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

    /// The input row that output row `oy` reads at kernel row `ky`, if inside the input.
    #[inline(always)]
    pub(crate) fn in_row(&self, oy: usize, ky: usize) -> Option<usize> {
        (oy * self.stride[0] + ky).checked_sub(self.padding[0]).filter(|&iy| iy < self.input[0])
    }

    /// The output columns `[lo, hi)` whose input column `ox·sw + kx − pw` is inside the input.
    #[inline(always)]
    pub(crate) fn cols(&self, kx: usize) -> (usize, usize) {
        let (s, p, w) = (self.stride[1], self.padding[1], self.input[1]);
        let lo = p.saturating_sub(kx).div_ceil(s);
        // Largest ox with ox·s + kx − p ≤ w − 1.
        let hi = if w + p > kx { ((w - 1 + p - kx) / s + 1).min(self.output[1]) } else { 0 };
        (lo, hi.max(lo))
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

/// `out[i] += a · x[i]` over equal-length runs.
#[inline(always)]
fn axpy(out: &mut [f32], a: f32, x: &[f32]) {
    for (o, v) in out.iter_mut().zip(x) {
        *o += a * v;
    }
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
        let ([ph, pw], sw, iw) = (d.padding, d.stride[1], d.input[1]);
        for (iy, row) in plane.chunks(iw).enumerate() {
            let base = (iy + ph) * sw * self.run;
            if sw == 1 {
                self.data[base + pw..base + pw + iw].copy_from_slice(row);
                continue;
            }
            for phase in 0..sw {
                // Input columns ix with (ix + pw) % sw == phase, at run index (ix + pw) / sw.
                let first = (phase + sw - pw % sw) % sw;
                let dst = &mut self.data[base + phase * self.run..base + (phase + 1) * self.run];
                for (k, &v) in row.iter().skip(first).step_by(sw).enumerate() {
                    dst[(first + pw) / sw + k] = v;
                }
            }
        }
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
}

/// Input gradient, by scattering each output's gradient over its taps:
/// `dx[n, c, oy·sh + ky − ph, ox·sw + kx − pw] += w[c, ky, kx] · dy[n, c, oy, ox]`.
pub fn backward_input(d: DwDims, w: &[f32], dy: &[f32]) -> Vec<f32> {
    let (ip, op, taps) = (d.in_plane(), d.out_plane(), d.taps());
    let [iw, wo, kw, sw, pw] = [d.input[1], d.output[1], d.kernel[1], d.stride[1], d.padding[1]];
    let mut dx = vec![0f32; d.n * d.c * ip];
    per_planes(&mut dx, ip, |first, block| {
        for (j, din) in block.chunks_mut(ip).enumerate() {
            let p = first + j;
            let (gs, ws) = (&dy[p * op..(p + 1) * op], &w[(p % d.c) * taps..(p % d.c + 1) * taps]);
            for (oy, grow) in gs.chunks(wo).enumerate() {
                for ky in 0..d.kernel[0] {
                    let Some(iy) = d.in_row(oy, ky) else { continue };
                    let drow = &mut din[iy * iw..(iy + 1) * iw];
                    for kx in 0..kw {
                        let a = ws[ky * kw + kx];
                        let (lo, hi) = d.cols(kx);
                        if sw == 1 {
                            axpy(&mut drow[lo + kx - pw..hi + kx - pw], a, &grow[lo..hi]);
                        } else {
                            for ox in lo..hi {
                                drow[ox * sw + kx - pw] += a * grow[ox];
                            }
                        }
                    }
                }
            }
        }
    });
    dx
}

/// Weight gradient: `dw[c, ky, kx] = Σ_{n, oy, ox} dy[n, c, oy, ox] · x[n, c, oy·sh + ky − ph, ox·sw + kx − pw]`,
/// each tap summed per output row in f32 and across rows and images in f64.
pub fn backward_weight(d: DwDims, x: &[f32], dy: &[f32]) -> Vec<f32> {
    let (ip, op, taps) = (d.in_plane(), d.out_plane(), d.taps());
    let [kh, kw] = d.kernel;
    let [sh, sw] = d.stride;
    let wo = d.output[1];
    let per = crate::par::map(d.c, |ch| {
        let mut acc = vec![0f64; taps];
        let mut pad = Padded::new(&d);
        let (offs, row_len) = (pad.tap_offsets(&d), sw * pad.run);
        let mut grow = vec![0f32; wo.div_ceil(LANES) * LANES];
        for i in 0..d.n {
            let p = i * d.c + ch;
            pad.load(&d, &x[p * ip..(p + 1) * ip]);
            for (oy, g) in dy[p * op..(p + 1) * op].chunks(wo).enumerate() {
                grow[..wo].copy_from_slice(g);
                for ky in 0..kh {
                    for kx in 0..kw {
                        let mut lanes = [0f32; LANES];
                        for (ox0, gs) in grow.chunks_exact(LANES).enumerate() {
                            let src = pad.tap(row_len, oy * sh + ky, offs[kx], ox0 * LANES);
                            for l in 0..LANES {
                                lanes[l] += gs[l] * src[l];
                            }
                        }
                        acc[ky * kw + kx] += lanes.iter().sum::<f32>() as f64;
                    }
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

    /// `(dx, dw)` from the definition, plain loops.
    fn naive(d: DwDims, x: &[f32], w: &[f32], dy: &[f32]) -> (Vec<f32>, Vec<f32>) {
        let [h, iw] = d.input;
        let [ho, wo] = d.output;
        let [kh, kw] = d.kernel;
        let (mut dx, mut dw) = (vec![0f32; x.len()], vec![0f32; w.len()]);
        for p in 0..d.n * d.c {
            for (oy, ox, ky, kx) in
                (0..ho).flat_map(|a| (0..wo).flat_map(move |b| (0..kh).flat_map(move |c| (0..kw).map(move |e| (a, b, c, e)))))
            {
                let iy = (oy * d.stride[0] + ky) as isize - d.padding[0] as isize;
                let ix = (ox * d.stride[1] + kx) as isize - d.padding[1] as isize;
                if iy >= 0 && ix >= 0 && (iy as usize) < h && (ix as usize) < iw {
                    let (xi, wi, g) =
                        (p * h * iw + iy as usize * iw + ix as usize, (p % d.c) * kh * kw + ky * kw + kx, dy[p * ho * wo + oy * wo + ox]);
                    dx[xi] += w[wi] * g;
                    dw[wi] += x[xi] * g;
                }
            }
        }
        (dx, dw)
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
            let (want_dx, want_dw) = naive(d, &x, &w, &dy);
            for (what, got, want) in [("dx", backward_input(d, &w, &dy), want_dx), ("dw", backward_weight(d, &x, &dy), want_dw)] {
                for (g, e) in got.iter().zip(&want) {
                    assert!((g - e).abs() <= 1e-5, "{what} {input:?} {kernel:?} {stride:?}: {g} vs {e}");
                }
            }
        }
    }
}
