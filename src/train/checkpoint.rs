//! Training checkpoints: model parameters (burnpack), optimiser state (burnpack), the step, the
//! next epoch, the training config and a config fingerprint of the model, in one file:
//! `b"SAACKPT1"`, u64 LE header length, JSON header, model bytes, optimiser bytes.
//!
//! A checkpoint is refused (typed error, nothing loaded) when its model config differs from
//! the model it is loaded into. Resuming continues bit-exactly: data order is seeded per
//! epoch, per-step augmentation sampling is seeded per step, and the optimiser state is kept.
//! Bit-exact needs a deterministic schedule (one thread, as the test runs): Flex's
//! multi-threaded reductions may round differently from run to run, interrupted or not.
//! Native only: taking a record reads tensors back synchronously.

use super::{ImageClassifier, TrainConfig, Trainer};
use crate::error::{Error, Result};
use burn::tensor::Bytes;
use serde::{Deserialize, Serialize};

const MAGIC: &[u8; 8] = b"SAACKPT1";

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
}

fn bad(m: impl std::fmt::Display) -> Error {
    Error::Config(format!("checkpoint: {m}"))
}

impl<M: ImageClassifier> Trainer<M> {
    /// Serialises the training state. `model_config` is the JSON of the model's config (it is
    /// compared on load).
    ///
    /// # Errors
    /// [`Error::Backend`] when a record cannot be written.
    pub fn checkpoint(&self, model_config: &str, next_epoch: usize) -> Result<Vec<u8>> {
        let model = self.model().clone().into_record().into_bytes().map_err(|e| Error::Backend(format!("model record: {e:?}")))?;
        let optim = self.optim.into_bytes().map_err(|e| Error::Backend(format!("optimiser record: {e:?}")))?;
        let header = CheckpointHeader {
            model_config: model_config.to_string(),
            train_config: self.config.clone(),
            step: self.step,
            next_epoch,
            model_len: model.len(),
            optim_len: optim.len(),
        };
        let h = serde_json::to_vec(&header).map_err(|e| Error::Backend(format!("checkpoint header: {e}")))?;
        let mut out = MAGIC.to_vec();
        out.extend((h.len() as u64).to_le_bytes());
        out.extend(h);
        out.extend(model.iter());
        out.extend(optim.iter());
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
        let mbytes = Bytes::from_bytes_vec(bytes[start..start + header.model_len].to_vec());
        let obytes = Bytes::from_bytes_vec(bytes[start + header.model_len..end].to_vec());
        header.train_config.validate()?;
        // burn's record readers panic on some corrupt records (an optimiser tensor without a
        // parameter id, tests/fuzz/data.rs): caught here (native builds unwind; checkpoints are
        // native only), so a damaged file is a typed error. Nothing of `self` changes inside.
        let load = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| -> Result<_> {
            let record = burn::store::ModuleRecord::from_bytes(mbytes).map_err(|e| bad(format!("model record: {e:?}")))?;
            let model = self.model().clone().try_load_record(record).map_err(|e| bad(format!("model record does not fit: {e:?}")))?;
            let optim =
                super::make_optimizer(&header.train_config).from_bytes(obytes).map_err(|e| bad(format!("optimiser record: {e:?}")))?;
            Ok((model, optim))
        }));
        let (model, optim) = load.map_err(|_| bad("the model or optimiser record is corrupt"))??;
        self.model = Some(model);
        self.optim = optim;
        self.config = header.train_config;
        self.step = header.step;
        Ok(header.next_epoch)
    }
}

/// Parses and checks the header of a checkpoint.
///
/// # Errors
/// [`Error::Config`] when the bytes are not a checkpoint.
pub fn read_header(bytes: &[u8]) -> Result<CheckpointHeader> {
    if bytes.len() < 16 || &bytes[..8] != MAGIC {
        return Err(bad("not a shiftaddaug checkpoint (bad magic)"));
    }
    let n = usize::try_from(u64::from_le_bytes(bytes[8..16].try_into().expect("8 bytes"))).unwrap_or(usize::MAX);
    let h = n.checked_add(16).and_then(|end| bytes.get(16..end)).ok_or_else(|| bad("truncated header"))?;
    serde_json::from_slice(h).map_err(|e| bad(format!("header: {e}")))
}
