// The in-thread engine: loads the wasm module, picks the backend, runs fit/predict loops.
// Used directly when `worker: false` (and in Node), and inside the worker otherwise.
import type { Session } from './shiftaddaug.js';
// Both glues are imported statically (a few KB of JS each): a dynamic import would make the
// worker a code-splitting build, which bundlers' default worker format (Vite: iife) refuses.
// Only the chosen module's .wasm is fetched.
import * as webgpuGlue from './shiftaddaug.js';
import * as cpuGlue from './cpu/shiftaddaug.js';
import { Emit, FitTarget, loopOptions, runFit } from './fitloop.js';
import { isNode, readFileUrl } from './files.js';
import { SavedMeta, writeSaved } from './persist.js';
import {
  BackendName, FitOptions, FitPosition, History, InitOptions, ModelConfig, ModuleKind, RuntimeInfo, SearchCandidate, SearchResult, ShiftAddAugError, TrainOptions, toError,
} from './types.js';

/** Search progress: `('generation', g, best)` after a generation, `('candidate', n)` after a candidate. */
export type SearchEmit = (event: 'generation' | 'candidate', index: number, best?: SearchCandidate) => unknown;

/** The wasm-bindgen glue of a training module; both modules have the same exports. */
type Glue = typeof webgpuGlue;
const GLUES: Record<ModuleKind, Glue> = { webgpu: webgpuGlue, cpu: cpuGlue };
/** The module of the last init in this thread, once loaded. */
let glue: Glue | null = null;
/** The modules this thread loaded (or is loading), by kind: their exports once instantiated. */
const loadedModules = new Map<ModuleKind, Promise<unknown>>();
let runtime: RuntimeInfo | null = null;
/** Set once the module trapped: a trapped wasm instance cannot run again in this thread. */
let crashed: ShiftAddAugError | null = null;
/** Rejecters of the calls in flight, told when the module traps. */
const inFlight = new Set<(e: ShiftAddAugError) => void>();
/** Whether the in-thread trap listeners are installed (never inside the worker: there a trap ends the worker, and the main thread replaces it). */
let catchTraps = false;


/**
 * Loads the training module of `kind`: `'webgpu'`, the module with the WebGPU and CPU backends
 * (`./shiftaddaug_bg.wasm`), or `'cpu'`, the CPU-only module (`./cpu/shiftaddaug_bg.wasm`), a
 * fifth of the size, each with its own glue. A glue holds one instance, so each kind is loaded
 * once per thread: once one has loaded, later URLs for that kind are not read.
 */
async function loadWasm(kind: ModuleKind, wasmUrl: string | URL | undefined, simd: boolean): Promise<Glue> {
  let p = loadedModules.get(kind);
  if (!p) {
    p = (async () => {
      // Literal paths, so that bundlers see the .wasm files. The baseline build (no SIMD128) of
      // the CPU-only module has the same exports and imports, so the CPU glue loads it too.
      const url = wasmUrl ? new URL(String(wasmUrl), import.meta.url)
        : kind === 'webgpu' ? new URL('./shiftaddaug_bg.wasm', import.meta.url)
          : simd ? new URL('./cpu/shiftaddaug_bg.wasm', import.meta.url) : new URL('./cpu/baseline/shiftaddaug_bg.wasm', import.meta.url);
      try {
        return await GLUES[kind].default({ module_or_path: (await readFileUrl(url)) ?? url });
      } catch (e) {
        throw new ShiftAddAugError('IO_ERROR', `cannot load the ${kind} module from ${url.href}: ${(e as Error)?.message ?? String(e)}`);
      }
    })();
    loadedModules.set(kind, p);
    p.catch(() => { loadedModules.delete(kind); });
  }
  await p;
  return GLUES[kind];
}

/** Whether this engine compiles WebAssembly SIMD128: validates `(func (result v128) (i8x16.popcnt (i8x16.splat (i32.const 0)))))`. */
export function simdSupported(): boolean {
  return WebAssembly.validate(new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 10, 1, 8, 0, 65, 0, 253, 15, 253, 98, 11]));
}

function requireGlue(): Glue {
  if (!glue) throw new ShiftAddAugError('NOT_INITIALIZED', 'call init() first');
  return glue;
}

/**
 * A trap inside an async wasm call (out-of-memory abort, panic) escapes as an uncaught
 * exception from a microtask, not as a rejection: these listeners turn it into a
 * `BACKEND_LOST` rejection of the calls in flight. Installed only while a call is in flight.
 */
function isTrap(e: unknown): boolean { return e instanceof WebAssembly.RuntimeError; }

function trapped(e: unknown): void {
  crashed = new ShiftAddAugError('BACKEND_LOST',
    `the wasm module crashed (${(e as Error)?.message ?? String(e)}); its models are lost and this runtime cannot run again in this thread: ` +
    'restart the process or reload the page, or use init({ worker: true }) in a browser, where a crashed worker is replaced on the next call');
  for (const reject of inFlight) reject(crashed);
  inFlight.clear();
}

type Listener = { remove(): void };
function listenForTraps(): Listener {
  const proc2 = (globalThis as { process?: { on(ev: string, f: (e: unknown) => void): void; off(ev: string, f: (e: unknown) => void): void } }).process;
  if (isNode && proc2) {
    const onErr = (e: unknown) => { if (isTrap(e)) trapped(e); else throw e; };
    proc2.on('uncaughtException', onErr);
    proc2.on('unhandledRejection', onErr);
    return { remove() { proc2.off('uncaughtException', onErr); proc2.off('unhandledRejection', onErr); } };
  }
  const g = globalThis as unknown as { addEventListener?: (t: string, f: (e: any) => void) => void; removeEventListener?: (t: string, f: (e: any) => void) => void };
  if (!g.addEventListener || !g.removeEventListener) return { remove() {} };
  const onError = (ev: ErrorEvent) => { if (isTrap(ev.error)) { ev.preventDefault(); trapped(ev.error); } };
  const onRejection = (ev: PromiseRejectionEvent) => { if (isTrap(ev.reason)) { ev.preventDefault(); trapped(ev.reason); } };
  g.addEventListener('error', onError);
  g.addEventListener('unhandledrejection', onRejection);
  return { remove() { g.removeEventListener!('error', onError); g.removeEventListener!('unhandledrejection', onRejection); } };
}

let listeners: Listener | null = null;

/** Runs `f` so that a trap rejects it with `BACKEND_LOST` instead of leaving it pending. */
async function guarded<T>(f: () => Promise<T>): Promise<T> {
  if (crashed) throw crashed;
  let reject!: (e: ShiftAddAugError) => void;
  const trap = new Promise<never>((_, r) => { reject = r; });
  inFlight.add(reject);
  if (catchTraps && !listeners) listeners = listenForTraps();
  try {
    return await Promise.race([f(), trap]);
  } catch (e) {
    if (isTrap(e)) trapped(e);
    throw crashed ?? toError(e);
  } finally {
    inFlight.delete(reject);
    if (inFlight.size === 0 && listeners) { listeners.remove(); listeners = null; }
  }
}

interface GpuProbe { ok: boolean; reason: string; info?: RuntimeInfo['adapterInfo'] }

async function probeWebGPU(): Promise<GpuProbe> {
  const nav = (globalThis as { navigator?: { gpu?: { requestAdapter(): Promise<unknown> } } }).navigator;
  if (!nav || !nav.gpu) return { ok: false, reason: 'navigator.gpu is undefined (no WebGPU in this context)' };
  let adapter: { info?: Record<string, string>; requestAdapterInfo?: () => Promise<Record<string, string>> } | null;
  try {
    adapter = (await nav.gpu.requestAdapter()) as typeof adapter;
  } catch (e) {
    return { ok: false, reason: `requestAdapter() threw: ${(e as Error).message}` };
  }
  if (!adapter) return { ok: false, reason: 'requestAdapter() returned null (WebGPU disabled or blocklisted)' };
  const raw = adapter.info ?? {};
  const info = {
    vendor: raw.vendor ?? '', architecture: raw.architecture ?? '', device: raw.device ?? '',
    description: raw.description ?? '', isSoftware: false,
  };
  info.isSoftware = /swiftshader|llvmpipe|lavapipe|software/i.test(`${info.architecture} ${info.description} ${info.vendor}`);
  return { ok: true, reason: 'WebGPU adapter available', info };
}

/** Chooses a backend from the options; never throws for 'auto'. */
async function chooseBackend(opts: InitOptions): Promise<{ backend: BackendName; reason: string; info?: GpuProbe['info'] }> {
  const pref = opts.backend ?? 'auto';
  const list: string[] = Array.isArray(pref) ? pref : [pref];
  if (list.length === 0) throw new ShiftAddAugError('UNKNOWN_BACKEND', 'backend list is empty; valid backends: auto, webgpu, wasm');
  for (const b of list) {
    if (b !== 'auto' && b !== 'webgpu' && b !== 'wasm') {
      throw new ShiftAddAugError('UNKNOWN_BACKEND', `unknown backend ${JSON.stringify(b)}; valid backends: 'auto', 'webgpu', 'wasm'`);
    }
  }
  const reasons: string[] = [];
  for (const b of list) {
    if (b === 'wasm') return { backend: 'wasm', reason: reasons.length ? reasons.join('; ') + '; using wasm' : 'wasm requested' };
    const probe = await probeWebGPU();
    if (!probe.ok) {
      reasons.push(probe.reason);
      if (b === 'webgpu' && list.length === 1) throw new ShiftAddAugError('WEBGPU_UNAVAILABLE', probe.reason);
      continue;
    }
    if (b === 'auto' && probe.info?.isSoftware && !opts.allowSoftwareWebGPU) {
      reasons.push(`WebGPU adapter is software (${probe.info.architecture || probe.info.description}), slower than wasm`);
      continue;
    }
    return { backend: 'webgpu', reason: b === 'auto' ? 'hardware WebGPU adapter found' : 'webgpu requested', info: probe.info };
  }
  return { backend: 'wasm', reason: reasons.join('; ') + '; falling back to wasm' };
}

/** Loads the module and selects the backend (in this thread). */
export async function coreInit(opts: InitOptions, inWorker: boolean): Promise<RuntimeInfo> {
  if (crashed) throw crashed;
  catchTraps = !inWorker;
  const choice = await chooseBackend(opts);
  const module: ModuleKind = choice.backend === 'webgpu' ? 'webgpu' : 'cpu';
  const g = await loadWasm(module, module === 'webgpu' ? opts.wasmUrl : opts.cpuWasmUrl, opts.simd ?? simdSupported());
  if (module === 'webgpu' && !g.webgpuEnabled()) {
    throw new ShiftAddAugError('INVALID_CONFIG', `wasmUrl ${String(opts.wasmUrl)} is a module without WebGPU; the 'webgpu' backend needs shiftaddaug_bg.wasm`);
  }
  glue = g;
  runtime = {
    backend: choice.backend, reason: choice.reason, adapterInfo: choice.info, module,
    simd: g.simdEnabled(), worker: inWorker, version: g.version(),
    // One thread here; a group of workers is the main thread's (index.ts).
    threads: 1, crossOriginIsolated: (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated === true, gradientExchange: null,
  };
  return runtime;
}

function requireRuntime(): RuntimeInfo {
  if (crashed) throw crashed;
  if (!runtime) throw new ShiftAddAugError('NOT_INITIALIZED', 'call init() first');
  return runtime;
}

function asF32(x: unknown, what: string): Float32Array {
  if (x instanceof Float32Array) return x;
  if (Array.isArray(x) || ArrayBuffer.isView(x)) return Float32Array.from(x as ArrayLike<number>);
  throw new ShiftAddAugError('SHAPE_MISMATCH', `${what} must be a Float32Array (or array of numbers)`);
}

function asLabels(y: unknown): Int32Array {
  if (y instanceof Int32Array) return y;
  if (Array.isArray(y) || ArrayBuffer.isView(y)) {
    const a = Array.from(y as ArrayLike<number>);
    const bad = a.findIndex((v) => !Number.isInteger(v));
    if (bad >= 0) throw new ShiftAddAugError('INVALID_DATASET', `label ${a[bad]} at index ${bad} is not an integer`);
    return Int32Array.from(a);
  }
  throw new ShiftAddAugError('INVALID_DATASET', 'labels must be an Int32Array, Uint8Array or array of integers');
}

const trainKeys = ['batchSize', 'learningRate', 'optimizer', 'labelSmoothing', 'seed', 'logEvery', 'momentum', 'weightDecay', 'warmupSteps', 'totalSteps', 'cropPadding', 'horizontalFlip', 'evalBnImages', 'microBatches'] as const;

function trainConfig(o: TrainOptions): Record<string, unknown> {
  const c: Record<string, unknown> = { logEvery: 1 };
  for (const k of trainKeys) if (o[k] !== undefined) c[k] = o[k];
  return c;
}

/** One part of a data-parallel batch, as a replica computed it (see `Session.trainPart`). */
export interface PartResult {
  /** The part's gradient, scaled by its share of the batch (absent on a shared buffer or for an empty part). */
  gradients?: Float32Array;
  /** Per parameter, 1 when it has a gradient. */
  present?: Uint8Array;
  /** The part's share of the batch loss. */
  loss: number;
  correct: number;
  count: number;
  batch: number;
}

/** Where replicas exchange gradients when the page is cross-origin isolated: `parts + 1` slots of `length` floats (slot `parts` holds the sum). */
export interface SharedExchange { buffer: SharedArrayBuffer; length: number; parts: number }

/** The loop's view of a session in this thread; `save(position)` writes a checkpoint. */
function sessionTarget(s: Session, val: [Float32Array, Int32Array] | null, save: (position: FitPosition) => Promise<void>): FitTarget {
  return {
    resumeEpoch: async (epoch, batch) => s.resumeEpoch(epoch, batch),
    checkpoint: save,
    beginEpoch: async (epoch) => s.beginEpoch(epoch),
    trainNext: async (read) => {
      const m = await s.trainNext(read);
      return m ? { loss: m.loss, accuracy: m.accuracy } : null;
    },
    validate: async () => {
      if (!val) throw new ShiftAddAugError('INVALID_CONFIG', 'no validation data');
      return s.validate(val[0], val[1]);
    },
    resetBnBegin: async (n, afterStop) => s.resetBnBegin(n, afterStop),
    resetBnStep: async () => s.resetBnStep(),
    resetBnFinish: async () => s.resetBnFinish(),
  };
}

/** A model living in this thread. */
export class CoreModel {
  private session: Session | null;
  private busy = false;
  private constructor(session: Session, readonly config: ModelConfig, private readonly options: TrainOptions) { this.session = session; }

  static async create(config: ModelConfig, opts: TrainOptions = {}): Promise<CoreModel> {
    const rt = requireRuntime();
    const { Session: S } = requireGlue();
    const s = await guarded(() => S.create(config, trainConfig(opts), rt.backend) as Promise<Session>);
    return new CoreModel(s, config, opts);
  }

  /** Writes the training state to `url` (persist.ts) with the fit position `position`. */
  private async saveWith(s: Session, url: string, position: FitPosition | null): Promise<void> {
    const bytes = await s.checkpoint();
    const meta: SavedMeta = {
      format: 'shiftaddaug-model', version: 1, config: this.config, options: this.options, position,
      step: s.step(), savedAt: new Date().toISOString(), bytes: bytes.length,
    };
    await writeSaved(url, meta, bytes);
  }

  /** Saves the training state to `url` (see `Model.save`). */
  save(url: string, position: FitPosition | null = null): Promise<void> {
    return this.exclusive((s) => this.saveWith(s, url, position));
  }

  /** Restores checkpoint bytes read from a saved model (see `loadModel`). */
  restore(bytes: Uint8Array): Promise<void> {
    return this.exclusive(async (s) => { s.restore(bytes); });
  }

  get backend(): string { return this.live().backend; }
  numParams(): number { return this.live().numParams(); }

  private live(): Session {
    if (crashed) throw crashed;
    if (!this.session) throw new ShiftAddAugError('DISPOSED', 'model was disposed');
    return this.session;
  }

  private async exclusive<T>(f: (s: Session) => Promise<T>): Promise<T> {
    const s = this.live();
    if (this.busy) throw new ShiftAddAugError('BUSY', 'model is busy with another call; await the previous call first');
    this.busy = true;
    try { return await guarded(() => f(s)); } finally { this.busy = false; }
  }

  /** Trains (see `runFit`) from `start` or epoch 0; `isAborted` is polled between batches. */
  fit(x: unknown, y: unknown, opts: FitOptions, emit: Emit, isAborted: () => boolean, start: FitPosition | null = null): Promise<History> {
    return this.exclusive(async (s) => {
      loopOptions(opts);
      const val = this.prepareOn(s, x, y, opts);
      const url = opts.checkpointUrl ?? '';
      return runFit(sessionTarget(s, val, (p) => this.saveWith(s, url, p)), opts, !!val, emit, isAborted, start);
    });
  }


  /** Applies the fit options and sets the training data; the validation data, checked. */
  private prepareOn(s: Session, x: unknown, y: unknown, opts: FitOptions): [Float32Array, Int32Array] | null {
    s.configure(trainConfig(opts));
    if (opts.aug !== undefined) s.configureAug(opts.aug);
    s.setTrainingData(asF32(x, 'x'), asLabels(y));
    return opts.validationData ? [asF32(opts.validationData[0], 'validationData x'), asLabels(opts.validationData[1])] : null;
  }

  // Data-parallel replica steps (a worker of a group; the main thread runs the loop).
  private val: [Float32Array, Int32Array] | null = null;
  private exchange: SharedExchange | null = null;

  /** Number of values in this model's gradient vector. */
  gradientLength(): number { return this.live().gradientLength(); }

  replicaPrepare(x: unknown, y: unknown, opts: FitOptions, exchange: SharedExchange | null): Promise<void> {
    return this.exclusive(async (s) => {
      this.val = this.prepareOn(s, x, y, opts);
      this.exchange = exchange;
    });
  }

  replicaBeginEpoch(epoch: number): Promise<number> {
    return this.exclusive(async (s) => s.beginEpoch(epoch));
  }

  replicaResumeEpoch(epoch: number, batch: number): Promise<number> {
    return this.exclusive(async (s) => s.resumeEpoch(epoch, batch));
  }

  /** Part `part` of `parts` of the next batch; on a shared exchange the gradient goes to slot `part`. */
  replicaTrainPart(part: number, parts: number): Promise<PartResult> {
    return this.exclusive(async (s) => {
      const ex = this.exchange;
      const out = ex ? new Float32Array(ex.buffer, part * ex.length * 4, ex.length) : undefined;
      return (await s.trainPart(part, parts, out)) as PartResult;
    });
  }

  /** One step with the summed gradient (`gradients`, or the sum slot of the shared exchange). */
  replicaApply(gradients: Float32Array | null, present: Uint8Array): Promise<void> {
    return this.exclusive(async (s) => {
      const ex = this.exchange;
      const g = gradients ?? (ex ? new Float32Array(ex.buffer, ex.parts * ex.length * 4, ex.length) : null);
      if (!g) throw new ShiftAddAugError('INVALID_CONFIG', 'applyGradients needs a gradient');
      s.applyGradients(g, present);
    });
  }

  replicaValidate(): Promise<{ loss: number; accuracy: number }> {
    return this.exclusive(async (s) => {
      if (!this.val) throw new ShiftAddAugError('INVALID_CONFIG', 'no validation data');
      return s.validate(this.val[0], this.val[1]);
    });
  }

  replicaResetBn(op: 'begin' | 'step' | 'finish', images?: number, afterStop = false): Promise<unknown> {
    return this.exclusive(async (s) => {
      if (op === 'begin') return s.resetBnBegin(images, afterStop);
      if (op === 'step') return s.resetBnStep();
      return s.resetBnFinish();
    });
  }

  /** Test hook: makes the wasm module trap inside an async call. */
  testTrap(): Promise<unknown> {
    return this.exclusive((s) => s.testTrap());
  }

  evaluate(x: unknown, y: unknown): Promise<{ loss: number; acc: number; count: number }> {
    return this.exclusive(async (s) => {
      const r = await s.evaluate(asF32(x, 'x'), asLabels(y));
      return { loss: r.loss, acc: r.accuracy, count: r.count };
    });
  }

  predict(x: unknown, shape: number[]): Promise<Float32Array> {
    return this.exclusive(async (s) => {
      const xs = asF32(x, 'x');
      if (!Array.isArray(shape) || shape.length !== 4 || !shape.every((d) => Number.isInteger(d) && d > 0)) {
        throw new ShiftAddAugError('SHAPE_MISMATCH', `shape must be [n, c, h, w] of positive integers, got ${JSON.stringify(shape)}`);
      }
      const [n, c, h, w] = shape;
      const want = this.config.inputShape;
      if (c !== want[0] || h !== want[1] || w !== want[2]) {
        throw new ShiftAddAugError('SHAPE_MISMATCH', `model expects images [${want}], got [${[c, h, w]}]`);
      }
      if (xs.length !== n * c * h * w) {
        throw new ShiftAddAugError('SHAPE_MISMATCH', `x has ${xs.length} values; shape [${shape}] needs ${n * c * h * w}`);
      }
      return await s.predict(xs, n);
    });
  }

  /**
   * Architecture search inside this supernet (see `Model.search`): `opts` without the data,
   * callbacks and signal; `emit('generation', g, best)` / `emit('candidate', n)`; `isAborted`
   * is polled between candidates.
   */
  search(bn: [unknown, unknown], ev: [unknown, unknown], opts: Record<string, unknown>, emit: SearchEmit, isAborted: () => boolean): Promise<SearchResult> {
    return this.exclusive(async (s) => {
      await s.searchBegin(opts, asF32(bn[0], 'bnData x'), asLabels(bn[1]), asF32(ev[0], 'evalData x'), asLabels(ev[1]));
      let stopped = false;
      for (;;) {
        stopped = stopped || isAborted();
        const r = await s.searchNext(stopped) as { kind: string; generation?: number; scored?: number; best?: SearchCandidate; result?: Omit<SearchResult, 'stopped'> };
        if (r.kind === 'done') return { ...(r.result as Omit<SearchResult, 'stopped'>), stopped };
        if (r.kind === 'generation') await emit('generation', r.generation ?? 0, r.best);
        else await emit('candidate', r.scored ?? 0);
      }
    });
  }

  /** The deployed model (a zoo model's tiny model, or the `'mfcnn'` model) (docs/FORMAT.md). */
  exportModel(): Promise<{ json: string; safetensors: Uint8Array }> {
    return this.exclusive((s) => s.exportModel());
  }

  dispose(): void {
    if (this.session) { this.session.free(); this.session = null; }
  }
}

/** Parses IDX bytes (raw or gzip), as in the (Fashion-)MNIST files. */
export function coreParseIdx(bytes: Uint8Array): { dims: number[]; data: Uint8Array } {
  const g = requireGlue();
  try { return g.parseIdx(bytes); } catch (e) { throw toError(e); }
}

/** Bytes of this thread's wasm linear memory (0 before the module is loaded); for soak tests. */
export async function wasmMemoryBytes(): Promise<number> {
  let bytes = 0;
  for (const p of loadedModules.values()) {
    const exports = (await p.catch(() => null)) as { memory?: WebAssembly.Memory } | null;
    bytes += exports?.memory?.buffer.byteLength ?? 0;
  }
  return bytes;
}
