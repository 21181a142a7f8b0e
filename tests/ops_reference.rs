//! The reference operators against naive loops (forward and AdderNet gradients), on random
//! inputs over a table of shapes / strides / paddings / groups, plus METHOD.md Appendix B.

use burn::tensor::{Device, Tensor, TensorData};
use shiftaddaug::data::Rng;
use shiftaddaug::engine::block_on;
use shiftaddaug::ops::{Conv2dGeometry, adaptive_grad_scale, adder_conv2d, adder_linear};

/// Absolute tolerance for f32 sums of up to a few hundred terms of magnitude ~1.
const TOL: f32 = 1e-4;

fn read<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    block_on(t.into_data_async()).unwrap().try_into_vec_as::<f32>().unwrap()
}

fn randn(rng: &mut Rng, n: usize) -> Vec<f32> {
    // Uniform in [-2, 2): enough to exercise both sides of the HardTanh clip.
    (0..n).map(|_| (rng.next_u64() >> 40) as f32 / (1u64 << 24) as f32 * 4.0 - 2.0).collect()
}

struct Case {
    x: [usize; 4],
    w: [usize; 4],
    geo: Conv2dGeometry,
}

/// Naive adder conv: returns (y, dW, dX) for upstream gradient `gy`.
fn naive(x: &[f32], w: &[f32], gy: &[f32], c: &Case) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let [n, ci, h, wd] = c.x;
    let [m, cg, kh, kw] = c.w;
    let g = c.geo.groups;
    let [sh, sw] = c.geo.stride;
    let [ph, pw] = c.geo.padding;
    let ho = (h + 2 * ph - kh) / sh + 1;
    let wo = (wd + 2 * pw - kw) / sw + 1;
    let mg = m / g;
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
                                let inside = iy >= 0 && ix >= 0 && (iy as usize) < h && (ix as usize) < wd;
                                let xi = if inside { Some(((b * ci + cin) * h + iy as usize) * wd + ix as usize) } else { None };
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

fn assert_close(name: &str, got: &[f32], want: &[f32], tol: f32) {
    assert_eq!(got.len(), want.len(), "{name}: length");
    for (i, (a, b)) in got.iter().zip(want).enumerate() {
        assert!((a - b).abs() <= tol * (1.0 + b.abs()), "{name}[{i}]: got {a}, want {b}");
    }
}

fn geo(stride: usize, padding: usize, groups: usize) -> Conv2dGeometry {
    Conv2dGeometry { stride: [stride, stride], padding: [padding, padding], groups }
}

#[test]
fn adder_conv_matches_naive_loops_forward_and_backward() {
    let cases = [
        Case { x: [2, 3, 5, 5], w: [4, 3, 3, 3], geo: geo(1, 1, 1) },
        Case { x: [2, 4, 7, 6], w: [6, 4, 3, 3], geo: geo(2, 1, 1) },
        Case { x: [1, 4, 6, 6], w: [4, 1, 3, 3], geo: geo(1, 1, 4) }, // depthwise
        Case { x: [3, 6, 4, 4], w: [4, 3, 1, 1], geo: geo(1, 0, 2) }, // grouped pointwise
        Case { x: [2, 8, 4, 4], w: [5, 8, 1, 1], geo: geo(1, 0, 1) }, // pointwise
        Case { x: [1, 2, 5, 5], w: [3, 2, 5, 5], geo: geo(2, 2, 1) }, // 5x5 kernel, stride 2
        Case { x: [1, 1, 3, 3], w: [2, 1, 3, 3], geo: geo(1, 0, 1) }, // 1x1 output
    ];
    let mut rng = Rng::new(42);
    let device = Device::flex().autodiff();
    for (ci, c) in cases.iter().enumerate() {
        let xv = randn(&mut rng, c.x.iter().product());
        let wv = randn(&mut rng, c.w.iter().product());
        let x = Tensor::<4>::from_data(TensorData::new(xv.clone(), c.x), &device).require_grad();
        let w = Tensor::<4>::from_data(TensorData::new(wv.clone(), c.w), &device).require_grad();
        let y = adder_conv2d(x.clone(), w.clone(), c.geo).unwrap();
        let gyv = randn(&mut rng, y.shape().num_elements());
        let gy = Tensor::<4>::from_data(TensorData::new(gyv.clone(), y.dims()), &device);
        let grads = y.clone().mul(gy).sum().backward();
        let (ny, ndw, ndx) = naive(&xv, &wv, &gyv, c);
        assert_close(&format!("case {ci} y"), &read(y), &ny, TOL);
        assert_close(&format!("case {ci} dW"), &read(w.grad(&grads).unwrap()), &ndw, TOL);
        assert_close(&format!("case {ci} dX"), &read(x.grad(&grads).unwrap()), &ndx, TOL);
    }
}

/// Property test: 40 seeded random geometries (batch, channels, groups incl. depthwise, kernel,
/// stride, padding, spatial size), forward and both gradients against the naive loops.
#[test]
fn adder_conv_random_geometries() {
    let mut rng = Rng::new(2024);
    let device = Device::flex().autodiff();
    for case in 0..40 {
        let g = [1, 1, 2, 3][rng.below(4)];
        let cg = 1 + rng.below(3);
        let mg = 1 + rng.below(3);
        let depthwise = rng.below(4) == 0;
        let (g, cg, mg) = if depthwise { (2 + rng.below(3), 1, 1) } else { (g, cg, mg) };
        let k = 1 + rng.below(4);
        let pad = rng.below(k.min(3));
        let stride = 1 + rng.below(3);
        let h = (k.saturating_sub(2 * pad)).max(1) + rng.below(5);
        let w = (k.saturating_sub(2 * pad)).max(1) + rng.below(5);
        let c = Case { x: [1 + rng.below(3), g * cg, h, w], w: [g * mg, cg, k, k], geo: geo(stride, pad, g) };
        let xv = randn(&mut rng, c.x.iter().product());
        let wv = randn(&mut rng, c.w.iter().product());
        let x = Tensor::<4>::from_data(TensorData::new(xv.clone(), c.x), &device).require_grad();
        let wt = Tensor::<4>::from_data(TensorData::new(wv.clone(), c.w), &device).require_grad();
        let y = adder_conv2d(x.clone(), wt.clone(), c.geo).unwrap();
        let gyv = randn(&mut rng, y.shape().num_elements());
        let grads = y.clone().mul(Tensor::from_data(TensorData::new(gyv.clone(), y.dims()), &device)).sum().backward();
        let (ny, ndw, ndx) = naive(&xv, &wv, &gyv, &c);
        let name = format!("random case {case} x {:?} w {:?} {:?}", c.x, c.w, c.geo);
        assert_close(&format!("{name} y"), &read(y), &ny, TOL);
        assert_close(&format!("{name} dW"), &read(wt.grad(&grads).unwrap()), &ndw, TOL);
        assert_close(&format!("{name} dX"), &read(x.grad(&grads).unwrap()), &ndx, TOL);
    }
}

#[test]
fn adder_conv_eval_device_gives_the_same_values() {
    let mut rng = Rng::new(3);
    let c = Case { x: [2, 3, 6, 6], w: [4, 3, 3, 3], geo: geo(2, 1, 1) };
    let xv = randn(&mut rng, c.x.iter().product());
    let wv = randn(&mut rng, c.w.iter().product());
    let (ny, _, _) = naive(&xv, &wv, &vec![0.0; 2 * 4 * 3 * 3], &c);
    let device = Device::flex();
    let y = adder_conv2d(
        Tensor::from_data(TensorData::new(xv, c.x), &device),
        Tensor::from_data(TensorData::new(wv, c.w), &device),
        c.geo,
    )
    .unwrap();
    assert_close("eval y", &read(y), &ny, TOL);
}

#[test]
fn method_appendix_b_hand_cases() {
    let device = Device::flex().autodiff();
    // X = [[1,2],[3,4]], W = ones, no padding: Y = -(0+1+2+3) = -6.
    let x = Tensor::<4>::from_data(TensorData::new(vec![1.0f32, 2.0, 3.0, 4.0], [1, 1, 2, 2]), &device).require_grad();
    let w = Tensor::<4>::from_data(TensorData::new(vec![1.0f32; 4], [1, 1, 2, 2]), &device).require_grad();
    let y = adder_conv2d(x.clone(), w.clone(), geo(1, 0, 1)).unwrap();
    assert_eq!(read(y.clone()), vec![-6.0]);
    // G = 1: dW = X - W, dX = clamp(W - X, -1, 1).
    let grads = y.sum().backward();
    assert_eq!(read(w.grad(&grads).unwrap()), vec![0.0, 1.0, 2.0, 3.0]);
    assert_eq!(read(x.grad(&grads).unwrap()), vec![0.0, -1.0, -1.0, -1.0]);
    // Adaptive scaling: ‖g‖₂ becomes η·√numel exactly (up to f32 rounding).
    let g = Tensor::<4>::from_data(TensorData::new(vec![0.0f32, 1.0, 2.0, 3.0], [1, 1, 2, 2]), &Device::flex());
    let s = read(adaptive_grad_scale(g, 0.2));
    let norm = s.iter().map(|v| v * v).sum::<f32>().sqrt();
    assert!((norm - 0.2 * 2.0).abs() < 1e-6, "norm {norm}");
    assert!((s[1] / s[2] - 0.5).abs() < 1e-6, "direction is kept");
}

#[test]
fn adder_linear_matches_definition() {
    let device = Device::flex();
    let x = Tensor::<2>::from_floats([[1.0, -1.0, 0.5], [0.0, 2.0, 1.0]], &device);
    let w = Tensor::<2>::from_floats([[1.0, 1.0, 1.0], [0.0, 0.0, 0.0]], &device);
    let y = read(adder_linear(x, w).unwrap());
    assert_close("linear", &y, &[-2.5, -2.5, -2.0, -3.0], 1e-6);
}

#[test]
fn bad_geometry_is_a_typed_error() {
    let device = Device::flex();
    let x = Tensor::<4>::zeros([1, 3, 4, 4], &device);
    let e = adder_conv2d(x.clone(), Tensor::zeros([4, 2, 3, 3], &device), geo(1, 1, 1)).unwrap_err();
    assert!(e.to_string().contains("3 channels"), "{e}");
    let e = adder_conv2d(x.clone(), Tensor::zeros([4, 3, 7, 7], &device), geo(1, 1, 1)).unwrap_err();
    assert!(e.to_string().contains("does not fit"), "{e}");
    let e = adder_conv2d(x, Tensor::zeros([4, 1, 3, 3], &device), geo(1, 1, 2)).unwrap_err();
    assert!(e.to_string().contains("groups = 2"), "{e}");
}
