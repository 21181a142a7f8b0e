//! Single-thread latency of the deployed-model engines (issue 13), natively: the f32 reference
//! (`infer::float`) and the integer engine (`infer::int`) on every instruction set this build
//! has, batch 1 and batches of 16, on one export. Prints a markdown table (median ms per image).
//!
//! Run: `cargo bench --bench infer -- DIR [images]` with `DIR` an export (`shiftaddaug train ...
//! --out DIR`); test images are zero-padded to the model's input as in training.

use shiftaddaug::data::{Split, load_fashion_mnist};
use shiftaddaug::infer::kernels::Isa;
use shiftaddaug::infer::{float, format, int};
use std::time::Instant;

fn median(mut t: Vec<f64>) -> f64 {
    t.sort_by(f64::total_cmp);
    t[t.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    let dir = std::path::PathBuf::from(args.first().expect("usage: cargo bench --bench infer -- DIR [images]"));
    let n: usize = args.get(1).map_or(200, |v| v.parse().expect("images: a number"));
    let read = |f: &str| std::fs::read(dir.join(f)).unwrap_or_else(|e| panic!("{}: {e}", dir.join(f).display()));
    let g = format::parse(std::str::from_utf8(&read("model.json")).unwrap(), &read("model.safetensors")).unwrap();
    let data = std::path::Path::new("/usr/share/datasets/fashion-mnist");
    let size = g.input[1];
    let train = load_fashion_mnist(data, Split::Train).unwrap().slice(0, 256).pad_to(size);
    let test = load_fashion_mnist(data, Split::Test).unwrap().slice(0, n).pad_to(size);
    let (cx, _) = train.gather(&(0..256).collect::<Vec<_>>());
    let (x, _) = test.gather(&(0..n).collect::<Vec<_>>());
    let q = int::quantize(&g, &cx, 256).unwrap();
    let per = x.len() / n;
    let time = |f: &dyn Fn(&[f32])| {
        f(&x[..per]);
        median(
            x.chunks_exact(per)
                .map(|img| {
                    let t = Instant::now();
                    f(img);
                    t.elapsed().as_secs_f64() * 1e3
                })
                .collect(),
        )
    };
    // Batches of 16 images walk the graph together (`int::Quantized::logits_q_batch`).
    let batches = n / 16;
    let time16 = |isa: Isa| {
        let run = |b: usize| q.logits_q_batch(isa, &x[b * 16 * per..(b + 1) * 16 * per], 16).unwrap();
        drop(run(0));
        median(
            (0..batches)
                .map(|b| {
                    let t = Instant::now();
                    drop(run(b));
                    t.elapsed().as_secs_f64() * 1e3 / 16.0
                })
                .collect(),
        )
    };
    println!(
        "| engine | ms per image (batch 1, one thread, median of {n}) | ms per image (batches of 16, median of {batches}) |\n|---|---|---|"
    );
    println!("| f32 reference | {:.3} | |", time(&|img| drop(float::forward(&g, img, &mut |_, _| {}).unwrap())));
    for isa in Isa::available() {
        println!("| integer, {} | {:.3} | {:.3} |", isa.name(), time(&|img| drop(q.logits_q_on(isa, img).unwrap())), time16(isa));
    }
}
