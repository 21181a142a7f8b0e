/**
 * shiftaddaug — train and run multiplication-free (shift / adder) tiny CNNs in the browser.
 *
 * ```js
 * import { init, createModel } from 'shiftaddaug';
 * const rt = await init({ backend: 'auto' });           // rt.backend, rt.reason
 * const model = await createModel({ inputShape: [1, 28, 28], numClasses: 10, conv: 'shift' });
 * const history = await model.fit(x, y, { epochs: 1, batchSize: 64, callbacks: { onEpochEnd } });
 * const probs = await model.predict(xTest, [n, 1, 28, 28]);  // Float32Array
 * await model.save('indexeddb://my-model');              // later: await loadModel('indexeddb://my-model')
 * model.dispose();
 * ```
 * @packageDocumentation
 */
import { WorkerClient } from './client.js';
import { CoreModel, coreInit, coreParseIdx, wasmMemoryBytes } from './core.js';
import { runFit } from './fitloop.js';
import {
  AUG_OPTION_KEYS, CALLBACK_KEYS, FIT_OPTION_KEYS, INIT_OPTION_KEYS, SEARCH_CALLBACK_KEYS, SEARCH_OPTION_KEYS, TRAIN_OPTION_KEYS, checkOptions,
} from './options.js';
import { GroupTarget, Replica, canShareMemory } from './group.js';
import { listSaved, readSaved, removeSaved } from './persist.js';
import type { Created } from './protocol.js';
import {
  Callbacks, CheckpointInfo, FitOptions, FitPosition, History, InitOptions, Logs, ModelConfig, PhaseInfo, RuntimeInfo, SavedModelInfo, SearchCandidate, SearchOptions,
  SearchResult, ShiftAddAugError, TrainOptions,
} from './types.js';

export * from './types.js';

let client: WorkerClient | null = null;
/** Workers 1..K-1 of a data-parallel group (empty with one thread). */
let helpers: WorkerClient[] = [];
let info: RuntimeInfo | null = null;
/** The options of the last successful {@link init}, to replace a crashed worker. */
let lastInit: InitOptions | null = null;

/** Most workers a group may have. */
export const MAX_THREADS = 16;
/** Most workers the default (`navigator.hardwareConcurrency`) picks. */
export const DEFAULT_MAX_THREADS = 4;

/** `options.threads` checked, or its default for the context. */
function threadCount(options: InitOptions, useWorker: boolean): number {
  const t = options.threads;
  if (t === undefined) {
    if (!useWorker) return 1;
    const hc = (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator?.hardwareConcurrency ?? 1;
    return Math.max(1, Math.min(DEFAULT_MAX_THREADS, Math.floor(hc)));
  }
  if (!Number.isInteger(t) || t < 1 || t > MAX_THREADS) {
    throw new ShiftAddAugError('INVALID_CONFIG', `threads = ${JSON.stringify(t)}; must be an integer from 1 to ${MAX_THREADS}`);
  }
  if (t > 1 && !useWorker) throw new ShiftAddAugError('INVALID_CONFIG', `threads = ${t} needs worker: true (each thread is a worker)`);
  return t;
}

function terminateAll(): void {
  for (const c of [client, ...helpers]) c?.terminate();
  client = null;
  helpers = [];
}

/**
 * Starts the workers and initialises them with `opts`; on success they become the client and
 * its helpers. More than one worker only for the wasm backend (WebGPU has one device).
 */
async function startWorkers(opts: InitOptions, threads: number): Promise<RuntimeInfo> {
  // Written out in full so that bundlers (Vite, webpack 5) see a module worker, bundle it with
  // its imports and its .wasm, and rewrite the URL.
  const spawn = () => new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
  const first = new WorkerClient(spawn);
  const started = [first];
  try {
    const r = await first.call('init', [opts]).promise;
    const k = r.backend === 'wasm' ? threads : 1;
    const more = Array.from({ length: k - 1 }, () => new WorkerClient(spawn));
    started.push(...more);
    await Promise.all(more.map((c) => c.call('init', [{ ...opts, backend: 'wasm' }]).promise));
    const group = k > 1;
    // One crashed worker ends its group: the others hold replicas that can no longer step.
    for (const c of started) c.onDeath = () => { for (const o of started) if (o !== c) o.die('another worker of the training group crashed'); };
    client = first;
    helpers = more;
    lastInit = opts;
    info = {
      ...r, threads: k, crossOriginIsolated: canShareMemory(),
      gradientExchange: group ? (canShareMemory() ? 'shared' : 'transfer') : null,
    };
    if (threads > 1 && k === 1) info.reason += `; threads = ${threads} ignored: WebGPU trains on one device`;
    return info;
  } catch (e) {
    for (const c of started) c.terminate();
    throw e;
  }
}

/** Replaces the runtime (after a lost backend) by new workers on the wasm backend, the other init options kept. */
async function restartOnWasm(): Promise<void> {
  if (!lastInit) throw new ShiftAddAugError('NOT_INITIALIZED', 'call init() first');
  const opts: InitOptions = { ...lastInit, backend: 'wasm' };
  terminateAll();
  info = null;
  await startWorkers(opts, threadCount(opts, true));
}

/** The worker client, replaced by fresh workers (same init options) when one of them crashed. */
async function liveClient(): Promise<WorkerClient | null> {
  if ((client?.crashed || helpers.some((h) => h.crashed)) && lastInit) {
    terminateAll();
    await startWorkers(lastInit, threadCount(lastInit, true));
  }
  return client;
}

/**
 * Loads the wasm module and chooses the backend. Call once before {@link createModel}.
 * Rejects with `UNKNOWN_BACKEND`, `WEBGPU_UNAVAILABLE` (when `'webgpu'` alone was asked for) or
 * `INVALID_CONFIG` (a bad `threads` or `simd`), or `IO_ERROR` (the module could not be loaded).
 */
export async function init(options: InitOptions = {}): Promise<RuntimeInfo> {
  checkOptions(options, INIT_OPTION_KEYS, 'init options');
  if (options.simd !== undefined && typeof options.simd !== 'boolean') {
    throw new ShiftAddAugError('INVALID_CONFIG', `simd = ${JSON.stringify(options.simd)}; must be true or false`);
  }
  const inBrowser = typeof window !== 'undefined' && typeof Worker !== 'undefined';
  const useWorker = options.worker ?? inBrowser;
  terminateAll();
  info = null;
  const threads = threadCount(options, useWorker);
  const base = typeof location !== 'undefined' ? location.href : import.meta.url;
  const abs = (u?: string | URL) => (u ? new URL(String(u), base).href : undefined);
  const opts: InitOptions = { ...options, wasmUrl: abs(options.wasmUrl), cpuWasmUrl: abs(options.cpuWasmUrl) };
  if (useWorker) {
    if (typeof Worker === 'undefined') throw new ShiftAddAugError('BACKEND_ERROR', 'worker: true needs Web Workers');
    return startWorkers(opts, threads);
  }
  info = await coreInit(opts, false);
  return info;
}

/** @internal Test hook: bytes of the wasm memory of the runtime's (first) worker, or of this thread's module. */
export async function _testMemory(): Promise<number> {
  const c = await liveClient();
  return c ? c.call('testMemory', []).promise : wasmMemoryBytes();
}

/** The result of the last {@link init}, or `null`. */
export function runtimeInfo(): RuntimeInfo | null { return info; }

/** Parses IDX bytes (raw or gzip) into `{ dims, data }`; rejects with `INVALID_IDX` when corrupt. */
export async function parseIdx(bytes: Uint8Array): Promise<{ dims: number[]; data: Uint8Array }> {
  if (!info) throw new ShiftAddAugError('NOT_INITIALIZED', 'call init() first');
  const c = await liveClient();
  if (c) return c.call('parseIdx', [bytes]).promise;
  return coreParseIdx(bytes);
}

/** A trainable model. Calls must be awaited one after another (else `BUSY`). */
export class Model {
  private disposed = false;
  /** A data-parallel fit is running (its steps are driven from this thread). */
  private busy = false;
  /** Where `fit({ resume: true })` continues: the position of the checkpoint this model was loaded from. */
  private resumeAt: FitPosition | null = null;
  /** @internal */
  constructor(
    private impl: { worker: number; client: WorkerClient; replicas: Replica[]; gradientLength: number } | { core: CoreModel },
    /** The model config. */ readonly config: ModelConfig,
    /** Backend it runs on (`'wasm'` after a fallback). */ public backend: string,
    /** Parameters of the deployed model (a zoo model's tiny model; training-only widths excluded). */ readonly numParams: number,
  ) {}

  private check(): void {
    if (this.disposed) throw new ShiftAddAugError('DISPOSED', 'model was disposed');
    if (this.busy) throw new ShiftAddAugError('BUSY', 'model is busy with another call; await the previous call first');
  }

  /**
   * Trains on `x` (`n * c * h * w` values in [0, 1]) and integer labels `y`. Resolves to a
   * TensorFlow.js-style History; rejects with `ABORTED` when `signal` fires, `BACKEND_LOST`
   * when the backend dies (with `checkpoint` when one was written; see `fallback`).
   */
  async fit(x: Float32Array, y: ArrayLike<number>, options: FitOptions = {}): Promise<History> {
    this.check();
    checkOptions(options, FIT_OPTION_KEYS, 'fit options');
    checkOptions(options.callbacks, CALLBACK_KEYS, 'fit callbacks');
    checkOptions(options.aug, AUG_OPTION_KEYS, 'fit aug options');
    if (options.signal?.aborted) throw new ShiftAddAugError('ABORTED', 'signal was already aborted');
    if (options.resume === true && !this.resumeAt) {
      throw new ShiftAddAugError('INVALID_CONFIG', 'resume: true needs a model loaded (loadModel) from a checkpoint taken during a fit (checkpointEvery)');
    }
    if (options.fallback !== undefined && !('client' in this.impl)) {
      throw new ShiftAddAugError('INVALID_CONFIG', "fallback: 'wasm' needs init({ worker: true }): a module that trapped in this thread cannot run again");
    }
    let last: CheckpointInfo | null = null;
    try {
      return await this.fitOnce(x, y, options, (c) => { last = c; });
    } catch (e) {
      const lost = e instanceof ShiftAddAugError && e.code === 'BACKEND_LOST';
      const checkpoint = last as CheckpointInfo | null;
      if (!lost || !checkpoint) throw e;
      e.checkpoint = checkpoint;
      if (options.fallback !== 'wasm') throw e;
      await options.callbacks?.onFallback?.({ from: this.backend, to: 'wasm', reason: e.message, checkpoint });
      await restartOnWasm();
      const next = await loadModel(checkpoint.url);
      this.impl = next.impl;
      this.backend = next.backend;
      this.resumeAt = next.resumeAt;
      return this.fit(x, y, { ...options, resume: true });
    }
  }

  /** One fit on the current backend; `onCheckpoint` hears of every checkpoint written. */
  private async fitOnce(x: Float32Array, y: ArrayLike<number>, options: FitOptions, onCheckpoint: (c: CheckpointInfo) => void): Promise<History> {
    const { callbacks, signal, ...rest } = options;
    const start = rest.resume === true ? this.resumeAt : null;
    const cb: Callbacks = callbacks ?? {};
    const dispatch = (ev: string, i: number, logs?: Logs | PhaseInfo | FitPosition) => {
      switch (ev) {
        case 'trainBegin': return cb.onTrainBegin?.();
        case 'epochBegin': return cb.onEpochBegin?.(i);
        case 'batchEnd': return cb.onBatchEnd?.(i, logs as Logs);
        case 'epochEnd': return cb.onEpochEnd?.(i, logs as Logs);
        case 'trainEnd': return cb.onTrainEnd?.();
        case 'phase': return cb.onPhase?.(logs as unknown as PhaseInfo);
        case 'checkpoint': {
          const c = { url: rest.checkpointUrl ?? '', ...(logs as FitPosition) };
          onCheckpoint(c);
          return cb.onCheckpoint?.(c);
        }
      }
    };
    // The position is used once: after any fit the model has moved on from it.
    this.resumeAt = null;
    if ('core' in this.impl) {
      return this.impl.core.fit(x, y, rest, dispatch, () => !!signal?.aborted, start);
    }
    const { client: owner, worker, replicas, gradientLength } = this.impl;
    if (replicas.length > 0) {
      // Data parallel: this thread drives the replicas step by step.
      if ((rest.microBatches ?? 1) !== 1) throw onePartPerWorker(rest.microBatches, replicas.length + 1);
      const group = [{ client: owner, handle: worker }, ...replicas];
      this.busy = true;
      try {
        const target = new GroupTarget(group, gradientLength, info?.gradientExchange === 'shared' ? 'shared' : 'transfer');
        await target.prepare(x, y, rest);
        return await runFit(target, rest, !!rest.validationData, dispatch, () => !!signal?.aborted, start);
      } finally {
        this.busy = false;
      }
    }
    return abortable(owner, owner.call('fit', [worker, x, y, rest, start], (ev, i, logs) => { void dispatch(ev, i, logs as Logs | PhaseInfo | FitPosition); }), signal);
  }

  /**
   * Saves the training state, as TensorFlow.js' `model.save` does: parameters and BatchNorm
   * statistics, optimiser state, step, model and training configs, to `'indexeddb://name'`
   * (browser) or a file path / `file://` URL (Node); {@link loadModel} gets it back and training
   * continues as if uninterrupted. Replaces what was saved there; `IO_ERROR` when the storage
   * refuses the write. A state saved on one backend loads on the other.
   */
  async save(url: string): Promise<void> {
    this.check();
    if ('core' in this.impl) return this.impl.core.save(url);
    await this.impl.client.call('save', [this.impl.worker, url]).promise;
  }

  /** @internal Restores checkpoint bytes into every replica; `position` is where `resume` continues. */
  async _restore(bytes: Uint8Array, position: FitPosition | null): Promise<void> {
    this.check();
    if ('core' in this.impl) await this.impl.core.restore(bytes);
    else {
      const all = [{ client: this.impl.client, handle: this.impl.worker }, ...this.impl.replicas];
      await Promise.all(all.map((r) => r.client.call('restore', [r.handle, bytes]).promise));
    }
    this.resumeAt = position;
  }

  /**
   * Searches inside this model (a zoo model trained with augmentation: a ShiftAddAug supernet)
   * for the most accurate multiplication-free TargetNet under the limits (METHOD.md §5.3 stage 2,
   * widths only): Once-for-All's evolution over the supernet's width factors per layer, each
   * candidate scored with the supernet's weights after BatchNorm re-estimation on `bnData`, on
   * `evalData` (both held out of training). Resolves with the best, the Pareto front (accuracy
   * against MACs) and every candidate, each with its `plan` (a spec for `createModel`), and the
   * best's `export` with the supernet's weights (as {@link Model.exportModel}). Rejects
   * with `INVALID_CONFIG` for a model without augmentation, bad options, or limits no
   * architecture meets (naming the cheapest one's cost).
   */
  async search(options: SearchOptions): Promise<SearchResult> {
    this.check();
    checkOptions(options, SEARCH_OPTION_KEYS, 'search options');
    if (options === undefined || options === null) throw new ShiftAddAugError('INVALID_CONFIG', 'search options with bnData and evalData are required');
    checkOptions(options.callbacks, SEARCH_CALLBACK_KEYS, 'search callbacks');
    const { bnData, evalData, callbacks, signal, ...rest } = options;
    for (const [name, d] of [['bnData', bnData], ['evalData', evalData]] as const) {
      if (!Array.isArray(d) || d.length !== 2) throw new ShiftAddAugError('INVALID_DATASET', `${name} must be [x, y]`);
    }
    if (signal?.aborted) throw new ShiftAddAugError('ABORTED', 'signal was already aborted');
    const emit = (ev: string, i: number, best?: SearchCandidate) => ev === 'generation'
      ? callbacks?.onGeneration?.(i, best as SearchCandidate) : callbacks?.onCandidate?.(i);
    if ('core' in this.impl) return this.impl.core.search(bnData, evalData, rest, emit, () => !!signal?.aborted);
    const { client, worker } = this.impl;
    return abortable(client, client.call('search', [worker, bnData, evalData, rest],
      (ev, i, logs) => { void emit(ev, i, logs as unknown as SearchCandidate); }), signal);
  }

  /** Loss and accuracy on `(x, y)` in eval mode. */
  async evaluate(x: Float32Array, y: ArrayLike<number>): Promise<{ loss: number; acc: number; count: number }> {
    this.check();
    if ('core' in this.impl) return this.impl.core.evaluate(x, y);
    return this.impl.client.call('evaluate', [this.impl.worker, x, y]).promise;
  }

  /** Class probabilities, `n * numClasses` values, for images `x` of shape `[n, c, h, w]`. */
  async predict(x: Float32Array, shape: [number, number, number, number]): Promise<Float32Array> {
    this.check();
    if ('core' in this.impl) return this.impl.core.predict(x, shape);
    return this.impl.client.call('predict', [this.impl.worker, x, shape]).promise;
  }

  /**
   * The deployed multiplication-free model (a zoo model's tiny model, or the `'mfcnn'` model):
   * `model.json` text and `model.safetensors` bytes (docs/FORMAT.md).
   */
  async exportModel(): Promise<{ json: string; safetensors: Uint8Array }> {
    this.check();
    if ('core' in this.impl) return this.impl.core.exportModel();
    return this.impl.client.call('exportModel', [this.impl.worker]).promise;
  }

  /** Frees the model's memory. Further calls reject with `DISPOSED`. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    if ('core' in this.impl) { this.impl.core.dispose(); return; }
    for (const r of [{ client: this.impl.client, handle: this.impl.worker }, ...this.impl.replicas]) {
      void r.client.call('dispose', [r.handle]).promise.catch(() => undefined);
    }
  }

  /** @internal Test hook: makes the backend trap inside a call (as an out-of-memory abort does). */
  _testTrap(): Promise<unknown> {
    this.check();
    if ('core' in this.impl) return this.impl.core.testTrap();
    return this.impl.client.call('testTrap', [this.impl.worker]).promise;
  }

  /** @internal Test hook: worker `k` of a data-parallel group (0: the model's own) crashes, as after a trap. */
  _testCrashWorker(k: number): void {
    if ('core' in this.impl) throw new ShiftAddAugError('INVALID_CONFIG', 'no worker');
    const r = k === 0 ? { client: this.impl.client, handle: this.impl.worker } : this.impl.replicas[k - 1];
    void r.client.call('testCrash', []).promise.catch(() => undefined);
  }

  /** @internal Test hook: destroys the WebGPU devices of worker `k` (0: the model's own), a provoked device loss; resolves with their number. */
  _testLoseDevice(k: number): Promise<number> {
    if ('core' in this.impl) throw new ShiftAddAugError('INVALID_CONFIG', 'no worker');
    const r = k === 0 ? { client: this.impl.client, handle: this.impl.worker } : this.impl.replicas[k - 1];
    return r.client.call('testLoseDevice', []).promise;
  }
}

// `using model = await createModel(...)` where the runtime has `Symbol.dispose` (ES2024+). Added
// at run time so that the published types compile under `lib: ["es2022", "dom"]` too.
const disposeSymbol = (Symbol as { dispose?: symbol }).dispose;
if (typeof disposeSymbol === 'symbol') {
  Object.defineProperty(Model.prototype, disposeSymbol, { value(this: Model) { this.dispose(); }, configurable: true });
}

/** Awaits a worker call, telling the worker to stop it when `signal` fires. */
async function abortable<T>(client: WorkerClient, call: { id: number; promise: Promise<T> }, signal?: AbortSignal): Promise<T> {
  const onAbort = () => client.abort(call.id);
  signal?.addEventListener('abort', onAbort, { once: true });
  try { return await call.promise; } finally { signal?.removeEventListener('abort', onAbort); }
}

function onePartPerWorker(micro: unknown, threads: number): ShiftAddAugError {
  return new ShiftAddAugError('INVALID_CONFIG',
    `microBatches = ${JSON.stringify(micro)} with ${threads} workers: each worker trains one part of every batch; use microBatches with init({ threads: 1 })`);
}

/** Creates a model on the backend chosen by {@link init}. Rejects with `INVALID_CONFIG` on a bad config. */
export async function createModel(config: ModelConfig, options: TrainOptions = {}): Promise<Model> {
  if (!info) throw new ShiftAddAugError('NOT_INITIALIZED', 'call init() first');
  checkOptions(options, TRAIN_OPTION_KEYS, "createModel's training options");
  const c = await liveClient();
  if (c) {
    if (helpers.length > 0 && (options.microBatches ?? 1) !== 1) throw onePartPerWorker(options.microBatches, helpers.length + 1);
    // Every worker of a group builds the same replica (same config, same seed).
    const all = [c, ...helpers];
    const made = await Promise.allSettled(all.map((w) => w.call('create', [config, options]).promise));
    const failed = made.find((m): m is PromiseRejectedResult => m.status === 'rejected');
    if (failed) {
      made.forEach((m, k) => { if (m.status === 'fulfilled') void all[k].call('dispose', [m.value.handle]).promise.catch(() => undefined); });
      throw failed.reason;
    }
    const [r, ...rest] = made.map((m) => (m as PromiseFulfilledResult<Created>).value);
    const replicas = rest.map((m, k) => ({ client: helpers[k], handle: m.handle }));
    return new Model({ worker: r.handle, client: c, replicas, gradientLength: r.gradientLength }, config, r.backend, r.numParams);
  }
  const core = await CoreModel.create(config, options);
  return new Model({ core }, config, core.backend, core.numParams());
}

/**
 * The model saved at `url` by {@link Model.save} or a fit's checkpoints, on the backend chosen by
 * {@link init} (the wasm backend, as for saving): same config, weights, optimiser state and step.
 * When it was saved during a fit, `fit(x, y, { ..., resume: true })` continues there. Rejects with
 * `IO_ERROR` when nothing is saved there, `INVALID_CONFIG` for a damaged or foreign file.
 */
export async function loadModel(url: string): Promise<Model> {
  if (!info) throw new ShiftAddAugError('NOT_INITIALIZED', 'call init() first');
  const { meta, bytes } = await readSaved(url);
  const m = await createModel(meta.config, meta.options);
  try {
    await m._restore(bytes, meta.position);
  } catch (e) {
    m.dispose();
    throw e;
  }
  return m;
}

/** The models saved in IndexedDB (browser pages and workers), as TensorFlow.js' `tf.io.listModels`. */
export function listModels(): Promise<SavedModelInfo[]> {
  return listSaved();
}

/** Deletes the model saved at `url` (`IO_ERROR` when there is none). */
export function removeModel(url: string): Promise<void> {
  return removeSaved(url);
}
