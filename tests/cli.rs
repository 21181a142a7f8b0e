//! The CLI binary as a user runs it: help and version exit 0 and document every option with
//! its default, bad options exit 2 with the valid choices, empty data is refused with a typed
//! error and exit code 1, a run says where it wrote its files, and a supernet is searched and
//! its plan trained.

use std::process::{Command, Output};

fn cli(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_shiftaddaug")).args(args).output().unwrap()
}

fn read_json(path: &std::path::Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

#[test]
fn empty_training_or_test_data_is_refused() {
    for (flag, what) in [("--train-limit", "no training images"), ("--test-limit", "no test images")] {
        let out = cli(&["train", flag, "0", "--out", "none"]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{flag} 0: {err}");
        assert!(err.contains("INVALID_DATASET") && err.contains(what), "{flag} 0: {err}");
    }
}

#[test]
fn help_and_version_exit_zero_and_document_every_option() {
    let out = cli(&["--help"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0));
    for sub in ["train", "compare", "trace", "deploy", "cost", "search", "latency"] {
        assert!(text.lines().any(|l| l.trim_start().starts_with(&format!("{sub} "))), "{sub} missing from\n{text}");
    }
    let out = cli(&["train", "--help"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0));
    let options: Vec<&str> = text.lines().filter(|l| l.trim_start().starts_with("--")).collect();
    assert!(options.len() >= 39, "{} options: {text}", options.len());
    for line in options {
        // One line per option; every option that takes a value states its default (or what
        // the absence means), except --resume and --plan.
        let takes_value = line.contains('<');
        let documented = line.contains("[default:") || line.contains("--resume") || line.contains("--plan");
        assert!(!takes_value || documented, "no default in: {line}");
    }
    for args in [&["compare", "-h"][..], &["trace", "--help"], &["help", "train"]] {
        assert_eq!(cli(args).status.code(), Some(0), "{args:?}");
    }
    let out = cli(&["--version"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), format!("shiftaddaug {}", env!("CARGO_PKG_VERSION")));
}

#[test]
fn bad_options_exit_two_with_the_valid_choices() {
    for (args, needle) in [
        (&["train", "--conv", "mul"][..], "[possible values: mult, shift, add]"),
        (&["train", "--frobnicate"], "unexpected argument '--frobnicate'"),
        (&["frobnicate"], "unrecognized subcommand 'frobnicate'"),
        (&["train", "--input-size", "16"], "must be >= 28"),
        (&["compare", "--grid", "big"], "[possible values: main, ablation, baselines]"),
        // ShiftAddAug needs a supernet; its options need --aug on (nothing is dropped silently).
        (&["train", "--aug", "on"], "--aug on needs a supernet model"),
        (&["train", "--model", "mbv2-tiny", "--subnets", "1"], "--subnets applies to ShiftAddAug training: add --aug on"),
        // compare checks every row before the first trains: mfcnn has no supernet for its ShiftAddAug rows.
        (&["compare", "--epochs", "1"], "Shift + ShiftAddAug: --aug on needs a supernet model"),
    ] {
        let out = cli(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
    }
}

/// A short run names one parameter count, and says where its checkpoint and export went; its
/// export (trained on images padded to 32×32) runs through `deploy`, which pads the same way.
#[test]
fn a_run_says_where_it_wrote_its_files() {
    let dir = std::env::temp_dir().join(format!("shiftaddaug-cli-{}", std::process::id()));
    let d = dir.to_str().unwrap();
    let out = cli(&["train", "--input-size", "32", "--train-limit", "256", "--test-limit", "100", "--bn-reset", "256", "--out", d]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(text.matches("parameters").count(), 1, "{text}");
    // mfcnn [8, 16, 32] on 32×32, flatten: stem 72 + convs 1 152 + 4 608, BN 2·(8 + 16 + 32), linear 2 048·10 + 10.
    assert!(text.contains("deployed parameters: 26434"), "{text}");
    for file in ["checkpoint.bin", "model.json", "model.safetensors"] {
        let path = dir.join(file);
        assert!(path.is_file(), "{file} not written");
        assert!(text.contains(&path.display().to_string()), "{file}'s path not printed: {text}");
    }
    // The export runs through the integer engine.
    let out = cli(&["deploy", d, "--calibration", "64", "--test", "200"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}{}", String::from_utf8_lossy(&out.stderr));
    let agree: f64 = text.split("top-1 agreement ").nth(1).and_then(|v| v.trim().parse().ok()).expect("an agreement line");
    assert!(text.contains("200 test images") && agree >= 0.95, "{text}");
    // Its cost: stem 8 · 1 024 · 9, convs 16 · 256 · 72 and 32 · 64 · 144, classifier 2 048 · 10.
    let out = cli(&["cost", d, "--layers"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("684032 MACs") && text.contains("| classifier | Mult | 20480 |"), "{text}");
    // The dataflow estimate: its levels add up to its total; compute is the per-MAC energy above.
    let out = cli(&["cost", d, "--dataflow", "--batch", "4"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}{}", String::from_utf8_lossy(&out.stderr));
    let line = text.lines().find(|l| l.starts_with("dataflow estimate")).unwrap_or_else(|| panic!("{text}"));
    let nums: Vec<f64> = line
        .split("batch 4): ")
        .nth(1)
        .unwrap_or_default()
        .split(|c: char| !(c.is_ascii_digit() || c == '.'))
        .filter_map(|v| v.parse().ok())
        .filter(|v: &f64| v.fract() != 0.0)
        .collect();
    let [total, compute, dram, buffer, noc, rf, ms] = nums[..] else { panic!("{line}") };
    assert!((compute + dram + buffer + noc + rf - total).abs() < 0.005 && dram > 0.0 && ms > 0.0, "{line}");
    let per_mac = text.split(" shifts = ").nth(1).and_then(|v| v.split(' ').next()).and_then(|v| v.parse::<f64>().ok());
    assert!(per_mac.is_some_and(|e| (e - compute).abs() < 0.0015), "{text}");
    let out = cli(&["cost", d, "--convention", "per-op"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("[possible values: per-mac, physical]"));
    std::fs::remove_dir_all(&dir).unwrap();
    let out = cli(&["deploy", d]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("IO_ERROR"));
}

/// `latency`: one row per architecture (the tiny model first), each with the MACs of its
/// genome's layers and positive times; the summary counts them; the table file lists the timed
/// layers. Bad values exit 2.
#[test]
fn latency_times_the_layers_of_random_architectures() {
    let dir = std::env::temp_dir().join(format!("sa-latency-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let table = dir.join("table.json");
    let out = cli(&["latency", "--archs", "3", "--reps", "2", "--input-size", "16", "--conv", "add", "--out", table.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}{}", String::from_utf8_lossy(&out.stderr));
    let rows: Vec<Vec<&str>> =
        text.lines().filter(|l| l.starts_with("| ") && !l.starts_with("| architecture")).map(|l| l.split(" | ").collect()).collect();
    assert_eq!(rows.len(), 3, "{text}");
    // MobileNetV2-Tiny on 16×16 (stem stride 1): a quarter of its convolutions' MACs at 32×32
    // (4 072 000 with the 448 × 10 classifier), and the classifier's.
    assert_eq!(rows[0][1], ((4_072_000 - 4480) / 4 + 4480).to_string(), "{text}");
    for r in &rows {
        let ms = |i: usize| r[i].parse::<f64>().unwrap_or(-1.0);
        assert!(ms(2) > 0.0 && ms(3) > 0.0, "{r:?}");
    }
    let summary = text.lines().find(|l| l.starts_with("3 architectures, ")).unwrap_or_else(|| panic!("{text}"));
    let timed: usize = summary.split(", ").nth(1).and_then(|v| v.split(' ').next()).and_then(|v| v.parse().ok()).unwrap();
    let entries: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&table).unwrap()).unwrap();
    assert_eq!(entries.as_array().map(Vec::len), Some(timed));
    assert!(entries.as_array().unwrap().iter().all(|e| e["us"].as_f64().is_some_and(|v| v > 0.0) && e["op"].is_string()));
    // The float model's table: the same architectures and MACs, times per batch of 2.
    let args = "latency --engine float --batch 2 --archs 3 --reps 2 --input-size 16 --conv add --out";
    let out = cli(&args.split(' ').chain([table.to_str().unwrap()]).collect::<Vec<_>>());
    let float = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{float}{}", String::from_utf8_lossy(&out.stderr));
    assert!(float.starts_with("float model on the CPU, batch 2"), "{float}");
    let rows_f: Vec<Vec<&str>> =
        float.lines().filter(|l| l.starts_with("| ") && !l.starts_with("| architecture")).map(|l| l.split(" | ").collect()).collect();
    assert_eq!(rows_f.iter().map(|r| [r[0], r[1]]).collect::<Vec<_>>(), rows.iter().map(|r| [r[0], r[1]]).collect::<Vec<_>>(), "{float}");
    assert!(rows_f.iter().all(|r| r[2].parse::<f64>().unwrap_or(-1.0) > 0.0 && r[3].parse::<f64>().unwrap_or(-1.0) > 0.0), "{float}");
    let summary = float.lines().find(|l| l.starts_with("3 architectures, ")).unwrap_or_else(|| panic!("{float}"));
    let timed: usize = summary.split(", ").nth(1).and_then(|v| v.split(' ').next()).and_then(|v| v.parse().ok()).unwrap();
    let t: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&table).unwrap()).unwrap();
    assert_eq!((t["batch"].as_u64(), t["layers"].as_array().map(Vec::len)), (Some(2), Some(timed)), "{t}");
    assert!(t["harnessMs"].as_f64().is_some_and(|v| v > 0.0), "{t}");
    assert!(t["layers"].as_array().unwrap().iter().all(|e| e["ms"].as_f64().is_some_and(|v| v >= 0.0) && e["op"].is_string()));
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(cli(&["latency", "--engine", "tensorflow"]).status.code(), Some(2));
    assert_eq!(cli(&["latency", "--batch", "0"]).status.code(), Some(2));
    assert_eq!(cli(&["latency", "--archs", "0"]).status.code(), Some(2));
    assert_eq!(cli(&["latency", "--model", "resnet"]).status.code(), Some(2));
}

/// `train --aug on` → `search` under a MAC limit → `train --plan`: every candidate meets the
/// limit, the best is the most accurate, the front is sorted, the plan's model has the best's
/// MACs; a latency limit prices every candidate; an impossible limit, a direct (one-width)
/// checkpoint and a broken plan are typed errors.
#[test]
fn a_supernet_is_searched_and_its_plan_trains() {
    let dir = std::env::temp_dir().join(format!("shiftaddaug-search-{}", std::process::id()));
    let (sup, res, plan_out) = (dir.join("supernet"), dir.join("search"), dir.join("plan"));
    let small = ["--input-size", "32", "--stem-stride", "2", "--width-mult", "0.5", "--conv", "shift", "--epochs", "1"];
    let run = |extra: &[&str]| {
        let mut args = vec!["train", "--model", "mbv2-tiny", "--train-limit", "256", "--test-limit", "100", "--bn-reset", "256"];
        args.extend(small);
        args.extend(extra);
        let out = cli(&args);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    run(&["--aug", "on", "--out", sup.to_str().unwrap()]);
    let ckpt = sup.join("checkpoint.bin");
    let search = |extra: &[&str]| {
        let mut args = vec!["search", ckpt.to_str().unwrap(), "--population", "6", "--generations", "1", "--bn-images", "100"];
        args.extend(["--eval-images", "100", "--out", res.to_str().unwrap()]);
        args.extend(extra);
        cli(&args)
    };
    let out = search(&["--max-macs", "450000"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("generation 1: best held-out accuracy"));
    let report: serde_json::Value = read_json(&res.join("search.json"));
    assert!(std::fs::read_to_string(res.join("front.svg")).unwrap().starts_with("<svg"));
    let macs = |v: &serde_json::Value| v["cost"]["macs"].as_u64().unwrap();
    let acc = |v: &serde_json::Value| v["accuracy"].as_f64().unwrap();
    let evaluated = report["evaluated"].as_array().unwrap();
    assert!(evaluated.len() >= 6, "{} candidates", evaluated.len());
    assert!(evaluated.iter().all(|c| macs(c) <= 450_000 && (0.0..=1.0).contains(&acc(c)) && c["cost"]["energyPj"].as_u64() > Some(0)));
    let best = &report["best"];
    assert!(evaluated.iter().all(|c| acc(c) <= acc(best)));
    let front = report["front"].as_array().unwrap();
    assert!(front.windows(2).all(|w| macs(&w[0]) < macs(&w[1]) && acc(&w[0]) < acc(&w[1])));
    assert_eq!(front.last().map(acc), Some(acc(best)));
    // The best with inherited weights is exported: it has the best's MACs and, BatchNorm
    // re-estimated on the same images, the best's held-out accuracy.
    let cost = cli(&["cost", res.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&cost.stdout).contains(&format!(": {} MACs", macs(best))), "{}", String::from_utf8_lossy(&cost.stdout));
    assert!(text.contains(&format!("held-out accuracy {:.4}, test accuracy", acc(best))), "{text}");
    // One generation more with --resume draws what a two-generation search draws.
    let out = search(&["--max-macs", "450000", "--resume", "--generations", "2"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("resuming at generation 1"));
    let resumed: serde_json::Value = read_json(&res.join("search.json"));
    let whole_dir = dir.join("whole");
    let out = cli(&[
        "search",
        ckpt.to_str().unwrap(),
        "--population",
        "6",
        "--generations",
        "2",
        "--bn-images",
        "100",
        "--eval-images",
        "100",
        "--max-macs",
        "450000",
        "--out",
        whole_dir.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let whole: serde_json::Value = read_json(&whole_dir.join("search.json"));
    assert_eq!(resumed["evaluated"], whole["evaluated"]);
    assert!(resumed["evaluated"].as_array().unwrap().len() > evaluated.len());
    let best = &resumed["best"];
    // The plan is the best's spec; trained with --plan, its tiny model has the best's MACs.
    let plan = res.join("plan.json");
    assert_eq!(read_json(&plan), best["plan"]);
    let out = cli(&[
        "train",
        "--plan",
        plan.to_str().unwrap(),
        "--aug",
        "on",
        "--train-limit",
        "128",
        "--test-limit",
        "50",
        "--input-size",
        "32",
        "--stem-stride",
        "2",
        "--conv",
        "shift",
        "--out",
        plan_out.to_str().unwrap(),
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains(&format!("tiny model: {} MACs/image", macs(best))), "{text}");
    assert!(plan_out.join("model.json").is_file());
    // Bad input.
    let out = search(&["--max-macs", "1000"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("INVALID_CONFIG") && err.contains("no architecture meets MACs <= 1000: the cheapest has"), "{err}");
    let out = search(&["--max-energy-uj", "0.000001"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no architecture meets energy <= 0.000001 µJ: the cheapest has") && err.contains(" µJ"), "{err}");
    let out = search(&["--max-energy-uj", "0"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("--max-energy-uj 0 must be a positive number"));
    // A latency limit: every candidate carries its predicted latency, within the limit, and the
    // limit is recorded; no network runs in a nanosecond.
    let out = search(&["--max-latency-ms", "1000"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains(" ms predicted"));
    let report: serde_json::Value = read_json(&res.join("search.json"));
    assert_eq!(report["constraint"]["maxLatencyNs"], 1_000_000_000u64);
    let ns = |c: &serde_json::Value| c["cost"]["latencyNs"].as_u64().unwrap_or(0);
    assert!(report["evaluated"].as_array().unwrap().iter().all(|c| ns(c) > 0 && ns(c) <= 1_000_000_000), "{report}");
    assert_eq!(report["latencyEngine"], "integer");
    // The same on the float model's table.
    let out = search(&["--max-latency-ms", "1000", "--latency-engine", "float"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = read_json(&res.join("search.json"));
    assert_eq!(report["latencyEngine"], "float");
    assert!(report["evaluated"].as_array().unwrap().iter().all(|c| ns(c) > 0 && ns(c) <= 1_000_000_000), "{report}");
    // A peak-memory limit between the cheapest and the dearest candidate seen above.
    let mut peaks: Vec<u64> = evaluated.iter().map(|c| c["cost"]["peakActivation"].as_u64().unwrap()).collect();
    peaks.sort_unstable();
    let limit = peaks[peaks.len() / 2];
    let out = search(&["--max-peak-activation", &limit.to_string()]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = read_json(&res.join("search.json"));
    assert_eq!(report["constraint"]["maxPeakActivation"], limit);
    assert!(report["evaluated"].as_array().unwrap().iter().all(|c| c["cost"]["peakActivation"].as_u64() <= Some(limit)), "{report}");
    let out = search(&["--max-peak-activation", "10"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("no architecture meets peak activation <= 10 values: the cheapest has"));
    let out = search(&["--max-latency-ms", "0.000001"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no architecture meets latency <= 0.000 ms: the cheapest has") && err.contains(" ms"), "{err}");
    let out = search(&["--max-latency-ms", "0"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("--max-latency-ms 0 must be a positive number"));
    let out = search(&["--population", "1"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("population 1 must be in [2, 10000]"));
    // --depth: candidates may leave blocks to the augmented model (`augOnly` in their plans);
    // such a plan trains with ShiftAddAug, and its export has the blocks it kept.
    let out = search(&["--depth", "--max-macs", "450000"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = read_json(&res.join("search.json"));
    let left = |c: &serde_json::Value| c["plan"]["blocks"].as_array().unwrap().iter().filter(|b| b["augOnly"] == true).count();
    let evaluated = report["evaluated"].as_array().unwrap();
    let shallow = evaluated.iter().find(|c| left(c) > 0).expect("a candidate leaves a block to the augmented model");
    let blocks = shallow["plan"]["blocks"].as_array().unwrap().len();
    let out = search(&["--max-macs", "450000", "--resume", "--generations", "3"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("another supernet or search space (--shrink, --depth)"));
    std::fs::write(&plan, serde_json::to_string(&shallow["plan"]).unwrap()).unwrap();
    let deep_out = dir.join("shallow");
    let mut args = vec!["train", "--plan", plan.to_str().unwrap(), "--aug", "on", "--train-limit", "128", "--test-limit", "50"];
    args.extend(["--input-size", "32", "--stem-stride", "2", "--conv", "shift", "--out", deep_out.to_str().unwrap()]);
    let out = cli(&args);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains(&format!("tiny model: {} MACs/image", macs(shallow))), "{text}");
    let model = read_json(&deep_out.join("model.json"));
    assert_eq!(model["config"]["spec"]["blocks"].as_array().unwrap().len(), blocks - left(shallow));
    run(&["--out", sup.to_str().unwrap()]);
    let out = search(&[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("INVALID_CONFIG") && err.contains("trained with augmentation"), "{err}");
    std::fs::write(&plan, "{\"stem\": 8}").unwrap();
    let out = cli(&["train", "--plan", plan.to_str().unwrap(), "--out", "none"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("INVALID_CONFIG") && err.contains("plan"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}
