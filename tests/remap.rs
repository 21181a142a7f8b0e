//! The weight remaps R0–R4 (METHOD.md §4.4): transport statistics (moments, monotone, Laplace
//! kurtosis), identity at init, R1's gradient against finite differences, the FC's row-mean gradient.

use burn::tensor::{Device, Tensor, TensorData};
use shiftaddaug::aug::remap::{FcGrad, Remap, RemapKind, cdf_transport, rank_transport};

mod util;
use util::{gaussian, read};

/// (mean, std, excess kurtosis).
fn stats(v: &[f32]) -> (f64, f64, f64) {
    let n = v.len() as f64;
    let m = v.iter().map(|&x| x as f64).sum::<f64>() / n;
    let var = v.iter().map(|&x| (x as f64 - m).powi(2)).sum::<f64>() / n;
    let k4 = v.iter().map(|&x| (x as f64 - m).powi(4)).sum::<f64>() / n;
    (m, var.sqrt(), k4 / (var * var) - 3.0)
}

fn weights(seed: u64, shape: [usize; 4], scale: f32, shift: f32) -> Tensor<4> {
    let n = shape.iter().product();
    let v: Vec<f32> = gaussian(n, seed).iter().map(|x| x * scale + shift).collect();
    Tensor::from_data(TensorData::new(v, shape), &Device::flex())
}

#[test]
fn remap_transports_keep_moments_and_ranks_and_become_laplacian() {
    // METHOD.md Appendix B: monotone, mean and std kept, excess kurtosis ≈ 3 (Laplace) vs ≈ 0.
    let w = weights(1, [64, 32, 3, 3], 0.05, 0.01);
    let wv = read(w.clone());
    let (m0, s0, k0) = stats(&wv);
    assert!(k0.abs() < 0.15, "Gaussian input: excess kurtosis {k0}");
    for (name, v) in [("R1 cdf", read(cdf_transport(w.clone()))), ("R2 rank", read(rank_transport(w.clone())))] {
        let (m, s, k) = stats(&v);
        assert!((m - m0).abs() < 0.02 * s0, "{name}: mean {m} vs {m0}");
        assert!((s / s0 - 1.0).abs() < 0.03, "{name}: std {s} vs {s0}");
        assert!((k - 3.0).abs() < 0.4, "{name}: excess kurtosis {k}, want ≈ 3");
        let mut idx: Vec<usize> = (0..wv.len()).collect();
        idx.sort_by(|&a, &b| wv[a].total_cmp(&wv[b]));
        assert!(idx.windows(2).all(|p| v[p[0]] <= v[p[1]]), "{name} is monotone");
    }
}

#[test]
fn every_remap_is_identity_or_transport_at_init() {
    let device = Device::flex();
    let w = weights(2, [8, 4, 3, 3], 0.1, 0.0);
    let wv = read(w.clone());
    let r0 = Remap::new(RemapKind::R0, 3, 288, 0, &device);
    assert_eq!(read(r0.apply(w.clone())), wv);
    let r3 = Remap::new(RemapKind::R3, 3, 288, 0, &device);
    assert_eq!(read(r3.apply(w.clone())), wv, "R3 = identity FC at init");
    let r4 = Remap::new(RemapKind::R4, 3, 288, 0, &device);
    assert_eq!(read(r4.apply(w.clone())), wv, "R4 = unit bin scales at init");
    let kl = read(r4.kl_penalty(r4.apply(w.clone())).unwrap())[0];
    assert!(kl.is_finite() && kl >= 0.0, "KL {kl}");
    let r1 = Remap::new(RemapKind::R1, 3, 288, 0, &device);
    assert_eq!(read(r1.apply(w.clone())), read(cdf_transport(w)), "R1 = transport then identity FC");
    assert!(r1.kl_penalty(weights(3, [8, 4, 3, 3], 0.1, 0.0)).is_none());
}

/// R1's gradient against central finite differences (μ, σ are detached, so the reference
/// function holds them fixed too); finite for |z| up to 6.
#[test]
fn remap_r1_gradient_matches_finite_differences() {
    let device = Device::flex().autodiff();
    let shape = [6, 4, 3, 3];
    let n: usize = shape.iter().product();
    let mut v = gaussian(n, 5);
    v[0] = 6.0; // |z| ≈ 6: clamp region edge
    let r = Remap::new(RemapKind::R1, 3, n, 0, &device);
    let w = Tensor::<4>::from_data(TensorData::new(v.clone(), shape), &device).require_grad();
    let coef = gaussian(n, 6);
    let c = Tensor::<4>::from_data(TensorData::new(coef.clone(), shape), &device);
    let grads = r.apply(w.clone()).mul(c).sum().backward();
    let g = read(w.grad(&grads).unwrap());
    assert!(g.iter().all(|x| x.is_finite()));
    // Reference in f64 with the same (frozen) moments.
    let m = v.iter().map(|&x| x as f64).sum::<f64>() / n as f64;
    let s = (v.iter().map(|&x| (x as f64 - m).powi(2)).sum::<f64>() / n as f64).sqrt() + 1e-8;
    let f = |x: f64| {
        let u = (0.5 * (1.0 + erf((x - m) / s / std::f64::consts::SQRT_2))).clamp(1e-6, 1.0 - 1e-6);
        let d = u - 0.5;
        m + s / std::f64::consts::SQRT_2 * (-d.signum() * (1.0 - 2.0 * d.abs()).ln())
    };
    for i in 0..n {
        let x = v[i] as f64;
        let h = 1e-4 * s;
        let fd = (f(x + h) - f(x - h)) / (2.0 * h) * coef[i] as f64;
        assert!((fd - g[i] as f64).abs() < 2e-2 * (1.0 + fd.abs()), "dR/dw[{i}] fd {fd} autodiff {}", g[i]);
    }
}

/// The remap FC's gradient is the mean over the rows it transforms (the bias: over all
/// entries), so its size does not grow with the layer: `dA = Tᵀ·C / rows`, `db = ΣC / numel`.
#[test]
fn remap_fc_gradient_is_the_row_mean() {
    let device = Device::flex().autodiff();
    let shape = [6, 4, 3, 3];
    let (rows, kk) = (24usize, 9usize);
    let n: usize = shape.iter().product();
    let v = gaussian(n, 7);
    let r = Remap::new(RemapKind::R3, 3, n, 0, &device);
    let w = Tensor::<4>::from_data(TensorData::new(v.clone(), shape), &device);
    let coef = gaussian(n, 8);
    let c = Tensor::<4>::from_data(TensorData::new(coef.clone(), shape), &device);
    let y = r.apply(w.clone());
    assert_eq!(read(y.clone()), v, "identity FC at init, bit for bit");
    let grads = y.mul(c.clone()).sum().backward();
    let ga = read(r.fc.as_ref().unwrap().grad(&grads).unwrap());
    let gb = read(r.bias.as_ref().unwrap().grad(&grads).unwrap());
    for p in 0..kk {
        for q in 0..kk {
            let want: f64 = (0..rows).map(|row| v[row * kk + p] as f64 * coef[row * kk + q] as f64).sum::<f64>() / rows as f64;
            assert!((ga[p * kk + q] as f64 - want).abs() < 1e-5 * (1.0 + want.abs()), "dA[{p},{q}] {} vs {want}", ga[p * kk + q]);
        }
    }
    let want_b = coef.iter().map(|&x| x as f64).sum::<f64>() / n as f64;
    assert!((gb[0] as f64 - want_b).abs() < 1e-5, "db {} vs {want_b}", gb[0]);
    // `FcGrad::Sum`: the plain gradient, `rows` times larger, same forward.
    let sum = Remap { fc_grad: FcGrad::Sum, ..r.clone() };
    let y = sum.apply(w);
    assert_eq!(read(y.clone()), v);
    let grads = y.mul(c).sum().backward();
    let ga_sum = read(sum.fc.as_ref().unwrap().grad(&grads).unwrap());
    for (s, m) in ga_sum.iter().zip(&ga) {
        assert!((s - m * rows as f32).abs() < 1e-4 * (1.0 + s.abs()), "sum {s} vs mean·rows {}", m * rows as f32);
    }
}

/// erf by Abramowitz–Stegun 7.1.26 refined with one Newton-free series term is too coarse;
/// use the high-precision continued form via erfc of a rational approximation (|ε| < 1.2e-7).
fn erf(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let r = t
        * (-z * z - 1.26551223
            + t * (1.00002368
                + t * (0.37409196
                    + t * (0.09678418
                        + t * (-0.18628806
                            + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))))
            .exp();
    if x >= 0.0 { 1.0 - r } else { r - 1.0 }
}
