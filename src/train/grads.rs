//! Gradients split over the parts of a batch: accumulated in one trainer (micro-batches) or
//! exchanged between replicas as flat `f32` vectors (data-parallel training across workers).
//!
//! Invariant: for a batch of `n` examples split into parts of `n_k` examples (see [`part_range`]),
//! the gradient of the batch is `Σ_k (n_k / n)·g_k`, summed in part order with one `f32` rounding
//! per multiply and per add, whether the sum is taken here ([`accumulate`]) or by a caller over the
//! flat vectors of the parts (each already scaled by `n_k / n`). The two are bit-identical.

use crate::error::{Error, Result};
use burn::module::{Module, ModuleVisitor, Param, ParamId};
use burn::optim::GradientsParams;
use burn::tensor::{Device, Tensor, TensorData};
use std::collections::HashSet;

/// The examples `[start, end)` of part `part` of `parts` of a batch of `n`: consecutive runs,
/// the first `n % parts` parts one example longer (so parts past `n` are empty).
///
/// # Errors
/// [`Error::Config`] when `parts` is 0 or `part >= parts`.
pub fn part_range(n: usize, part: usize, parts: usize) -> Result<(usize, usize)> {
    if parts == 0 || part >= parts {
        return Err(Error::Config(format!("part {part} of {parts}: need part < parts")));
    }
    let (base, extra) = (n / parts, n % parts);
    let start = part * base + part.min(extra);
    Ok((start, start + base + usize::from(part < extra)))
}

/// The parameters of a model in visit order (each id once), with their shapes.
struct Layout(Vec<(ParamId, Vec<usize>)>);

impl Layout {
    fn of<M: Module>(model: &M) -> Self {
        struct V(Vec<(ParamId, Vec<usize>)>, HashSet<ParamId>);
        impl ModuleVisitor for V {
            fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
                if self.1.insert(param.id) {
                    self.0.push((param.id, param.val().dims().to_vec()));
                }
            }
        }
        let mut v = V(Vec::new(), HashSet::new());
        model.visit(&mut v);
        Self(v.0)
    }

    fn len(&self) -> usize {
        self.0.iter().map(|(_, s)| s.iter().product::<usize>()).sum()
    }
}

/// Values in `model`'s gradient vector ([`FlatGradients`]): every float parameter.
pub fn gradient_len<M: Module>(model: &M) -> usize {
    Layout::of(model).len()
}

/// `w·g` per parameter (`g` itself when `w` is 1).
pub fn scale<M: Module>(model: &M, g: GradientsParams, w: f32) -> GradientsParams {
    if w == 1.0 {
        return g;
    }
    struct V(GradientsParams, f32, HashSet<ParamId>);
    impl ModuleVisitor for V {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            if self.2.insert(param.id)
                && let Some(t) = self.0.remove::<D>(param.id)
            {
                self.0.register::<D>(param.id, t.mul_scalar(self.1));
            }
        }
    }
    let mut v = V(g, w, HashSet::new());
    model.visit(&mut v);
    v.0
}

/// `acc + g` per parameter (`g` alone where `acc` has none; `acc` alone where `g` has none).
pub fn accumulate<M: Module>(model: &M, acc: GradientsParams, g: GradientsParams) -> GradientsParams {
    struct V(GradientsParams, GradientsParams, HashSet<ParamId>);
    impl ModuleVisitor for V {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            if !self.2.insert(param.id) {
                return;
            }
            let Some(new) = self.1.remove::<D>(param.id) else { return };
            let sum = match self.0.remove::<D>(param.id) {
                Some(old) => old + new,
                None => new,
            };
            self.0.register::<D>(param.id, sum);
        }
    }
    let mut v = V(acc, g, HashSet::new());
    model.visit(&mut v);
    v.0
}

/// A model's gradient as one vector: every float parameter in visit order, zeros where
/// `present[i]` is 0 (the parameter got no gradient at this step, e.g. a layer the sampled
/// architecture skipped; the optimiser then leaves it untouched).
#[derive(Debug, Clone, PartialEq)]
pub struct FlatGradients {
    /// Concatenated gradients, row-major per parameter.
    pub values: Vec<f32>,
    /// One flag per parameter: 1 when it has a gradient.
    pub present: Vec<u8>,
}

impl FlatGradients {
    /// Reads `grads` back (async: the only readback WebGPU allows) into the flat layout of `model`.
    ///
    /// # Errors
    /// [`Error::Backend`] when a readback fails.
    pub async fn read<M: Module>(model: &M, grads: &GradientsParams) -> Result<Self> {
        let layout = Layout::of(model);
        let mut values = Vec::with_capacity(layout.len());
        let mut present = Vec::with_capacity(layout.0.len());
        for (id, shape) in &layout.0 {
            let n: usize = shape.iter().product();
            let g = match shape.len() {
                1 => grads.get::<1>(*id).map(|t| t.reshape([n])),
                2 => grads.get::<2>(*id).map(|t| t.reshape([n])),
                3 => grads.get::<3>(*id).map(|t| t.reshape([n])),
                4 => grads.get::<4>(*id).map(|t| t.reshape([n])),
                d => return Err(Error::Backend(format!("gradient exchange: parameters of rank {d} are not supported"))),
            };
            match g {
                Some(t) => {
                    let data = t.into_data_async().await.map_err(|e| Error::Backend(format!("gradient readback: {e:?}")))?;
                    values.extend(data.iter::<f32>());
                    present.push(1);
                }
                None => {
                    values.resize(values.len() + n, 0.0);
                    present.push(0);
                }
            }
        }
        Ok(Self { values, present })
    }

    /// The gradients on `device` (the model's inner, non-autodiff device), keyed by `model`'s
    /// parameters.
    ///
    /// # Errors
    /// [`Error::Shape`] when the layout does not match `model` (another model, or a truncated
    /// vector); nothing is built then.
    pub fn to_params<M: Module>(&self, model: &M, device: &Device) -> Result<GradientsParams> {
        let layout = Layout::of(model);
        if self.present.len() != layout.0.len() || self.values.len() != layout.len() {
            return Err(Error::Shape(format!(
                "gradient vector has {} values for {} parameters; this model has {} values in {} parameters",
                self.values.len(),
                self.present.len(),
                layout.len(),
                layout.0.len()
            )));
        }
        let mut grads = GradientsParams::new();
        let mut at = 0;
        for ((id, shape), &p) in layout.0.iter().zip(&self.present) {
            let n: usize = shape.iter().product();
            let slice = &self.values[at..at + n];
            at += n;
            if p == 0 {
                continue;
            }
            let data = |d: &[usize]| TensorData::new(slice.to_vec(), d.to_vec());
            match shape.len() {
                1 => grads.register::<1>(*id, Tensor::from_data(data(shape), device)),
                2 => grads.register::<2>(*id, Tensor::from_data(data(shape), device)),
                3 => grads.register::<3>(*id, Tensor::from_data(data(shape), device)),
                4 => grads.register::<4>(*id, Tensor::from_data(data(shape), device)),
                d => return Err(Error::Shape(format!("gradient exchange: parameters of rank {d} are not supported"))),
            }
        }
        Ok(grads)
    }

    /// `self + other`, elementwise in `f32` (the sum a replica group takes, in part order).
    ///
    /// # Errors
    /// [`Error::Shape`] when the lengths or the presence flags differ (the parts did not train
    /// the same architecture).
    pub fn sum_with(mut self, other: &FlatGradients) -> Result<Self> {
        if self.values.len() != other.values.len() || self.present != other.present {
            return Err(Error::Shape("gradient vectors of different models or architectures cannot be summed".into()));
        }
        for (a, b) in self.values.iter_mut().zip(&other.values) {
            *a += *b;
        }
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::part_range;

    #[test]
    fn parts_cover_the_batch_in_order() {
        for n in 1..40 {
            for parts in 1..=9 {
                let mut next = 0;
                for k in 0..parts {
                    let (s, e) = part_range(n, k, parts).unwrap();
                    assert_eq!(s, next);
                    assert!(e - s == n / parts || e - s == n / parts + 1);
                    assert!(e - s > 0 || n < parts);
                    next = e;
                }
                assert_eq!(next, n);
            }
        }
        assert_eq!(part_range(2, 3, 4).unwrap(), (2, 2), "parts past the batch are empty");
        assert!(part_range(4, 2, 2).is_err());
        assert!(part_range(4, 0, 0).is_err());
    }
}
