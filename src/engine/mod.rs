//! Backend selection and device initialisation. Nothing else in the crate creates a device.
//!
//! - CPU: burn's Flex backend (pure Rust; SIMD128 in the wasm build, rayon threads natively).
//! - WebGPU (wasm) / Vulkan, Metal (native, feature `wgpu`): burn's wgpu backend. In the
//!   browser it must be initialised with [`webgpu_device`] (async); a synchronous init or a
//!   synchronous readback panics there.

pub mod bench;
pub mod latency;
pub mod profile;

use crate::error::{Error, Result};
use burn::tensor::Device;

/// Which backend to run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    /// WebGPU if an adapter is available, else the CPU.
    Auto,
    /// WebGPU (wgpu backend).
    Webgpu,
    /// CPU (Flex backend; "wasm" in the SDK).
    Wasm,
}

impl std::str::FromStr for BackendKind {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "auto" => Ok(Self::Auto),
            "webgpu" => Ok(Self::Webgpu),
            "wasm" | "cpu" => Ok(Self::Wasm),
            other => Err(Error::UnknownBackend(other.to_string())),
        }
    }
}

/// The CPU device (Flex backend).
pub fn cpu_device() -> Device {
    Device::flex()
}

/// Builds a model with `init` on the CPU seeded with `seed`, then moves it to `device` (an
/// autodiff device) as a fresh leaf module. One seed gives one model everywhere (a WebGPU run,
/// a wasm run and a native run at the same seed start from the same weights) because:
/// - every backend draws its own random stream from a seed, so the draws happen on the CPU;
/// - burn initialises parameters lazily, on first access, so the draw order would follow
///   whichever parameter is touched first; the move right after seeding draws them all in
///   module order.
///
/// # Errors
/// Whatever `init` returns.
pub fn init_seeded<M: burn::module::Module>(device: &Device, seed: u64, init: impl FnOnce(&Device) -> Result<M>) -> Result<M> {
    let cpu = cpu_device();
    cpu.seed(seed);
    let model = init(&cpu.autodiff())?;
    // Plain tensors cross backends; an autodiff `to_device` would put the host transfer (a
    // synchronous readback, which panics on WebGPU) into every backward pass.
    Ok(model.valid().to_device(&device.clone().inner()).train())
}

/// The wgpu device, once initialised: burn registers one server per device, so a second
/// `init_async` for the same adapter fails ("a server is still registered").
#[cfg(feature = "wgpu")]
static WGPU_DEVICE: std::sync::Mutex<Option<Device>> = std::sync::Mutex::new(None);

/// Initialises WebGPU asynchronously (the only way that works in a browser), once per
/// process / module instance; later calls return the same device.
///
/// # Errors
/// [`Error::WebGpuUnavailable`] when no adapter or device can be obtained.
#[cfg(feature = "wgpu")]
pub async fn webgpu_device() -> Result<Device> {
    if let Some(d) = WGPU_DEVICE.lock().map_err(|_| Error::Backend("device cache poisoned".into()))?.clone() {
        return Ok(d);
    }
    let d = Device::wgpu_options().init_async().await.map_err(|e| Error::WebGpuUnavailable(format!("{e:?}")))?;
    *WGPU_DEVICE.lock().map_err(|_| Error::Backend("device cache poisoned".into()))? = Some(d.clone());
    Ok(d)
}

/// The build without the `wgpu` feature (the CPU-only wasm module, the default native build)
/// has no WebGPU backend: always [`Error::WebGpuUnavailable`], saying so.
///
/// # Errors
/// Always [`Error::WebGpuUnavailable`].
#[cfg(not(feature = "wgpu"))]
pub async fn webgpu_device() -> Result<Device> {
    Err(Error::WebGpuUnavailable(
        "this module was built without WebGPU (the CPU-only module); the SDK loads the WebGPU module when backend 'webgpu' is asked for"
            .into(),
    ))
}

/// Runs a future to completion on the current thread (native only). The crate's async APIs
/// never wait on anything but device readbacks, which resolve without an external executor.
#[cfg(not(target_family = "wasm"))]
pub fn block_on<F: std::future::Future>(fut: F) -> F::Output {
    use std::sync::Arc;
    use std::task::{Context, Poll, Wake, Waker};

    struct ThreadWaker(std::thread::Thread);
    impl Wake for ThreadWaker {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(ThreadWaker(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut fut = std::pin::pin!(fut);
    loop {
        match fut.as_mut().poll(&mut cx) {
            Poll::Ready(v) => return v,
            Poll::Pending => std::thread::park(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backend_names() {
        assert_eq!("auto".parse::<BackendKind>().unwrap(), BackendKind::Auto);
        assert_eq!("cpu".parse::<BackendKind>().unwrap(), BackendKind::Wasm);
        let e = "cuda".parse::<BackendKind>().unwrap_err();
        assert_eq!(e.code(), "UNKNOWN_BACKEND");
        assert!(e.to_string().contains("'webgpu'"));
    }
}
