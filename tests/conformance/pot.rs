//! Conformance of the fused power-of-two quantisation (`ops::pot`): `pot_quantize` on a device
//! against `pot_quantize_reference` (burn's tensor ops) on the CPU, bit for bit, on random
//! weights of every magnitude and sign plus the hard cases (zeros, exact powers of two, values
//! one ulp either side of the rounding boundaries `2^(k + 1/2)`, values past the clamp range),
//! for every exponent range; and the straight-through gradient (equal to the upstream one).
//! On WebGPU (no fused kernel: the reference's ops in WGSL, whose `log` is not the CPU's) a
//! weight within 1e-5 of a boundary in log2 may round to the neighbouring power of two.

use burn::tensor::{Device, Tensor, TensorData};
use shiftaddaug::data::Rng;
use shiftaddaug::engine::cpu_device;
use shiftaddaug::ops::{pot_quantize, pot_quantize_reference};

fn weights(rng: &mut Rng) -> Vec<f32> {
    let mut v: Vec<f32> = vec![0.0, -0.0, 1.0, -1.0, 0.5, 3.0, -7.5, 1e-30, -1e-30, f32::MIN_POSITIVE];
    for k in -20..3 {
        let b = 2f32.powf(k as f32 + 0.5);
        for w in [b, f32::from_bits(b.to_bits() + 1), f32::from_bits(b.to_bits() - 1), 2f32.powi(k)] {
            v.push(w);
            v.push(-w);
        }
    }
    for _ in 0..2000 {
        let u = (rng.next_u64() >> 40) as f32 / (1u64 << 24) as f32;
        let e = -24.0 + 28.0 * (rng.next_u64() >> 40) as f32 / (1u64 << 24) as f32;
        v.push(if u < 0.5 { -(2f32.powf(e)) } else { 2f32.powf(e) } * (1.0 + u));
    }
    v
}

async fn read(t: Tensor<1>) -> Vec<f32> {
    t.into_data_async().await.unwrap().try_into_vec_as::<f32>().unwrap()
}

/// Whether `got` may stand for `want` off the CPU: `w` on a rounding boundary (within 1e-5 in
/// log2) and `got` the neighbouring power of two.
fn boundary(w: f32, got: f32, want: f32) -> bool {
    let l = w.abs().log2();
    (l - l.floor() - 0.5).abs() < 1e-5 && (got / want == 2.0 || want / got == 2.0)
}

/// Runs the table on `device` (an autodiff device) and returns what failed: bit for bit when
/// `exact`, else up to [`boundary`] cases.
pub async fn check(device: &Device, name: &str, exact: bool) -> Vec<String> {
    let mut rng = Rng::new(31);
    let v = weights(&mut rng);
    let n = v.len();
    let up: Vec<f32> = (0..n).map(|i| (i % 13) as f32 - 6.0).collect();
    let reference = cpu_device().autodiff();
    let mut failures = Vec::new();
    for p_min in [-15, -7, -1, 0] {
        let run = |dev: &Device, fused: bool| {
            let w = Tensor::<1>::from_data(TensorData::new(v.clone(), [n]), dev).require_grad();
            let q = if fused { pot_quantize(w.clone(), p_min) } else { pot_quantize_reference(w.clone(), p_min) };
            let g = Tensor::<1>::from_data(TensorData::new(up.clone(), [n]), dev);
            let grads = q.clone().mul(g).sum().backward();
            (q, w.grad(&grads).unwrap())
        };
        let (q, dw) = run(device, true);
        let (want_q, want_dw) = run(&reference, false);
        let (q, dw, want_q, want_dw) = (read(q).await, read(dw).await, read(want_q).await, read(want_dw).await);
        let bad: Vec<String> = (0..n)
            .filter(|&i| q[i].to_bits() != want_q[i].to_bits() && (exact || !boundary(v[i], q[i], want_q[i])))
            .take(5)
            .map(|i| format!("w = {:e}: {:e} vs {:e}", v[i], q[i], want_q[i]))
            .collect();
        if !bad.is_empty() {
            failures.push(format!("{name} p_min {p_min}: values differ: {}", bad.join("; ")));
        }
        if dw != want_dw {
            failures.push(format!("{name} p_min {p_min}: the gradient is not the upstream gradient"));
        }
    }
    failures
}
