//! Model builders from JSON-serialisable configs.

mod mf_cnn;

pub use mf_cnn::{Head, MfCnn, MfCnnConfig};
