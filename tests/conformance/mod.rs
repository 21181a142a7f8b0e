//! One conformance suite for every adder-convolution implementation (tensor reference, fused
//! tensor op, each CPU instruction set, WebGPU): a table of shapes / strides / paddings /
//! groups plus seeded random geometries, each with inputs, an upstream gradient and the
//! expected `(y, dW, dX)` from naive loops. Callers compute their `(y, dW, dX)` (sync or
//! async) and [`check`] them.
#![allow(dead_code)]

pub mod bn_act;
pub mod conv;
pub mod pot;

use shiftaddaug::data::Rng;
use shiftaddaug::ops::Conv2dGeometry;

/// Relative-absolute tolerance `|got - want| <= TOL·(1 + |want|)`: f32 sums of up to a few
/// hundred terms of magnitude ~1 in a different order than the naive loops.
pub const TOL: f32 = 1e-4;

/// One problem with its expected answers.
pub struct Case {
    pub name: String,
    pub x: [usize; 4],
    pub w: [usize; 4],
    pub geo: Conv2dGeometry,
    pub xv: Vec<f32>,
    pub wv: Vec<f32>,
    /// Upstream gradient, shaped like `y`.
    pub gy: Vec<f32>,
    pub y_dims: [usize; 4],
    pub want_y: Vec<f32>,
    pub want_dw: Vec<f32>,
    pub want_dx: Vec<f32>,
}

/// Uniform in [-2, 2): both sides of the HardTanh clip are exercised.
pub fn uniform(rng: &mut Rng, n: usize) -> Vec<f32> {
    (0..n).map(|_| (rng.next_u64() >> 40) as f32 / (1u64 << 24) as f32 * 4.0 - 2.0).collect()
}

pub fn geo(stride: usize, padding: usize, groups: usize) -> Conv2dGeometry {
    Conv2dGeometry { stride: [stride, stride], padding: [padding, padding], groups }
}

fn out_dims(x: [usize; 4], w: [usize; 4], g: Conv2dGeometry) -> [usize; 4] {
    let ho = (x[2] + 2 * g.padding[0] - w[2]) / g.stride[0] + 1;
    let wo = (x[3] + 2 * g.padding[1] - w[3]) / g.stride[1] + 1;
    [x[0], w[0], ho, wo]
}

/// Naive adder conv: `(y, dW, dX)` for upstream gradient `gy` (AdderNet gradients).
pub fn naive(x: &[f32], w: &[f32], gy: &[f32], xd: [usize; 4], wd: [usize; 4], geo: Conv2dGeometry) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let [n, ci, h, wdt] = xd;
    let [m, cg, kh, kw] = wd;
    let [_, _, ho, wo] = out_dims(xd, wd, geo);
    let [sh, sw] = geo.stride;
    let [ph, pw] = geo.padding;
    let mg = m / geo.groups;
    let mut y = vec![0.0; n * m * ho * wo];
    let mut dw = vec![0.0; w.len()];
    let mut dx = vec![0.0; x.len()];
    for b in 0..n {
        for o in 0..m {
            let grp = o / mg;
            for oy in 0..ho {
                for ox in 0..wo {
                    let yi = ((b * m + o) * ho + oy) * wo + ox;
                    let mut acc = 0.0;
                    for cc in 0..cg {
                        let cin = grp * cg + cc;
                        for ky in 0..kh {
                            for kx in 0..kw {
                                let iy = (oy * sh + ky) as isize - ph as isize;
                                let ix = (ox * sw + kx) as isize - pw as isize;
                                let inside = iy >= 0 && ix >= 0 && (iy as usize) < h && (ix as usize) < wdt;
                                let xi = if inside { Some(((b * ci + cin) * h + iy as usize) * wdt + ix as usize) } else { None };
                                let xv = xi.map_or(0.0, |i| x[i]);
                                let wi = ((o * cg + cc) * kh + ky) * kw + kx;
                                acc += (xv - w[wi]).abs();
                                dw[wi] += gy[yi] * (xv - w[wi]);
                                if let Some(i) = xi {
                                    dx[i] += gy[yi] * (w[wi] - xv).clamp(-1.0, 1.0);
                                }
                            }
                        }
                    }
                    y[yi] = -acc;
                }
            }
        }
    }
    (y, dw, dx)
}

pub fn make_case(name: String, x: [usize; 4], w: [usize; 4], geo: Conv2dGeometry, rng: &mut Rng) -> Case {
    let xv = uniform(rng, x.iter().product());
    let wv = uniform(rng, w.iter().product());
    let y_dims = out_dims(x, w, geo);
    let gy = uniform(rng, y_dims.iter().product());
    let (want_y, want_dw, want_dx) = naive(&xv, &wv, &gy, x, w, geo);
    Case { name, x, w, geo, xv, wv, gy, y_dims, want_y, want_dw, want_dx }
}

/// The shape table: regular, strided, depthwise, grouped pointwise, pointwise, 5×5, 1×1 output,
/// and channel counts that leave partial blocks of 4 (MobileNetV2-like sizes included).
pub fn table() -> Vec<Case> {
    let t: [([usize; 4], [usize; 4], Conv2dGeometry); 17] = [
        ([2, 3, 5, 5], [4, 3, 3, 3], geo(1, 1, 1)),
        ([2, 4, 7, 6], [6, 4, 3, 3], geo(2, 1, 1)),
        ([1, 4, 6, 6], [4, 1, 3, 3], geo(1, 1, 4)),    // depthwise
        ([3, 6, 4, 4], [4, 3, 1, 1], geo(1, 0, 2)),    // grouped pointwise
        ([2, 8, 4, 4], [5, 8, 1, 1], geo(1, 0, 1)),    // pointwise, 4 + 1 output rows
        ([1, 2, 5, 5], [3, 2, 5, 5], geo(2, 2, 1)),    // 5×5 kernel, stride 2
        ([1, 1, 3, 3], [2, 1, 3, 3], geo(1, 0, 1)),    // 1×1 output
        ([2, 16, 8, 8], [24, 16, 1, 1], geo(1, 0, 1)), // MBV2 pointwise
        ([2, 24, 8, 8], [24, 1, 3, 3], geo(2, 1, 24)), // MBV2 depthwise, stride 2
        ([1, 3, 9, 7], [7, 3, 3, 3], geo(3, 0, 1)),    // stride 3, odd sizes
        ([5, 4, 20, 20], [4, 1, 3, 3], geo(1, 1, 4)),  // ≥ 256 output pixels: one image per pass
        ([3, 2, 15, 20], [6, 2, 3, 3], geo(1, 1, 1)),  // 300 pixels (not a multiple of 8)
        ([4, 6, 16, 16], [6, 6, 1, 1], geo(1, 0, 1)),  // pointwise, 256 pixels, 4 images
        ([2, 8, 16, 16], [9, 8, 1, 1], geo(1, 0, 1)),  // pointwise read in place (k = 8, 256 pixels)
        ([3, 8, 16, 24], [6, 4, 1, 1], geo(1, 0, 2)),  // grouped pointwise read in place (k = 4)
        ([1, 6, 7, 8], [5, 6, 1, 1], geo(1, 0, 1)),    // 56 pixels in place: 16-lane steps, 8 left
        ([3, 6, 7, 8], [5, 6, 1, 1], geo(1, 0, 1)),    // 168 columns: 32, 16 and 8 per step
    ];
    let mut rng = Rng::new(42);
    t.iter().enumerate().map(|(i, &(x, w, g))| make_case(format!("table {i} x {x:?} w {w:?} {g:?}"), x, w, g, &mut rng)).collect()
}

/// `count` seeded random geometries (batch, channels, groups incl. depthwise, kernel, stride,
/// padding, spatial size).
pub fn random(count: usize, seed: u64) -> Vec<Case> {
    let mut rng = Rng::new(seed);
    (0..count)
        .map(|i| {
            let g = [1, 1, 2, 3][rng.below(4)];
            let cg = 1 + rng.below(5);
            let mg = 1 + rng.below(6);
            let depthwise = rng.below(4) == 0;
            let (g, cg, mg) = if depthwise { (2 + rng.below(3), 1, 1) } else { (g, cg, mg) };
            let k = 1 + rng.below(4);
            let pad = rng.below(k.min(3));
            let stride = 1 + rng.below(3);
            let h = (k.saturating_sub(2 * pad)).max(1) + rng.below(6);
            let w = (k.saturating_sub(2 * pad)).max(1) + rng.below(6);
            let (x, wd, gg) = ([1 + rng.below(3), g * cg, h, w], [g * mg, cg, k, k], geo(stride, pad, g));
            make_case(format!("random {i} x {x:?} w {wd:?} {gg:?}"), x, wd, gg, &mut rng)
        })
        .collect()
}

/// Table plus 40 random geometries.
pub fn all() -> Vec<Case> {
    let mut v = table();
    v.extend(random(40, 2024));
    v
}

pub fn assert_close(name: &str, got: &[f32], want: &[f32], tol: f32) {
    assert_eq!(got.len(), want.len(), "{name}: length");
    for (i, (a, b)) in got.iter().zip(want).enumerate() {
        assert!((a - b).abs() <= tol * (1.0 + b.abs()), "{name}[{i}]: got {a}, want {b}");
    }
}

/// Asserts one implementation's answers for `c` (pass empty gradients to check `y` only).
pub fn check(imp: &str, c: &Case, y: &[f32], dw: &[f32], dx: &[f32]) {
    assert_close(&format!("{imp} {} y", c.name), y, &c.want_y, TOL);
    if !dw.is_empty() {
        assert_close(&format!("{imp} {} dW", c.name), dw, &c.want_dw, TOL);
    }
    if !dx.is_empty() {
        assert_close(&format!("{imp} {} dX", c.name), dx, &c.want_dx, TOL);
    }
}
