//! The adder-convolution conformance suite (tests/conformance) on every native implementation:
//! the tensor-op reference, the fused tensor op (burn extension + custom backward), and the raw
//! CPU kernels for each instruction set; plus METHOD.md Appendix B, finite differences, a
//! proptest over random shapes and values, and bad input.

mod conformance;
mod util;

use burn::tensor::{Device, Tensor, TensorData};
use conformance::{Case, assert_close, check, geo};
use proptest::prelude::*;
use shiftaddaug::ops::fused::cpu::{self, AdderShape, CpuIsa};
use shiftaddaug::ops::fused::{adder_conv2d_fused, fused_supported};
use shiftaddaug::ops::{Conv2dGeometry, adaptive_grad_scale, adder_conv2d, adder_conv2d_reference, adder_linear};
use util::read;

type ConvFn = fn(Tensor<4>, Tensor<4>, Conv2dGeometry) -> shiftaddaug::Result<Tensor<4>>;
const TENSOR_IMPLS: [(&str, ConvFn); 2] = [("reference", adder_conv2d_reference), ("fused", adder_conv2d_fused)];

/// `(y, dW, dX)` of a tensor implementation on an autodiff device.
fn run_tensor(f: ConvFn, c: &Case, device: &Device) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let x = Tensor::<4>::from_data(TensorData::new(c.xv.clone(), c.x), device).require_grad();
    let w = Tensor::<4>::from_data(TensorData::new(c.wv.clone(), c.w), device).require_grad();
    let y = f(x.clone(), w.clone(), c.geo).unwrap();
    let gy = Tensor::<4>::from_data(TensorData::new(c.gy.clone(), c.y_dims), device);
    let grads = y.clone().mul(gy).sum().backward();
    (read(y), read(w.grad(&grads).unwrap()), read(x.grad(&grads).unwrap()))
}

#[test]
fn tensor_implementations_conform() {
    let device = Device::flex().autodiff();
    assert!(fused_supported(&device) && fused_supported(&Device::flex()));
    for (name, f) in TENSOR_IMPLS {
        for c in conformance::all() {
            let (y, dw, dx) = run_tensor(f, &c, &device);
            check(name, &c, &y, &dw, &dx);
        }
    }
}

#[test]
fn cpu_kernels_conform_on_every_instruction_set() {
    let isas = CpuIsa::available();
    assert!(isas.len() >= 2 || !cfg!(target_arch = "x86_64"), "x86-64 runs scalar and sse2");
    for isa in isas {
        for c in conformance::all() {
            let s = AdderShape::new(c.x, c.w, c.geo).unwrap();
            let y = cpu::forward(isa, &s, &c.xv, &c.wv);
            let (dx, dw) = cpu::backward(isa, &s, &c.xv, &c.wv, &c.gy);
            check(isa.name(), &c, &y, &dw, &dx);
        }
    }
}

/// Every instruction set performs the same IEEE operations in the same order.
#[test]
fn instruction_sets_are_bit_identical() {
    for c in conformance::all() {
        let s = AdderShape::new(c.x, c.w, c.geo).unwrap();
        let want_y = cpu::forward(CpuIsa::Scalar, &s, &c.xv, &c.wv);
        let want_g = cpu::backward(CpuIsa::Scalar, &s, &c.xv, &c.wv, &c.gy);
        for isa in CpuIsa::available() {
            assert_eq!(cpu::forward(isa, &s, &c.xv, &c.wv), want_y, "{} {}", isa.name(), c.name);
            assert_eq!(cpu::backward(isa, &s, &c.xv, &c.wv, &c.gy), want_g, "{} {}", isa.name(), c.name);
        }
    }
}

#[test]
fn eval_device_gives_the_same_values() {
    let device = Device::flex();
    for (name, f) in TENSOR_IMPLS {
        for c in conformance::table() {
            let x = Tensor::from_data(TensorData::new(c.xv.clone(), c.x), &device);
            let w = Tensor::from_data(TensorData::new(c.wv.clone(), c.w), &device);
            check(name, &c, &read(f(x, w, c.geo).unwrap()), &[], &[]);
        }
    }
}

#[test]
fn method_appendix_b_hand_cases() {
    let device = Device::flex().autodiff();
    for (name, f) in TENSOR_IMPLS {
        // X = [[1,2],[3,4]], W = ones, no padding: Y = -(0+1+2+3) = -6.
        let x = Tensor::<4>::from_data(TensorData::new(vec![1.0f32, 2.0, 3.0, 4.0], [1, 1, 2, 2]), &device).require_grad();
        let w = Tensor::<4>::from_data(TensorData::new(vec![1.0f32; 4], [1, 1, 2, 2]), &device).require_grad();
        let y = f(x.clone(), w.clone(), geo(1, 0, 1)).unwrap();
        assert_eq!(read(y.clone()), vec![-6.0], "{name}");
        // G = 1: dW = X - W, dX = clamp(W - X, -1, 1).
        let grads = y.sum().backward();
        assert_eq!(read(w.grad(&grads).unwrap()), vec![0.0, 1.0, 2.0, 3.0], "{name}");
        assert_eq!(read(x.grad(&grads).unwrap()), vec![0.0, -1.0, -1.0, -1.0], "{name}");
    }
    // Adaptive scaling: ‖g‖₂ becomes η·√numel exactly (up to f32 rounding).
    let g = Tensor::<4>::from_data(TensorData::new(vec![0.0f32, 1.0, 2.0, 3.0], [1, 1, 2, 2]), &Device::flex());
    let s = read(adaptive_grad_scale(g, 0.2));
    let norm = s.iter().map(|v| v * v).sum::<f32>().sqrt();
    assert!((norm - 0.2 * 2.0).abs() < 1e-6, "norm {norm}");
    assert!((s[1] / s[2] - 0.5).abs() < 1e-6, "direction is kept");
}

/// Finite differences (f64 central, step 1e-3). AdderNet gradients are surrogates, so each is
/// checked against the function it is the exact gradient of:
/// - dX is the true derivative of `Σ G·y` wherever every real input is more than 1 away from
///   every weight (HardTanh saturates to the sign there): x ∈ [2, 3], w ∈ [-0.9, 0.9];
/// - dW is the true derivative of `Σ G·(-½ Σ (patch(x) - w)²)` (the L2 distance the full-
///   precision gradient comes from), padding zeros included.
#[test]
fn gradients_match_finite_differences() {
    let mut rng = shiftaddaug::data::Rng::new(7);
    for (xd, wd, g) in
        [([2, 4, 5, 5], [6, 2, 3, 3], geo(2, 1, 2)), ([1, 3, 4, 4], [3, 1, 3, 3], geo(1, 1, 3)), ([2, 5, 3, 3], [4, 5, 1, 1], geo(1, 0, 1))]
    {
        let xv: Vec<f32> = conformance::uniform(&mut rng, xd.iter().product()).iter().map(|v| 2.5 + v / 4.0).collect();
        let wv: Vec<f32> = conformance::uniform(&mut rng, wd.iter().product()).iter().map(|v| 0.45 * v).collect();
        let s = AdderShape::new(xd, wd, g).unwrap();
        let gy = conformance::uniform(&mut rng, s.y_len());
        let (dx, dw) = cpu::backward(CpuIsa::best(), &s, &xv, &wv, &gy);
        let loss_y = |x: &[f64], w: &[f64]| -> f64 {
            let (x32, w32): (Vec<f32>, Vec<f32>) = (x.iter().map(|&v| v as f32).collect(), w.iter().map(|&v| v as f32).collect());
            // f64 forward from the naive loops on f32 inputs perturbed by exactly representable steps.
            let (y, _, _) = conformance::naive(&x32, &w32, &gy, xd, wd, g);
            y.iter().zip(&gy).map(|(a, b)| *a as f64 * *b as f64).sum()
        };
        let loss_l2 = |w: &[f64]| -> f64 { l2_loss(&xv, w, &gy, xd, wd, g) };
        let h = 1.0 / 1024.0; // exact in f32 near these magnitudes
        let (x64, w64): (Vec<f64>, Vec<f64>) = (xv.iter().map(|&v| v as f64).collect(), wv.iter().map(|&v| v as f64).collect());
        for i in 0..xv.len() {
            let (mut p, mut m) = (x64.clone(), x64.clone());
            p[i] += h;
            m[i] -= h;
            let fd = (loss_y(&p, &w64) - loss_y(&m, &w64)) / (2.0 * h);
            assert!((fd - dx[i] as f64).abs() < 2e-3 * (1.0 + fd.abs()), "dX[{i}] fd {fd} kernel {}", dx[i]);
        }
        for i in 0..wv.len() {
            let (mut p, mut m) = (w64.clone(), w64.clone());
            p[i] += h;
            m[i] -= h;
            let fd = (loss_l2(&p) - loss_l2(&m)) / (2.0 * h);
            assert!((fd - dw[i] as f64).abs() < 1e-3 * (1.0 + fd.abs()), "dW[{i}] fd {fd} kernel {}", dw[i]);
        }
    }
}

/// `Σ_{n,m,l} G · (-½ Σ_e (patch(x)[e, l] - w[m, e])²)` in f64.
fn l2_loss(x: &[f32], w: &[f64], gy: &[f32], xd: [usize; 4], wd: [usize; 4], g: Conv2dGeometry) -> f64 {
    let [n, ci, h, wdt] = xd;
    let [m, cg, kh, kw] = wd;
    let s = AdderShape::new(xd, wd, g).unwrap();
    let mg = m / g.groups;
    let mut total = 0.0;
    for b in 0..n {
        for o in 0..m {
            for oy in 0..s.ho {
                for ox in 0..s.wo {
                    let mut acc = 0.0f64;
                    for cc in 0..cg {
                        let cin = (o / mg) * cg + cc;
                        for ky in 0..kh {
                            for kx in 0..kw {
                                let iy = (oy * g.stride[0] + ky) as isize - g.padding[0] as isize;
                                let ix = (ox * g.stride[1] + kx) as isize - g.padding[1] as isize;
                                let inside = iy >= 0 && ix >= 0 && (iy as usize) < h && (ix as usize) < wdt;
                                let xv = if inside { x[((b * ci + cin) * h + iy as usize) * wdt + ix as usize] as f64 } else { 0.0 };
                                let d = xv - w[((o * cg + cc) * kh + ky) * kw + kx];
                                acc += d * d;
                            }
                        }
                    }
                    total += gy[((b * m + o) * s.ho + oy) * s.wo + ox] as f64 * -0.5 * acc;
                }
            }
        }
    }
    total
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    /// Random shapes and values: the fastest CPU kernel against the naive loops.
    #[test]
    fn fused_cpu_kernel_matches_naive_on_random_shapes(
        n in 1usize..3, groups in 1usize..4, cg in 1usize..5, mg in 1usize..7, k in 1usize..5,
        stride in 1usize..4, pad in 0usize..3, extra_h in 0usize..6, extra_w in 0usize..6, seed in any::<u64>(),
    ) {
        let pad = pad.min(k - 1);
        let h = k.saturating_sub(2 * pad).max(1) + extra_h;
        let w = k.saturating_sub(2 * pad).max(1) + extra_w;
        let c = conformance::make_case("proptest".into(), [n, groups * cg, h, w], [groups * mg, cg, k, k],
            geo(stride, pad, groups), &mut shiftaddaug::data::Rng::new(seed));
        let s = AdderShape::new(c.x, c.w, c.geo).unwrap();
        let y = cpu::forward(CpuIsa::best(), &s, &c.xv, &c.wv);
        let (dx, dw) = cpu::backward(CpuIsa::best(), &s, &c.xv, &c.wv, &c.gy);
        check("proptest", &c, &y, &dw, &dx);
    }
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
    let device = Device::flex().autodiff();
    for (name, f) in [("dispatch", adder_conv2d as ConvFn), TENSOR_IMPLS[0], TENSOR_IMPLS[1]] {
        let x = Tensor::<4>::zeros([1, 3, 4, 4], &device);
        let e = f(x.clone(), Tensor::zeros([4, 2, 3, 3], &device), geo(1, 1, 1)).unwrap_err();
        assert!(e.to_string().contains("3 channels"), "{name}: {e}");
        let e = f(x.clone(), Tensor::zeros([4, 3, 7, 7], &device), geo(1, 1, 1)).unwrap_err();
        assert!(e.to_string().contains("does not fit"), "{name}: {e}");
        let e = f(x.clone(), Tensor::zeros([4, 1, 3, 3], &device), geo(1, 1, 2)).unwrap_err();
        assert!(e.to_string().contains("groups = 2"), "{name}: {e}");
        let e = f(x, Tensor::zeros([4, 3, 3, 3], &device), geo(0, 1, 1)).unwrap_err();
        assert!(e.to_string().contains("stride"), "{name}: {e}");
    }
}
