// Random values for every field of the SDK's configs and options (search's included), tensors of wrong length or
// with NaN / Inf, calls in the wrong order and concurrent calls, saves and loads (fit checkpoints
// included) to good, bad and damaged files, through the SDK in Node
// (in-thread wasm). Every call resolves, or rejects with a ShiftAddAugError whose code is one of
// the documented ErrorCodes (read from the published .d.ts); never a trap, another exception
// or a hang. SDK_FUZZ_CALLS sets the number of calls (default 2 000; the full run is
//   SDK_FUZZ_CALLS=10000 node --test pkg-config/test/fuzz.test.mjs).
// Run after scripts/build.sh.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as sdk from '../../pkg/index.js';

const CALLS = Number(process.env.SDK_FUZZ_CALLS ?? 2000);

/** The ErrorCode union of the published types. */
async function documentedCodes() {
  const dts = await readFile(new URL('../../pkg/types.d.ts', import.meta.url), 'utf8');
  const union = /export type ErrorCode =([^;]*);/.exec(dts)?.[1] ?? '';
  return new Set([...union.matchAll(/'([A-Z_]+)'/g)].map((m) => m[1]));
}

/** mulberry32: a seeded generator of floats in [0, 1). */
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const MODEL_KEYS = ['model', 'inputShape', 'numClasses', 'conv', 'depthwise', 'adderStd', 'stemStride', 'stemConv', 'classifier', 'aug', 'widths', 'head', 'shiftMode'];
const TRAIN_KEYS = ['batchSize', 'learningRate', 'optimizer', 'labelSmoothing', 'seed', 'momentum', 'weightDecay', 'warmupSteps', 'cropPadding',
  'horizontalFlip', 'totalSteps', 'evalBnImages', 'microBatches', 'logEvery'];
const FIT_KEYS = [...TRAIN_KEYS, 'epochs', 'validationData', 'callbacks', 'yieldEvery', 'aug', 'resetBn'];
const SEARCH_KEYS = ['bnData', 'evalData', 'maxMacs', 'maxParams', 'maxEnergyUj', 'maxPeakActivation', 'maxLatencyMs', 'latencyEngine', 'population', 'generations', 'parentRatio', 'mutationRatio',
  'mutationProb', 'seed', 'shrink', 'depth', 'callbacks'];
const AUG_KEYS = ['enabled', 'widthList', 'expandList', 'mode', 'remap', 'remapForShift', 'remapFcGrad', 'alpha', 'stopWidthAug', 'sortChannels', 'seed', 'subnets', 'subnetShrink',
  'subnetAlpha', 'subnetDepth', 'subnetKernels', 'subnetOps', 'subnetOpBn'];
const STRINGS = ['', 'shift', 'add', 'mult', 'mfcnn', 'mbv2-tiny', 'H1', 'MfOnly', 'R0', 'R4', 'q', 'ps', 'sgd', 'adam', 'avgpool', 'mean', 'x'.repeat(300)];
const NUMBERS = [0, 1, 2, 3, 8, -1, 0.5, 1e-9, 255, 4096, 2 ** 31, -(2 ** 53), NaN, Infinity, -Infinity, -0, 1e308];

/** A random JSON-like value (and a few non-JSON ones: NaN, ±Infinity, functions). */
function value(r, depth = 0) {
  const k = Math.floor(r() * 10);
  if (k === 0) return undefined;
  if (k === 1) return null;
  if (k === 2) return r() < 0.5;
  if (k <= 4) return NUMBERS[Math.floor(r() * NUMBERS.length)];
  if (k === 5) return STRINGS[Math.floor(r() * STRINGS.length)];
  if (k === 6 && depth < 2) return Array.from({ length: Math.floor(r() * 4) }, () => value(r, depth + 1));
  if (k === 7 && depth < 2) return Object.fromEntries(Array.from({ length: Math.floor(r() * 3) }, (_, i) => [AUG_KEYS[Math.floor(r() * AUG_KEYS.length)] ?? `k${i}`, value(r, depth + 1)]));
  if (k === 8) return () => {};
  return Math.floor(r() * 12);
}

/** `base` as it is (half the time) or with 1–3 of `keys` set to random values. */
function mutate(r, base, keys) {
  const out = { ...base };
  for (let i = 0, n = r() < 0.5 ? 0 : 1 + Math.floor(r() * 3); i < n; i++) out[keys[Math.floor(r() * keys.length)]] = value(r);
  return out;
}

test(`${CALLS} random SDK calls resolve or reject with a documented code`, { timeout: 1_800_000 }, async () => {
  const codes = await documentedCodes();
  assert.ok(codes.size >= 10 && codes.has('INVALID_CONFIG'), [...codes].join());
  await sdk.init({ backend: 'wasm', worker: false });
  const r = rng(20261130);
  const seen = new Map();
  let calls = 0;
  /** Runs one SDK call; the outcome must be a value or a documented ShiftAddAugError. */
  async function call(what, f) {
    calls++;
    try {
      const v = await f();
      seen.set('ok', (seen.get('ok') ?? 0) + 1);
      return v;
    } catch (e) {
      assert.ok(e?.name === 'ShiftAddAugError' && codes.has(e.code), `${what}: ${e?.name} ${e?.code}: ${e?.message ?? e}`);
      seen.set(e.code, (seen.get(e.code) ?? 0) + 1);
      return undefined;
    }
  }
  const small = { inputShape: [1, 8, 8], numClasses: 3, widths: [2, 4] };
  // Saves go to a temporary folder (never a random path): good URLs there, and bad ones.
  const dir = await mkdtemp(join(tmpdir(), 'sa-fuzz-'));
  const urls = [join(dir, 'a.saamodel'), join(dir, 'b.saamodel'), `file://${join(dir, 'c.saamodel')}`, join(dir, 'missing', 'd.saamodel'),
    'indexeddb://x', 'http://example.com/m', '', 42, null];
  const url = () => urls[Math.floor(r() * urls.length)];
  /** Checkpoint options: none, good ones, or random ones (to the URLs above). */
  const checkpointing = () => (r() < 0.6 ? {} : { checkpointEvery: r() < 0.5 ? 1 + Math.floor(r() * 3) : value(r), checkpointUrl: url(),
    ...(r() < 0.3 ? { resume: value(r) } : {}), ...(r() < 0.2 ? { fallback: value(r) } : {}) });
  const tensor = (n) => Float32Array.from({ length: n }, () => r());
  while (calls < CALLS) {
    // Zoo models are slow to create; most cases mutate the small CNN.
    const base = r() < 0.05 ? { model: 'mbv2-tiny', conv: 'shift', inputShape: [1, 28, 28], numClasses: 10, aug: { enabled: r() < 0.5 } } : small;
    const model = await call('createModel', () => sdk.createModel(mutate(r, base, MODEL_KEYS), r() < 0.3 ? mutate(r, {}, TRAIN_KEYS) : {}));
    if (!model) continue;
    const [c, h, w] = model.inputShape ?? [1, 8, 8];
    const n = 1 + Math.floor(r() * 4);
    const img = c * h * w;
    // Valid data, then data with NaN / Inf, wrong lengths, or bad labels.
    const x = tensor(n * img);
    const y = Array.from({ length: n }, () => Math.floor(r() * 3));
    const bad = [() => { x[Math.floor(r() * x.length)] = [NaN, Infinity, -Infinity][Math.floor(r() * 3)]; return [x, y]; },
      () => [tensor(n * img + 1 + Math.floor(r() * 5)), y], () => [x, y.slice(1)], () => [x, y.map(() => value(r))], () => [value(r), value(r)]];
    const steps = Math.floor(r() * 4);
    for (let s = 0; s < steps && calls < CALLS; s++) {
      const kind = Math.floor(r() * 8);
      const signal = AbortSignal.timeout(3000);
      if (kind === 0) await call('fit', () => model.fit(x, y, { ...mutate(r, { epochs: 1, batchSize: 4, resetBn: 0 }, FIT_KEYS), ...checkpointing(), signal }));
      else if (kind === 1) { const [bx, by] = bad[Math.floor(r() * bad.length)](); await call('fit(bad data)', () => model.fit(bx, by, { epochs: 1, signal })); x.set(tensor(x.length)); }
      else if (kind === 2) await call('predict', () => model.predict(r() < 0.5 ? x : tensor(Math.floor(r() * 3 * img)), r() < 0.5 ? [n, c, h, w] : value(r)));
      else if (kind === 3) await call('evaluate', () => model.evaluate(x, r() < 0.7 ? y : value(r)));
      else if (kind === 4) {
        // Concurrent calls on one model: one of them may get BUSY.
        await Promise.all([call('fit ∥', () => model.fit(x, y, { epochs: 1, batchSize: 4, resetBn: 0, signal })), call('predict ∥', () => model.predict(x, [n, c, h, w]))]);
      } else if (kind === 5) {
        // A search of (at most) two candidates, on the model's own data or on bad data.
        const [bx, by] = r() < 0.7 ? [x, y] : bad[Math.floor(r() * bad.length)]();
        await call('search', () => model.search(mutate(r, { bnData: [bx, by], evalData: [x, y], population: 2, generations: 0 }, SEARCH_KEYS)));
        x.set(tensor(x.length));
      } else if (kind === 6) await call('exportModel', () => model.exportModel());
      else {
        // Save, then load a saved model (resume a fit with it), a missing one, or a damaged copy.
        const to = url();
        await call('save', () => model.save(to));
        const from = r() < 0.7 ? to : url();
        if (r() < 0.4 && typeof from === 'string' && from.startsWith(dir)) {
          const good = await readFile(from).catch(() => null);
          if (good) {
            const b = Uint8Array.from(good);
            for (let i = 0, k = 1 + Math.floor(r() * 4); i < k; i++) b[Math.floor(r() * b.length)] = Math.floor(r() * 256);
            await writeFile(join(dir, 'damaged.saamodel'), r() < 0.3 ? b.subarray(0, Math.floor(r() * b.length)) : b);
            const m2 = await call('loadModel(damaged)', () => sdk.loadModel(join(dir, 'damaged.saamodel')));
            m2?.dispose();
          }
        }
        const loaded = await call('loadModel', () => sdk.loadModel(from));
        if (loaded) {
          await call('fit(resume)', () => loaded.fit(x, y, { epochs: 1 + Math.floor(r() * 2), batchSize: 4, resetBn: 0, resume: r() < 0.5, signal }));
          loaded.dispose();
        }
      }
    }
    model.dispose();
    // Calls after dispose.
    if (r() < 0.2) await call('predict after dispose', () => model.predict(x, [n, c, h, w]));
  }
  console.log(`${calls} SDK calls: ${[...seen].map(([k, v]) => `${k} ${v}`).join(', ')}`);
  assert.ok((seen.get('ok') ?? 0) > CALLS / 20 && (seen.get('INVALID_CONFIG') ?? 0) > CALLS / 20, 'both outcomes are exercised');
});
