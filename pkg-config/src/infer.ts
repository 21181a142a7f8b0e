/**
 * `shiftaddaug/infer`: runs an exported model (docs/FORMAT.md) with the integer engine, from a
 * small inference-only wasm module (no training code). Independent of the training entry.
 *
 * ```js
 * import { loadModel } from 'shiftaddaug/infer';
 * const model = await loadModel(await trained.exportModel());   // or { json: url, safetensors: url }
 * model.quantize({ calibration: xTrain.subarray(0, 512 * 784), images: 512 });
 * const probs = model.predict(x, [n, 1, 28, 28]);               // integer engine + Shiftmax
 * ```
 * @packageDocumentation
 */
import initInfer, { InferenceModel } from './infer/shiftaddaug.js';
import { readFileUrl } from './files.js';
import { checkOptions } from './options.js';
import { ShiftAddAugError, toError } from './types.js';

export { ShiftAddAugError } from './types.js';

let loaded: Promise<unknown> | null = null;

async function load(wasmUrl?: string | URL): Promise<void> {
  if (!loaded) {
    loaded = (async () => {
      const url = wasmUrl ? new URL(String(wasmUrl), import.meta.url) : new URL('./infer/shiftaddaug_bg.wasm', import.meta.url);
      return initInfer({ module_or_path: (await readFileUrl(url)) ?? url });
    })();
    loaded.catch(() => { loaded = null; });
  }
  await loaded;
}

/** An export: the text of `model.json` and the bytes of `model.safetensors`, or their URLs. */
export type ModelSource =
  | { json: string; safetensors: Uint8Array | ArrayBuffer }
  | { json: URL; safetensors: URL }
  | { jsonUrl: string | URL; safetensorsUrl: string | URL };

/** Options of {@link loadModel}. */
export interface LoadOptions {
  /** Calibrate the integer engine right away (see {@link DeployedModel.quantize}). */
  calibration?: { x: Float32Array; images: number };
  /** Where the inference `.wasm` is. @defaultValue `infer/shiftaddaug_bg.wasm` next to this module */
  wasmUrl?: string | URL;
  /**
   * Refuse (`INVALID_CONFIG`) a model whose engines would need more memory than this, in MiB
   * (an upper estimate from its parameters and largest activation). @defaultValue 512
   */
  memoryLimitMB?: number;
}

async function fetchBytes(u: string | URL): Promise<Uint8Array> {
  try {
    const url = new URL(String(u), typeof location !== 'undefined' ? location.href : import.meta.url);
    const local = await readFileUrl(url);
    if (local) return local;
    const r = await fetch(url);
    if (!r.ok) throw new Error(`HTTP ${r.status}`);
    return new Uint8Array(await r.arrayBuffer());
  } catch (e) {
    throw new ShiftAddAugError('IO_ERROR', `could not read ${String(u)}: ${(e as Error).message}`);
  }
}

/** What {@link DeployedModel.cost} returns: counts and energy for one image. */
export interface ModelCost {
  macs: { mult: number; shift: number; add: number };
  mults: number;
  adds: number;
  shifts: number;
  /** Input values and weights read, output values written (each moved once). */
  reads: number;
  writes: number;
  /** Compute energy, pJ per image. */
  energyPj: number;
  weights: number;
  /** Largest number of activation values alive at once. */
  peakActivation: number;
  layers: { name: string; op: 'mult' | 'shift' | 'add'; macs: number; energyPj: number }[];
}

/** Energy by memory level, pJ per image (see {@link DeployedModel.dataflow}). */
export interface EnergyLevels {
  compute: number;
  dram: number;
  buffer: number;
  noc: number;
  registerFiles: number;
  total: number;
}

/** What {@link DeployedModel.dataflow} returns. */
export interface DataflowEstimate {
  /** Energy per image, pJ. */
  energyPj: EnergyLevels;
  /** Latency of one batch on the modelled 250 MHz accelerator, ms. */
  latencyMs: number;
  layers: { name: string; energyPj: EnergyLevels; latencyMs: number }[];
}

/** A deployed model: the f32 reference, and the integer engine once quantised. */
export class DeployedModel {
  private inner: InferenceModel | null;
  /** `[c, h, w]` of one image. */
  readonly inputShape: [number, number, number];
  readonly classes: number;

  /** @internal Use {@link loadModel}. (The glue's type stays out of the published declarations.) */
  constructor(handle: unknown) {
    const inner = handle as InferenceModel;
    this.inner = inner;
    const s = inner.inputShape;
    this.inputShape = [s[0], s[1], s[2]];
    this.classes = inner.classes;
  }

  private live(): InferenceModel {
    if (!this.inner) throw new ShiftAddAugError('DISPOSED', 'model was disposed');
    return this.inner;
  }

  private images(x: unknown, n: number, what: string): Float32Array {
    if (!(x instanceof Float32Array)) throw new ShiftAddAugError('SHAPE_MISMATCH', `${what} must be a Float32Array`);
    const per = this.inputShape[0] * this.inputShape[1] * this.inputShape[2];
    if (!Number.isInteger(n) || n < 1 || x.length !== n * per) {
      throw new ShiftAddAugError('SHAPE_MISMATCH', `${what} has ${x.length} values; ${n} images of [${this.inputShape}] need ${n * per}`);
    }
    return x;
  }

  /**
   * Chooses the integer engine's power-of-two activation scales from `images` calibration
   * images (training images, e.g. 512): each tensor's largest value must fit 16 bits.
   */
  quantize(options: { calibration: Float32Array; images: number }): void {
    checkOptions(options, ['calibration', 'images'], 'quantize options');
    const x = this.images(options?.calibration, options?.images, 'calibration');
    try { this.live().quantize(x, options.images); } catch (e) { throw toError(e); }
  }

  /** Whether {@link quantize} has run. */
  get quantized(): boolean { return this.live().quantized; }

  /**
   * Class probabilities, `n * classes` values, for images `x` of shape `[n, c, h, w]`. `engine:
   * 'integer'` (the default once quantised) uses the integer engine and its Shiftmax (multiples
   * of 1/128); `'float'` the f32 reference and softmax.
   */
  predict(x: Float32Array, shape: [number, number, number, number], options: { engine?: 'integer' | 'float' } = {}): Float32Array {
    const m = this.live();
    checkOptions(options, ['engine'], 'predict options');
    if (!Array.isArray(shape) || shape.length !== 4 || shape.slice(1).some((d, i) => d !== this.inputShape[i])) {
      throw new ShiftAddAugError('SHAPE_MISMATCH', `shape must be [n, ${this.inputShape}], got ${JSON.stringify(shape)}`);
    }
    const engine = options.engine ?? (m.quantized ? 'integer' : 'float');
    if (engine !== 'integer' && engine !== 'float') throw new ShiftAddAugError('INVALID_CONFIG', `engine = ${JSON.stringify(engine)}; valid: 'integer', 'float'`);
    const xs = this.images(x, shape[0], 'x');
    try { return m.predict(xs, shape[0], engine === 'integer'); } catch (e) { throw toError(e); }
  }

  /**
   * The compute cost of one image (METHOD.md §8.1–8.2): MACs by operator, multiplications,
   * additions and shifts, values read and written, energy from 45 nm unit energies (`bits` 32
   * or 8; `convention` `'per-mac'`, one operation per MAC as ShiftAddNAS counts, or `'physical'`,
   * the accumulation too), weights, peak activation values, and the same per layer.
   */
  cost(options: { bits?: 32 | 8; convention?: 'per-mac' | 'physical' } = {}): ModelCost {
    checkOptions(options, ['bits', 'convention'], 'cost options');
    let v: Float64Array, names: string[];
    try {
      v = this.live().cost(options.bits ?? 32, options.convention ?? 'per-mac');
      names = this.live().layerNames();
    } catch (e) { throw toError(e); }
    const ops = ['mult', 'shift', 'add'] as const;
    return {
      macs: { mult: v[0], shift: v[1], add: v[2] },
      mults: v[3], adds: v[4], shifts: v[5], reads: v[6], writes: v[7],
      energyPj: v[8], weights: v[9], peakActivation: v[10],
      layers: names.map((name, i) => ({ name, op: ops[v[11 + 3 * i]], macs: v[12 + 3 * i], energyPj: v[13 + 3 * i] })),
    };
  }

  /**
   * The Eyeriss-like dataflow estimate of METHOD.md §8.3: for each layer the tiling of a 16 × 12
   * PE array that best trades energy against latency, its energy by memory level (pJ per image)
   * and its latency (ms per batch of `batch` images at 250 MHz). Shift layers move 10-bit words,
   * Add layers stay on chip (ShiftAddNAS's rules). `bits` 32 or 8; `batch` 1 to 1024.
   */
  dataflow(options: { bits?: 32 | 8; batch?: number } = {}): DataflowEstimate {
    checkOptions(options, ['bits', 'batch'], 'dataflow options');
    const batch = options.batch ?? 1;
    if (!Number.isInteger(batch) || batch < 1 || batch > 1024) {
      throw new ShiftAddAugError('INVALID_CONFIG', `batch = ${JSON.stringify(options.batch)}; must be an integer from 1 to 1024`);
    }
    let v: Float64Array, names: string[];
    try {
      v = this.live().dataflow(options.bits ?? 32, batch);
      names = this.live().layerNames();
    } catch (e) { throw toError(e); }
    // Row 0 is the whole network, row k + 1 layer k.
    const levels = (row: number): EnergyLevels => {
      const [compute, dram, buffer, noc, registerFiles] = [0, 1, 2, 3, 4].map((j) => v[6 * row + j] / batch);
      return { compute, dram, buffer, noc, registerFiles, total: compute + dram + buffer + noc + registerFiles };
    };
    return {
      energyPj: levels(0),
      latencyMs: v[5] * 1e3,
      layers: names.map((name, k) => ({ name, energyPj: levels(k + 1), latencyMs: v[6 * (k + 1) + 5] * 1e3 })),
    };
  }

  /** Frees the model's memory; later calls throw `DISPOSED`. */
  dispose(): void {
    this.inner?.free();
    this.inner = null;
  }
}

/**
 * Loads an export into the inference module: `{ json, safetensors }` as `Model.exportModel()`
 * returns them, or their URLs. Rejects with `INVALID_CONFIG` for a malformed, truncated or
 * inconsistent file or a model above `memoryLimitMB`, `IO_ERROR` when a URL cannot be read.
 */
export async function loadModel(source: ModelSource, options: LoadOptions = {}): Promise<DeployedModel> {
  checkOptions(options, ['calibration', 'wasmUrl', 'memoryLimitMB'], 'loadModel options');
  await load(options.wasmUrl);
  let json: string, bytes: Uint8Array;
  if ('jsonUrl' in source) {
    json = new TextDecoder().decode(await fetchBytes(source.jsonUrl));
    bytes = await fetchBytes(source.safetensorsUrl);
  } else if (source && typeof source.json === 'string' && (source.safetensors instanceof Uint8Array || source.safetensors instanceof ArrayBuffer)) {
    json = source.json;
    bytes = source.safetensors instanceof Uint8Array ? source.safetensors : new Uint8Array(source.safetensors);
  } else if (source && source.json instanceof URL && source.safetensors instanceof URL) {
    json = new TextDecoder().decode(await fetchBytes(source.json));
    bytes = await fetchBytes(source.safetensors);
  } else {
    throw new ShiftAddAugError('INVALID_CONFIG', 'source must be { json: string, safetensors: Uint8Array } or { jsonUrl, safetensorsUrl }');
  }
  let model: DeployedModel;
  const limit = options.memoryLimitMB;
  if (limit !== undefined && !(typeof limit === 'number' && Number.isFinite(limit) && limit > 0)) {
    throw new ShiftAddAugError('INVALID_CONFIG', `memoryLimitMB must be a positive number, got ${String(limit)}`);
  }
  try { model = new DeployedModel(new InferenceModel(json, bytes, limit)); } catch (e) { throw toError(e); }
  if (options.calibration) model.quantize({ calibration: options.calibration.x, images: options.calibration.images });
  return model;
}
