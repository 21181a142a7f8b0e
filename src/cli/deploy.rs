//! `shiftaddaug deploy DIR`: the export in `DIR` through the integer engine (`infer::int`):
//! calibrated on training images, then compared with the f32 reference on the test set.

use super::args::DeployArgs;
use shiftaddaug::data::{Split, load_fashion_mnist};
use shiftaddaug::infer::{float, format, int};
use std::time::Instant;

fn argmax(row: &[f32]) -> usize {
    row.iter().enumerate().fold(0, |b, (i, v)| if *v > row[b] { i } else { b })
}

/// The export in `dir` (`model.json` + `model.safetensors`).
pub(super) fn read_export(dir: &std::path::Path) -> Result<format::Graph, shiftaddaug::Error> {
    let read = |name: &str| {
        let path = dir.join(name);
        std::fs::read(&path).map_err(|source| shiftaddaug::Error::Io { path: path.display().to_string(), source })
    };
    let json = String::from_utf8(read("model.json")?).map_err(|_| shiftaddaug::Error::Config("model.json is not UTF-8".into()))?;
    format::parse(&json, &read("model.safetensors")?)
}

/// Prints float and integer accuracy, their top-1 agreement and the time per image of each.
pub(super) fn deploy(a: DeployArgs) -> Result<(), shiftaddaug::Error> {
    let g = read_export(&a.dir)?;
    let (train, test) = (load_fashion_mnist(&a.data, Split::Train)?, load_fashion_mnist(&a.data, Split::Test)?);
    let calibration = a.calibration.min(train.len());
    // Exports trained with `--input-size N` take the images zero-padded as in training.
    let size = g.input[1].max(g.input[2]);
    let train = train.slice(0, calibration).pad_to(size);
    let test = test.slice(0, a.test.min(test.len())).pad_to(size);
    let (cx, _) = train.gather(&(0..calibration).collect::<Vec<_>>());
    let q = int::quantize(&g, &cx, cx.len() / g.input.iter().product::<usize>())?;
    let (x, y) = test.gather(&(0..test.len()).collect::<Vec<_>>());
    let t = Instant::now();
    let fl = float::logits(&g, &x, test.len())?;
    let tf = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let il = q.logits(&x, test.len())?;
    let ti = t.elapsed().as_secs_f64();
    let k = g.classes;
    let (mut fa, mut ia, mut agree) = (0usize, 0usize, 0usize);
    for i in 0..test.len() {
        let (p, r) = (argmax(&fl[i * k..(i + 1) * k]), argmax(&il[i * k..(i + 1) * k]));
        fa += usize::from(p == y[i] as usize);
        ia += usize::from(r == y[i] as usize);
        agree += usize::from(p == r);
    }
    let n = test.len() as f64;
    println!(
        "{} test images, calibration on {} training images\nfloat (f32 reference): accuracy {:.4}, {:.3} ms per image\ninteger engine: accuracy {:.4}, {:.3} ms per image\ntop-1 agreement {:.4}",
        test.len(),
        calibration,
        fa as f64 / n,
        tf * 1e3 / n,
        ia as f64 / n,
        ti * 1e3 / n,
        agree as f64 / n
    );
    Ok(())
}
