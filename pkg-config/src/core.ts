// The in-thread engine: loads the wasm module, picks the backend, runs fit/predict loops.
// Used directly when `worker: false` (and in Node), and inside the worker otherwise.
import initWasm, { Session, parseIdx as wasmParseIdx, simdEnabled, version } from './shiftaddaug.js';
import {
  BackendName, FitOptions, History, InitOptions, Logs, ModelConfig, RuntimeInfo, ShiftAddAugError,
  TrainOptions, toError,
} from './types.js';

let loaded: Promise<unknown> | null = null;
let runtime: RuntimeInfo | null = null;

const proc = (globalThis as { process?: { versions?: { node?: string } } }).process;
const isNode = !!proc?.versions?.node;

async function loadWasm(wasmUrl?: string | URL): Promise<void> {
  if (!loaded) {
    loaded = (async () => {
      const url = wasmUrl ? new URL(String(wasmUrl), import.meta.url) : new URL('./shiftaddaug_bg.wasm', import.meta.url);
      if (isNode && url.protocol === 'file:') {
        // Node's fetch cannot read file: URLs; read the bytes instead.
        const fsName = 'node:fs/promises';
        const fs = (await import(/* @vite-ignore */ fsName)) as { readFile(u: URL): Promise<Uint8Array> };
        return initWasm({ module_or_path: await fs.readFile(url) });
      }
      return initWasm({ module_or_path: url });
    })();
    loaded.catch(() => { loaded = null; });
  }
  await loaded;
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
  await loadWasm(opts.wasmUrl);
  const choice = await chooseBackend(opts);
  runtime = {
    backend: choice.backend, reason: choice.reason, adapterInfo: choice.info,
    simd: simdEnabled(), worker: inWorker, version: version(),
  };
  return runtime;
}

function requireRuntime(): RuntimeInfo {
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

const trainKeys = ['batchSize', 'learningRate', 'optimizer', 'labelSmoothing', 'seed', 'logEvery', 'momentum', 'weightDecay', 'warmupSteps', 'totalSteps', 'cropPadding', 'horizontalFlip'] as const;

function trainConfig(o: TrainOptions): Record<string, unknown> {
  const c: Record<string, unknown> = { logEvery: 1 };
  for (const k of trainKeys) if (o[k] !== undefined) c[k] = o[k];
  return c;
}

/** Emits progress; the worker forwards it, in-thread calls the user's callbacks. */
export type Emit = (event: 'trainBegin' | 'epochBegin' | 'batchEnd' | 'epochEnd' | 'trainEnd', index: number, logs?: Logs) => unknown;

const yieldToEventLoop = () => new Promise<void>((r) => setTimeout(r, 0));

/** A model living in this thread. */
export class CoreModel {
  private session: Session | null;
  private busy = false;
  private constructor(session: Session, readonly config: ModelConfig) { this.session = session; }

  static async create(config: ModelConfig, opts: TrainOptions = {}): Promise<CoreModel> {
    const rt = requireRuntime();
    try {
      const s = await Session.create(config, trainConfig(opts), rt.backend);
      return new CoreModel(s, config);
    } catch (e) { throw toError(e); }
  }

  get backend(): string { return this.live().backend; }
  numParams(): number { return this.live().numParams(); }

  private live(): Session {
    if (!this.session) throw new ShiftAddAugError('DISPOSED', 'model was disposed');
    return this.session;
  }

  private async exclusive<T>(f: (s: Session) => Promise<T>): Promise<T> {
    const s = this.live();
    if (this.busy) throw new ShiftAddAugError('BUSY', 'model is busy with another call; await the previous call first');
    this.busy = true;
    try { return await f(s); } catch (e) { throw toError(e); } finally { this.busy = false; }
  }

  /** Trains; `isAborted` is polled between batches. */
  fit(x: unknown, y: unknown, opts: FitOptions, emit: Emit, isAborted: () => boolean): Promise<History> {
    return this.exclusive(async (s) => {
      const epochs = opts.epochs ?? 1;
      if (!Number.isInteger(epochs) || epochs < 1) throw new ShiftAddAugError('INVALID_CONFIG', `epochs = ${epochs}; must be an integer >= 1`);
      const yieldEvery = opts.yieldEvery ?? 50;
      const logEvery = opts.logEvery ?? 1;
      if (!Number.isInteger(logEvery) || logEvery < 1) throw new ShiftAddAugError('INVALID_CONFIG', `logEvery = ${logEvery}; must be an integer >= 1`);
      s.configure(trainConfig(opts));
      if (opts.aug !== undefined) s.configureAug(opts.aug);
      const xs = asF32(x, 'x');
      s.setTrainingData(xs, asLabels(y));
      let val: [Float32Array, Int32Array] | null = null;
      if (opts.validationData) val = [asF32(opts.validationData[0], 'validationData x'), asLabels(opts.validationData[1])];
      const history: History = { epoch: [], history: { loss: [], acc: [], valLoss: [], valAcc: [] } };
      await emit('trainBegin', 0);
      let last = Date.now();
      for (let epoch = 0; epoch < epochs; epoch++) {
        await emit('epochBegin', epoch);
        const n = s.beginEpoch(epoch);
        let lossSum = 0, accSum = 0, reads = 0;
        for (let b = 0; b < n; b++) {
          if (isAborted()) throw new ShiftAddAugError('ABORTED', 'training was aborted');
          // Metrics cost a device readback: only every `logEvery` batches and on the last one.
          const m = await s.trainNext((b + 1) % logEvery === 0 || b === n - 1);
          if (m) {
            lossSum += m.loss; accSum += m.accuracy; reads++;
            await emit('batchEnd', b, { loss: m.loss, acc: m.accuracy });
          }
          if (Date.now() - last >= yieldEvery) { await yieldToEventLoop(); last = Date.now(); }
        }
        const logs: Logs = { loss: lossSum / Math.max(reads, 1), acc: accSum / Math.max(reads, 1) };
        if (val) {
          const v = await s.evaluate(val[0], val[1]);
          logs.valLoss = v.loss; logs.valAcc = v.accuracy;
          history.history.valLoss.push(v.loss); history.history.valAcc.push(v.accuracy);
        }
        history.epoch.push(epoch);
        history.history.loss.push(logs.loss); history.history.acc.push(logs.acc);
        await emit('epochEnd', epoch, logs);
        await yieldToEventLoop(); last = Date.now();
      }
      if (this.config.model !== undefined && this.config.model !== 'mfcnn') {
        const n = opts.resetBn ?? 16000;
        if (!Number.isInteger(n) || n < 0) throw new ShiftAddAugError('INVALID_CONFIG', `resetBn = ${n}; must be an integer >= 0`);
        if (n > 0) await s.resetBn(n);
      }
      await emit('trainEnd', epochs);
      return history;
    });
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

  /** The deployed tiny model of a zoo model (`'mbv2-tiny'`, ...) (docs/FORMAT.md). */
  exportModel(): Promise<{ json: string; safetensors: Uint8Array }> {
    return this.exclusive((s) => s.exportModel());
  }

  dispose(): void {
    if (this.session) { this.session.free(); this.session = null; }
  }
}

/** Parses IDX bytes (raw or gzip), as in the (Fashion-)MNIST files. */
export function coreParseIdx(bytes: Uint8Array): { dims: number[]; data: Uint8Array } {
  try { return wasmParseIdx(bytes); } catch (e) { throw toError(e); }
}

export { loadWasm };
