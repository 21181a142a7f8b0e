// The SDK in Node (in-thread, wasm CPU backend): API contract, error codes, callbacks, abort.
// Run after scripts/build.sh:  node --test pkg-config/test/
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, stat } from 'node:fs/promises';
import * as sdk from '../../pkg/index.js';

const DIR = '/usr/share/datasets/fashion-mnist';

async function fashion(n) {
  const images = await sdk.parseIdx(new Uint8Array(await readFile(`${DIR}/train-images-idx3-ubyte.gz`)));
  const labels = await sdk.parseIdx(new Uint8Array(await readFile(`${DIR}/train-labels-idx1-ubyte.gz`)));
  assert.deepEqual(images.dims, [60000, 28, 28]);
  const x = new Float32Array(n * 784);
  for (let i = 0; i < x.length; i++) x[i] = images.data[i] / 255;
  return { x, y: labels.data.slice(0, n) };
}

const code = (c) => (e) => { assert.equal(e.name, 'ShiftAddAugError'); assert.equal(e.code, c, e.message); return true; };
const cfg = { inputShape: [1, 28, 28], numClasses: 10, conv: 'shift', widths: [4, 8] };

test('calls before init reject with NOT_INITIALIZED', async () => {
  await assert.rejects(sdk.createModel(cfg), code('NOT_INITIALIZED'));
});

test('backend selection reports what it chose and why', async () => {
  await assert.rejects(sdk.init({ backend: 'cuda', worker: false }), code('UNKNOWN_BACKEND'));
  await assert.rejects(sdk.init({ backend: 'webgpu', worker: false }), code('WEBGPU_UNAVAILABLE'));
  const auto = await sdk.init({ backend: 'auto', worker: false });
  assert.equal(auto.backend, 'wasm');
  assert.match(auto.reason, /navigator\.gpu/);
  const list = await sdk.init({ backend: ['webgpu', 'wasm'], worker: false });
  assert.equal(list.backend, 'wasm');
  const rt = await sdk.init({ backend: 'wasm', worker: false });
  assert.deepEqual([rt.backend, rt.module, rt.simd, rt.worker], ['wasm', 'cpu', true, false]);
  assert.equal(sdk.runtimeInfo(), rt);
});

test('a failed init leaves no half-initialised runtime', async () => {
  await sdk.init({ backend: 'wasm', worker: false });
  await assert.rejects(sdk.init({ backend: 'tpu', worker: false }), code('UNKNOWN_BACKEND'));
  assert.equal(sdk.runtimeInfo(), null);
  await assert.rejects(sdk.createModel(cfg), code('NOT_INITIALIZED'));
});

test('threads: one in-thread, typed errors for bad counts; microBatches splits each batch', async () => {
  const rt = await sdk.init({ backend: 'wasm', worker: false });
  assert.deepEqual([rt.threads, rt.gradientExchange, rt.crossOriginIsolated], [1, null, false]);
  for (const threads of [2, 0, 17, 2.5, '2']) {
    await assert.rejects(sdk.init({ backend: 'wasm', worker: false, threads }), code('INVALID_CONFIG'));
    assert.equal(sdk.runtimeInfo(), null, 'a rejected init leaves no runtime');
  }
  await sdk.init({ backend: 'wasm', worker: false, threads: 1 });
  await assert.rejects(sdk.createModel(cfg, { microBatches: 0 }), code('INVALID_CONFIG'));
  const { x, y } = await fashion(256);
  // Two parts of every batch of 64 (BatchNorm per part): a different first loss from one part,
  // both finite, from the same initial weights.
  const first = async (microBatches) => {
    const m = await sdk.createModel(cfg, { seed: 4 });
    const h = await m.fit(x.subarray(0, 64 * 784), y.subarray(0, 64), { batchSize: 64, microBatches, resetBn: 0 });
    m.dispose();
    return h.history.loss[0];
  };
  const [one, two] = [await first(1), await first(2)];
  assert.ok(Number.isFinite(one) && Number.isFinite(two) && one !== two, `losses ${one}, ${two}`);
});

test('invalid configs and IDX files are typed errors', async () => {
  await sdk.init({ backend: 'wasm', worker: false });
  await assert.rejects(sdk.createModel({ ...cfg, conv: 'mul' }), code('INVALID_CONFIG'));
  await assert.rejects(sdk.createModel({ ...cfg, widths: [8] }), code('INVALID_CONFIG'));
  await assert.rejects(sdk.createModel(cfg, { learningRate: -1 }), code('INVALID_CONFIG'));
  await assert.rejects(sdk.parseIdx(new Uint8Array([0, 0, 8, 1, 0, 0, 0, 9, 1])), code('INVALID_IDX'));
  await assert.rejects(sdk.parseIdx(new Uint8Array([0x1f, 0x8b, 8, 0, 1, 2])), code('INVALID_IDX'));
});

test('mutated IDX files are INVALID_IDX or parse, never a crash', async () => {
  await sdk.init({ backend: 'wasm', worker: false });
  // A sample of tests/fuzz/data.rs (a million per form natively).
  const base = new Uint8Array([0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 4, 0, 0, 0, 4, ...Array.from({ length: 32 }, (_, i) => i * 7)]);
  let seed = 3;
  const rand = (n) => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed % n; };
  const outcomes = {};
  for (let i = 0; i < 3000; i++) {
    let b = Array.from(base);
    for (let k = 0; k <= rand(3); k++) {
      const at = rand(b.length);
      switch (rand(4)) {
        case 0: b[at] = rand(256); break;
        case 1: b.splice(at, 1 + rand(4)); break;
        case 2: b.splice(at, 0, rand(256)); break;
        default: b = b.slice(0, at);
      }
    }
    if (i % 3 === 0) b = [0x1f, 0x8b, ...b];
    let outcome = 'parsed';
    try { await sdk.parseIdx(new Uint8Array(b)); } catch (e) {
      assert.equal(e.name, 'ShiftAddAugError', `case ${i}: ${e}`);
      assert.equal(e.code, 'INVALID_IDX', `case ${i}: ${e.message}`);
      outcome = e.code;
    }
    outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
  }
  assert.ok(outcomes.parsed > 100 && outcomes.INVALID_IDX > 1000, JSON.stringify(outcomes));
  assert.equal((await sdk.parseIdx(base)).dims.join(), '2,4,4');
});

test('misspelt options are INVALID_CONFIG naming them, never ignored', async () => {
  const names = (bad) => (e) => code('INVALID_CONFIG')(e) && e.message.includes(`"${bad}"`);
  await sdk.init({ backend: 'wasm', worker: false });
  await assert.rejects(sdk.init({ backend: 'wasm', worker: false, treads: 2 }), names('treads'));
  assert.ok(sdk.runtimeInfo(), 'a rejected init keeps the runtime');
  await assert.rejects(sdk.createModel(cfg, { learningrate: 0.1 }), names('learningrate'));
  await assert.rejects(sdk.createModel(cfg, 'sgd'), code('INVALID_CONFIG'));
  const m = await sdk.createModel(cfg);
  const x = new Float32Array(8 * 784), y = new Uint8Array(8);
  await assert.rejects(m.fit(x, y, { epoch: 2 }), names('epoch'));
  await assert.rejects(m.fit(x, y, { callbacks: { onBatchEnds: () => {} } }), names('onBatchEnds'));
  await assert.rejects(m.fit(x, y, { aug: { alpa: 1 } }), names('alpa'));
  // The model is unharmed.
  assert.equal((await m.fit(x, y, { epochs: 1, batchSize: 8 })).history.loss.length, 1);
  m.dispose();
});

test('fit trains on real data with tfjs-style callbacks and history', async () => {
  await sdk.init({ backend: 'wasm', worker: false });
  const { x, y } = await fashion(1024);
  const model = await sdk.createModel({ ...cfg, widths: [8, 16, 32] });
  assert.equal(model.backend, 'wasm');
  assert.ok(model.numParams > 1000);
  const batches = [];
  const epochs = [];
  const history = await model.fit(x, y, {
    epochs: 2, batchSize: 64, validationData: [x.subarray(0, 256 * 784), y.subarray(0, 256)],
    callbacks: {
      onBatchEnd: (b, logs) => { batches.push(b); assert.ok(Number.isFinite(logs.loss)); },
      onEpochEnd: async (e, logs) => { epochs.push(e); assert.ok(logs.valAcc >= 0 && logs.valAcc <= 1); },
    },
  });
  assert.deepEqual(epochs, [0, 1]);
  assert.equal(batches.length, 32);
  assert.deepEqual(batches.slice(0, 16), [...Array(16).keys()]);
  assert.deepEqual(history.epoch, [0, 1]);
  assert.ok(history.history.loss[1] < history.history.loss[0], `loss ${history.history.loss}`);
  const probs = await model.predict(x.subarray(0, 3 * 784), [3, 1, 28, 28]);
  assert.ok(probs instanceof Float32Array);
  assert.equal(probs.length, 30);
  for (let i = 0; i < 3; i++) assert.ok(Math.abs(probs.subarray(i * 10, i * 10 + 10).reduce((a, b) => a + b) - 1) < 1e-4);
  const ev = await model.evaluate(x.subarray(0, 256 * 784), y.subarray(0, 256));
  assert.equal(ev.count, 256);
  // logEvery: 5 → batches 4, 9, 14 and the last (15) of 16 report.
  const sparse = [];
  await model.fit(x, y, { batchSize: 64, logEvery: 5, callbacks: { onBatchEnd: (b) => sparse.push(b) } });
  assert.deepEqual(sparse, [4, 9, 14, 15]);
  await assert.rejects(model.fit(x, y, { logEvery: 0 }), code('INVALID_CONFIG'));
  model.dispose();
  await assert.rejects(model.predict(x.subarray(0, 784), [1, 1, 28, 28]), code('DISPOSED'));
});

test('bad inputs reject with codes and leave the model usable', async () => {
  await sdk.init({ backend: 'wasm', worker: false });
  const model = await sdk.createModel(cfg);
  const x = new Float32Array(2 * 784).fill(0.5);
  await assert.rejects(model.predict(x, [3, 1, 28, 28]), code('SHAPE_MISMATCH'));
  await assert.rejects(model.predict(x, [2, 3, 28, 28]), code('SHAPE_MISMATCH'));
  await assert.rejects(model.predict(x, [2, 1, 28]), code('SHAPE_MISMATCH'));
  const nan = x.slice(); nan[7] = NaN;
  await assert.rejects(model.predict(nan, [2, 1, 28, 28]), code('NON_FINITE_INPUT'));
  await assert.rejects(model.fit(nan, [1, 2]), code('NON_FINITE_INPUT'));
  await assert.rejects(model.fit(x, [1, 2, 3]), code('SHAPE_MISMATCH'));
  await assert.rejects(model.fit(x, [1, 10]), code('INVALID_DATASET'));
  await assert.rejects(model.fit(x, [1, 1.5]), code('INVALID_DATASET'));
  await assert.rejects(model.fit(x, [1, 2], { epochs: 0 }), code('INVALID_CONFIG'));
  await assert.rejects(model.fit(x, [1, 2], { batchSize: 0 }), code('INVALID_CONFIG'));
  const ok = await model.predict(x, [2, 1, 28, 28]);
  assert.equal(ok.length, 20);
  model.dispose();
});

test('AbortSignal stops fit with ABORTED; concurrent calls get BUSY', async () => {
  await sdk.init({ backend: 'wasm', worker: false });
  const { x, y } = await fashion(640);
  const model = await sdk.createModel(cfg);
  const controller = new AbortController();
  let seen = 0;
  const run = model.fit(x, y, {
    batchSize: 32, yieldEvery: 0, signal: controller.signal,
    callbacks: { onBatchEnd: () => { if (++seen === 3) controller.abort(); } },
  });
  await assert.rejects(model.predict(x.subarray(0, 784), [1, 1, 28, 28]), code('BUSY'));
  await assert.rejects(run, code('ABORTED'));
  assert.equal(seen, 3);
  const pre = new AbortController(); pre.abort();
  await assert.rejects(model.fit(x, y, { signal: pre.signal }), code('ABORTED'));
  assert.equal((await model.predict(x.subarray(0, 784), [1, 1, 28, 28])).length, 10);
  model.dispose();
});

test('package.json exports point at files that exist', async () => {
  const pkg = JSON.parse(await readFile(new URL('../../pkg/package.json', import.meta.url)));
  assert.equal(pkg.type, 'module');
  for (const [sub, entry] of Object.entries(pkg.exports)) {
    assert.equal(Object.keys(entry)[0], 'types', `${sub}: types first`);
    for (const f of Object.values(entry)) await readFile(new URL(`../../pkg/${f}`, import.meta.url));
  }
  await readFile(new URL('../../pkg/shiftaddaug_bg.wasm', import.meta.url));
  await readFile(new URL('../../pkg/cpu/shiftaddaug_bg.wasm', import.meta.url));
  // The shipped README points at nothing outside the package: no relative links, no ../ paths.
  const readme = await readFile(new URL('../../pkg/README.md', import.meta.url), 'utf8');
  assert.doesNotMatch(readme, /\]\((?!https?:|#)[^)]*\)/, 'relative link in the package README');
  assert.doesNotMatch(readme, /\.\.\/|docs\/|BENCHMARKS|METHOD\.md/, 'the package README names files outside the package');
  for (const c of ['INVALID_IDX', 'IO_ERROR', 'BACKEND_LOST', 'ABORTED', 'NOT_INITIALIZED']) assert.match(readme, new RegExp(c));
});
