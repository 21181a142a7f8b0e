//! The command line, declared with clap: subcommands `train`, `compare`, `trace`, `deploy`, `cost`, `search` and `latency`, and the
//! `train` options (which `compare` takes too) with their defaults.

use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::{Args as ClapArgs, Parser, Subcommand};
use shiftaddaug::aug::config::DEFAULT_ADDER_STD;
use shiftaddaug::aug::{AugConfig, AugMode, FcGrad, RemapKind};
use shiftaddaug::data::FASHION_MNIST_DIR;
use shiftaddaug::models::{Head, MfCnnConfig};
use shiftaddaug::nn::{ConvKind, ShiftMode};
use shiftaddaug::train::{BN_RESET_IMAGES, OptimizerKind, TrainConfig};
use std::path::PathBuf;

/// Multiplication-free tiny CNNs (shift and adder convolutions) trained with ShiftAddAug on
/// Fashion-MNIST.
#[derive(Parser, Debug)]
#[command(name = "shiftaddaug", version, propagate_version = true, args_override_self = true)]
pub(super) struct Cli {
    #[command(subcommand)]
    pub(super) command: Command,
}

#[derive(Subcommand, Debug)]
pub(super) enum Command {
    /// Trains one model, evaluates it as deployed, and writes its checkpoint and export.
    #[command(args_override_self = true)]
    Train(TrainArgs),
    /// Trains every row of a grid for every seed and prints a markdown table.
    #[command(args_override_self = true)]
    Compare(CompareArgs),
    /// The SDK's `fit`, natively: trains a supernet exactly as the SDK does and prints
    /// `{ losses, accuracy }` as JSON (the SDK tests compare with it).
    Trace(TraceArgs),
    /// Runs an export (`train --out DIR`) through the integer engine: calibrates it on training
    /// images and prints its test accuracy and top-1 agreement against the f32 reference.
    Deploy(DeployArgs),
    /// Prints the compute cost of an export (`train --out DIR`) for one image: operations per
    /// layer by kind, energy from 45 nm unit energies (METHOD.md §8), weights and peak
    /// activation memory.
    Cost(CostArgs),
    /// Searches a trained ShiftAddAug supernet (`train --aug on` checkpoint) for the most
    /// accurate MF TargetNet under MAC / parameter / energy / peak-memory / latency limits
    /// (evolutionary, inherited weights, held-out training images) over widths, blocks
    /// (--depth), and the kernels and operators the supernet trained (--subnet-kernels,
    /// --subnet-ops), and writes the result and its plan for `train --plan`.
    Search(super::search::SearchArgs),
    /// Times the integer engine's layers on this machine (a latency table) for random
    /// architectures of a zoo supernet's search space, and compares each prediction with the
    /// measured time of the whole model.
    Latency(LatencyArgs),
}

#[derive(ClapArgs, Debug)]
pub(super) struct LatencyArgs {
    /// Zoo supernet whose width space is sampled.
    #[arg(long, default_value = "mbv2-tiny", value_parser = shiftaddaug::models::NetSpec::NAMES)]
    pub(super) model: String,
    /// Operator of the MF layers.
    #[arg(long, default_value = "shift", value_parser = one_of(CONV))]
    pub(super) conv: ConvKind,
    /// Input height and width (one channel).
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u16).range(8..=512).map(|v| v as usize))]
    pub(super) input_size: usize,
    /// Stride of the stem conv.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=2).map(|v| v as usize))]
    pub(super) stem_stride: usize,
    /// Architectures: the supernet's tiny model, then random ones.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u16).range(1..=1000).map(|v| v as usize))]
    pub(super) archs: usize,
    /// Timed samples per layer and per model (the median counts).
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u16).range(1..=10000).map(|v| v as usize))]
    pub(super) reps: usize,
    /// Seed of the architectures, weights and images.
    #[arg(long, default_value_t = 0)]
    pub(super) seed: u64,
    /// Writes the table (JSON: one entry per operator and geometry, µs per image; with
    /// `--engine float`, ms per batch).
    #[arg(long)]
    pub(super) out: Option<PathBuf>,
    /// What is timed: `integer`, the integer engine (one image, one thread; what a deployed
    /// model runs), or `float`, the training module's float model on the CPU (Flex, its rayon
    /// threads; what `predict` of a trained model runs), `--batch` images per run.
    #[arg(long, default_value = "integer", value_parser = ["integer", "float"])]
    pub(super) engine: String,
    /// Images per timed run with `--engine float`.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=4096).map(|v| v as usize))]
    pub(super) batch: usize,
}

#[derive(ClapArgs, Debug)]
pub(super) struct CostArgs {
    /// Folder holding model.json and model.safetensors.
    pub(super) dir: PathBuf,
    /// Operand width of the unit energies.
    #[arg(long, default_value_t = 32, value_parser = clap::builder::PossibleValuesParser::new(["32", "8"]).map(|s| s.parse::<u32>().expect("32 or 8")))]
    pub(super) bits: u32,
    /// per-mac: one unit energy per MAC by operator (ShiftAddNAS); physical: Mult = mult + add,
    /// Shift = shift + add, Add = 2 adds.
    #[arg(long, default_value = "per-mac", value_parser = ["per-mac", "physical"])]
    pub(super) convention: String,
    /// Print one row per layer.
    #[arg(long)]
    pub(super) layers: bool,
    /// Also estimate energy by memory level and latency with the Eyeriss-like dataflow model
    /// (METHOD.md §8.3).
    #[arg(long)]
    pub(super) dataflow: bool,
    /// Images per batch of the dataflow estimate.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=1024).map(|v| v as usize))]
    pub(super) batch: usize,
}

#[derive(ClapArgs, Debug)]
pub(super) struct DeployArgs {
    /// Folder holding model.json and model.safetensors.
    pub(super) dir: PathBuf,
    /// Training images the activation scales are calibrated on (the first N).
    #[arg(long, default_value_t = 512)]
    pub(super) calibration: usize,
    /// Test images to evaluate (the first N).
    #[arg(long, default_value_t = 10_000)]
    pub(super) test: usize,
    /// Fashion-MNIST folder.
    #[arg(long, default_value = FASHION_MNIST_DIR)]
    pub(super) data: PathBuf,
}

/// The rows `compare` trains.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Grid {
    Main,
    Ablation,
    Baselines,
}

#[derive(ClapArgs, Debug)]
pub(super) struct CompareArgs {
    /// Rows: main (Mult / Shift / Add, direct and ShiftAddAug), ablation (remaps and modes),
    /// baselines (NetAug, DeepShift-PS).
    #[arg(long, default_value = "main", value_parser = one_of(&[("main", Grid::Main), ("ablation", Grid::Ablation), ("baselines", Grid::Baselines)]))]
    pub(super) grid: Grid,
    /// Seeds, comma-separated; every row runs once per seed.
    #[arg(long, value_delimiter = ',', default_value = "0,1")]
    pub(super) seeds: Vec<u64>,
    /// The options common to every row (see `shiftaddaug train --help`); `--out` defaults to
    /// none here.
    #[command(flatten)]
    pub(super) train: TrainArgs,
}

#[derive(ClapArgs, Debug)]
pub(super) struct TraceArgs {
    /// `AugNetConfig` JSON.
    pub(super) model_json: String,
    /// `TrainConfig` JSON.
    pub(super) train_json: String,
    /// Training images (the first N).
    pub(super) n: usize,
    /// Epochs.
    pub(super) epochs: usize,
}

/// A parser that accepts exactly the listed names and returns their values; `--help` lists
/// the names.
fn one_of<T: Clone + Send + Sync + 'static>(pairs: &'static [(&'static str, T)]) -> impl TypedValueParser<Value = T> {
    PossibleValuesParser::new(pairs.iter().map(|p| p.0)).map(move |s| pairs.iter().find(|p| p.0 == s).expect("a listed name").1.clone())
}

const CONV: &[(&str, ConvKind)] = &[("mult", ConvKind::Mult), ("shift", ConvKind::Shift), ("add", ConvKind::Add)];
const MODELS: &[(&str, &str)] = &[
    ("mfcnn", "mfcnn"),
    ("mbv2-tiny", "mbv2-tiny"),
    ("mcunet", "mcunet"),
    ("proxyless-0.35", "proxyless-0.35"),
    ("mobilenetv3-0.35", "mobilenetv3-0.35"),
];

/// The options of `train`.
#[derive(ClapArgs, Debug, Clone)]
pub(super) struct TrainArgs {
    /// Directory with Fashion-MNIST's four IDX files (raw or .gz).
    #[arg(long, value_name = "DIR", default_value = FASHION_MNIST_DIR)]
    pub(super) data: PathBuf,
    /// The model; the zoo models run as ShiftAddAug supernets (direct unless --aug on).
    #[arg(long, default_value = "mfcnn", value_parser = one_of(MODELS))]
    pub(super) model: &'static str,
    /// Operator of the MF layers.
    #[arg(long, default_value = "shift", value_parser = one_of(CONV))]
    pub(super) conv: ConvKind,
    /// mfcnn: channel widths, the stem's then one per stride-2 layer.
    #[arg(long, value_delimiter = ',', default_value = "8,16,32")]
    pub(super) widths: Vec<usize>,
    /// mfcnn: classifier input.
    #[arg(long, default_value = "flatten", value_parser = one_of(&[("flatten", Head::Flatten), ("avgpool", Head::Avgpool)]))]
    pub(super) head: Head,
    /// Shift weights: DeepShift-Q or -PS (mbv2-tiny with ps trains the static model).
    #[arg(long, default_value = "q", value_parser = one_of(&[("q", ShiftMode::Q), ("ps", ShiftMode::Ps)]))]
    pub(super) shift_mode: ShiftMode,
    /// Images are zero-padded to this size (>= 28).
    #[arg(long, value_name = "N", default_value_t = 28)]
    pub(super) input_size: usize,
    /// Stem stride of the zoo models (2 for inputs much larger than 32).
    #[arg(long, default_value = "1", value_parser = one_of(&[("1", 1usize), ("2", 2)]))]
    pub(super) stem_stride: usize,
    /// Width multiplier of the zoo models: every width × F, rounded to multiples of 8 (0 < F <= 8)
    #[arg(long, value_name = "F", default_value_t = 1.0)]
    pub(super) width_mult: f32,
    /// Operator of the zoo models' depthwise convolutions [default: --conv].
    #[arg(long, value_parser = one_of(CONV))]
    pub(super) depthwise: Option<ConvKind>,
    /// Operator of the zoo models' stem.
    #[arg(long, default_value = "mult", value_parser = one_of(CONV))]
    pub(super) stem_conv: ConvKind,
    /// Operator of the zoo models' classifier.
    #[arg(long, default_value = "mult", value_parser = one_of(CONV))]
    pub(super) classifier: ConvKind,
    /// Std of the zoo models' adder weights at init.
    #[arg(long, value_name = "F", allow_negative_numbers = true, default_value_t = DEFAULT_ADDER_STD)]
    pub(super) adder_std: f32,
    /// ShiftAddAug: train the tiny model inside a wider multiplicative supernet.
    #[arg(long, action = clap::ArgAction::Set, default_value = "off", value_parser = one_of(&[("on", true), ("off", false)]))]
    pub(super) aug: bool,
    /// ShiftAddAug: what the augmented pass computes (METHOD.md §3.2).
    #[arg(long, default_value = "h1", value_parser = one_of(&[("h1", AugMode::H1), ("h2", AugMode::H2), ("b", AugMode::B), ("mf-only", AugMode::MfOnly)]))]
    pub(super) aug_mode: AugMode,
    /// ShiftAddAug: the weight remap where MF layers read shared weights.
    #[arg(long, default_value = "r1", value_parser = one_of(&[("r0", RemapKind::R0), ("r1", RemapKind::R1), ("r2", RemapKind::R2), ("r3", RemapKind::R3), ("r4", RemapKind::R4)]))]
    pub(super) remap: RemapKind,
    /// ShiftAddAug: how the remap's FC collects its gradient over the rows.
    #[arg(long, default_value = "mean", value_parser = one_of(&[("mean", FcGrad::Mean), ("sum", FcGrad::Sum)]))]
    pub(super) remap_fc_grad: FcGrad,
    /// ShiftAddAug: width multipliers, comma-separated (the first is the tiny model's).
    #[arg(long, value_delimiter = ',', default_value = "1,1.8,2.6")]
    pub(super) width_list: Vec<f32>,
    /// ShiftAddAug: expand-ratio multipliers, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1,1.6,2.2,2.8")]
    pub(super) expand_list: Vec<f32>,
    /// ShiftAddAug: weight of the augmented loss.
    #[arg(long, value_name = "F", allow_negative_numbers = true, default_value_t = AugConfig::default().alpha)]
    pub(super) alpha: f32,
    /// ShiftAddAug: fraction of training after which widths stop being augmented.
    #[arg(long, value_name = "F", allow_negative_numbers = true, default_value_t = AugConfig::default().stop_width_aug)]
    pub(super) stop_width_aug: f32,
    /// ShiftAddAug: do not sort channels by importance each epoch.
    #[arg(long)]
    pub(super) no_sort: bool,
    /// Stage 1 of the search: MF sub-networks of the search space trained per step (0: none).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub(super) subnets: usize,
    /// Stage 1: narrowing factors of the sub-networks, comma-separated, each in (0, 1).
    #[arg(long, value_delimiter = ',', default_value = "0.5,0.75")]
    pub(super) subnet_shrink: Vec<f32>,
    /// Stage 1: sub-networks also skip each block with a shortcut with probability 1/2.
    #[arg(long)]
    pub(super) subnet_depth: bool,
    /// Stage 1: depthwise kernel sizes (3, 5, 7; comma-separated) the sub-networks draw from
    /// besides each block's own; banks are stored at the largest (`search` then chooses kernels)
    /// [default: none: the spec's kernels].
    #[arg(long, value_delimiter = ',', value_name = "K,..")]
    pub(super) subnet_kernels: Vec<usize>,
    /// Stage 1: multiplication-free operators (shift, add; comma-separated) the sub-networks
    /// draw each block's from besides its own (`search` then chooses operators per block)
    /// [default: none: the spec's operators].
    #[arg(long, value_delimiter = ',', value_name = "OP,..")]
    pub(super) subnet_ops: Vec<ConvKind>,
    /// Stage 1, with --subnet-ops: each conv of a block keeps one BatchNorm per operator it
    /// runs as (scale, shift, statistics) instead of sharing its own.
    #[arg(long)]
    pub(super) subnet_op_bn: bool,
    /// Stage 1: weight of each sub-network's loss.
    #[arg(long, value_name = "F", allow_negative_numbers = true, default_value_t = AugConfig::default().subnet_alpha)]
    pub(super) subnet_alpha: f32,
    /// BatchNorm statistics of the deployed model re-estimated on this many training images
    /// after training (0: keep the running statistics).
    #[arg(long, value_name = "N", default_value_t = BN_RESET_IMAGES)]
    pub(super) bn_reset: usize,
    /// Optimiser.
    #[arg(long, default_value = "adam", value_parser = one_of(&[("adam", OptimizerKind::Adam), ("sgd", OptimizerKind::Sgd)]))]
    pub(super) optimizer: OptimizerKind,
    /// SGD momentum (Nesterov).
    #[arg(long, value_name = "F", allow_negative_numbers = true, default_value_t = TrainConfig::default().momentum)]
    pub(super) momentum: f64,
    /// Weight decay.
    #[arg(long, value_name = "F", allow_negative_numbers = true, default_value_t = TrainConfig::default().weight_decay)]
    pub(super) wd: f32,
    /// Label smoothing.
    #[arg(long, value_name = "F", allow_negative_numbers = true, default_value_t = TrainConfig::default().label_smoothing)]
    pub(super) label_smoothing: f32,
    /// Random crop after zero-padding each side by N pixels (0: off).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub(super) crop_pad: usize,
    /// Random horizontal flip.
    #[arg(long)]
    pub(super) flip: bool,
    /// Linear warm-up steps.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub(super) warmup: usize,
    /// Learning-rate schedule (cosine: to 0 over all epochs).
    #[arg(long, action = clap::ArgAction::Set, default_value = "constant", value_parser = one_of(&[("constant", false), ("cosine", true)]))]
    pub(super) schedule: bool,
    /// Epochs.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..).map(|v| v as usize))]
    pub(super) epochs: usize,
    /// Batch size.
    #[arg(long, value_name = "N", default_value_t = TrainConfig::default().batch_size)]
    pub(super) batch_size: usize,
    /// Learning rate.
    #[arg(long, value_name = "F", allow_negative_numbers = true, default_value_t = TrainConfig::default().learning_rate)]
    pub(super) lr: f64,
    /// Seed of the initial weights, the data order and the augmentation sampling.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub(super) seed: u64,
    /// Train on the first N training images only [default: all 60 000].
    #[arg(long, value_name = "N")]
    pub(super) train_limit: Option<usize>,
    /// Test on the first N test images only [default: all 10 000].
    #[arg(long, value_name = "N")]
    pub(super) test_limit: Option<usize>,
    /// Read the loss back every N batches (each read is a device sync).
    #[arg(long, value_name = "N", default_value_t = TrainConfig::default().log_every)]
    pub(super) log_every: usize,
    /// Output directory: checkpoint.bin after every epoch, model.json + model.safetensors at
    /// the end; `none` writes nothing.
    #[arg(long, value_name = "DIR|none", default_value = "shiftaddaug-out")]
    pub(super) out: String,
    /// Continue from this checkpoint (refused if it was taken from another model config).
    #[arg(long, value_name = "CHECKPOINT")]
    pub(super) resume: Option<PathBuf>,
    /// Train this plan (a spec JSON, e.g. the plan.json of `search`) as a supernet instead of
    /// --model.
    #[arg(long, value_name = "PLAN_JSON")]
    pub(super) plan: Option<PathBuf>,
}

/// A `train` run, resolved from [`TrainArgs`].
pub(super) struct Args {
    pub(super) data: PathBuf,
    /// `mfcnn` or a zoo model name.
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
    pub(super) depthwise: Option<ConvKind>,
    /// Std of the supernets' adder weights at init.
    pub(super) adder_std: f32,
    /// Operators of the supernets' stem and classifier (default Mult).
    pub(super) stem_conv: ConvKind,
    /// Stem stride of the supernet models (1 for 28–32 px, 2 for larger inputs).
    pub(super) stem_stride: usize,
    pub(super) classifier: ConvKind,
    /// Width multiplier of the supernet models' spec.
    pub(super) width_mult: f32,
    /// A plan file that replaces the zoo spec.
    pub(super) plan: Option<PathBuf>,
}

impl TrainArgs {
    /// Checks the combination of options and builds the run.
    ///
    /// # Errors
    /// A sentence naming the option, for combinations clap cannot check: among them
    /// `--aug on` with a model that has no supernet, and an augmentation option set to a
    /// non-default value without `--aug on`.
    pub(super) fn resolve(self) -> Result<Args, String> {
        self.resolve_with(true)
    }

    /// [`resolve`](Self::resolve); `strict: false` lets direct training (`--aug off`) drop the
    /// augmentation options silently, for the rows of `compare`, whose common options serve its
    /// augmented and direct rows alike.
    pub(super) fn resolve_with(self, strict: bool) -> Result<Args, String> {
        if self.input_size < 28 {
            return Err(format!("--input-size {}: must be >= 28 (Fashion-MNIST is zero-padded to it)", self.input_size));
        }
        let static_model =
            self.plan.is_none() && (self.model == "mfcnn" || (self.model == "mbv2-tiny" && self.shift_mode == ShiftMode::Ps));
        if static_model && (self.stem_conv != ConvKind::Mult || self.classifier != ConvKind::Mult) {
            return Err("--stem-conv / --classifier apply to the supernet models (mbv2-tiny, mcunet, proxyless-0.35, mobilenetv3-0.35); mfcnn and the static DeepShift-PS mbv2-tiny keep both Mult".into());
        }
        if !(self.width_mult > 0.0 && self.width_mult <= 8.0) {
            return Err(format!("--width-mult {}: must be in (0, 8]", self.width_mult));
        }
        if static_model && self.width_mult != 1.0 {
            return Err(
                "--width-mult applies to the supernet models (mbv2-tiny, mcunet, proxyless-0.35, mobilenetv3-0.35); for mfcnn set --widths"
                    .into(),
            );
        }
        if self.aug && static_model {
            return Err(if self.model == "mfcnn" {
                "--aug on needs a supernet model (--model mbv2-tiny, mcunet, proxyless-0.35 or mobilenetv3-0.35, or --plan); mfcnn trains directly only".into()
            } else {
                "--aug on with --shift-mode ps: the DeepShift-PS mbv2-tiny is a static model without a supernet; ShiftAddAug uses DeepShift-Q (the default --shift-mode q)".into()
            });
        }
        if strict && !self.aug {
            let d = AugConfig::default();
            let set = [
                ("--aug-mode", self.aug_mode != d.mode),
                ("--remap", self.remap != d.remap),
                ("--remap-fc-grad", self.remap_fc_grad != d.remap_fc_grad),
                ("--width-list", self.width_list != d.width_list),
                ("--expand-list", self.expand_list != d.expand_list),
                ("--alpha", self.alpha != d.alpha),
                ("--stop-width-aug", self.stop_width_aug != d.stop_width_aug),
                ("--no-sort", self.no_sort),
                ("--subnets", self.subnets != d.subnets),
                ("--subnet-shrink", self.subnet_shrink != d.subnet_shrink),
                ("--subnet-alpha", self.subnet_alpha != d.subnet_alpha),
                ("--subnet-depth", self.subnet_depth),
                ("--subnet-kernels", !self.subnet_kernels.is_empty()),
                ("--subnet-ops", !self.subnet_ops.is_empty()),
                ("--subnet-op-bn", self.subnet_op_bn),
            ];
            if let Some((flag, _)) = set.iter().find(|(_, differs)| *differs) {
                return Err(format!("{flag} applies to ShiftAddAug training: add --aug on (without it the model trains directly)"));
            }
        }
        if self.plan.is_none() && self.model == "mfcnn" && self.stem_stride != 1 {
            return Err(
                "--stem-stride applies to mbv2-tiny, mcunet, proxyless-0.35 and mobilenetv3-0.35 (mfcnn's stem has stride 1)".into()
            );
        }
        let train = TrainConfig {
            batch_size: self.batch_size,
            learning_rate: self.lr,
            warmup_steps: self.warmup,
            optimizer: self.optimizer,
            momentum: self.momentum,
            label_smoothing: self.label_smoothing,
            weight_decay: self.wd,
            seed: self.seed,
            log_every: self.log_every,
            crop_padding: self.crop_pad,
            horizontal_flip: self.flip,
            ..TrainConfig::default()
        };
        train.validate().map_err(|e| e.to_string())?;
        let aug = if self.aug {
            AugConfig {
                enabled: true,
                width_list: self.width_list,
                expand_list: self.expand_list,
                mode: self.aug_mode,
                remap: self.remap,
                remap_fc_grad: self.remap_fc_grad,
                alpha: self.alpha,
                stop_width_aug: self.stop_width_aug,
                sort_channels: !self.no_sort,
                seed: self.seed,
                subnets: self.subnets,
                subnet_shrink: self.subnet_shrink,
                subnet_alpha: self.subnet_alpha,
                subnet_depth: self.subnet_depth,
                subnet_kernels: self.subnet_kernels,
                subnet_ops: self.subnet_ops,
                subnet_op_bn: self.subnet_op_bn,
                ..AugConfig::default()
            }
        } else {
            // Direct training ignores the augmentation options.
            AugConfig { seed: self.seed, ..AugConfig::direct() }
        };
        if aug.subnet_op_bn && aug.subnet_ops.is_empty() {
            return Err("--subnet-op-bn keeps a BatchNorm per sub-network operator: add --subnet-ops OP,..".into());
        }
        aug.validate().map_err(|e| e.to_string())?;
        if !aug.subnet_kernels.is_empty() && aug.subnets == 0 {
            return Err("--subnet-kernels are trained by sub-networks: add --subnets N (N >= 1)".into());
        }
        if !aug.subnet_ops.is_empty() && aug.subnets == 0 {
            return Err("--subnet-ops are trained by sub-networks: add --subnets N (N >= 1)".into());
        }
        let model =
            MfCnnConfig { conv: self.conv, widths: self.widths, head: self.head, shift_mode: self.shift_mode, ..MfCnnConfig::default() };
        Ok(Args {
            data: self.data,
            arch: self.model.to_string(),
            model,
            train,
            epochs: self.epochs,
            train_limit: self.train_limit,
            test_limit: self.test_limit,
            input_size: self.input_size,
            aug,
            schedule_cosine: self.schedule,
            bn_reset: self.bn_reset,
            out: (self.out != "none").then(|| PathBuf::from(self.out)),
            resume: self.resume,
            plan: self.plan,
            depthwise: self.depthwise,
            adder_std: self.adder_std,
            stem_conv: self.stem_conv,
            stem_stride: self.stem_stride,
            classifier: self.classifier,
            width_mult: self.width_mult,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::{AugConfig, Cli, Command};
    use clap::Parser;

    fn parse(s: &str) -> Result<super::Args, String> {
        parse_with(s, true)
    }

    /// `strict: false`: as `compare` resolves its rows.
    fn parse_with(s: &str, strict: bool) -> Result<super::Args, String> {
        let argv = ["shiftaddaug", "train"].into_iter().chain(s.split_whitespace());
        match Cli::try_parse_from(argv).map_err(|e| e.to_string())?.command {
            Command::Train(t) => t.resolve_with(strict),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn flags_set_the_configs() {
        let a = parse("--model mbv2-tiny --conv add --aug on --remap r0 --seed 7 --epochs 3 --optimizer sgd --wd 4e-5 --out none").unwrap();
        assert_eq!(a.arch, "mbv2-tiny");
        assert_eq!(a.model.conv, shiftaddaug::nn::ConvKind::Add);
        assert!(a.aug.enabled);
        assert_eq!(a.aug.remap, shiftaddaug::aug::RemapKind::R0);
        assert_eq!((a.train.seed, a.aug.seed), (7, 7), "--seed seeds training and sampling");
        assert_eq!(a.epochs, 3);
        assert_eq!(a.train.optimizer, shiftaddaug::train::OptimizerKind::Sgd);
        assert_eq!(a.train.weight_decay, 4e-5);
        assert!(a.out.is_none());
        // A later flag wins (compare appends its rows' flags after the common ones), and the
        // augmentation flags apply in any order relative to `--aug on`.
        let b = parse("--model mbv2-tiny --seed 3 --aug off --aug on").unwrap();
        assert_eq!((b.aug.seed, b.aug.enabled), (3, true));
        let b = parse("--model mcunet --alpha 0.25 --remap r0 --stop-width-aug 0.3 --aug-mode h2 --aug on").unwrap();
        assert_eq!(
            (b.aug.alpha, b.aug.remap, b.aug.stop_width_aug, b.aug.mode),
            (0.25, shiftaddaug::aug::RemapKind::R0, 0.3, shiftaddaug::aug::AugMode::H2)
        );
        let e =
            parse("--model mbv2-tiny --aug on --subnets 2 --subnet-shrink 0.25,0.5 --subnet-alpha 1 --subnet-depth --subnet-kernels 5,7")
                .unwrap();
        assert_eq!((e.aug.subnets, e.aug.subnet_shrink.clone(), e.aug.subnet_alpha, e.aug.subnet_depth), (2, vec![0.25, 0.5], 1.0, true));
        assert_eq!(e.aug.subnet_kernels, vec![5, 7]);
        let e = parse("--model mbv2-tiny --aug on --subnets 1 --subnet-ops add,shift").unwrap();
        assert_eq!(e.aug.subnet_ops, vec![shiftaddaug::nn::ConvKind::Add, shiftaddaug::nn::ConvKind::Shift]);
        assert!(!e.aug.subnet_op_bn);
        assert!(parse("--model mbv2-tiny --aug on --subnets 1 --subnet-ops add --subnet-op-bn").unwrap().aug.subnet_op_bn);
        let d = parse_with("--model mbv2-tiny --alpha 0.25 --aug on --seed 2 --aug off", false).unwrap();
        assert_eq!(d.aug, AugConfig { seed: 2, ..AugConfig::direct() }, "compare's direct rows drop the augmentation flags");
        let e = parse("--model mbv2-tiny --alpha 0.25 --aug on --seed 2 --aug off").err().unwrap_or_default();
        assert!(e.contains("--alpha applies to ShiftAddAug training: add --aug on"), "{e}");
        let s = parse("--model mcunet --stem-conv add --classifier shift").unwrap();
        assert_eq!((s.stem_conv, s.classifier), (shiftaddaug::nn::ConvKind::Add, shiftaddaug::nn::ConvKind::Shift));
        assert_eq!(parse("--model mcunet --input-size 64 --stem-stride 2").unwrap().stem_stride, 2);
        assert_eq!(parse("--model mbv2-tiny --width-mult 2.6").unwrap().width_mult, 2.6);
        let c = parse("--crop-pad 4 --flip").unwrap();
        assert_eq!((c.train.crop_padding, c.train.horizontal_flip), (4, true));
        let d = parse("").unwrap();
        assert_eq!((d.train.crop_padding, d.train.horizontal_flip), (0, false), "no augmentation unless asked");
        assert_eq!(d.train, shiftaddaug::train::TrainConfig::default(), "the defaults are the library's");
        assert_eq!(d.model, shiftaddaug::models::MfCnnConfig::default());
        assert_eq!((d.bn_reset, d.epochs, d.out.as_deref()), (16_000, 1, Some(std::path::Path::new("shiftaddaug-out"))));
        let w = parse("--model mbv2-tiny --aug on").unwrap();
        assert_eq!(w.aug, AugConfig::default(), "the augmentation defaults are the library's");
    }

    #[test]
    fn bad_flags_name_the_valid_choices() {
        for (argv, needle) in [
            ("--model resnet", "[possible values: mfcnn, mbv2-tiny, mcunet, proxyless-0.35, mobilenetv3-0.35]"),
            ("--conv mul", "[possible values: mult, shift, add]"),
            ("--aug maybe", "[possible values: on, off]"),
            ("--optimizer rmsprop", "[possible values: adam, sgd]"),
            ("--schedule step", "[possible values: constant, cosine]"),
            ("--epochs 0", "0 is not in 1.."),
            ("--input-size 16", "must be >= 28"),
            ("--epochs", "a value is required for '--epochs <N>'"),
            ("--width-list 1,x", "invalid value 'x' for '--width-list"),
            ("--frobnicate", "unexpected argument '--frobnicate'"),
            ("--crop-pad 40", "cropPadding = 40; valid: 0..=32"),
            ("--model mbv2-tiny --classifier conv", "[possible values: mult, shift, add]"),
            ("--stem-conv shift", "apply to the supernet models"),
            ("--stem-stride 3", "[possible values: 1, 2]"),
            ("--model mbv2-tiny --width-mult 0", "--width-mult 0: must be in (0, 8]"),
            ("--model mbv2-tiny --width-mult nan", "must be in (0, 8]"),
            ("--width-mult 2", "--width-mult applies to the supernet models"),
            ("--lr -1", "learningRate = -1"),
            ("--aug on", "--aug on needs a supernet model"),
            ("--model mbv2-tiny --shift-mode ps --aug on", "the DeepShift-PS mbv2-tiny is a static model"),
            ("--model mbv2-tiny --subnets 2", "--subnets applies to ShiftAddAug training: add --aug on"),
            ("--model mbv2-tiny --subnet-depth", "--subnet-depth applies to ShiftAddAug training"),
            ("--model mbv2-tiny --subnet-kernels 5", "--subnet-kernels applies to ShiftAddAug training"),
            ("--model mbv2-tiny --aug on --subnet-kernels 5", "add --subnets N"),
            ("--model mbv2-tiny --aug on --subnets 1 --subnet-kernels 4", "kernel size 4; valid: [3, 5, 7]"),
            ("--model mbv2-tiny --subnet-ops add", "--subnet-ops applies to ShiftAddAug training"),
            ("--model mbv2-tiny --aug on --subnet-ops add", "add --subnets N"),
            ("--model mbv2-tiny --aug on --subnets 1 --subnet-ops mult", "valid: shift, add"),
            ("--model mbv2-tiny --aug on --subnets 1 --subnet-ops xor", "invalid value 'xor' for '--subnet-ops"),
            ("--model mbv2-tiny --subnet-op-bn", "--subnet-op-bn applies to ShiftAddAug training"),
            ("--model mbv2-tiny --aug on --subnets 1 --subnet-op-bn", "add --subnet-ops OP"),
            ("--model mbv2-tiny --remap r0", "--remap applies to ShiftAddAug training"),
            ("--model mcunet --width-list 1,2", "--width-list applies to ShiftAddAug training"),
            ("--no-sort", "--no-sort applies to ShiftAddAug training"),
        ] {
            let e = parse(argv).err().unwrap_or_else(|| panic!("{argv} was accepted"));
            assert!(e.contains(needle), "{argv}: {e}");
        }
    }
}
