/**
 * shiftaddaug — train and run multiplication-free (shift / adder) tiny CNNs in the browser.
 *
 * ```js
 * import { init, createModel } from 'shiftaddaug';
 * const rt = await init({ backend: 'auto' });           // rt.backend, rt.reason
 * const model = await createModel({ inputShape: [1, 28, 28], numClasses: 10, conv: 'shift' });
 * const history = await model.fit(x, y, { epochs: 1, batchSize: 64, callbacks: { onEpochEnd } });
 * const probs = await model.predict(xTest, [n, 1, 28, 28]);  // Float32Array
 * model.dispose();
 * ```
 * @packageDocumentation
 */
import { CoreModel, coreInit, coreParseIdx } from './core.js';
import {
  Callbacks, FitOptions, History, InitOptions, Logs, ModelConfig, PhaseInfo, RuntimeInfo, ShiftAddAugError, TrainOptions,
} from './types.js';

export * from './types.js';

type Pending = { resolve: (v: any) => void; reject: (e: unknown) => void; onEvent?: (ev: string, i: number, logs?: Logs | PhaseInfo) => void };

/** Main-thread proxy of the worker. */
class WorkerClient {
  private worker: Worker;
  private pending = new Map<number, Pending>();
  private nextId = 1;
  dead: ShiftAddAugError | null = null;
  /** The worker died (trap, out of memory); a new one replaces it on the next call. */
  crashed = false;

  constructor(url: URL) {
    this.worker = new Worker(url, { type: 'module' });
    this.worker.onmessage = (e: MessageEvent) => {
      const msg = e.data;
      const p = this.pending.get(msg.id);
      if (!p) return;
      if (msg.event) { p.onEvent?.(msg.event, msg.index, msg.logs); return; }
      this.pending.delete(msg.id);
      if (msg.ok) p.resolve(msg.value);
      else p.reject(new ShiftAddAugError(msg.error.code, msg.error.message, msg.error.history));
    };
    const die = (why: string) => {
      this.crashed = true;
      this.worker.terminate();
      this.dead = new ShiftAddAugError('BACKEND_LOST', `${why}; its models are lost. The next init(), createModel() or parseIdx() starts a new worker`);
      for (const p of this.pending.values()) p.reject(this.dead);
      this.pending.clear();
    };
    this.worker.onerror = (e: ErrorEvent) => { e.preventDefault?.(); die(`worker crashed: ${e.message}`); };
    this.worker.onmessageerror = () => die('worker message could not be deserialised');
  }

  call<T>(op: string, args: unknown[], onEvent?: Pending['onEvent']): { id: number; promise: Promise<T> } {
    const id = this.nextId++;
    const promise = new Promise<T>((resolve, reject) => {
      if (this.dead) { reject(this.dead); return; }
      this.pending.set(id, { resolve, reject, onEvent });
      this.worker.postMessage({ id, op, args });
    });
    return { id, promise };
  }

  abort(target: number): void { if (!this.dead) this.worker.postMessage({ op: 'abort', target }); }

  /** Ends the worker; its models' calls reject with `DISPOSED` from then on. */
  terminate(): void {
    this.worker.terminate();
    this.dead = new ShiftAddAugError('DISPOSED', 'the runtime was re-initialised by init(); create the model again');
    for (const p of this.pending.values()) p.reject(this.dead);
    this.pending.clear();
  }
}

let client: WorkerClient | null = null;
let info: RuntimeInfo | null = null;
/** The options of the last successful {@link init}, to replace a crashed worker. */
let lastInit: InitOptions | null = null;

/** Starts a worker and initialises it with `opts`; on success it becomes the client. */
async function startWorker(opts: InitOptions): Promise<RuntimeInfo> {
  const c = new WorkerClient(new URL('./worker.js', import.meta.url));
  let r: RuntimeInfo;
  try {
    r = await c.call<RuntimeInfo>('init', [opts]).promise;
  } catch (e) {
    c.terminate();
    throw e;
  }
  client = c;
  lastInit = opts;
  info = r;
  return r;
}

/** The worker client, replaced by a fresh worker (same init options) when the last one crashed. */
async function liveClient(): Promise<WorkerClient | null> {
  if (client?.crashed && lastInit) await startWorker(lastInit);
  return client;
}

/**
 * Loads the wasm module and chooses the backend. Call once before {@link createModel}.
 * Rejects with `UNKNOWN_BACKEND` or `WEBGPU_UNAVAILABLE` (when `'webgpu'` alone was asked for).
 */
export async function init(options: InitOptions = {}): Promise<RuntimeInfo> {
  const inBrowser = typeof window !== 'undefined' && typeof Worker !== 'undefined';
  const useWorker = options.worker ?? inBrowser;
  if (client) { client.terminate(); client = null; }
  info = null;
  const base = typeof location !== 'undefined' ? location.href : import.meta.url;
  const opts: InitOptions = { ...options, wasmUrl: options.wasmUrl ? new URL(String(options.wasmUrl), base).href : undefined };
  if (useWorker) {
    if (typeof Worker === 'undefined') throw new ShiftAddAugError('BACKEND_ERROR', 'worker: true needs Web Workers');
    return startWorker(opts);
  } else {
    info = await coreInit(opts, false);
  }
  return info;
}

/** The result of the last {@link init}, or `null`. */
export function runtimeInfo(): RuntimeInfo | null { return info; }

/** Parses IDX bytes (raw or gzip) into `{ dims, data }`; rejects with `INVALID_IDX` when corrupt. */
export async function parseIdx(bytes: Uint8Array): Promise<{ dims: number[]; data: Uint8Array }> {
  if (!info) throw new ShiftAddAugError('NOT_INITIALIZED', 'call init() first');
  const c = await liveClient();
  if (c) return c.call<{ dims: number[]; data: Uint8Array }>('parseIdx', [bytes]).promise;
  return coreParseIdx(bytes);
}

/** A trainable model. Calls must be awaited one after another (else `BUSY`). */
export class Model {
  private disposed = false;
  /** @internal */
  constructor(
    private readonly impl: { worker: number; client: WorkerClient } | { core: CoreModel },
    /** The model config. */ readonly config: ModelConfig,
    /** Backend it runs on. */ readonly backend: string,
    /** Parameters of the deployed model (a zoo model's tiny model; training-only widths excluded). */ readonly numParams: number,
  ) {}

  private check(): void {
    if (this.disposed) throw new ShiftAddAugError('DISPOSED', 'model was disposed');
  }

  /**
   * Trains on `x` (`n * c * h * w` values in [0, 1]) and integer labels `y`. Resolves to a
   * TensorFlow.js-style History; rejects with `ABORTED` when `signal` fires.
   */
  async fit(x: Float32Array, y: ArrayLike<number>, options: FitOptions = {}): Promise<History> {
    this.check();
    const { callbacks, signal, ...rest } = options;
    if (signal?.aborted) throw new ShiftAddAugError('ABORTED', 'signal was already aborted');
    const cb: Callbacks = callbacks ?? {};
    const dispatch = (ev: string, i: number, logs?: Logs | PhaseInfo) => {
      switch (ev) {
        case 'trainBegin': return cb.onTrainBegin?.();
        case 'epochBegin': return cb.onEpochBegin?.(i);
        case 'batchEnd': return cb.onBatchEnd?.(i, logs as Logs);
        case 'epochEnd': return cb.onEpochEnd?.(i, logs as Logs);
        case 'trainEnd': return cb.onTrainEnd?.();
        case 'phase': return cb.onPhase?.(logs as unknown as PhaseInfo);
      }
    };
    if ('core' in this.impl) {
      return this.impl.core.fit(x, y, rest, dispatch, () => !!signal?.aborted);
    }
    const owner = this.impl.client;
    const { id, promise } = owner.call<History>('fit', [this.impl.worker, x, y, rest], (ev, i, logs) => { void dispatch(ev, i, logs); });
    const onAbort = () => owner.abort(id);
    signal?.addEventListener('abort', onAbort, { once: true });
    try { return await promise; } finally { signal?.removeEventListener('abort', onAbort); }
  }

  /** Loss and accuracy on `(x, y)` in eval mode. */
  async evaluate(x: Float32Array, y: ArrayLike<number>): Promise<{ loss: number; acc: number; count: number }> {
    this.check();
    if ('core' in this.impl) return this.impl.core.evaluate(x, y);
    return this.impl.client.call<{ loss: number; acc: number; count: number }>('evaluate', [this.impl.worker, x, y]).promise;
  }

  /** Class probabilities, `n * numClasses` values, for images `x` of shape `[n, c, h, w]`. */
  async predict(x: Float32Array, shape: [number, number, number, number]): Promise<Float32Array> {
    this.check();
    if ('core' in this.impl) return this.impl.core.predict(x, shape);
    return this.impl.client.call<Float32Array>('predict', [this.impl.worker, x, shape]).promise;
  }

  /**
   * The deployed multiplication-free model (a zoo model's tiny model, or the `'mfcnn'` model):
   * `model.json` text and `model.safetensors` bytes (docs/FORMAT.md).
   */
  async exportModel(): Promise<{ json: string; safetensors: Uint8Array }> {
    this.check();
    if ('core' in this.impl) return this.impl.core.exportModel();
    return this.impl.client.call<{ json: string; safetensors: Uint8Array }>('exportModel', [this.impl.worker]).promise;
  }

  /** Frees the model's memory. Further calls reject with `DISPOSED`. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    if ('core' in this.impl) this.impl.core.dispose();
    else void this.impl.client.call('dispose', [this.impl.worker]).promise.catch(() => undefined);
  }

  /** @internal Test hook: makes the backend trap inside a call (as an out-of-memory abort does). */
  _testTrap(): Promise<unknown> {
    this.check();
    if ('core' in this.impl) return this.impl.core.testTrap();
    return this.impl.client.call('testTrap', [this.impl.worker]).promise;
  }
}

// `using model = await createModel(...)` where the runtime has `Symbol.dispose` (ES2024+). Added
// at run time so that the published types compile under `lib: ["es2022", "dom"]` too.
const disposeSymbol = (Symbol as { dispose?: symbol }).dispose;
if (typeof disposeSymbol === 'symbol') {
  Object.defineProperty(Model.prototype, disposeSymbol, { value(this: Model) { this.dispose(); }, configurable: true });
}

/** Creates a model on the backend chosen by {@link init}. Rejects with `INVALID_CONFIG` on a bad config. */
export async function createModel(config: ModelConfig, options: TrainOptions = {}): Promise<Model> {
  if (!info) throw new ShiftAddAugError('NOT_INITIALIZED', 'call init() first');
  const c = await liveClient();
  if (c) {
    const r = await c.call<{ handle: number; backend: string; numParams: number }>('create', [config, options]).promise;
    return new Model({ worker: r.handle, client: c }, config, r.backend, r.numParams);
  }
  const core = await CoreModel.create(config, options);
  return new Model({ core }, config, core.backend, core.numParams());
}
