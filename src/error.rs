//! The crate's error type. Every fallible public function returns [`Result`]; the JS boundary
//! (`web`) maps each variant to an `Error` with a stable `code` (see [`Error::code`]).

use thiserror::Error;

/// Everything that can go wrong in this crate, by cause.
#[derive(Debug, Error)]
pub enum Error {
    /// An IDX file (MNIST / Fashion-MNIST format) is malformed.
    #[error("invalid IDX data: {0}")]
    Idx(String),
    /// A dataset is inconsistent (image/label count mismatch, label out of range, ...).
    #[error("invalid dataset: {0}")]
    Dataset(String),
    /// An input tensor does not have the length its shape promises, or the model expects.
    #[error("shape mismatch: {0}")]
    Shape(String),
    /// An input holds NaN or infinite values.
    #[error("non-finite input: {0}")]
    NonFinite(String),
    /// A configuration value is invalid; the message names the value and the valid choices.
    #[error("invalid config: {0}")]
    Config(String),
    /// An unknown backend name was requested.
    #[error("unknown backend {0:?}; valid backends: 'auto', 'webgpu', 'wasm' (alias 'cpu')")]
    UnknownBackend(String),
    /// WebGPU was requested but no adapter/device is available.
    #[error("WebGPU unavailable: {0}")]
    WebGpuUnavailable(String),
    /// A tensor could not be read back from the device, or a kernel failed.
    #[error("backend error: {0}")]
    Backend(String),
    /// File-system error (native CLI and data loading).
    #[error("i/o error on {path}: {source}")]
    Io {
        /// The path that failed.
        path: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The operation was cancelled by the caller (AbortSignal).
    #[error("aborted")]
    Aborted,
    /// The model is busy with another call (calls on one model must be sequential).
    #[error("model is busy with another call; await the previous call first")]
    Busy,
}

impl Error {
    /// A stable machine-readable code, used as `error.code` in JS.
    pub fn code(&self) -> &'static str {
        match self {
            Error::Idx(_) => "INVALID_IDX",
            Error::Dataset(_) => "INVALID_DATASET",
            Error::Shape(_) => "SHAPE_MISMATCH",
            Error::NonFinite(_) => "NON_FINITE_INPUT",
            Error::Config(_) => "INVALID_CONFIG",
            Error::UnknownBackend(_) => "UNKNOWN_BACKEND",
            Error::WebGpuUnavailable(_) => "WEBGPU_UNAVAILABLE",
            Error::Backend(_) => "BACKEND_ERROR",
            Error::Io { .. } => "IO_ERROR",
            Error::Aborted => "ABORTED",
            Error::Busy => "BUSY",
        }
    }
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
