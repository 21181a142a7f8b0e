//! Conformance of the fast convolution paths (`ops::conv`): `conv2d` on a device against burn's
//! `conv2d` on the CPU, on a table of depthwise and pointwise shapes (one image, one pixel, odd
//! and non-square sizes, strides 1–3, paddings 0 to k/2, kernels 1–7, wide channels) plus
//! seeded random geometries: the output and the gradients of input and weight for a random
//! upstream gradient. Each case also asserts the path taken, so that a fast path that stopped
//! being taken fails instead of comparing burn with itself. The depthwise forward kernel is also
//! run on every instruction set of the build against the same reference, and so is the
//! scatter form of its input gradient (the path of strides > 1) at every stride.

use burn::tensor::module::conv2d as burn_conv2d;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Device, Tensor, TensorData};
use shiftaddaug::data::Rng;
use shiftaddaug::engine::cpu_device;
use shiftaddaug::ops::Conv2dGeometry;
use shiftaddaug::ops::conv::cpu::{DwDims, backward_input as dw_backward_input, forward as dw_forward};
use shiftaddaug::ops::conv::{ConvPath, conv_path, conv2d};
use shiftaddaug::ops::fused::cpu::CpuIsa;

/// `|got − want| ≤ TOL · (1 + max |want|)` per tensor: f32 sums of up to a few thousand terms
/// in another order than burn's im2col GEMM.
pub const TOL: f32 = 1e-4;

fn uniform(rng: &mut Rng, n: usize) -> Vec<f32> {
    (0..n).map(|_| (rng.next_u64() >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0).collect()
}

async fn read(t: Tensor<4>) -> Vec<f32> {
    t.into_data_async().await.unwrap().try_into_vec_as::<f32>().unwrap()
}

fn geo(stride: [usize; 2], padding: [usize; 2], groups: usize) -> Conv2dGeometry {
    Conv2dGeometry { stride, padding, groups }
}

/// `(x dims, w dims, geometry)`.
type Problem = ([usize; 4], [usize; 4], Conv2dGeometry);

fn table() -> Vec<Problem> {
    vec![
        ([2, 3, 5, 5], [3, 1, 3, 3], geo([1, 1], [1, 1], 3)),
        ([1, 8, 8, 8], [8, 1, 3, 3], geo([2, 2], [1, 1], 8)),
        ([3, 4, 7, 9], [4, 1, 5, 5], geo([1, 1], [2, 2], 4)),
        ([2, 5, 9, 7], [5, 1, 7, 7], geo([2, 2], [3, 3], 5)),
        ([1, 2, 6, 5], [2, 1, 3, 3], geo([1, 1], [0, 0], 2)),
        ([2, 3, 1, 1], [3, 1, 3, 3], geo([1, 1], [1, 1], 3)),
        ([2, 3, 7, 6], [3, 1, 3, 3], geo([3, 2], [1, 0], 3)),
        ([1, 4, 5, 8], [4, 1, 3, 1], geo([1, 2], [1, 0], 4)),
        ([16, 48, 16, 16], [48, 1, 3, 3], geo([1, 1], [1, 1], 48)),
        ([16, 96, 8, 8], [96, 1, 3, 3], geo([2, 2], [1, 1], 96)),
        ([2, 3, 5, 5], [4, 3, 1, 1], geo([1, 1], [0, 0], 1)),
        ([1, 1, 1, 1], [1, 1, 1, 1], geo([1, 1], [0, 0], 1)),
        ([5, 7, 3, 9], [2, 7, 1, 1], geo([1, 1], [0, 0], 1)),
        ([16, 32, 16, 16], [96, 32, 1, 1], geo([1, 1], [0, 0], 1)),
        ([16, 96, 8, 8], [24, 96, 1, 1], geo([1, 1], [0, 0], 1)),
        // Under 16 pixels per image: one product over the batch.
        ([8, 24, 2, 2], [48, 24, 1, 1], geo([1, 1], [0, 0], 1)),
        ([16, 112, 1, 1], [64, 112, 1, 1], geo([1, 1], [0, 0], 1)),
        ([3, 5, 3, 5], [7, 5, 1, 1], geo([1, 1], [0, 0], 1)),
    ]
}

fn random(count: usize, rng: &mut Rng) -> Vec<Problem> {
    (0..count)
        .map(|_| {
            let n = 1 + rng.below(4);
            if rng.below(2) == 0 {
                let (c, k) = (1 + rng.below(9), [1, 3, 5, 7][rng.below(4)]);
                let pad = rng.below(k / 2 + 1);
                let s = 1 + rng.below(3);
                let (h, w) = ((k - 2 * pad).max(1) + rng.below(8), (k - 2 * pad).max(1) + rng.below(8));
                ([n, c, h, w], [c, 1, k, k], geo([s, s], [pad, pad], c))
            } else {
                let (c, m) = (1 + rng.below(12), 1 + rng.below(12));
                ([n, c, 1 + rng.below(9), 1 + rng.below(9)], [m, c, 1, 1], geo([1, 1], [0, 0], 1))
            }
        })
        .collect()
}

/// `[y, dx, dw]` of `f` on `device` for inputs `v = [x, w, dy]`.
async fn run(device: &Device, p: Problem, v: &[Vec<f32>; 3], f: impl Fn(Tensor<4>, Tensor<4>) -> Tensor<4>) -> [Vec<f32>; 3] {
    let x = Tensor::<4>::from_data(TensorData::new(v[0].clone(), p.0), device).require_grad();
    let w = Tensor::<4>::from_data(TensorData::new(v[1].clone(), p.1), device).require_grad();
    let y = f(x.clone(), w.clone());
    let gy = Tensor::<4>::from_data(TensorData::new(v[2].clone(), y.dims()), device);
    let grads = y.clone().mul(gy).sum().backward();
    let (dx, dw) = (x.grad(&grads).unwrap(), w.grad(&grads).unwrap());
    [read(y).await, read(dx).await, read(dw).await]
}

/// Runs the table and 40 random problems on `device` (an autodiff device) and returns what
/// failed. `fast` says whether the device should take the fast paths (Flex) or burn's
/// (WebGPU).
pub async fn check(device: &Device, name: &str, fast: bool) -> Vec<String> {
    let mut rng = Rng::new(23);
    let mut problems = table();
    problems.extend(random(40, &mut rng));
    let reference = cpu_device().autodiff();
    let mut failures = Vec::new();
    for p in problems {
        let (xd, wd, g) = p;
        let probe = (Tensor::<4>::zeros(xd, device), Tensor::<4>::zeros(wd, device));
        let path = conv_path(&probe.0, &probe.1, g);
        // One channel with one group is a depthwise convolution too.
        let depthwise = g.groups == xd[1] && wd[0] == xd[1] && wd[1] == 1;
        let want_path = match (fast, depthwise) {
            (false, _) => ConvPath::Burn,
            (true, true) => ConvPath::Depthwise,
            (true, false) => ConvPath::Pointwise,
        };
        if path != want_path {
            failures.push(format!("{name} {p:?}: path {path:?}, want {want_path:?}"));
            continue;
        }
        let ho = (xd[2] + 2 * g.padding[0] - wd[2]) / g.stride[0] + 1;
        let wo = (xd[3] + 2 * g.padding[1] - wd[3]) / g.stride[1] + 1;
        let v =
            [uniform(&mut rng, xd.iter().product()), uniform(&mut rng, wd.iter().product()), uniform(&mut rng, xd[0] * wd[0] * ho * wo)];
        let got = run(device, p, &v, |x, w| conv2d(x, w, g)).await;
        let want = run(&reference, p, &v, |x, w| burn_conv2d(x, w, None, ConvOptions::new(g.stride, g.padding, [1, 1], g.groups))).await;
        let mut results: Vec<(String, &[f32], &[f32])> =
            ["y", "dx", "dw"].iter().zip(got.iter().zip(&want)).map(|(w, (a, b))| (w.to_string(), &a[..], &b[..])).collect();
        let per_isa: Vec<(String, Vec<f32>, usize)> = if fast && depthwise {
            let d = DwDims::new(xd[0], xd[1], [xd[2], xd[3]], [wd[2], wd[3]], g.stride, g.padding).expect("valid geometry");
            CpuIsa::available()
                .into_iter()
                .flat_map(|isa| {
                    [
                        (format!("y on {}", isa.name()), dw_forward(isa, d, &v[0], &v[1]), 0),
                        (format!("dx (scatter) on {}", isa.name()), dw_backward_input(isa, d, &v[1], &v[2]), 1),
                    ]
                })
                .collect()
        } else {
            Vec::new()
        };
        results.extend(per_isa.iter().map(|(w, y, i)| (w.clone(), &y[..], &want[*i][..])));
        for (what, a, b) in results {
            let scale = 1.0 + b.iter().fold(0f32, |m, v| m.max(v.abs()));
            let worst = a.iter().zip(b).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
            if a.len() != b.len() || worst > TOL * scale {
                failures.push(format!("{name} {p:?} {what}: max error {worst} > {} ({} vs {} values)", TOL * scale, a.len(), b.len()));
            }
        }
    }
    failures
}
