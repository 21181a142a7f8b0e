use crate::error::{Error, Result};
use crate::models::Act;
use crate::nn::{ConvKind, ConvSlot, ConvSlotConfig, DynBn, ShiftMode};
use crate::ops::Conv2dGeometry;
use burn::module::{Module, ParamId};
use burn::nn::{Linear, LinearConfig};
use burn::tensor::module::adaptive_avg_pool2d;
use burn::tensor::{Device, Tensor};

/// How the last feature map becomes the classifier's input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Head {
    /// Flatten `[c, h, w]` (keeps spatial layout; learns fastest on 28×28 images).
    #[default]
    Flatten,
    /// Global average pooling to `[c]` (MobileNet style; fewer classifier weights).
    Avgpool,
}

/// Configuration of [`MfCnn`], a small multiplication-free CNN:
/// a multiplicative 3×3 stem (stride 1), then one 3×3 stride-2 `conv` layer per further entry
/// of `widths`, each followed by BatchNorm and ReLU, then the [`Head`] and a multiplicative
/// linear classifier. JSON-serialisable (the SDK's `createModel` takes it).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MfCnnConfig {
    /// Input `[channels, height, width]`, e.g. `[1, 28, 28]`.
    pub input_shape: [usize; 3],
    /// Number of classes.
    pub num_classes: usize,
    /// Operator of the body convolutions (the stem and classifier stay multiplicative).
    /// Default [`ConvKind::Shift`].
    #[serde(default = "default_conv")]
    pub conv: ConvKind,
    /// Channel widths: `widths[0]` is the stem output, each further entry one stride-2 layer.
    /// Default `[8, 16, 32]`.
    #[serde(default = "default_widths")]
    pub widths: Vec<usize>,
    /// Classifier input. Default [`Head::Flatten`].
    #[serde(default)]
    pub head: Head,
    /// Shift layers: DeepShift-Q (default) or -PS (the direct-training baseline).
    #[serde(default)]
    pub shift_mode: ShiftMode,
}

fn default_conv() -> ConvKind {
    ConvKind::Shift
}

fn default_widths() -> Vec<usize> {
    vec![8, 16, 32]
}

impl Default for MfCnnConfig {
    fn default() -> Self {
        Self {
            input_shape: [1, 28, 28],
            num_classes: 10,
            conv: default_conv(),
            widths: default_widths(),
            head: Head::Flatten,
            shift_mode: ShiftMode::Q,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_defaults_match_the_sdk_docs() {
        let c: MfCnnConfig = serde_json::from_str(r#"{"inputShape": [1, 28, 28], "numClasses": 10}"#).unwrap();
        assert_eq!(c, MfCnnConfig::default());
        let e = serde_json::from_str::<MfCnnConfig>(r#"{"inputShape": [1, 28, 28], "numClasses": 10, "conv": "mul"}"#).unwrap_err();
        assert!(e.to_string().contains("mult"), "{e}");
        assert!(serde_json::from_str::<MfCnnConfig>(r#"{"numClasses": 10}"#).is_err(), "inputShape is required");
    }

    /// Sizes that would overflow a tensor shape on 32-bit wasm are refused before any tensor
    /// exists (found by `pkg-config/test/fuzz.test.mjs`: `numClasses: 2 ** 31` trapped).
    #[test]
    fn oversized_configs_are_config_errors() {
        let ok = MfCnnConfig { widths: vec![4096, 4096], ..MfCnnConfig::default() };
        assert!(ok.validate().is_ok());
        for (what, c) in [
            ("classes", MfCnnConfig { num_classes: 1 << 31, ..MfCnnConfig::default() }),
            ("classes", MfCnnConfig { num_classes: super::super::MAX_CLASSES + 1, ..MfCnnConfig::default() }),
            ("input", MfCnnConfig { input_shape: [1, 4096, 4096], ..MfCnnConfig::default() }),
            ("input", MfCnnConfig { input_shape: [1 << 31, 1 << 31, 4], ..MfCnnConfig::default() }),
            ("stem", MfCnnConfig { input_shape: [1, 2048, 2048], widths: vec![4096, 8], ..MfCnnConfig::default() }),
            ("classifier", MfCnnConfig { num_classes: 65_536, widths: vec![8, 4096], ..MfCnnConfig::default() }),
        ] {
            let e = c.validate().unwrap_err();
            assert!(matches!(e, Error::Config(_)), "{what}: {e}");
        }
    }
}

impl MfCnnConfig {
    /// Checks the config: every size positive, at least two widths, the input large enough for
    /// the stride-2 layers, the size bounds of [`super::check_input_and_classes`], and at most
    /// 2^26 values in one image's stem output and in the classifier's weights.
    ///
    /// # Errors
    /// [`Error::Config`] naming the offending value.
    pub fn validate(&self) -> Result<()> {
        let features = self.classifier_features()?;
        // One image's stem output and the classifier's weights, each at most 2^26 values (256 MB).
        let stem = self.widths[0].saturating_mul(self.input_shape[1] * self.input_shape[2]);
        if stem > 1 << 26 || features.saturating_mul(self.num_classes) > 1 << 26 {
            return Err(Error::Config(format!(
                "inputShape {:?}, widths {:?}, numClasses {}: the stem's output ({stem} values per image) or the classifier ({features} × {} weights) exceeds 2^26",
                self.input_shape, self.widths, self.num_classes, self.num_classes
            )));
        }
        Ok(())
    }

    /// Inputs of the classifier: the last feature map flattened, or its channels (saturating).
    fn classifier_features(&self) -> Result<usize> {
        let [fh, fw] = self.feature_size()?;
        let last = *self.widths.last().expect("checked by feature_size: at least 2 widths");
        Ok(match self.head {
            Head::Flatten => last.saturating_mul(fh * fw),
            Head::Avgpool => last,
        })
    }

    /// Spatial size `[h, w]` of the last feature map.
    fn feature_size(&self) -> Result<[usize; 2]> {
        super::check_input_and_classes(self.input_shape, self.num_classes)?;
        if self.widths.len() < 2 || self.widths.contains(&0) || self.widths.iter().any(|w| *w > 4096) {
            return Err(Error::Config(format!("widths {:?}: need at least 2 entries, each in 1..=4096", self.widths)));
        }
        let mut size = [self.input_shape[1], self.input_shape[2]];
        let geo = Conv2dGeometry { stride: [2, 2], padding: [1, 1], groups: 1 };
        for _ in 1..self.widths.len() {
            size = geo.output_size(size, [3, 3]).map_err(|e| {
                Error::Config(format!("inputShape {:?} is too small for {} layers: {e}", self.input_shape, self.widths.len()))
            })?;
        }
        Ok(size)
    }

    /// Builds the model.
    ///
    /// # Errors
    /// [`Error::Config`] when [`validate`](Self::validate) fails.
    pub fn init(&self, device: &Device) -> Result<MfCnn> {
        self.validate()?;
        let same = Conv2dGeometry { stride: [1, 1], padding: [1, 1], groups: 1 };
        let down = Conv2dGeometry { stride: [2, 2], padding: [1, 1], groups: 1 };
        let slot = |kind, channels, geometry| ConvSlotConfig { kind, channels, kernel: 3, geometry, shift_mode: self.shift_mode };
        let stem = slot(ConvKind::Mult, [self.input_shape[0], self.widths[0]], same).init(device)?;
        let mut layers = Vec::new();
        let mut norms = vec![DynBn::new(self.widths[0], device)];
        for pair in self.widths.windows(2) {
            layers.push(slot(self.conv, [pair[0], pair[1]], down).init(device)?);
            norms.push(DynBn::new(pair[1], device));
        }
        let features = self.classifier_features()?;
        let classifier = LinearConfig::new(features, self.num_classes).init(device);
        Ok(MfCnn { stem, layers, norms, classifier, input_shape: self.input_shape, config: self.clone() })
    }
}

/// The small multiplication-free CNN of [`MfCnnConfig`].
#[derive(Module, Debug)]
pub struct MfCnn {
    /// Multiplicative 3×3 stem.
    pub stem: ConvSlot,
    /// Body layers (Mult, Shift or Add).
    pub layers: Vec<ConvSlot>,
    /// One BatchNorm after the stem and after each body layer.
    pub norms: Vec<DynBn>,
    /// Multiplicative classifier.
    pub classifier: Linear,
    /// Expected input `[c, h, w]`.
    pub input_shape: [usize; 3],
    /// The config it was built from.
    #[module(skip)]
    pub config: MfCnnConfig,
}

impl MfCnn {
    /// Logits for a batch of images.
    ///
    /// # Shapes
    /// - `x`: `[n, c, h, w]` with `[c, h, w] = input_shape` → `[n, num_classes]`
    ///
    /// # Errors
    /// [`Error::Shape`] when `x` does not match `input_shape`.
    pub fn forward(&self, x: Tensor<4>) -> Result<Tensor<2>> {
        let [n, c, h, w] = x.dims();
        if [c, h, w] != self.input_shape {
            return Err(Error::Shape(format!("model expects images {:?}, got {:?}", self.input_shape, [c, h, w])));
        }
        let mut x = self.norms[0].normalize_act(self.stem.forward(x)?, true, Act::Relu);
        for (layer, norm) in self.layers.iter().zip(&self.norms[1..]) {
            x = norm.normalize_act(layer.forward(x)?, true, Act::Relu);
        }
        let [_, ch, h, w] = x.dims();
        let features = match self.config.head {
            Head::Flatten => x.reshape([n, ch * h * w]),
            Head::Avgpool => adaptive_avg_pool2d(x, [1, 1]).reshape([n, ch]),
        };
        Ok(self.classifier.forward(features))
    }
}

impl MfCnn {
    /// Learnable parameters, counted as PyTorch counts them: convolution and classifier
    /// weights, BN scale and shift (the BN running statistics are buffers, not parameters).
    pub fn param_count(&self) -> usize {
        self.num_params() - self.norms.iter().map(|b| 2 * b.gamma.dims()[0]).sum::<usize>()
    }
}

impl crate::train::ImageClassifier for MfCnn {
    fn logits(&self, x: Tensor<4>) -> Result<Tensor<2>> {
        self.forward(x)
    }

    fn input_shape(&self) -> [usize; 3] {
        self.input_shape
    }

    fn adder_weight_ids(&self) -> Vec<ParamId> {
        self.layers.iter().filter_map(|l| l.adder_weight_id()).collect()
    }

    fn bns_mut(&mut self) -> Vec<&mut DynBn> {
        self.norms.iter_mut().collect()
    }
}
