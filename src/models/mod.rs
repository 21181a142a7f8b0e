//! Model builders from JSON-serialisable configs.

mod mbv2_tiny;
mod mf_cnn;
mod zoo;

pub use mbv2_tiny::{Act, BlockSpec, ConvBn, MBV2_TINY_BLOCKS, MbConv, MobileNetV2Tiny, MobileNetV2TinyConfig, hard_sigmoid};
pub use mf_cnn::{Head, MfCnn, MfCnnConfig};
pub use zoo::NetSpec;

use crate::error::{Error, Result};

/// Checks what every image classifier config shares: no zero input dimension, at least two
/// classes, stem stride 1 or 2.
///
/// # Errors
/// [`Error::Config`] naming the bad value and the valid choices.
pub(crate) fn check_classifier_config(input_shape: [usize; 3], num_classes: usize, stem_stride: usize) -> Result<()> {
    if input_shape.contains(&0) {
        return Err(Error::Config(format!("inputShape {input_shape:?} has a zero dimension")));
    }
    if num_classes < 2 {
        return Err(Error::Config(format!("numClasses = {num_classes}; need at least 2")));
    }
    if !(1..=2).contains(&stem_stride) {
        return Err(Error::Config(format!("stemStride = {stem_stride}; valid: 1, 2")));
    }
    Ok(())
}
