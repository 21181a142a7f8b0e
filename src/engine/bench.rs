//! Operator benchmark shared by `cargo bench --bench ops` and the browser bench page
//! (`www/bench.html`): forward + backward of one convolution layer (gradient of `sum(y)` with
//! respect to input and weight, ending in one async readback), for the layer shapes of
//! MobileNetV2-Tiny on 32×32 inputs with stem stride 1 (METHOD.md Appendix A).

use crate::error::{Error, Result};
use crate::ops::fused::adder_conv2d_fused;
use crate::ops::{Conv2dGeometry, adder_conv2d_reference, pot_quantize};
use burn::tensor::module::conv2d;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Device, Tensor, TensorData};

/// One benchmarked layer: `x: [batch, c, h, w]`, `w: [m, c/groups, k, k]`, padding `k / 2`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct BenchLayer {
    /// Short description, e.g. `pw 8→48 @32`.
    pub name: &'static str,
    /// Input shape.
    pub x: [usize; 4],
    /// Weight shape.
    pub w: [usize; 4],
    /// Stride (both axes).
    pub stride: usize,
}

impl BenchLayer {
    fn geometry(&self) -> Conv2dGeometry {
        let pad = self.w[2] / 2;
        Conv2dGeometry { stride: [self.stride; 2], padding: [pad; 2], groups: self.x[1] / self.w[1] }
    }
}

/// Layer shapes of MobileNetV2-Tiny at 32×32 (stem stride 1) for a batch size.
pub fn mbv2_tiny_layers(batch: usize) -> Vec<BenchLayer> {
    let l = |name, x: [usize; 3], w, stride| BenchLayer { name, x: [batch, x[0], x[1], x[2]], w, stride };
    vec![
        l("stem conv3x3 3→16 @32", [3, 32, 32], [16, 3, 3, 3], 1),
        l("dw3x3 16 @32", [16, 32, 32], [16, 1, 3, 3], 1),
        l("pw 8→48 @32", [8, 32, 32], [48, 8, 1, 1], 1),
        l("dw3x3 48 s2 @32", [48, 32, 32], [48, 1, 3, 3], 2),
        l("pw 48→16 @8", [48, 8, 8], [16, 48, 1, 1], 1),
        l("pw 24→144 @4", [24, 4, 4], [144, 24, 1, 1], 1),
        l("pw 56→336 @2", [56, 2, 2], [336, 56, 1, 1], 1),
        l("head pw 112→448 @1", [112, 1, 1], [448, 112, 1, 1], 1),
    ]
}

/// The operator under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub enum BenchOp {
    /// burn's `conv2d`.
    Mult,
    /// burn's `conv2d` on DeepShift-Q power-of-two weights.
    Shift,
    /// The unfold reference adder convolution.
    AddReference,
    /// The fused adder kernels.
    AddFused,
}

impl BenchOp {
    /// All four, in table order.
    pub const ALL: [BenchOp; 4] = [BenchOp::Mult, BenchOp::Shift, BenchOp::AddReference, BenchOp::AddFused];
}

fn values(n: usize, seed: u64) -> Vec<f32> {
    let mut rng = crate::data::Rng::new(seed);
    (0..n).map(|_| (rng.next_u64() >> 40) as f32 / (1u64 << 24) as f32 - 0.5).collect()
}

/// Inputs of one call, created on `device` (autodiff) outside the timed region.
pub fn inputs(layer: &BenchLayer, device: &Device) -> (Tensor<4>, Tensor<4>) {
    let x = Tensor::<4>::from_data(TensorData::new(values(layer.x.iter().product(), 1), layer.x), device).require_grad();
    let w = Tensor::<4>::from_data(TensorData::new(values(layer.w.iter().product(), 2), layer.w), device).require_grad();
    (x, w)
}

/// One forward + backward, finished by an async readback of `Σ dW`.
///
/// # Errors
/// [`Error::Backend`] when the device has no autodiff or the readback fails; shape errors
/// from the adder ops.
pub async fn run_once(layer: &BenchLayer, op: BenchOp, x: Tensor<4>, w: Tensor<4>) -> Result<f32> {
    let geo = layer.geometry();
    let opts = ConvOptions::new(geo.stride, geo.padding, [1, 1], geo.groups);
    let y = match op {
        BenchOp::Mult => conv2d(x, w.clone(), None, opts),
        BenchOp::Shift => conv2d(x, pot_quantize(w.clone(), -15), None, opts),
        BenchOp::AddReference => adder_conv2d_reference(x, w.clone(), geo)?,
        BenchOp::AddFused => adder_conv2d_fused(x, w.clone(), geo)?,
    };
    let grads = y.sum().backward();
    let gw = w.grad(&grads).ok_or_else(|| Error::Backend("bench needs an autodiff device".into()))?;
    let data = gw.sum().into_data_async().await.map_err(|e| Error::Backend(format!("readback: {e:?}")))?;
    data.try_to_vec::<f32>().map_err(|e| Error::Backend(format!("{e:?}"))).map(|v| v[0])
}

/// Median milliseconds per [`run_once`] over `reps` timed calls after one warm-up; `now`
/// returns a monotonic clock in milliseconds.
///
/// # Errors
/// As [`run_once`].
pub async fn time_op(layer: &BenchLayer, op: BenchOp, device: &Device, reps: usize, now: &dyn Fn() -> f64) -> Result<f64> {
    let mut times = Vec::with_capacity(reps);
    for i in 0..=reps.max(1) {
        let (x, w) = inputs(layer, device);
        let t = now();
        run_once(layer, op, x, w).await?;
        if i > 0 {
            times.push(now() - t);
        }
    }
    times.sort_by(f64::total_cmp);
    Ok(times[times.len() / 2])
}
