//! Export of the small MF CNN (`docs/FORMAT.md`, family `mfcnn`): the files reproduce the
//! model's logits bit for bit, re-export gives the same bytes, bad files are refused. The
//! supernet family is tested in `tests/aug.rs`.

mod util;

use burn::tensor::{Device, Tensor, TensorData};
use shiftaddaug::engine::block_on;
use shiftaddaug::export::{Deployed, export_mfcnn, import};
use shiftaddaug::models::{Head, MfCnn, MfCnnConfig};
use shiftaddaug::nn::{ConvKind, ShiftMode};
use shiftaddaug::train::ImageClassifier;
use util::{gaussian, read};

fn images(n: usize, seed: u64, device: &Device) -> Tensor<4> {
    Tensor::from_data(TensorData::new(gaussian(n * 2 * 20 * 20, seed), [n, 2, 20, 20]), device)
}

fn import_mfcnn(json: &str, bytes: &[u8], device: &Device) -> shiftaddaug::Result<MfCnn> {
    match import(json, bytes, device)? {
        Deployed::Mfcnn(m) => Ok(m),
        other => panic!("an mfcnn export read back as {other:?}"),
    }
}

#[test]
fn mfcnn_export_reproduces_the_model_bit_for_bit() {
    let device = Device::flex();
    let cases = [
        (ConvKind::Shift, ShiftMode::Q, Head::Flatten),
        (ConvKind::Shift, ShiftMode::Ps, Head::Avgpool),
        (ConvKind::Add, ShiftMode::Q, Head::Flatten),
        (ConvKind::Mult, ShiftMode::Q, Head::Avgpool),
    ];
    for (i, (conv, shift_mode, head)) in cases.into_iter().enumerate() {
        let cfg = MfCnnConfig { input_shape: [2, 20, 20], num_classes: 7, conv, widths: vec![6, 12, 10], head, shift_mode };
        device.seed(i as u64);
        let mut model = cfg.init(&device).unwrap();
        // Non-trivial BatchNorm statistics, so that a missing or misplaced one shows.
        for (k, bn) in model.bns_mut().into_iter().enumerate() {
            let c = bn.gamma.dims()[0];
            let t = |v: Vec<f32>| Tensor::<1>::from_data(TensorData::new(v, [c]), &device);
            let g = gaussian(2 * c, 100 + k as u64);
            bn.set_statistics(t(g[..c].to_vec()), t(g[c..].iter().map(|v| 0.5 + v.abs()).collect()));
        }
        let x = images(5, 7 + i as u64, &device);
        let want = read(model.logits(x.clone()).unwrap());
        let (json, bytes) = block_on(export_mfcnn(&model)).unwrap();
        let doc: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!((doc["format"].as_str(), doc["model"].as_str()), (Some("shiftaddaug-tiny/3"), Some("mfcnn")), "{json}");
        let layers = doc["layers"].as_array().unwrap();
        assert_eq!(layers.len(), 3);
        assert_eq!(
            (layers[0]["name"].as_str(), layers[0]["kind"].as_str(), layers[0]["stride"].as_u64()),
            (Some("stem"), Some("mult"), Some(1))
        );
        let kind = serde_json::to_value(conv).unwrap();
        assert_eq!((layers[2]["name"].as_str(), &layers[2]["kind"], layers[2]["stride"].as_u64()), (Some("layers.1"), &kind, Some(2)));
        let features = if head == Head::Flatten { 10 * 5 * 5 } else { 10 };
        assert_eq!((doc["features"].as_u64(), doc["classes"].as_u64()), (Some(features), Some(7)));
        let loaded = import_mfcnn(&json, &bytes, &device).unwrap();
        assert_eq!(read(loaded.logits(x).unwrap()), want, "{conv:?} {shift_mode:?}: bit for bit");
        assert_eq!(block_on(export_mfcnn(&loaded)).unwrap(), (json.clone(), bytes.clone()), "{conv:?}: re-export gives the same files");
        // Bad files are refused with a message, never half-loaded.
        let e = import(&json, &bytes[..bytes.len() - 4], &device).unwrap_err().to_string();
        assert!(e.contains("outside the data"), "{e}");
        let other = MfCnnConfig { widths: vec![6, 12, 11], ..cfg.clone() };
        let (json2, _) = block_on(export_mfcnn(&other.init(&device).unwrap())).unwrap();
        let e = import(&json2, &bytes, &device).unwrap_err().to_string();
        assert!(e.contains("expected") && e.contains("11"), "{e}");
        let e = import(&json.replace("\"mfcnn\"", "\"supernet\""), &bytes, &device).unwrap_err().to_string();
        assert!(e.contains("AugNetConfig"), "{e}");
        let e = import(&json.replace("shiftaddaug-tiny/3", "shiftaddaug-tiny/2"), &bytes, &device).unwrap_err().to_string();
        assert!(e.contains("format"), "a version-2 file holds no mfcnn: {e}");
    }
}

/// A shift file whose exponents leave the 5-bit range is refused.
#[test]
fn mfcnn_import_refuses_out_of_range_shift_codes() {
    let device = Device::flex();
    let model = MfCnnConfig { input_shape: [2, 20, 20], ..MfCnnConfig::default() }.init(&device).unwrap();
    let (json, bytes) = block_on(export_mfcnn(&model)).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    let [start, _] = serde_json::from_value::<[usize; 2]>(header["layers.0.exponent"]["data_offsets"].clone()).unwrap();
    let mut bad = bytes.clone();
    bad[8 + n + start] = 3; // exponent +3
    let e = import(&json, &bad, &device).unwrap_err().to_string();
    assert!(e.contains("exponents in [-15, 0]"), "{e}");
}
