//! Model builders from JSON-serialisable configs.

mod mbv2_tiny;
mod mf_cnn;

pub use mbv2_tiny::{BlockSpec, ConvBn, MBV2_TINY_BLOCKS, MbConv, MobileNetV2Tiny, MobileNetV2TinyConfig};
pub use mf_cnn::{Head, MfCnn, MfCnnConfig};
