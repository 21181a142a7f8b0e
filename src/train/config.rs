use crate::data::MAX_CROP_PADDING;
use crate::error::{Error, Result};

/// Largest [`TrainConfig::micro_batches`].
pub const MAX_MICRO_BATCHES: usize = 256;

/// Optimiser choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OptimizerKind {
    /// Adam (β = 0.9, 0.999).
    Adam,
    /// SGD with Nesterov momentum (`momentum`).
    Sgd,
}

/// Training hyper-parameters. JSON field names are camelCase (the SDK's `fit` options).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct TrainConfig {
    /// Examples per batch. Default 64.
    pub batch_size: usize,
    /// Peak learning rate. Default 0.003 (Adam).
    pub learning_rate: f64,
    /// Linear warm-up steps, then constant (or cosine, see `total_steps`). Default 0.
    pub warmup_steps: usize,
    /// With `Some(t)`, cosine decay to 0 at step `t` (after warm-up). Default `None` (constant).
    pub total_steps: Option<usize>,
    /// Optimiser. Default Adam.
    pub optimizer: OptimizerKind,
    /// SGD momentum (Nesterov). Default 0.9.
    pub momentum: f64,
    /// Label smoothing ε in `[0, 1)`. Default 0.
    pub label_smoothing: f32,
    /// L2 weight decay (coupled, as in PyTorch's SGD/Adam), on every parameter, BatchNorm and
    /// biases included (NetAug's recipe exempts those; at 4e-5 and lr 0.05 the decay shrinks
    /// them by under 0.2 % per 1 000 steps). Default 0.
    pub weight_decay: f32,
    /// AdderNet adaptive gradient scaling η (`None` disables it). Default `Some(0.2)`.
    pub adder_eta: Option<f32>,
    /// Seed of the data shuffling. Default 0.
    pub seed: u64,
    /// Read metrics back every this many steps (each readback is a GPU→CPU sync). Default 10.
    pub log_every: usize,
    /// Batch size of evaluation. Default 500.
    pub eval_batch_size: usize,
    /// Training-time evaluation ([`Trainer::validate`](super::Trainer::validate)) first
    /// re-estimates the model's BatchNorm statistics, on a copy, from this many training
    /// images (they are re-estimated before deployment too); 0 evaluates with the running
    /// statistics. Default 2000.
    pub eval_bn_images: usize,
    /// Random crop after zero-padding each side by this many pixels (torchvision's
    /// `RandomCrop(size, padding)`), per training image; 0 disables it. Default 0.
    pub crop_padding: usize,
    /// Random left-right mirror with probability 1/2, per training image. Default false.
    pub horizontal_flip: bool,
    /// Each batch is split into this many consecutive parts, each with its own forward and
    /// backward pass (BatchNorm statistics per part, as in PyTorch's data-parallel training
    /// without SyncBatchNorm), and the part gradients are summed, weighted by size, into one
    /// update. `K` workers training in parallel compute exactly these parts; 1 worker with
    /// `micro_batches = K` gives their results. Parts past a short last batch are empty.
    /// Valid 1..=256. Default 1.
    pub micro_batches: usize,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            batch_size: 64,
            learning_rate: 3e-3,
            warmup_steps: 0,
            total_steps: None,
            optimizer: OptimizerKind::Adam,
            momentum: 0.9,
            label_smoothing: 0.0,
            weight_decay: 0.0,
            adder_eta: Some(0.2),
            seed: 0,
            log_every: 10,
            eval_batch_size: 500,
            eval_bn_images: 2000,
            crop_padding: 0,
            horizontal_flip: false,
            micro_batches: 1,
        }
    }
}

impl TrainConfig {
    /// Checks every field.
    ///
    /// # Errors
    /// [`Error::Config`] naming the offending value and its valid range.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::Config(m));
        if self.batch_size == 0 || self.batch_size > 65536 {
            return bad(format!("batchSize = {}; valid: 1..=65536", self.batch_size));
        }
        if !(self.learning_rate.is_finite() && self.learning_rate > 0.0) {
            return bad(format!("learningRate = {}; must be finite and > 0", self.learning_rate));
        }
        if !self.weight_decay.is_finite() || self.weight_decay < 0.0 {
            return bad(format!("weightDecay = {}; must be a finite number >= 0", self.weight_decay));
        }
        if !(0.0..1.0).contains(&self.label_smoothing) {
            return bad(format!("labelSmoothing = {}; valid: [0, 1)", self.label_smoothing));
        }
        if !(0.0..1.0).contains(&self.momentum) {
            return bad(format!("momentum = {}; valid: [0, 1)", self.momentum));
        }
        if let Some(eta) = self.adder_eta
            && !(eta.is_finite() && eta > 0.0)
        {
            return bad(format!("adderEta = {eta}; must be finite and > 0 (or null to disable)"));
        }
        if self.log_every == 0 || self.eval_batch_size == 0 {
            return bad(format!("logEvery = {}, evalBatchSize = {}; both must be >= 1", self.log_every, self.eval_batch_size));
        }
        if self.micro_batches == 0 || self.micro_batches > MAX_MICRO_BATCHES {
            return bad(format!("microBatches = {}; valid: 1..={MAX_MICRO_BATCHES}", self.micro_batches));
        }
        if self.crop_padding > MAX_CROP_PADDING {
            return bad(format!("cropPadding = {}; valid: 0..={MAX_CROP_PADDING} pixels", self.crop_padding));
        }
        Ok(())
    }

    /// Learning rate at `step` (0-based): linear warm-up, then constant or cosine to 0.
    pub fn learning_rate_at(&self, step: usize) -> f64 {
        if step < self.warmup_steps {
            return self.learning_rate * (step + 1) as f64 / self.warmup_steps as f64;
        }
        match self.total_steps {
            Some(total) if total > self.warmup_steps => {
                let t = ((step - self.warmup_steps) as f64 / (total - self.warmup_steps) as f64).min(1.0);
                self.learning_rate * 0.5 * (1.0 + (std::f64::consts::PI * t).cos())
            }
            _ => self.learning_rate,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_and_validation() {
        let c = TrainConfig { warmup_steps: 2, total_steps: Some(12), learning_rate: 1.0, ..Default::default() };
        assert_eq!(c.learning_rate_at(0), 0.5);
        assert_eq!(c.learning_rate_at(1), 1.0);
        assert!((c.learning_rate_at(7) - 0.5).abs() < 1e-12);
        assert!(c.learning_rate_at(12).abs() < 1e-12);
        assert!(TrainConfig { batch_size: 0, ..Default::default() }.validate().unwrap_err().to_string().contains("batchSize = 0"));
        assert!(TrainConfig { learning_rate: f64::NAN, ..Default::default() }.validate().is_err());
        let e = serde_json::from_str::<TrainConfig>(r#"{"batchSize": 8, "bogus": 1}"#).unwrap_err();
        assert!(e.to_string().contains("bogus"), "{e}");
        let e = TrainConfig { crop_padding: 33, ..Default::default() }.validate().unwrap_err().to_string();
        assert!(e.contains("cropPadding = 33") && e.contains("0..=32"), "{e}");
        let c: TrainConfig = serde_json::from_str(r#"{"cropPadding": 4, "horizontalFlip": true}"#).unwrap();
        assert_eq!((c.crop_padding, c.horizontal_flip), (4, true));
        for bad in [0, 257] {
            let e = TrainConfig { micro_batches: bad, ..Default::default() }.validate().unwrap_err().to_string();
            assert!(e.contains(&format!("microBatches = {bad}")) && e.contains("1..=256"), "{e}");
        }
    }
}
