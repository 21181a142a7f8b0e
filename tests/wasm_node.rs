//! wasm32 in Node: the adder conformance suite on the SIMD128 and scalar kernels and on the
//! fused tensor op, the CPU path (Flex, SIMD128) trains on real data, and the JS boundary
//! returns typed errors with stable codes.
#![cfg(target_family = "wasm")]

mod conformance;
mod wasm_shared;

use js_sys::{Float32Array, Reflect};
use shiftaddaug::engine::cpu_device;
use shiftaddaug::nn::ConvKind;
use shiftaddaug::web::{Session, parse_idx};
use wasm_bindgen::JsValue;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;
use wasm_shared::{check, train_run};

/// The test build must have SIMD128 (`.cargo/config.toml`): checked at compile time, and the
/// module must report it at run time.
#[wasm_bindgen_test]
fn built_with_simd128() {
    const { assert!(cfg!(target_feature = "simd128"), "build the wasm tests with +simd128") };
    assert!(shiftaddaug::web::simd_enabled());
}

#[wasm_bindgen_test]
fn cpu_kernels_conform_simd128_and_scalar() {
    use shiftaddaug::ops::fused::cpu::{self, AdderShape, CpuIsa};
    let isas = CpuIsa::available();
    assert_eq!(isas.iter().map(|i| i.name()).collect::<Vec<_>>(), ["scalar", "simd128"]);
    assert_eq!(CpuIsa::best().name(), "simd128", "training uses the SIMD128 kernels");
    for c in conformance::all() {
        let s = AdderShape::new(c.x, c.w, c.geo).unwrap();
        let want_y = cpu::forward(CpuIsa::Scalar, &s, &c.xv, &c.wv);
        let want_g = cpu::backward(CpuIsa::Scalar, &s, &c.xv, &c.wv, &c.gy);
        conformance::check("scalar", &c, &want_y, &want_g.1, &want_g.0);
        for &isa in &isas[1..] {
            let y = cpu::forward(isa, &s, &c.xv, &c.wv);
            let g = cpu::backward(isa, &s, &c.xv, &c.wv, &c.gy);
            conformance::check(isa.name(), &c, &y, &g.1, &g.0);
            assert_eq!((y, g), (want_y.clone(), want_g.clone()), "{} is bit-identical to scalar: {}", isa.name(), c.name);
        }
    }
}

#[wasm_bindgen_test]
async fn fused_tensor_op_conforms_in_node() {
    use burn::tensor::{Tensor, TensorData};
    let device = cpu_device().autodiff();
    assert!(shiftaddaug::ops::fused::fused_supported(&device));
    async fn read(t: Tensor<4>) -> Vec<f32> {
        t.into_data_async().await.unwrap().try_into_vec_as::<f32>().unwrap()
    }
    for c in conformance::all() {
        let x = Tensor::<4>::from_data(TensorData::new(c.xv.clone(), c.x), &device).require_grad();
        let w = Tensor::<4>::from_data(TensorData::new(c.wv.clone(), c.w), &device).require_grad();
        let y = shiftaddaug::ops::adder_conv2d(x.clone(), w.clone(), c.geo).unwrap();
        let grads = y.clone().mul(Tensor::from_data(TensorData::new(c.gy.clone(), c.y_dims), &device)).sum().backward();
        let (dw, dx) = (read(w.grad(&grads).unwrap()).await, read(x.grad(&grads).unwrap()).await);
        conformance::check("fused (node)", &c, &read(y).await, &dw, &dx);
    }
}

/// The fused BatchNorm + activation (SIMD128 build) against burn's ops.
#[wasm_bindgen_test]
async fn fused_bn_act_conforms_in_node() {
    let failures = conformance::bn_act::check(&cpu_device().autodiff(), "node").await;
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The fast depthwise and pointwise convolutions (SIMD128 build) against burn's `conv2d`.
#[wasm_bindgen_test]
async fn fast_convs_conform_in_node() {
    let failures = conformance::conv::check(&cpu_device().autodiff(), "node", true).await;
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The fused power-of-two quantisation (wasm build) against the tensor-op reference, bit for bit.
#[wasm_bindgen_test]
async fn fused_pot_quantize_conforms_in_node() {
    let failures = conformance::pot::check(&cpu_device().autodiff(), "node", true).await;
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[wasm_bindgen_test]
async fn shift_net_trains_in_node() {
    let r = train_run(cpu_device(), ConvKind::Shift, 3072, 1000, 32).await;
    web_sys::console::log_1(&format!("node shift: {r:?}").into());
    check("node shift", &r);
}

#[wasm_bindgen_test]
async fn adder_net_trains_in_node() {
    let r = train_run(cpu_device(), ConvKind::Add, 4096, 1000, 32).await;
    web_sys::console::log_1(&format!("node add: {r:?}").into());
    check("node add", &r);
}

fn code(e: &JsValue) -> String {
    Reflect::get(e, &"code".into()).unwrap().as_string().unwrap_or_default()
}

fn obj(json: &str) -> JsValue {
    js_sys::JSON::parse(json).unwrap()
}

#[wasm_bindgen_test]
async fn boundary_errors_have_codes() {
    let mc = obj(r#"{"inputShape":[1,28,28],"numClasses":10,"conv":"shift","widths":[4,8]}"#);
    // Through the exported promise API, as JS sees it.
    let e = JsFuture::from(Session::create(mc.clone(), JsValue::NULL, "cuda".into())).await.unwrap_err();
    assert_eq!(code(&e), "UNKNOWN_BACKEND");
    assert_eq!(Reflect::get(&e, &"name".into()).unwrap().as_string().unwrap(), "ShiftAddAugError");
    // Node has no navigator.gpu: asking for WebGPU is an error, not a crash.
    let e = JsFuture::from(Session::create(mc.clone(), JsValue::NULL, "webgpu".into())).await.unwrap_err();
    assert_eq!(code(&e), "WEBGPU_UNAVAILABLE");
    let bad = obj(r#"{"inputShape":[1,28,28],"numClasses":10,"conv":"mul"}"#);
    let e = JsFuture::from(Session::create(bad, JsValue::NULL, "wasm".into())).await.unwrap_err();
    assert_eq!(code(&e), "INVALID_CONFIG");
    let e = JsFuture::from(Session::create(mc.clone(), obj(r#"{"batchSize":0}"#), "wasm".into())).await.unwrap_err();
    assert_eq!(code(&e), "INVALID_CONFIG");

    let s = Session::open(mc, JsValue::NULL, "auto").await.unwrap();
    assert_eq!(s.backend(), "wasm");
    let e = JsFuture::from(s.predict(vec![0.0; 783], 1)).await.unwrap_err();
    assert_eq!(code(&e), "SHAPE_MISMATCH");
    let mut x = vec![0.0; 784];
    x[3] = f32::NAN;
    assert_eq!(code(&JsFuture::from(s.predict(x.clone(), 1)).await.unwrap_err()), "NON_FINITE_INPUT");
    assert_eq!(code(&s.set_training_data(x, vec![1]).unwrap_err()), "NON_FINITE_INPUT");
    assert_eq!(code(&s.set_training_data(vec![0.0; 784], vec![1, 2]).unwrap_err()), "SHAPE_MISMATCH");
    assert_eq!(code(&s.set_training_data(vec![0.0; 784], vec![-1]).unwrap_err()), "INVALID_DATASET");
    assert_eq!(code(&s.configure(obj(r#"{"learningRate":-1}"#)).unwrap_err()), "INVALID_CONFIG");
    // The session still works after every rejected call.
    s.set_training_data(vec![0.5; 784 * 4], vec![0, 1, 2, 3]).unwrap();
    assert_eq!(s.begin_epoch(0).unwrap(), 1);
    let m = JsFuture::from(s.train_next(true)).await.unwrap();
    assert!(Reflect::get(&m, &"loss".into()).unwrap().as_f64().unwrap().is_finite());
    let p: Float32Array = JsFuture::from(s.predict(vec![0.5; 784], 1)).await.unwrap().into();
    assert_eq!(p.length(), 10);

    assert_eq!(code(&parse_idx(&[0, 0, 8, 1, 0, 0, 0, 5, 1, 2]).unwrap_err()), "INVALID_IDX");
    assert_eq!(code(&parse_idx(&[7, 7, 7, 7]).unwrap_err()), "INVALID_IDX");
    assert_eq!(code(&parse_idx(&wasm_shared::TEST_LABELS[..100]).unwrap_err()), "INVALID_IDX");
}

/// BN re-estimation in wasm: after runs over N = 500 images (two batches), a run over 4N grows
/// the module's memory (`memory.buffer.byteLength`, which never shrinks) by less than one
/// batch's activations. It used to keep every batch's autodiff graph: about 2 MB per image, so
/// the 1 500 extra images here would have grown it by about 3 GB.
#[wasm_bindgen_test]
fn bn_reestimation_memory_does_not_grow_with_images() {
    use shiftaddaug::aug::{AugConfig, AugNetConfig, NetSpec};
    use shiftaddaug::train::reset_bn;
    let (train, _) = wasm_shared::fashion(2000, 1);
    let cfg = AugNetConfig { spec: NetSpec::mbv2_tiny(), aug: AugConfig::default(), ..AugNetConfig::new([1, 28, 28], 10, ConvKind::Add) };
    let device = cpu_device().autodiff();
    device.seed(0);
    let model = cfg.init(&device).unwrap();
    let bytes = || {
        let mem: js_sys::WebAssembly::Memory = wasm_bindgen::memory().into();
        js_sys::ArrayBuffer::from(mem.buffer()).byte_length() as i64
    };
    let model = reset_bn(model, &train, 500, 250).unwrap();
    let model = reset_bn(model, &train, 500, 250).unwrap();
    let after_n = bytes();
    let _model = reset_bn(model, &train, 2000, 250).unwrap();
    let growth = bytes() - after_n;
    // One 250-image batch of the widest activation (the first MBConv's expanded 28×28 maps).
    let one_batch = 250 * 48 * 28 * 28 * 4;
    web_sys::console::log_1(&format!("BN re-estimation: wasm memory {after_n} B after 500 images, +{growth} B after 2000").into());
    assert!(growth < one_batch, "memory grew by {growth} B over 2000 images (one batch: {one_batch} B)");
}

/// The integer engine's kernels in Node (see `wasm_shared::integer_kernels_conform`).
#[wasm_bindgen_test]
fn integer_kernels_conform_simd128_and_scalar() {
    wasm_shared::integer_kernels_conform();
}
