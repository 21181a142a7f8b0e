//! Fuzzing the native parsers of user files (issue 15): IDX files (raw and gzip) through
//! `parse_idx` and `Dataset::from_idx`, and training checkpoints through `read_header` and
//! `Trainer::restore`. Random mutations (bytes flipped, overwritten, inserted, deleted, truncated;
//! header lengths and JSON fields changed) must give a typed error or a valid result, never a
//! panic; a failed restore leaves the trainer usable.
//!
//! `cargo test --release --test fuzz data` (tier 1) runs 1 000 000 IDX mutations per form (raw,
//! gzip) and 100 000 checkpoint mutations, in a few seconds; `FUZZ_CASES=N` runs N per IDX form
//! and N / 10 checkpoints.

use burn::tensor::Device;
use shiftaddaug::data::{Dataset, Rng, parse_idx};
use shiftaddaug::engine::block_on;
use shiftaddaug::models::MfCnnConfig;
use shiftaddaug::nn::ConvKind;
use shiftaddaug::train::checkpoint::read_header;
use shiftaddaug::train::{TrainConfig, Trainer};
use std::collections::BTreeMap;
use std::io::Write;
use std::panic::{AssertUnwindSafe, catch_unwind};

use crate::mutate::Mutator;

/// `n` images of 28×28 (or labels) as an IDX file.
fn idx(dims: &[u32], data: &[u8]) -> Vec<u8> {
    let mut b = vec![0, 0, 8, dims.len() as u8];
    for d in dims {
        b.extend(d.to_be_bytes());
    }
    b.extend(data);
    b
}

fn gzip(b: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(b).unwrap();
    e.finish().unwrap()
}

fn tally(outcomes: &mut BTreeMap<String, usize>, r: std::thread::Result<Result<(), &'static str>>, what: &str, case: usize) {
    let key = match r {
        Err(_) => panic!("{what}: case {case} panicked"),
        Ok(Ok(())) => "ok".to_string(),
        Ok(Err(code)) => code.to_string(),
    };
    *outcomes.entry(key).or_default() += 1;
}

#[test]
fn mutated_idx_files_never_panic() {
    let cases = Mutator::cases(1_000_000);
    let mut rng = Rng::new(9);
    let images: Vec<u8> = (0..6 * 784).map(|_| rng.next_u64() as u8).collect();
    let labels: Vec<u8> = (0..6).map(|i| i as u8).collect();
    let lab = idx(&[6], &labels);
    for (form, base) in [("raw", idx(&[6, 28, 28], &images)), ("gzip", gzip(&idx(&[6, 28, 28], &images)))] {
        let mut m = Mutator(Rng::new(form.len() as u64));
        let mut outcomes = BTreeMap::new();
        for case in 0..cases {
            let mut b = base.clone();
            if form == "raw" && m.below(3) == 0 {
                // Dimensions and element type changed in place.
                let at = 2 + m.below(12.min(b.len() - 2));
                b[at] = [0, 1, 2, 3, 8, 0x0d, 0xff, 0x80][m.below(8)];
            } else {
                m.bytes(&mut b);
            }
            let r = catch_unwind(AssertUnwindSafe(|| {
                let a = parse_idx(&b).map_err(|e| e.code())?;
                Dataset::from_idx(&a, &parse_idx(&lab).unwrap(), 10).map_err(|e| e.code())?;
                Ok(())
            }));
            if let Ok(Err(code)) = r {
                assert!(["INVALID_IDX", "INVALID_DATASET"].contains(&code), "{form} case {case}: code {code}");
            }
            tally(&mut outcomes, r, form, case);
        }
        println!("IDX {form}: {cases} mutations, no panic: {outcomes:?}");
        assert!(outcomes.get("INVALID_IDX").copied().unwrap_or(0) > cases / 2, "{form}: {outcomes:?}");
    }
}

#[test]
fn mutated_checkpoints_never_panic() {
    let cases = Mutator::cases(1_000_000) / 10;
    let device = Device::flex().autodiff();
    device.seed(3);
    let cfg = MfCnnConfig { conv: ConvKind::Shift, widths: vec![4, 4, 8], ..Default::default() };
    let cfg_json = serde_json::to_string(&cfg).unwrap();
    let train =
        shiftaddaug::data::load_fashion_mnist(std::path::Path::new(shiftaddaug::data::FASHION_MNIST_DIR), shiftaddaug::data::Split::Train)
            .unwrap()
            .slice(0, 64);
    let mut t = Trainer::new(cfg.init(&device).unwrap(), 10, TrainConfig { batch_size: 32, ..TrainConfig::default() }).unwrap();
    block_on(t.fit_epoch(&train, 0, &mut |_| true)).unwrap();
    let base = t.checkpoint(&cfg_json, 1).unwrap();
    let n = u64::from_le_bytes(base[8..16].try_into().unwrap()) as usize;
    let mut m = Mutator(Rng::new(21));
    let mut outcomes = BTreeMap::new();
    for case in 0..cases {
        let b = match m.below(3) {
            0 => {
                let mut h: serde_json::Value = serde_json::from_slice(&base[16..16 + n]).unwrap();
                m.json_edit(&mut h);
                let h = h.to_string().into_bytes();
                [&base[..8], &(h.len() as u64).to_le_bytes()[..], &h, &base[16 + n..]].concat()
            }
            1 => {
                let mut b = base.clone();
                let len = [0, 1, n as u64 + 1, u64::MAX, u64::MAX - 15, m.0.next_u64()][m.below(6)];
                b[8..16].copy_from_slice(&len.to_le_bytes());
                b
            }
            _ => {
                let mut b = base.clone();
                m.bytes(&mut b);
                b
            }
        };
        let r = catch_unwind(AssertUnwindSafe(|| {
            read_header(&b).map_err(|e| e.code())?;
            t.restore(&b, &cfg_json).map_err(|e| e.code())?;
            Ok(())
        }));
        if let Ok(Err(code)) = r {
            assert_eq!(code, "INVALID_CONFIG", "case {case}");
        }
        tally(&mut outcomes, r, "checkpoint", case);
    }
    println!("checkpoints: {cases} mutations, no panic: {outcomes:?}");
    // The trainer still restores the original and trains.
    assert_eq!(t.restore(&base, &cfg_json).unwrap(), 1);
    block_on(t.fit_epoch(&train, 1, &mut |_| true)).unwrap();
}
