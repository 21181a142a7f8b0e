//! Model builders from JSON-serialisable configs.

mod mbv2_tiny;
mod mf_cnn;
mod zoo;

pub use mbv2_tiny::{Act, BlockSpec, ConvBn, MBV2_TINY_BLOCKS, MbConv, MobileNetV2Tiny, MobileNetV2TinyConfig, hard_sigmoid};
pub use mf_cnn::{Head, MfCnn, MfCnnConfig};
pub use zoo::NetSpec;

use crate::error::{Error, Result};

/// Most classes a classifier may have.
pub const MAX_CLASSES: usize = 65_536;
/// Most values one input image may have (`channels · height · width`).
pub const MAX_INPUT_VALUES: usize = 1 << 22;

/// Checks the input shape and class count every classifier shares: no zero dimension, at most
/// [`MAX_INPUT_VALUES`] values per image, 2 to [`MAX_CLASSES`] classes (sizes beyond these
/// overflow tensor shapes in the 32-bit wasm build).
///
/// # Errors
/// [`Error::Config`] naming the bad value and the valid range.
pub(crate) fn check_input_and_classes(input_shape: [usize; 3], num_classes: usize) -> Result<()> {
    if input_shape.contains(&0) {
        return Err(Error::Config(format!("inputShape {input_shape:?} has a zero dimension")));
    }
    if input_shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d)).is_none_or(|v| v > MAX_INPUT_VALUES) {
        return Err(Error::Config(format!("inputShape {input_shape:?}: more than {MAX_INPUT_VALUES} values per image")));
    }
    if !(2..=MAX_CLASSES).contains(&num_classes) {
        return Err(Error::Config(format!("numClasses = {num_classes}; valid: 2 to {MAX_CLASSES}")));
    }
    Ok(())
}

/// Checks what every image classifier config shares: [`check_input_and_classes`], stem stride
/// 1 or 2.
///
/// # Errors
/// [`Error::Config`] naming the bad value and the valid choices.
pub(crate) fn check_classifier_config(input_shape: [usize; 3], num_classes: usize, stem_stride: usize) -> Result<()> {
    check_input_and_classes(input_shape, num_classes)?;
    if !(1..=2).contains(&stem_stride) {
        return Err(Error::Config(format!("stemStride = {stem_stride}; valid: 1, 2")));
    }
    Ok(())
}
