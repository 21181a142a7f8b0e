//! Heterogeneous weight sharing: the remap `R_θ` from the shared (multiplicative, Gaussian-like)
//! weight bank to the weights an MF operator consumes (METHOD.md §4.4).
//!
//! Every variant maps a weight slice `[c_out, c_in/g, k, k]` to the same shape, per layer:
//! - `R0` identity (plain multiplicative augmentation);
//! - `R1` analytic Gaussian-CDF → Laplace-quantile transport, then a learnable FC over kernel
//!   positions (identity init) — the default;
//! - `R2` rank transport (exact Laplace histogram, straight-through gradient), then the FC;
//! - `R3` the FC alone;
//! - `R4` ShiftAddNAS' transformation kernel: 100 equal-width bins over `[min, max]`, one
//!   learnable scale per bin (identity init), plus a KL regulariser towards a Laplace sample.
//!
//! The transports keep mean and standard deviation (μ, σ are detached) and are monotone.

use crate::error::{Error, Result};
use burn::module::{Module, Param};
use burn::tensor::activation::{log_softmax, softmax};
use burn::tensor::{Device, Int, Tensor, TensorData};

/// Which remap (METHOD.md §4.4 table).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum RemapKind {
    /// Identity.
    R0,
    /// Gaussian-CDF → Laplace-quantile transport + learnable FC (default).
    #[default]
    R1,
    /// Rank transport (STE) + learnable FC.
    R2,
    /// Learnable FC only.
    R3,
    /// ShiftAddNAS binned scales + KL regulariser.
    R4,
}

impl std::str::FromStr for RemapKind {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_uppercase().as_str() {
            "R0" => Ok(Self::R0),
            "R1" => Ok(Self::R1),
            "R2" => Ok(Self::R2),
            "R3" => Ok(Self::R3),
            "R4" => Ok(Self::R4),
            _ => Err(Error::Config(format!("unknown remap {s:?}; valid: R0, R1, R2, R3, R4"))),
        }
    }
}

/// How the R1–R3 FC and its bias collect their gradient over the rows they transform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FcGrad {
    /// The mean (default): the step size does not grow with the layer; SGD at lr 0.05 is stable.
    #[default]
    Mean,
    /// The sum (the plain autodiff gradient); diverged under SGD at lr 0.05 (BENCHMARKS.md).
    Sum,
}

impl std::str::FromStr for FcGrad {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "mean" => Ok(Self::Mean),
            "sum" => Ok(Self::Sum),
            _ => Err(Error::Config(format!("unknown remap FC gradient {s:?}; valid: mean, sum"))),
        }
    }
}

/// Bins of `R4`.
pub const R4_BINS: usize = 100;
/// Weight of `R4`'s KL regulariser (ShiftAddNAS).
pub const R4_KL_WEIGHT: f32 = 10.0;
/// `u` is clamped to `[ε, 1 − ε]` before the Laplace quantile (finite gradients for |z| ≤ 6).
const CDF_EPS: f32 = 1e-6;

/// The learnable part of one layer's remap. Parameters exist only for the variants that use
/// them (`fc`/`bias` for R1–R3, `bins` for R4).
#[derive(Module, Debug)]
pub struct Remap {
    /// `[k², k²]` FC over kernel positions, identity at init (R1–R3).
    pub fc: Option<Param<Tensor<2>>>,
    /// Scalar bias of the FC, 0 at init (R1–R3).
    pub bias: Option<Param<Tensor<1>>>,
    /// Per-bin scales, 1 at init (R4).
    pub bins: Option<Param<Tensor<1>>>,
    /// Fixed Laplace(0, 2) sample, sorted, for R4's KL term (not trained).
    pub laplace: Option<Param<Tensor<1>>>,
    /// The variant.
    #[module(skip)]
    pub kind: RemapKind,
    /// Gradient of the FC over its rows.
    #[module(skip)]
    pub fc_grad: FcGrad,
}

impl Remap {
    /// A remap for `kernel × kernel` weights; `n_hint` is the largest slice it will see (R4's
    /// Laplace reference sample has this many points).
    pub fn new(kind: RemapKind, kernel: usize, n_hint: usize, seed: u64, device: &Device) -> Self {
        let kk = kernel * kernel;
        let (mut fc, mut bias, mut bins, mut laplace) = (None, None, None, None);
        match kind {
            RemapKind::R0 => {}
            RemapKind::R1 | RemapKind::R2 | RemapKind::R3 => {
                fc = Some(Param::from_tensor(Tensor::eye(kk, device)));
                bias = Some(Param::from_tensor(Tensor::zeros([1], device)));
            }
            RemapKind::R4 => {
                bins = Some(Param::from_tensor(Tensor::ones([R4_BINS], device)));
                let mut rng = crate::data::Rng::new(seed);
                let mut s: Vec<f32> = (0..n_hint.max(2))
                    .map(|_| {
                        let u = ((rng.next_u64() >> 40) as f32 + 0.5) / (1u64 << 24) as f32;
                        2.0 * laplace_quantile_scalar(u)
                    })
                    .collect();
                s.sort_by(f32::total_cmp);
                let n = s.len();
                laplace = Some(Param::from_tensor(Tensor::from_data(TensorData::new(s, [n]), device)).set_require_grad(false));
            }
        }
        Self { fc, bias, bins, laplace, kind, fc_grad: FcGrad::Mean }
    }

    /// `R(w)` for a weight slice `[c_out, c_in/g, k, k]` (same shape out).
    pub fn apply(&self, w: Tensor<4>) -> Tensor<4> {
        let dims = w.dims();
        match self.kind {
            RemapKind::R0 => w,
            RemapKind::R1 => self.fc(cdf_transport(w), dims),
            RemapKind::R2 => self.fc(rank_transport(w), dims),
            RemapKind::R3 => self.fc(w, dims),
            RemapKind::R4 => self.binned(w),
        }
    }

    /// The FC over kernel positions. With [`FcGrad::Mean`] its gradients are the mean over the
    /// `o·i` rows (the bias: over all entries) it transforms, not the sum: the sum grows with the
    /// layer's size and made SGD at lr 0.05 diverge (BENCHMARKS.md). Adam sees the scale only
    /// through its ε. Forward values are the same either way (bit for bit).
    fn fc(&self, v: Tensor<4>, dims: [usize; 4]) -> Tensor<4> {
        let (Some(a), Some(b)) = (&self.fc, &self.bias) else { return v };
        let [o, i, kh, kw] = dims;
        let (a, b) = match self.fc_grad {
            FcGrad::Mean => (grad_scaled(a.val(), 1.0 / (o * i) as f32), grad_scaled(b.val(), 1.0 / (o * i * kh * kw) as f32)),
            FcGrad::Sum => (a.val(), b.val()),
        };
        let rows = v.reshape([o * i, kh * kw]).matmul(a).add(b.unsqueeze::<2>());
        rows.reshape(dims)
    }

    fn binned(&self, w: Tensor<4>) -> Tensor<4> {
        let Some(scales) = &self.bins else { return w };
        let dims = w.dims();
        let n = dims.iter().product::<usize>();
        let flat = w.reshape([n]);
        let lo = flat.clone().min().detach();
        let hi = flat.clone().max().detach();
        let width = (hi - lo.clone()).clamp_min(1e-12).div_scalar(R4_BINS as f32);
        // Bin index (detached), the maximum goes into the last bin.
        let idx = flat.clone().detach().sub(lo).div(width).floor().clamp(0.0, (R4_BINS - 1) as f32).int();
        let s = scales.val().select(0, idx);
        flat.mul(s).reshape(dims)
    }

    /// R4's regulariser `KL(softmax(v) ‖ softmax(laplace))` for the remapped slice `v`.
    /// Our choice where ShiftAddNAS is silent: sorted values are compared with the sorted
    /// reference sample, resampled to the same length, so the term measures the distribution.
    /// `None` for the other variants.
    pub fn kl_penalty(&self, remapped: Tensor<4>) -> Option<Tensor<1>> {
        let reference = self.laplace.as_ref()?.val();
        let n = remapped.shape().num_elements();
        let v = remapped.reshape([n]).sort(0);
        let m = reference.dims()[0];
        let pick: Vec<i32> = (0..n).map(|i| ((i * m) / n).min(m - 1) as i32).collect();
        let q = reference.select(0, Tensor::<1, Int>::from_data(TensorData::new(pick, [n]), &v.device()));
        let logp = log_softmax(v.clone().unsqueeze::<2>(), 1);
        let logq = log_softmax(q.unsqueeze::<2>(), 1);
        let p = softmax(v.unsqueeze::<2>(), 1);
        Some(p.mul(logp - logq).sum().reshape([1]))
    }
}

/// `t` in the forward pass (exactly), its gradient times `scale` in the backward pass.
fn grad_scaled<const D: usize>(t: Tensor<D>, scale: f32) -> Tensor<D> {
    let d = t.clone().detach();
    d.clone() + (t - d).mul_scalar(scale)
}

/// Standard-Laplace quantile (scale 1, variance 2) of one probability.
fn laplace_quantile_scalar(u: f32) -> f32 {
    let d = u - 0.5;
    -d.signum() * (1.0 - 2.0 * d.abs()).ln()
}

/// `q(u) = -sign(u - ½)·ln(1 - 2|u - ½|)` on a tensor.
fn laplace_quantile(u: Tensor<4>) -> Tensor<4> {
    let d = u.sub_scalar(0.5);
    let mag = d.clone().abs().mul_scalar(-2.0).add_scalar(1.0).log();
    d.sign().neg().mul(mag)
}

/// Detached mean and standard deviation (+1e-8) of all elements, broadcastable to `w`.
fn moments(w: &Tensor<4>) -> (Tensor<4>, Tensor<4>) {
    let n = w.shape().num_elements();
    let flat = w.clone().detach().reshape([n]);
    let mean = flat.clone().mean();
    let std = flat.sub(mean.clone()).square().mean().sqrt().add_scalar(1e-8);
    (mean.reshape([1, 1, 1, 1]), std.reshape([1, 1, 1, 1]))
}

/// R1's transport: `μ + σ/√2 · q(Φ((w − μ)/σ))`.
pub fn cdf_transport(w: Tensor<4>) -> Tensor<4> {
    let (mu, sigma) = moments(&w);
    let z = w.sub(mu.clone()).div(sigma.clone());
    let u = z.div_scalar(std::f32::consts::SQRT_2).erf().add_scalar(1.0).mul_scalar(0.5).clamp(CDF_EPS, 1.0 - CDF_EPS);
    mu + sigma.div_scalar(std::f32::consts::SQRT_2).mul(laplace_quantile(u))
}

/// R2's transport: `u = (rank + ½)/n`, the same Laplace quantile, straight-through gradient.
pub fn rank_transport(w: Tensor<4>) -> Tensor<4> {
    let dims = w.dims();
    let n = dims.iter().product::<usize>();
    let (mu, sigma) = moments(&w);
    let flat = w.clone().detach().reshape([n]);
    let rank = flat.argsort(0).argsort(0).float();
    let u = rank.add_scalar(0.5).div_scalar(n as f32).reshape(dims);
    let v = mu + sigma.div_scalar(std::f32::consts::SQRT_2).mul(laplace_quantile(u));
    w.clone() + (v - w).detach()
}
