//! Fuzzing the export loader and the engines behind it (issue 13): random mutations of a valid
//! export (model.json and model.safetensors: bytes flipped, inserted, deleted, truncated; JSON
//! values replaced or removed; safetensors header fields, dtypes, shapes, offsets and length
//! changed) go through `format::parse`, and whatever parses through `int::quantize`, the integer
//! engine and the f32 reference. Nothing may panic; every error has one of the engine's codes.
//!
//! `cargo test --release --test fuzz export` runs 50 000 mutations of each file (tier 1);
//! `FUZZ_CASES=N` runs N of each.

use burn::tensor::Device;
use serde_json::Value;
use shiftaddaug::data::Rng;
use shiftaddaug::engine::block_on;
use shiftaddaug::export::{export_mfcnn, export_supernet};
use shiftaddaug::infer::{float, format, int};
use shiftaddaug::models::{Head, MfCnnConfig};
use shiftaddaug::nn::ConvKind;
use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};

/// The codes a bad export or input may produce.
const CODES: [&str; 3] = ["INVALID_CONFIG", "SHAPE_MISMATCH", "NON_FINITE_INPUT"];

use crate::mutate::Mutator;

/// Mutations of the two export files.
trait ExportMutations {
    fn safetensors(&mut self, orig: &[u8]) -> Vec<u8>;
    fn json(&mut self, orig: &str) -> String;
}

impl ExportMutations for Mutator {
    /// One mutation of the safetensors file: its header's JSON, its length field, or its bytes.
    fn safetensors(&mut self, orig: &[u8]) -> Vec<u8> {
        let n = u64::from_le_bytes(orig[..8].try_into().unwrap()) as usize;
        match self.below(5) {
            0 => {
                let mut h: Value = serde_json::from_slice(&orig[8..8 + n]).unwrap();
                self.json_edit(&mut h);
                let h = h.to_string().into_bytes();
                [&(h.len() as u64).to_le_bytes()[..], &h, &orig[8 + n..]].concat()
            }
            1 => {
                let mut b = orig.to_vec();
                let len = [0, 1, n as u64 - 1, n as u64 + 1, b.len() as u64, u64::MAX, self.0.next_u64()][self.below(7)];
                b[..8].copy_from_slice(&len.to_le_bytes());
                b
            }
            2 => {
                // Damage inside the header only (dtypes, shapes, offsets as text).
                let mut h = orig[8..8 + n].to_vec();
                self.bytes(&mut h);
                [&(h.len() as u64).to_le_bytes()[..], &h, &orig[8 + n..]].concat()
            }
            3 => {
                // Weights changed in place (huge, tiny, NaN, Inf, negative variances).
                let mut b = orig.to_vec();
                for _ in 0..1 + self.below(8) {
                    let at = 8 + n + self.below(b.len() - 8 - n);
                    b[at] = [0x00, 0xff, 0x7f, 0x80, 0x4f, 0x3f][self.below(6)] ^ (self.below(2) as u8);
                }
                b
            }
            _ => {
                let mut b = orig.to_vec();
                self.bytes(&mut b);
                b
            }
        }
    }

    /// One mutation of model.json: a JSON value replaced or removed, or its text damaged.
    fn json(&mut self, orig: &str) -> String {
        if self.below(2) == 0 {
            let mut v: Value = serde_json::from_str(orig).unwrap();
            self.json_edit(&mut v);
            v.to_string()
        } else {
            let mut b = orig.as_bytes().to_vec();
            self.bytes(&mut b);
            String::from_utf8_lossy(&b).into_owned()
        }
    }
}

/// Parses, and runs whatever parses through both engines on one image. `Err(code)` or `Ok(())`.
fn run(json: &str, bytes: &[u8], image_seed: u64) -> Result<(), &'static str> {
    let g = format::parse(json, bytes).map_err(|e| e.code())?;
    let per: usize = g.input.iter().product();
    if per > 64 * 64 * 3 {
        return Ok(());
    }
    let mut rng = Rng::new(image_seed);
    let x: Vec<f32> = (0..per).map(|_| (rng.next_u64() % 1000) as f32 / 500.0 - 0.5).collect();
    float::logits(&g, &x, 1).map_err(|e| e.code())?;
    let q = int::quantize(&g, &x, 1).map_err(|e| e.code())?;
    q.logits(&x, 1).map_err(|e| e.code())?;
    q.probabilities(&x, 1).map_err(|e| e.code())?;
    Ok(())
}

fn fuzz(name: &str, json: &str, bytes: &[u8], cases: usize, seed: u64) {
    assert_eq!(run(json, bytes, 0), Ok(()), "{name}: the unmutated export must run");
    let mut m = Mutator(Rng::new(seed));
    let mut outcomes: BTreeMap<String, usize> = BTreeMap::new();
    for case in 0..2 * cases {
        let (j, b) = if case % 2 == 0 { (m.json(json), bytes.to_vec()) } else { (json.to_string(), m.safetensors(bytes)) };
        let r = catch_unwind(AssertUnwindSafe(|| run(&j, &b, case as u64)));
        let key = match r {
            Err(_) => panic!("{name}: case {case} panicked\nmodel.json: {j}\nsafetensors: {} bytes", b.len()),
            Ok(Ok(())) => "ran".to_string(),
            Ok(Err(code)) => {
                assert!(CODES.contains(&code), "{name}: case {case}: unexpected code {code}");
                code.to_string()
            }
        };
        *outcomes.entry(key).or_default() += 1;
    }
    println!("{name}: {} mutations, no panic: {outcomes:?}", 2 * cases);
    // The mutations reach past the first checks: some still run, many are refused.
    assert!(outcomes.get("ran").copied().unwrap_or(0) > cases / 50, "{name}: too few mutations ran: {outcomes:?}");
    assert!(outcomes.get("INVALID_CONFIG").copied().unwrap_or(0) > cases / 2, "{name}: {outcomes:?}");
    // The engine stays usable: the original export still runs.
    assert_eq!(run(json, bytes, 1), Ok(()));
}

/// 50 000 by default: CI's budget (the full run: BENCHMARKS.md "Fuzzing and soak, full runs").
fn cases() -> usize {
    Mutator::cases(50_000)
}

#[test]
fn mutated_mfcnn_exports_never_panic() {
    let device = Device::flex();
    device.seed(2);
    // A small CNN (fast to run) with Shift and Add layers and both heads.
    for (conv, head, seed) in [(ConvKind::Shift, "flatten", 11u64), (ConvKind::Add, "avgpool", 12)] {
        let head = if head == "avgpool" { Head::Avgpool } else { Head::Flatten };
        let cfg = MfCnnConfig { conv, widths: vec![4, 4, 8], head, ..Default::default() };
        let (json, bytes) = block_on(export_mfcnn(&cfg.init(&device).unwrap())).unwrap();
        fuzz(&format!("mfcnn {conv:?} {head:?}"), &json, &bytes, cases() / 2, seed);
    }
}

#[test]
fn mutated_mobilenet_exports_never_panic() {
    use shiftaddaug::aug::{AugConfig, AugNetConfig};
    let device = Device::flex();
    device.seed(4);
    // Only the structure matters here: a tiny input keeps each run short.
    let cfg = AugNetConfig { aug: AugConfig::direct(), ..AugNetConfig::new([1, 16, 16], 10, ConvKind::Add) };
    let net = cfg.init(&device).unwrap();
    let (json, bytes) = block_on(export_supernet(&net)).unwrap();
    fuzz("mbv2-tiny Add 16×16", &json, &bytes, cases() / 10, 13);
    // MobileNetV3: h-swish, squeeze-and-excitation and the final conv's tensors.
    let cfg =
        AugNetConfig { spec: shiftaddaug::models::NetSpec::mobilenet_v3_035(), ..AugNetConfig::new([1, 16, 16], 10, ConvKind::Shift) };
    let cfg = AugNetConfig { aug: AugConfig::direct(), ..cfg };
    let (json, bytes) = block_on(export_supernet(&cfg.init(&device).unwrap())).unwrap();
    fuzz("mobilenetv3-0.35 Shift 16×16", &json, &bytes, cases() / 50, 14);
}
