//! Command-line flags of `train` (and the per-row flags of `compare`).

use shiftaddaug::aug::AugConfig;
use shiftaddaug::data::FASHION_MNIST_DIR;
use shiftaddaug::models::MfCnnConfig;
use shiftaddaug::train::TrainConfig;
use std::path::PathBuf;

pub(super) const USAGE: &str = "usage: shiftaddaug --help | --version\n       shiftaddaug trace MODEL_JSON TRAIN_JSON N EPOCHS   (the SDK's fit, natively, for comparisons)\n       shiftaddaug compare [--grid main|ablation|baselines] [--seeds 0,1] [train options...]\n       shiftaddaug train [--data DIR] [--model mfcnn|mbv2-tiny|mcunet|proxyless-0.35|mobilenetv3-0.35] [--conv shift|add|mult] [--widths 8,16,32] [--head flatten|avgpool] [--shift-mode q|ps] \
[--input-size 28|32|N] [--stem-stride 1|2] [--depthwise mult|shift|add] [--stem-conv mult|shift|add] [--classifier mult|shift|add] [--adder-std F] [--aug on|off] [--aug-mode h1|h2|b|mf-only] [--remap r0|r1|r2|r3|r4] [--remap-fc-grad mean|sum] [--width-list 1,1.8,2.6] [--expand-list 1,1.6,2.2,2.8] \
[--alpha F] [--stop-width-aug F] [--no-sort] [--bn-reset N] [--optimizer adam|sgd] [--momentum F] [--wd F] [--label-smoothing F] [--crop-pad N] [--flip] [--warmup N] [--schedule constant|cosine] \
[--epochs N] [--batch-size N] [--lr F] [--seed N] [--train-limit N] [--test-limit N] [--log-every N] [--out DIR|none] [--resume CHECKPOINT]\n\
train writes DIR/checkpoint.bin after every epoch and, for mbv2-tiny, DIR/model.json + DIR/model.safetensors (docs/FORMAT.md); default DIR shiftaddaug-out; compare writes nothing unless --out is given.\n\
mbv2-tiny, mcunet, proxyless-0.35, mobilenetv3-0.35 run as the ShiftAddAug supernet (direct training with --aug off, the default); mbv2-tiny with --shift-mode ps uses the static model.";

pub(super) struct Args {
    pub(super) data: PathBuf,
    /// `mfcnn` (default) or `mbv2-tiny`.
    pub(super) arch: String,
    pub(super) model: MfCnnConfig,
    pub(super) train: TrainConfig,
    pub(super) epochs: usize,
    pub(super) train_limit: Option<usize>,
    pub(super) test_limit: Option<usize>,
    pub(super) input_size: usize,
    pub(super) aug: AugConfig,
    pub(super) schedule_cosine: bool,
    pub(super) bn_reset: usize,
    /// Output directory (checkpoint after every epoch, export at the end); None: write nothing.
    pub(super) out: Option<PathBuf>,
    pub(super) resume: Option<PathBuf>,
    /// Operator of the depthwise convs of the supernet models (default: `--conv`).
    pub(super) depthwise: Option<shiftaddaug::nn::ConvKind>,
    /// Std of the supernets' adder weights at init.
    pub(super) adder_std: f32,
    /// Operators of the supernets' stem and classifier (default Mult).
    pub(super) stem_conv: shiftaddaug::nn::ConvKind,
    /// Stem stride of the supernet models (1 for 28–32 px, 2 for larger inputs).
    pub(super) stem_stride: usize,
    pub(super) classifier: shiftaddaug::nn::ConvKind,
}

fn floats(flag: &str, v: String) -> Result<Vec<f32>, String> {
    v.split(',').map(|s| s.trim().parse::<f32>().map_err(|_| format!("{flag}: {s:?} is not a number"))).collect()
}

pub(super) fn parse(args: &[String]) -> Result<Args, String> {
    let mut a = Args {
        data: PathBuf::from(FASHION_MNIST_DIR),
        arch: "mfcnn".into(),
        model: MfCnnConfig::default(),
        train: TrainConfig::default(),
        epochs: 1,
        train_limit: None,
        test_limit: None,
        input_size: 28,
        // The augmentation flags apply in any order relative to `--aug on|off`; without
        // `--aug on` the config becomes `AugConfig::direct()` after parsing.
        aug: AugConfig { enabled: false, ..AugConfig::default() },
        schedule_cosine: false,
        bn_reset: 16_000,
        out: Some(PathBuf::from("shiftaddaug-out")),
        resume: None,
        depthwise: None,
        adder_std: shiftaddaug::aug::config::DEFAULT_ADDER_STD,
        stem_conv: shiftaddaug::nn::ConvKind::Mult,
        stem_stride: 1,
        classifier: shiftaddaug::nn::ConvKind::Mult,
    };
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let mut val = || it.next().cloned().ok_or_else(|| format!("{flag} needs a value"));
        let num = |v: String| v.parse::<usize>().map_err(|_| format!("{flag}: {v:?} is not a non-negative integer"));
        match flag.as_str() {
            "--data" => a.data = PathBuf::from(val()?),
            "--model" => {
                a.arch = val()?;
                if !["mfcnn", "mbv2-tiny", "mcunet", "proxyless-0.35", "mobilenetv3-0.35"].contains(&a.arch.as_str()) {
                    return Err(format!("--model {:?}: valid: mfcnn, mbv2-tiny, mcunet, proxyless-0.35, mobilenetv3-0.35", a.arch));
                }
            }
            "--conv" => a.model.conv = val()?.parse().map_err(|e| format!("{e}"))?,
            "--widths" => {
                a.model.widths = val()?
                    .split(',')
                    .map(|s| s.trim().parse::<usize>().map_err(|_| format!("--widths: {s:?} is not an integer")))
                    .collect::<Result<_, _>>()?
            }
            "--head" => {
                a.model.head = match val()?.as_str() {
                    "flatten" => shiftaddaug::models::Head::Flatten,
                    "avgpool" => shiftaddaug::models::Head::Avgpool,
                    h => return Err(format!("--head {h:?}: valid: flatten, avgpool")),
                }
            }
            "--shift-mode" => {
                a.model.shift_mode = match val()?.as_str() {
                    "q" => shiftaddaug::nn::ShiftMode::Q,
                    "ps" => shiftaddaug::nn::ShiftMode::Ps,
                    m => return Err(format!("--shift-mode {m:?}: valid: q, ps")),
                }
            }
            "--input-size" => a.input_size = num(val()?)?,
            "--depthwise" => a.depthwise = Some(val()?.parse().map_err(|e| format!("{e}"))?),
            "--stem-stride" => {
                a.stem_stride = match val()?.as_str() {
                    "1" => 1,
                    "2" => 2,
                    v => return Err(format!("--stem-stride {v:?}: valid: 1, 2")),
                }
            }
            "--stem-conv" => a.stem_conv = val()?.parse().map_err(|e| format!("--stem-conv: {e}"))?,
            "--classifier" => a.classifier = val()?.parse().map_err(|e| format!("--classifier: {e}"))?,
            "--aug" => match val()?.as_str() {
                "on" => a.aug.enabled = true,
                "off" => a.aug.enabled = false,
                v => return Err(format!("--aug {v:?}: valid: on, off")),
            },
            "--aug-mode" => a.aug.mode = val()?.parse().map_err(|e| format!("{e}"))?,
            "--remap" => a.aug.remap = val()?.parse().map_err(|e| format!("{e}"))?,
            "--width-list" => a.aug.width_list = floats(flag, val()?)?,
            "--expand-list" => a.aug.expand_list = floats(flag, val()?)?,
            "--remap-fc-grad" => a.aug.remap_fc_grad = val()?.parse().map_err(|e| format!("{e}"))?,
            "--adder-std" => a.adder_std = val()?.parse().map_err(|_| "--adder-std: not a number".to_string())?,
            "--alpha" => a.aug.alpha = val()?.parse().map_err(|_| "--alpha: not a number".to_string())?,
            "--stop-width-aug" => a.aug.stop_width_aug = val()?.parse().map_err(|_| "--stop-width-aug: not a number".to_string())?,
            "--no-sort" => a.aug.sort_channels = false,
            "--bn-reset" => a.bn_reset = num(val()?)?,
            "--optimizer" => {
                a.train.optimizer = match val()?.as_str() {
                    "adam" => shiftaddaug::train::OptimizerKind::Adam,
                    "sgd" => shiftaddaug::train::OptimizerKind::Sgd,
                    o => return Err(format!("--optimizer {o:?}: valid: adam, sgd")),
                }
            }
            "--momentum" => a.train.momentum = val()?.parse().map_err(|_| "--momentum: not a number".to_string())?,
            "--wd" => a.train.weight_decay = val()?.parse().map_err(|_| "--wd: not a number".to_string())?,
            "--label-smoothing" => a.train.label_smoothing = val()?.parse().map_err(|_| "--label-smoothing: not a number".to_string())?,
            "--warmup" => a.train.warmup_steps = num(val()?)?,
            "--crop-pad" => a.train.crop_padding = num(val()?)?,
            "--flip" => a.train.horizontal_flip = true,
            "--schedule" => {
                a.schedule_cosine = match val()?.as_str() {
                    "cosine" => true,
                    "constant" => false,
                    v => return Err(format!("--schedule {v:?}: valid: constant, cosine")),
                }
            }
            "--out" => {
                let v = val()?;
                a.out = if v == "none" { None } else { Some(PathBuf::from(v)) };
            }
            "--resume" => a.resume = Some(PathBuf::from(val()?)),
            "--epochs" => a.epochs = num(val()?)?,
            "--batch-size" => a.train.batch_size = num(val()?)?,
            "--lr" => a.train.learning_rate = val()?.parse().map_err(|_| "--lr: not a number".to_string())?,
            "--seed" => {
                a.train.seed = num(val()?)? as u64;
                a.aug.seed = a.train.seed;
            }
            "--log-every" => a.train.log_every = num(val()?)?,
            "--train-limit" => a.train_limit = Some(num(val()?)?),
            "--test-limit" => a.test_limit = Some(num(val()?)?),
            other => return Err(format!("unknown option {other:?}\n{USAGE}")),
        }
    }
    if !a.aug.enabled {
        a.aug = AugConfig { seed: a.aug.seed, ..AugConfig::direct() };
    }
    if a.epochs == 0 {
        return Err("--epochs must be >= 1".into());
    }
    if a.input_size < 28 {
        return Err(format!("--input-size {}: must be >= 28 (Fashion-MNIST is zero-padded to it)", a.input_size));
    }
    let static_model = a.arch == "mfcnn" || (a.arch == "mbv2-tiny" && a.model.shift_mode == shiftaddaug::nn::ShiftMode::Ps);
    if static_model && (a.stem_conv != shiftaddaug::nn::ConvKind::Mult || a.classifier != shiftaddaug::nn::ConvKind::Mult) {
        return Err("--stem-conv / --classifier apply to the supernet models (mbv2-tiny, mcunet, proxyless-0.35, mobilenetv3-0.35); mfcnn and the static DeepShift-PS mbv2-tiny keep both Mult".into());
    }
    if a.arch == "mfcnn" && a.stem_stride != 1 {
        return Err("--stem-stride applies to mbv2-tiny, mcunet, proxyless-0.35 and mobilenetv3-0.35 (mfcnn's stem has stride 1)".into());
    }
    a.train.validate().map_err(|e| e.to_string())?;
    Ok(a)
}

#[cfg(test)]
mod tests {
    use super::{AugConfig, parse};

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn flags_set_the_configs() {
        let a = parse(&args("--model mbv2-tiny --conv add --aug on --remap r0 --seed 7 --epochs 3 --optimizer sgd --wd 4e-5 --out none"))
            .unwrap();
        assert_eq!(a.arch, "mbv2-tiny");
        assert_eq!(a.model.conv, shiftaddaug::nn::ConvKind::Add);
        assert!(a.aug.enabled);
        assert_eq!(a.aug.remap, shiftaddaug::aug::RemapKind::R0);
        assert_eq!((a.train.seed, a.aug.seed), (7, 7), "--seed seeds training and sampling");
        assert_eq!(a.epochs, 3);
        assert_eq!(a.train.optimizer, shiftaddaug::train::OptimizerKind::Sgd);
        assert_eq!(a.train.weight_decay, 4e-5);
        assert!(a.out.is_none());
        // --aug on after --seed keeps the seed, and after other augmentation flags keeps them
        // (compare appends its rows' `--aug on` after the common flags).
        let b = parse(&args("--seed 3 --aug on")).unwrap();
        assert_eq!(b.aug.seed, 3);
        let b = parse(&args("--alpha 0.25 --remap r0 --stop-width-aug 0.3 --aug-mode h2 --aug on")).unwrap();
        assert_eq!(
            (b.aug.alpha, b.aug.remap, b.aug.stop_width_aug, b.aug.mode),
            (0.25, shiftaddaug::aug::RemapKind::R0, 0.3, shiftaddaug::aug::AugMode::H2)
        );
        assert!(b.aug.enabled);
        let d = parse(&args("--alpha 0.25 --aug on --seed 2 --aug off")).unwrap();
        assert_eq!(d.aug, AugConfig { seed: 2, ..AugConfig::direct() }, "direct training ignores the augmentation flags");
        let s = parse(&args("--model mcunet --stem-conv add --classifier shift")).unwrap();
        assert_eq!((s.stem_conv, s.classifier), (shiftaddaug::nn::ConvKind::Add, shiftaddaug::nn::ConvKind::Shift));
        assert_eq!(parse(&args("--model mcunet --input-size 64 --stem-stride 2")).unwrap().stem_stride, 2);
        let c = parse(&args("--crop-pad 4 --flip")).unwrap();
        assert_eq!((c.train.crop_padding, c.train.horizontal_flip), (4, true));
        let d = parse(&args("")).unwrap();
        assert_eq!((d.train.crop_padding, d.train.horizontal_flip), (0, false), "no augmentation unless asked");
    }

    #[test]
    fn bad_flags_name_the_valid_choices() {
        for (argv, needle) in [
            ("--model resnet", "valid: mfcnn, mbv2-tiny"),
            ("--conv mul", "valid: 'mult', 'shift', 'add'"),
            ("--aug maybe", "valid: on, off"),
            ("--optimizer rmsprop", "valid: adam, sgd"),
            ("--schedule step", "valid: constant, cosine"),
            ("--epochs 0", "--epochs must be >= 1"),
            ("--input-size 16", "must be >= 28"),
            ("--epochs", "--epochs needs a value"),
            ("--width-list 1,x", "\"x\" is not a number"),
            ("--frobnicate", "unknown option \"--frobnicate\""),
            ("--crop-pad 40", "cropPadding = 40; valid: 0..=32"),
            (
                "--model mbv2-tiny --classifier conv",
                "--classifier: invalid config: unknown conv kind \"conv\"; valid: 'mult', 'shift', 'add'",
            ),
            ("--stem-conv shift", "apply to the supernet models"),
            ("--stem-stride 3", "--stem-stride \"3\": valid: 1, 2"),
            ("--lr -1", "learningRate = -1"),
        ] {
            let e = parse(&args(argv)).err().unwrap_or_else(|| panic!("{argv} was accepted"));
            assert!(e.contains(needle), "{argv}: {e}");
        }
    }
}
