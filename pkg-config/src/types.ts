/** Backend names, as in TensorFlow.js / onnxruntime-web. */
export type BackendName = 'webgpu' | 'wasm';

/**
 * The training module a runtime loaded: `'webgpu'` (`shiftaddaug_bg.wasm`, WebGPU and CPU
 * backends) for the `'webgpu'` backend, `'cpu'` (`cpu/shiftaddaug_bg.wasm`, CPU only, about a
 * fifth of the download) for `'wasm'`.
 */
export type ModuleKind = 'webgpu' | 'cpu';

/** Options of {@link init}. */
export interface InitOptions {
  /**
   * `'auto'` picks WebGPU when a hardware adapter is available, else wasm; an array is an
   * ordered preference list. @defaultValue `'auto'`
   */
  backend?: 'auto' | BackendName | BackendName[];
  /** Run the model in a dedicated worker so the page never freezes. @defaultValue `true` in browsers, `false` in Node */
  worker?: boolean;
  /**
   * Where the WebGPU module's `.wasm` is (loaded for the `'webgpu'` backend only). Each module
   * is loaded once per thread (or worker): after the first load, the URL is not read again.
   * @defaultValue `shiftaddaug_bg.wasm` next to this module (`import.meta.url`)
   */
  wasmUrl?: string | URL;
  /**
   * Where the CPU-only module's `.wasm` is (loaded for the `'wasm'` backend), once per thread
   * as `wasmUrl`. @defaultValue `cpu/shiftaddaug_bg.wasm` next to this module, or
   * `cpu/baseline/shiftaddaug_bg.wasm` when `simd` is false
   */
  cpuWasmUrl?: string | URL;
  /**
   * Whether the wasm backend uses the SIMD128 build of the CPU-only module (as
   * onnxruntime-web's `env.wasm.simd`); `false` loads the baseline build, for engines without
   * SIMD128 (Safari before 16.4).
   * @defaultValue detected: whether this engine validates a SIMD128 instruction
   */
  simd?: boolean;
  /** Let `'auto'` choose a software WebGPU adapter (SwiftShader), usually slower than wasm. @defaultValue `false` */
  allowSoftwareWebGPU?: boolean;
  /**
   * Workers that train in parallel on the wasm backend (1 to 16; WebGPU uses one). Each holds a
   * replica of every model and trains on part k of each batch; the gradients are summed and every
   * replica takes the same step, so K workers train exactly like one with `microBatches: K`
   * (BatchNorm statistics per part, as PyTorch's DistributedDataParallel without SyncBatchNorm).
   * Each worker keeps its own copy of the training data. Gradients travel on a SharedArrayBuffer
   * when the page is cross-origin isolated (served with `Cross-Origin-Opener-Policy: same-origin`
   * and `Cross-Origin-Embedder-Policy: require-corp`), else in transferred buffers.
   * @defaultValue `navigator.hardwareConcurrency`, at most 4, with workers; 1 without
   */
  threads?: number;
}

/** What {@link init} chose, and why. */
export interface RuntimeInfo {
  backend: BackendName;
  /** Why this backend (e.g. "navigator.gpu is undefined", "adapter is software (swiftshader)"). */
  reason: string;
  /** WebGPU adapter info when one was found. */
  adapterInfo?: { vendor: string; architecture: string; device: string; description: string; isSoftware: boolean };
  /** Which training module was loaded (from the backend). */
  module: ModuleKind;
  /** Whether the wasm module was built with SIMD128. */
  simd: boolean;
  /** Whether models run in a worker. */
  worker: boolean;
  version: string;
  /** Workers training each model in parallel (see {@link InitOptions.threads}). */
  threads: number;
  /** Whether the page is cross-origin isolated (SharedArrayBuffer available). */
  crossOriginIsolated: boolean;
  /** How the workers of a group exchange gradients; `null` with one thread. */
  gradientExchange: 'shared' | 'transfer' | null;
}

/** Operator of the body convolutions. */
export type ConvKind = 'mult' | 'shift' | 'add';

/** Augmentation options of a `'mbv2-tiny'` model (see the Rust `AugConfig`; METHOD.md §3–§4). */
export interface AugOptions {
  /** Train augmented models besides the tiny one. @defaultValue `true` for `'mbv2-tiny'` with `aug` given */
  enabled?: boolean;
  /** Output-width factors (must contain 1). Fixed at creation. @defaultValue `[1, 1.8, 2.6]` */
  widthList?: number[];
  /** MBConv expand factors (must contain 1). Fixed at creation. @defaultValue `[1, 1.6, 2.2, 2.8]` */
  expandList?: number[];
  /** Augmented pass: hybrid `'H1'`, isolated target `'H2'`, all-Mult `'B'`, MF-only `'MfOnly'`. @defaultValue `'H1'` */
  mode?: 'H1' | 'H2' | 'B' | 'MfOnly';
  /** Weight remap from the shared bank to MF weights. Fixed at creation. @defaultValue `'R1'` */
  remap?: 'R0' | 'R1' | 'R2' | 'R3' | 'R4';
  /** Shift layers also get the Laplace remap. Fixed at creation. @defaultValue `true` */
  remapForShift?: boolean;
  /**
   * The remap FC's gradient over the rows it transforms: `'mean'` (stable under SGD) or `'sum'`
   * (the plain gradient). Fixed at creation. @defaultValue `'mean'`
   */
  remapFcGrad?: 'mean' | 'sum';
  /** Weight α of the augmented loss (`L_tiny + α·L_aug`); METHOD.md's value is 1. @defaultValue 0.5 */
  alpha?: number;
  /** Fraction of the planned steps (`totalSteps`) after which widths stay tiny. @defaultValue 0.5 */
  stopWidthAug?: number;
  /** Re-sort MBConv middle channels at every epoch start while widths are augmented. @defaultValue `true` */
  sortChannels?: boolean;
  /** Seed of the per-step architecture sampling. @defaultValue 0 */
  seed?: number;
  /**
   * Stage 1 of the search: MF sub-networks of the search space trained per step besides the
   * tiny and augmented passes (per-layer factors drawn from `subnetShrink ∪ widthList` and
   * `subnetShrink ∪ expandList`), so that `search` scores narrower and wider candidates on
   * weights trained for them. 0 to 8; above 0 only with `enabled` (else `INVALID_CONFIG`). @defaultValue 0
   */
  subnets?: number;
  /** Narrowing factors of the sub-networks, each in (0, 1). @defaultValue `[0.5, 0.75]` */
  subnetShrink?: number[];
  /** Weight of each sub-network's loss. @defaultValue 0.5 */
  subnetAlpha?: number;
  /** Sub-networks also skip each block with a shortcut with probability 1/2 (`search`'s `depth`). @defaultValue `false` */
  subnetDepth?: boolean;
  /**
   * Depthwise kernel sizes (3, 5, 7) the sub-networks draw each block's from besides its own
   * (elastic kernels: banks stored at the largest, a smaller kernel is the centre); `search` then
   * chooses a kernel per block. Only sub-networks (`subnets` ≥ 1) train the other kernels;
   * fixed at creation. @defaultValue `[]`
   */
  subnetKernels?: number[];
  /**
   * Multiplication-free operators (`'shift'`, `'add'`) the sub-networks draw each block's from
   * besides its own (all the block's convs take the drawn one; they read the same weights and share
   * the block's BatchNorm unless `subnetOpBn`); `search` then chooses operators per block. Only sub-networks train the
   * other operators. @defaultValue `[]`
   */
  subnetOps?: ConvKind[];
  /**
   * With `subnetOps`: each conv of a block keeps one BatchNorm (scale, shift, statistics) per
   * operator it may run as, instead of sharing its own. Fixed when the model is created, with
   * `subnetOps`. @defaultValue `false`
   */
  subnetOpBn?: boolean;
}

/** Model description (JSON-serialisable). */
export interface ModelConfig {
  /**
   * `'mfcnn'`: the small MF CNN. `'mbv2-tiny'` (MobileNetV2-Tiny), `'mcunet'`, `'proxyless-0.35'`,
   * `'mobilenetv3-0.35'`: the zoo models as ShiftAddAug supernets (trained directly with
   * `aug: { enabled: false }`); the options below marked `'mbv2-tiny'` apply to all of them.
   * @defaultValue `'mfcnn'`
   */
  model?: 'mfcnn' | 'mbv2-tiny' | 'mcunet' | 'proxyless-0.35' | 'mobilenetv3-0.35';
  /** `[channels, height, width]` of one image, e.g. `[1, 28, 28]`; at most 2^22 values. */
  inputShape: [number, number, number];
  /** Classes, 2 to 65 536. */
  numClasses: number;
  /** @defaultValue `'shift'` (`'mfcnn'`); required for `'mbv2-tiny'` */
  conv?: ConvKind;
  /** `'mbv2-tiny'`: operator of the depthwise convs when it differs from `conv`. */
  depthwise?: ConvKind;
  /**
   * `'mbv2-tiny'`: standard deviation of the adder weights at init (they are read from the shared
   * bank times a fixed gain); adders with small weights collapse a deep net's features.
   * `null`: weights as stored (exported models). @defaultValue 10
   */
  adderStd?: number | null;
  /** `'mbv2-tiny'`: stem stride, 1 for 28–32 px inputs. @defaultValue 1 */
  stemStride?: 1 | 2;
  /** `'mbv2-tiny'`: operator of the 3×3 stem conv. @defaultValue `'mult'` */
  stemConv?: ConvKind;
  /**
   * `'mbv2-tiny'`: operator of the classifier: `'mult'` (linear with bias), or `'shift'` / `'add'`
   * (a 1×1 conv of that operator on the pooled features, then BatchNorm over the classes).
   * @defaultValue `'mult'`
   */
  classifier?: ConvKind;
  /** `'mbv2-tiny'`: augmentation options. @defaultValue ShiftAddAug defaults */
  aug?: AugOptions;
  /**
   * `'mbv2-tiny'` (any zoo name): the architecture, e.g. a {@link SearchCandidate.plan} from
   * {@link Model.search} (stem, ds, blocks, head widths). A block may name its own operators:
   * `conv: 'mult' | 'shift' | 'add'` for its convs, `depthwise` for its depthwise conv alone; a
   * block with a shortcut may be `augOnly: true` (depth augmentation: the tiny model skips it,
   * the augmented passes run it as Mult, the export leaves it out); an unknown field is
   * `INVALID_CONFIG`. @defaultValue the zoo model's
   */
  spec?: Record<string, unknown>;
  /** `'mfcnn'`: channel widths: stem, then one stride-2 layer each. @defaultValue `[8, 16, 32]` */
  widths?: number[];
  /** Classifier input: flatten the last feature map, or global average pooling. @defaultValue `'flatten'` */
  head?: 'flatten' | 'avgpool';
  /** Shift layers: DeepShift-Q (real weights rounded to powers of two) or -PS (trainable shift and sign). @defaultValue `'q'` */
  shiftMode?: 'q' | 'ps';
}

/** Training hyper-parameters (see the Rust `TrainConfig`). */
export interface TrainOptions {
  /** @defaultValue 64 */
  batchSize?: number;
  /** @defaultValue 0.003 */
  learningRate?: number;
  /** @defaultValue `'adam'` */
  optimizer?: 'adam' | 'sgd';
  /** @defaultValue 0 */
  labelSmoothing?: number;
  /** Seed of shuffling and initialisation. @defaultValue 0 */
  seed?: number;
  /** SGD momentum (Nesterov). @defaultValue 0.9 */
  momentum?: number;
  /** L2 weight decay. @defaultValue 0 */
  weightDecay?: number;
  /** Linear learning-rate warm-up steps. @defaultValue 0 */
  warmupSteps?: number;
  /**
   * Random crop after zero-padding every side by this many pixels (torchvision's
   * `RandomCrop(size, padding)`), per training image; 0 turns it off. Integer in 0..=32. @defaultValue 0
   */
  cropPadding?: number;
  /** Random left-right mirror of each training image with probability 1/2. @defaultValue false */
  horizontalFlip?: boolean;
  /** Cosine decay to 0 at this step (also the schedule of `aug.stopWidthAug`); absent: constant. */
  totalSteps?: number;
  /**
   * The validation at the end of each epoch first re-estimates BatchNorm statistics,
   * on a copy of the model, from this many training images, so that `valAcc` is the accuracy of
   * the model you get (the running statistics lag an adder net's weights); 0 uses the running
   * statistics. @defaultValue 2000
   */
  evalBnImages?: number;
  /**
   * Split each batch into this many consecutive parts, each with its own forward and backward
   * pass (BatchNorm statistics per part), their gradients summed into one step: what
   * `init({ threads: K })` does across K workers, here in one (the result is the same). 1 to 256.
   * @defaultValue 1
   */
  microBatches?: number;
  /**
   * Read loss/accuracy back every this many batches (each read is a GPU sync); `onBatchEnd`
   * fires for those batches and the last one. @defaultValue 1
   */
  logEvery?: number;
}

/** Per-batch / per-epoch logs passed to callbacks. */
export interface Logs {
  loss: number;
  acc: number;
  valLoss?: number;
  valAcc?: number;
}

/** A phase of {@link Model.fit}; `done` of `total` units (batches) are finished. */
export interface PhaseInfo {
  /** `'training'` (units: batches of this epoch), `'validation'` (the end-of-epoch evaluation), `'bnReestimation'` (batches of re-estimation images). */
  phase: 'training' | 'validation' | 'bnReestimation';
  /** Epoch index (training and validation). */
  epoch?: number;
  done: number;
  total: number;
}

/** Callbacks named as in TensorFlow.js; may return a Promise (awaited when running in-thread). */
export interface Callbacks {
  /** At the start of each phase and after each unit of it (see {@link PhaseInfo}). */
  onPhase?: (info: PhaseInfo) => void | Promise<void>;
  onTrainBegin?: () => void | Promise<void>;
  onEpochBegin?: (epoch: number) => void | Promise<void>;
  onBatchEnd?: (batch: number, logs: Logs) => void | Promise<void>;
  onEpochEnd?: (epoch: number, logs: Logs) => void | Promise<void>;
  onTrainEnd?: () => void | Promise<void>;
  /** After each checkpoint of {@link FitOptions.checkpointEvery}: where a resumed fit would continue. */
  onCheckpoint?: (info: CheckpointInfo) => void | Promise<void>;
  /** The backend was lost mid-fit and, with `fallback: 'wasm'`, training goes on from the last checkpoint on a new wasm worker. */
  onFallback?: (info: FallbackInfo) => void | Promise<void>;
}

/** A checkpoint a fit wrote: its URL and the position a resumed fit continues at. */
export interface CheckpointInfo extends FitPosition {
  url: string;
}

/** Reported by {@link Callbacks.onFallback}. */
export interface FallbackInfo {
  /** The backend that was lost. */
  from: string;
  to: 'wasm';
  /** Why: the `BACKEND_LOST` message. */
  reason: string;
  /** The checkpoint training continues from. */
  checkpoint: CheckpointInfo;
}

/**
 * Options of {@link Model.fit}. The training options ({@link TrainOptions}) given here replace
 * those given to {@link createModel} for this fit and later ones; options not given keep their
 * current value.
 */
export interface FitOptions extends TrainOptions {
  /** @defaultValue 1 */
  epochs?: number;
  /** `[x, y]` evaluated at the end of every epoch. */
  validationData?: [Float32Array, ArrayLike<number>];
  callbacks?: Callbacks;
  /**
   * Stops training between batches. The model keeps what it learned and stays usable (predict,
   * evaluate, export); BatchNorm statistics are still re-estimated, on at most
   * 500 images when stopped during training, and a stop during the re-estimation
   * keeps the statistics of the batches done (at least two). The promise then rejects with code
   * `ABORTED`; the error's `history` holds the epochs completed.
   */
  signal?: AbortSignal;
  /** Give the event loop a turn at least this often (ms). @defaultValue 50 */
  yieldEvery?: number;
  /**
   * `'mbv2-tiny'` models: augmentation options changed for this and later fits (`mode`,
   * `alpha`, `stopWidthAug`, `sortChannels`, `seed`, `subnets`, `subnetShrink`, `subnetAlpha`,
   * `subnetDepth`, `enabled: false`); the others are fixed at creation.
   */
  aug?: AugOptions;
  /**
   * Re-estimate the deployed model's BatchNorm statistics (a zoo model's tiny model) on this
   * many training images after the last epoch (NetAug `reset_bn`; 0 keeps the running
   * statistics, which lag the weights, badly so for `conv: 'add'`). @defaultValue 16000 (capped at the data; the training module's default, the CLI's too)
   */
  resetBn?: number;
  /**
   * Save the training state every this many batches to {@link FitOptions.checkpointUrl} (as
   * {@link Model.save} does, with the fit's position), so that a reload or a crash loses at
   * most that many batches: {@link loadModel} then `fit({ resume: true })` continue from it.
   * On WebGPU each save reads the state back asynchronously (a pause of the fit).
   */
  checkpointEvery?: number;
  /** Where {@link FitOptions.checkpointEvery} saves: `'indexeddb://name'` (browser) or a file path or `file://` URL (Node). */
  checkpointUrl?: string;
  /**
   * Continue where the checkpoint this model was loaded from ({@link loadModel}) was taken:
   * at its epoch and batch instead of at epoch 0. `epochs` still counts from 0, so `{ epochs: 3,
   * resume: true }` after a checkpoint taken in epoch 1 trains the rest of epoch 1 and epoch 2,
   * and the history lists those; the same data and options give the losses of the fit that was
   * interrupted. `INVALID_CONFIG` when the model has no such position.
   */
  resume?: boolean;
  /**
   * When the backend is lost mid-fit (the worker crashed: a trap, out of memory, a terminated
   * worker) after a checkpoint was written, `'wasm'` starts a new runtime on the wasm backend
   * (every model of the old one is lost with it), loads the checkpoint into this model and goes
   * on with the fit from there, reporting it through {@link Callbacks.onFallback}; the history
   * then holds the epochs trained after the switch. Without it, or without a checkpoint, the fit
   * rejects with `BACKEND_LOST` whose `checkpoint` names the last one. Needs a worker
   * (`init({ worker: true })`): a module that trapped in this thread cannot run again.
   */
  fallback?: 'wasm';
}

/** A place in a fit: training continues at batch `batch` of epoch `epoch` (both from 0). */
export interface FitPosition {
  epoch: number;
  batch: number;
}

/** A saved model, as {@link listModels} lists it. */
export interface SavedModelInfo {
  /** `'indexeddb://name'`. */
  url: string;
  /** When it was saved (ISO 8601). */
  savedAt: string;
  /** Size of the saved training state, bytes. */
  bytes: number;
  /** Optimisation steps it had taken. */
  step: number;
  config: ModelConfig;
  /** Where `fit({ resume: true })` continues; `null` for a model saved between fits. */
  position: FitPosition | null;
}

/**
 * Options of {@link Model.search}: the held-out data, the limits and the evolution (Once-for-All's
 * defaults). Every candidate meets every limit given.
 */
export interface SearchOptions {
  /** `[x, y]` (training images not used to train the supernet) its BatchNorm statistics are re-estimated on. */
  bnData: [Float32Array, ArrayLike<number>];
  /** `[x, y]` (other held-out training images) each candidate is scored on; never the test set. */
  evalData: [Float32Array, ArrayLike<number>];
  /** At most this many multiply-accumulates per image. */
  maxMacs?: number;
  /** At most this many parameters. */
  maxParams?: number;
  /** At most this much compute energy per image, µJ (32-bit unit energies, one per MAC by operator). */
  maxEnergyUj?: number;
  /** At most this many peak activation values per image (a step's input and output plus the shortcut input held). */
  maxPeakActivation?: number;
  /** At most this many ms per image on this device, in `latencyEngine`, predicted from a table of its layers timed here (`performance.now()`) as the search goes. */
  maxLatencyMs?: number;
  /**
   * Whose latency `maxLatencyMs` limits: `'integer'`, the integer engine of `shiftaddaug/infer` (one thread; what a deployed
   * model runs), or `'float'`, this model's float path on its own backend (wasm or WebGPU; what `predict` runs), each layer run as
   * a deployed plan runs it. @defaultValue 'integer'
   */
  latencyEngine?: 'integer' | 'float';
  /** Candidates per generation, 2 to 10 000. @defaultValue 100 */
  population?: number;
  /** Generations after the initial population, 0 to 100 000. @defaultValue 20 */
  generations?: number;
  /** Share of each generation kept as parents, in (0, 1]. @defaultValue 0.25 */
  parentRatio?: number;
  /** Share of the children made by mutation (the rest by crossover), in [0, 1]. @defaultValue 0.5 */
  mutationRatio?: number;
  /** Probability that a mutation redraws each gene, in (0, 1]. @defaultValue 0.1 */
  mutationProb?: number;
  /** @defaultValue 0 */
  seed?: number;
  /**
   * Width factors below 1 offered besides the supernet's own, so a TargetNet can narrow some
   * layers to widen others. @defaultValue the model's `aug.subnetShrink` when it trains
   * sub-networks (`aug.subnets` > 0), else `[0.5, 0.75]`
   */
  shrink?: number[];
  /**
   * Also choose which blocks with a shortcut the TargetNet keeps; the others stay in the
   * augmented model (depth augmentation: `augOnly: true` in the candidate's `plan`).
   * @defaultValue false
   */
  depth?: boolean;
  /** `onGeneration(generation, best so far)` after each generation; `onCandidate(scored)` after each candidate. */
  callbacks?: SearchCallbacks;
  /** Stops after the candidate being scored; the promise resolves with the result so far (`stopped: true`). */
  signal?: AbortSignal;
}

/** Progress callbacks of {@link Model.search}. */
export interface SearchCallbacks {
  onGeneration?: (generation: number, best: SearchCandidate) => void | Promise<void>;
  onCandidate?: (scored: number) => void | Promise<void>;
}

/** One scored TargetNet. */
export interface SearchCandidate {
  /** One choice index per gene (0: the narrowest). */
  genome: number[];
  /** Accuracy on `evalData` with the supernet's weights, BatchNorm re-estimated on `bnData`. */
  accuracy: number;
  /** MACs, parameters, compute energy (pJ) and peak activation values per image of the deployed MF net; with `maxLatencyMs`, its predicted latency (ns). */
  cost: { macs: number; params: number; energyPj: number; peakActivation: number; latencyNs?: number };
  /** The generation it was first scored in. */
  generation: number;
  /** Its architecture: train it with `createModel({ model: 'mbv2-tiny', spec: plan, ... })`. */
  plan: Record<string, unknown>;
}

/** Resolved by {@link Model.search}. */
export interface SearchResult {
  /** The most accurate candidate. */
  best: SearchCandidate;
  /** The candidates no other beats on both accuracy and MACs, by increasing MACs. */
  front: SearchCandidate[];
  /** Every candidate scored, in order. */
  evaluated: SearchCandidate[];
  /** True when `signal` stopped the search. */
  stopped: boolean;
  /**
   * The best as the supernet trained it, without retraining: its weights, BatchNorm
   * re-estimated on `bnData`, in the format of {@link Model.exportModel} (docs/FORMAT.md). Load
   * it with `loadModel` of `shiftaddaug/infer`; its float accuracy on `evalData` is `best.accuracy`.
   */
  export: { json: string; safetensors: Uint8Array };
}

/** Returned by {@link Model.fit}, shaped like TensorFlow.js' `History`. */
export interface History {
  epoch: number[];
  history: { loss: number[]; acc: number[]; valLoss: number[]; valAcc: number[] };
}

/** Stable error codes. */
export type ErrorCode =
  | 'INVALID_IDX' | 'INVALID_DATASET' | 'SHAPE_MISMATCH' | 'NON_FINITE_INPUT' | 'INVALID_CONFIG'
  | 'UNKNOWN_BACKEND' | 'WEBGPU_UNAVAILABLE' | 'BACKEND_ERROR' | 'BACKEND_LOST' | 'ABORTED'
  | 'BUSY' | 'DISPOSED' | 'NOT_INITIALIZED' | 'IO_ERROR';


/** Every error thrown or rejected by the SDK. */
export class ShiftAddAugError extends Error {
  readonly code: ErrorCode;
  /** `ABORTED` by {@link FitOptions.signal}: the epochs completed before the stop. */
  history?: History;
  /** `BACKEND_LOST` during a fit that wrote checkpoints: the last one (load it with `loadModel`, then `fit({ resume: true })`). */
  checkpoint?: CheckpointInfo;
  constructor(code: ErrorCode, message: string, history?: History) {
    super(message);
    this.name = 'ShiftAddAugError';
    this.code = code;
    if (history) this.history = history;
  }
}

/** Turns anything thrown by the wasm module into a {@link ShiftAddAugError}. */
export function toError(e: unknown): ShiftAddAugError {
  if (e instanceof ShiftAddAugError) return e;
  const anyE = e as { code?: string; message?: string } | undefined;
  if (anyE && typeof anyE.code === 'string') {
    return new ShiftAddAugError(anyE.code as ErrorCode, anyE.message ?? String(e), (anyE as { history?: History }).history);
  }
  const msg = (anyE && anyE.message) || String(e);
  // A wasm trap (RuntimeError: unreachable) means the module is dead.
  if (e instanceof WebAssembly.RuntimeError) return new ShiftAddAugError('BACKEND_LOST', `wasm module crashed: ${msg}`);
  return new ShiftAddAugError('BACKEND_ERROR', msg);
}
