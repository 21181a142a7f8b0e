//! Conformance of the fused BatchNorm + activation (`ops::bn_act`): `bn_act_train` on a device
//! against burn's `batch_norm_train` and the activation on the CPU, on a table of shapes (one
//! image, one pixel, odd sizes, wide channels) for every activation: output, batch mean and
//! variance, and the gradients of input, gamma and beta for a random upstream gradient.

use burn::tensor::module::batch_norm_train;
use burn::tensor::{Device, Tensor, TensorData};
use shiftaddaug::data::Rng;
use shiftaddaug::engine::cpu_device;
use shiftaddaug::ops::bn_act::{BnAct, bn_act_train};

/// `|got − want| ≤ TOL · (1 + max |want|)` per tensor: f32 reductions over up to a few
/// thousand values in another order than burn's.
pub const TOL: f32 = 2e-4;

const SHAPES: [[usize; 4]; 7] = [[2, 3, 4, 4], [1, 5, 3, 3], [8, 2, 1, 1], [4, 8, 7, 7], [3, 16, 2, 5], [64, 4, 8, 8], [2, 48, 16, 16]];

fn uniform(rng: &mut Rng, n: usize, lo: f32, hi: f32) -> Vec<f32> {
    (0..n).map(|_| lo + (rng.next_u64() >> 40) as f32 / (1u64 << 24) as f32 * (hi - lo)).collect()
}

async fn read<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data_async().await.unwrap().try_into_vec_as::<f32>().unwrap()
}

/// `[y, mean, var, dx, dgamma, dbeta]` of `f` on `device`.
async fn run(
    device: &Device,
    s: [usize; 4],
    v: &[Vec<f32>; 4],
    f: impl Fn(Tensor<4>, Tensor<1>, Tensor<1>) -> (Tensor<4>, Tensor<1>, Tensor<1>),
) -> [Vec<f32>; 6] {
    let c = s[1];
    let x = Tensor::<4>::from_data(TensorData::new(v[0].clone(), s), device).require_grad();
    let g = Tensor::<1>::from_data(TensorData::new(v[1].clone(), [c]), device).require_grad();
    let b = Tensor::<1>::from_data(TensorData::new(v[2].clone(), [c]), device).require_grad();
    let gy = Tensor::<4>::from_data(TensorData::new(v[3].clone(), s), device);
    let (y, mean, var) = f(x.clone(), g.clone(), b.clone());
    let grads = y.clone().mul(gy).sum().backward();
    let (dx, dg, db) = (x.grad(&grads).unwrap(), g.grad(&grads).unwrap(), b.grad(&grads).unwrap());
    [read(y).await, read(mean).await, read(var).await, read(dx).await, read(dg).await, read(db).await]
}

/// Runs the table on `device` (an autodiff device) and returns what failed.
pub async fn check(device: &Device, name: &str) -> Vec<String> {
    let mut rng = Rng::new(17);
    let mut failures = Vec::new();
    let reference = cpu_device().autodiff();
    for s in SHAPES {
        for act in [BnAct::None, BnAct::Relu, BnAct::Relu6] {
            let n: usize = s.iter().product();
            // gamma·x̂ + beta spans both sides of 0 and of 6.
            let v = [
                uniform(&mut rng, n, -3.0, 5.0),
                uniform(&mut rng, s[1], 0.5, 3.0),
                uniform(&mut rng, s[1], -2.0, 5.0),
                uniform(&mut rng, n, -1.0, 1.0),
            ];
            let got = run(device, s, &v, |x, g, b| {
                let r = bn_act_train(x, g, b, 1e-5, act);
                (r.output, r.mean, r.variance)
            })
            .await;
            let want = run(&reference, s, &v, |x, g, b| {
                let r = batch_norm_train(x, g, b, 1e-5);
                (act.apply(r.output), r.mean, r.variance)
            })
            .await;
            for (what, (g, w)) in ["y", "mean", "variance", "dx", "dgamma", "dbeta"].iter().zip(got.iter().zip(&want)) {
                let scale = 1.0 + w.iter().fold(0f32, |m, v| m.max(v.abs()));
                let worst = g.iter().zip(w).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
                if g.len() != w.len() || worst > TOL * scale {
                    failures.push(format!(
                        "{name} {s:?} {act:?} {what}: max error {worst} > {} ({} vs {} values)",
                        TOL * scale,
                        g.len(),
                        w.len()
                    ));
                }
            }
        }
    }
    failures
}
