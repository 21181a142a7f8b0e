//! Training checkpoints: model parameters (burnpack), optimiser state (`super::optim`'s bytes),
//! the step, the next epoch, the training config and a config fingerprint of the model, in one
//! file: `b"SAACKPT2"`, u64 LE header length, JSON header, model bytes, optimiser bytes. (Files
//! of the first format, `SAACKPT1`, held burn's optimiser record; they are refused.)
//!
//! A checkpoint is refused (typed error, nothing loaded) when its model config differs from
//! the model it is loaded into. Resuming continues bit-exactly: data order is seeded per
//! epoch, per-step augmentation sampling is seeded per step, and the optimiser state is kept.
//! Bit-exact needs a deterministic schedule (one thread, as the test runs): Flex's
//! multi-threaded reductions may round differently from run to run, interrupted or not.
//! [`Trainer::checkpoint`] reads tensors back synchronously (the Flex backend: native and the
//! browser's wasm backend); [`Trainer::checkpoint_async`] reads them asynchronously into a copy
//! on the CPU, for WebGPU. Both write the same bytes.
//!
//! The header carries an FNV-1a 64 checksum of the two records (absent in files written before
//! it, which still load): a damaged file is refused before burn's record readers see it, which
//! matters in wasm, where a panic inside them cannot be caught.

use super::{ImageClassifier, TrainConfig, Trainer};
use crate::error::{Error, Result};
use burn::module::{Module, ModuleMapper, ModuleVisitor, Param, ParamId};
use burn::tensor::{Bytes, Device, Tensor, TensorData};
use serde::{Deserialize, Serialize};

const MAGIC: &[u8; 8] = b"SAACKPT2";

/// Header of a checkpoint file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckpointHeader {
    /// JSON of the model config the parameters belong to.
    pub model_config: String,
    /// The training config in force.
    pub train_config: TrainConfig,
    /// Optimisation steps taken.
    pub step: usize,
    /// The epoch to run next.
    pub next_epoch: usize,
    /// Length of the model record in bytes.
    pub model_len: usize,
    /// Length of the optimiser record in bytes.
    pub optim_len: usize,
    /// FNV-1a 64 of the model and optimiser records, 16 lower-case hex digits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum: Option<String>,
}

/// FNV-1a 64 of `parts`, in order, as 16 lower-case hex digits.
fn fnv1a64(parts: &[&[u8]]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in parts.iter().flat_map(|p| p.iter()) {
        h = (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{h:016x}")
}

fn bad(m: impl std::fmt::Display) -> Error {
    Error::Config(format!("checkpoint: {m}"))
}

impl<M: ImageClassifier> Trainer<M> {
    /// Serialises the training state. `model_config` is the JSON of the model's config (it is
    /// compared on load).
    ///
    /// Native only (the CLI): it reads tensors back synchronously. The SDK takes
    /// [`checkpoint_async`](Self::checkpoint_async).
    ///
    /// # Errors
    /// [`Error::Backend`] when a record cannot be written.
    #[cfg(not(target_family = "wasm"))]
    pub fn checkpoint(&self, model_config: &str, next_epoch: usize) -> Result<Vec<u8>> {
        let model = record_bytes(self.model().clone())?;
        let optim = self.optim.to_bytes()?;
        self.assemble(model_config, next_epoch, &model, &optim)
    }

    /// [`checkpoint`](Self::checkpoint) with asynchronous readbacks only, so that it runs on
    /// WebGPU: every float tensor of the model (parameters and BatchNorm statistics) is read back
    /// and written into `cpu_copy` (a model of the same config on the CPU, e.g. `config.init`),
    /// whose record is taken with the trained model's parameter ids; the optimiser's states are
    /// read back likewise. On Flex the model's record is taken directly (its tensors are in CPU
    /// memory) and the optimiser's states are read back asynchronously as well; the bytes are
    /// those of [`checkpoint`](Self::checkpoint).
    ///
    /// # Errors
    /// [`Error::Backend`] when a readback fails or `cpu_copy` does not have the model's shapes.
    pub async fn checkpoint_async(
        &self,
        model_config: &str,
        next_epoch: usize,
        cpu_copy: impl FnOnce(&Device) -> Result<M>,
    ) -> Result<Vec<u8>> {
        if matches!(self.device.clone().inner().as_dispatch(), burn::backend::DispatchDevice::Flex(_)) {
            let model = record_bytes(self.model().clone())?;
            let optim = self.optim.to_bytes_async().await?;
            return self.assemble(model_config, next_epoch, &model, &optim);
        }
        self.checkpoint_via_copy(model_config, next_epoch, cpu_copy).await
    }

    /// The WebGPU path of [`checkpoint_async`](Self::checkpoint_async) on any device (tests
    /// run it on the CPU).
    ///
    /// # Errors
    /// As [`checkpoint_async`](Self::checkpoint_async).
    #[doc(hidden)]
    pub async fn checkpoint_via_copy(
        &self,
        model_config: &str,
        next_epoch: usize,
        cpu_copy: impl FnOnce(&Device) -> Result<M>,
    ) -> Result<Vec<u8>> {
        let mut gather = Gather(Vec::new());
        self.model().visit(&mut gather);
        let mut values = Vec::with_capacity(gather.0.len());
        for (id, dims, t) in gather.0 {
            let v = t.into_data_async().await.map_err(|e| Error::Backend(format!("readback: {e:?}")))?;
            values.push((id, dims, v));
        }
        let copy = cpu_copy(&Device::flex())?;
        let mut fill = Fill { values: values.into_iter(), error: None };
        let copy = copy.map(&mut fill);
        if let Some(e) = fill.error.or_else(|| fill.values.next().map(|_| "the copy has fewer tensors than the model".to_string())) {
            return Err(Error::Backend(format!("checkpoint copy: {e}")));
        }
        let model = record_bytes(copy)?;
        let optim = self.optim.to_bytes_async().await?;
        self.assemble(model_config, next_epoch, &model, &optim)
    }

    /// The checkpoint file of the two records.
    fn assemble(&self, model_config: &str, next_epoch: usize, model: &[u8], optim: &[u8]) -> Result<Vec<u8>> {
        let header = CheckpointHeader {
            model_config: model_config.to_string(),
            train_config: self.config.clone(),
            step: self.step,
            next_epoch,
            model_len: model.len(),
            optim_len: optim.len(),
            checksum: Some(fnv1a64(&[model, optim])),
        };
        let h = serde_json::to_vec(&header).map_err(|e| Error::Backend(format!("checkpoint header: {e}")))?;
        let mut out = MAGIC.to_vec();
        out.extend((h.len() as u64).to_le_bytes());
        out.extend(h);
        out.extend(model);
        out.extend(optim);
        Ok(out)
    }

    /// Restores a checkpoint into this trainer (whose model was built from `model_config`).
    /// Returns the epoch to run next.
    ///
    /// # Errors
    /// [`Error::Config`] when the file is not a checkpoint, is truncated, or was taken from a
    /// different model config; the trainer is unchanged then.
    pub fn restore(&mut self, bytes: &[u8], model_config: &str) -> Result<usize> {
        let header = read_header(bytes)?;
        if header.model_config != model_config {
            return Err(bad(format!(
                "it was taken from another model config\n  checkpoint: {}\n  this model: {model_config}",
                header.model_config
            )));
        }
        // read_header checked that the header's bytes exist, so `start` fits.
        let start = 16 + u64::from_le_bytes(bytes[8..16].try_into().expect("8 bytes")) as usize;
        let end = start.checked_add(header.model_len).and_then(|e| e.checked_add(header.optim_len));
        let end = end.filter(|&e| e == bytes.len()).ok_or_else(|| {
            bad(format!("{} bytes, but the header promises {} + {} + {}", bytes.len(), start, header.model_len, header.optim_len))
        })?;
        if let Some(want) = &header.checksum {
            let got = fnv1a64(&[&bytes[start..end]]);
            if &got != want {
                return Err(bad(format!("the records are damaged (checksum {got}, header says {want})")));
            }
        }
        let mbytes = Bytes::from_bytes_vec(bytes[start..start + header.model_len].to_vec());
        let obytes = Bytes::from_bytes_vec(bytes[start + header.model_len..end].to_vec());
        header.train_config.validate()?;
        // burn's record readers panic on some corrupt records (an optimiser tensor without a
        // parameter id, tests/fuzz/data.rs): caught here where panics unwind (native builds), so
        // a damaged file is a typed error; in wasm the checksum above stands in. Nothing of
        // `self` changes inside.
        let load = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| -> Result<_> {
            let record = burn::store::ModuleRecord::from_bytes(mbytes).map_err(|e| bad(format!("model record: {e:?}")))?;
            let model = self.model().clone().try_load_record(record).map_err(|e| bad(format!("model record does not fit: {e:?}")))?;
            let optim =
                super::optim::ParamOptimizer::from_bytes(super::make_rule(&header.train_config), &obytes, &self.device.clone().inner())?;
            Ok((model, optim))
        }));
        let (mut model, optim) = load.map_err(|_| bad("the model or optimiser record is corrupt"))??;
        model.set_adder_eta(header.train_config.adder_eta);
        self.model = Some(model);
        self.optim = optim;
        self.config = header.train_config;
        self.step = header.step;
        Ok(header.next_epoch)
    }
}

/// The model's record as bytes (reads its tensors synchronously).
fn record_bytes<M: Module>(model: M) -> Result<Vec<u8>> {
    Ok(model.into_record().into_bytes().map_err(|e| Error::Backend(format!("model record: {e:?}")))?.to_vec())
}

/// Every float tensor of a module in visit order: its id, shape and flat values (a copy).
struct Gather(Vec<(ParamId, Vec<usize>, Tensor<1>)>);

impl ModuleVisitor for Gather {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let t = param.val();
        let dims = t.dims().to_vec();
        let n = dims.iter().product::<usize>();
        self.0.push((param.id, dims, t.inner().reshape([n])));
    }
}

/// Writes gathered values, in visit order, into a module of the same structure, with the
/// gathered ids.
struct Fill<I: Iterator<Item = (ParamId, Vec<usize>, TensorData)>> {
    values: I,
    error: Option<String>,
}

impl<I: Iterator<Item = (ParamId, Vec<usize>, TensorData)>> ModuleMapper for Fill<I> {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let (own_id, tensor, mapper) = param.consume();
        let device = tensor.device();
        match self.values.next() {
            Some((id, dims, data)) if dims == tensor.dims() => {
                let t = Tensor::<1>::from_data(data, &device).reshape::<D, _>(tensor.dims());
                Param::from_mapped_value(id, t, mapper)
            }
            other => {
                self.error
                    .get_or_insert_with(|| format!("a tensor of shape {:?} where the model has {:?}", tensor.dims(), other.map(|o| o.1)));
                Param::from_mapped_value(own_id, tensor, mapper)
            }
        }
    }
}

/// Parses and checks the header of a checkpoint.
///
/// # Errors
/// [`Error::Config`] when the bytes are not a checkpoint.
pub fn read_header(bytes: &[u8]) -> Result<CheckpointHeader> {
    if bytes.len() >= 8 && &bytes[..8] == b"SAACKPT1" {
        return Err(bad("written by an older version (format 1, whose optimiser state this version does not read); start a new run"));
    }
    if bytes.len() < 16 || &bytes[..8] != MAGIC {
        return Err(bad("not a shiftaddaug checkpoint (bad magic)"));
    }
    let n = usize::try_from(u64::from_le_bytes(bytes[8..16].try_into().expect("8 bytes"))).unwrap_or(usize::MAX);
    let h = n.checked_add(16).and_then(|end| bytes.get(16..end)).ok_or_else(|| bad("truncated header"))?;
    serde_json::from_slice(h).map_err(|e| bad(format!("header: {e}")))
}
