// `shiftaddaug/infer` in Node: a model trained through the SDK, exported, loaded into the
// inference-only module; the f32 reference reproduces the trained model's probabilities, the
// integer engine agrees with it, bad files and inputs are typed errors (2 000 random mutations
// of an export included), and the module stays under 300 KB.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, stat } from 'node:fs/promises';
import * as sdk from '../../pkg/index.js';
import { loadModel } from '../../pkg/infer.js';

const DIR = '/usr/share/datasets/fashion-mnist';
const code = (c) => (e) => { assert.equal(e.name, 'ShiftAddAugError'); assert.equal(e.code, c, e.message); return true; };

async function split(name, n) {
  const images = await sdk.parseIdx(new Uint8Array(await readFile(`${DIR}/${name}-images-idx3-ubyte.gz`)));
  const labels = await sdk.parseIdx(new Uint8Array(await readFile(`${DIR}/${name}-labels-idx1-ubyte.gz`)));
  const x = new Float32Array(n * 784);
  for (let i = 0; i < x.length; i++) x[i] = images.data[i] / 255;
  return { x, y: labels.data.slice(0, n) };
}

const argmax = (r) => r.reduce((b, v, i) => (v > r[b] ? i : b), 0);

test('an exported model runs in the inference module: f32 reference = trained model, integer engine agrees', async () => {
  await sdk.init({ backend: 'wasm', worker: false });
  const train = await split('train', 2048);
  const held = await split('t10k', 500);
  for (const conv of ['shift', 'add']) {
    const trained = await sdk.createModel({ inputShape: [1, 28, 28], numClasses: 10, conv });
    await trained.fit(train.x, train.y, { epochs: 1, batchSize: 64 });
    const want = await trained.predict(held.x, [500, 1, 28, 28]);
    const m = await loadModel(await trained.exportModel());
    trained.dispose();
    assert.deepEqual([m.inputShape, m.classes, m.quantized], [[1, 28, 28], 10, false]);
    const float = m.predict(held.x, [500, 1, 28, 28]);
    const err = float.reduce((e, p, i) => Math.max(e, Math.abs(p - want[i])), 0);
    assert.ok(err < 1e-4, `${conv}: f32 reference vs the trained model: ${err}`);
    assert.throws(() => m.predict(held.x, [500, 1, 28, 28], { engine: 'integer' }), code('INVALID_CONFIG'));
    m.quantize({ calibration: train.x.subarray(0, 256 * 784), images: 256 });
    const int = m.predict(held.x, [500, 1, 28, 28]);
    let agree = 0, correctF = 0, correctI = 0;
    for (let i = 0; i < 500; i++) {
      const [a, b] = [argmax(float.subarray(i * 10, i * 10 + 10)), argmax(int.subarray(i * 10, i * 10 + 10))];
      agree += a === b; correctF += a === held.y[i]; correctI += b === held.y[i];
    }
    console.log(`${conv}: float accuracy ${correctF / 500}, integer ${correctI / 500}, top-1 agreement ${agree / 500}`);
    assert.ok(agree / 500 >= 0.97, `${conv}: agreement ${agree / 500}`);
    assert.ok(int.every((p) => p >= 0 && p <= 1 && Number.isInteger(p * 128)), 'Shiftmax probabilities are multiples of 1/128');
    assert.throws(() => m.predict(held.x.subarray(0, 100), [1, 1, 28, 28]), code('SHAPE_MISMATCH'));
    assert.throws(() => m.predict(held.x, [500, 1, 32, 32]), code('SHAPE_MISMATCH'));
    const nan = held.x.slice(0, 784); nan[5] = NaN;
    assert.throws(() => m.predict(nan, [1, 1, 28, 28]), code('NON_FINITE_INPUT'));
    m.dispose();
    assert.throws(() => m.predict(held.x, [500, 1, 28, 28]), code('DISPOSED'));
  }
});

test('bad exports are typed errors', async () => {
  await sdk.init({ backend: 'wasm', worker: false });
  const trained = await sdk.createModel({ inputShape: [1, 28, 28], numClasses: 10, conv: 'shift' });
  const { json, safetensors } = await trained.exportModel();
  trained.dispose();
  await assert.rejects(loadModel({ json, safetensors: safetensors.subarray(0, safetensors.length - 9) }), code('INVALID_CONFIG'));
  const doc = JSON.parse(json);
  doc.layers[1].kind = 'mul';
  await assert.rejects(loadModel({ json: JSON.stringify(doc), safetensors }), code('INVALID_CONFIG'));
  const huge = safetensors.slice(); new DataView(huge.buffer).setBigUint64(0, 1n << 40n, true);
  await assert.rejects(loadModel({ json, safetensors: huge }), code('INVALID_CONFIG'));
  await assert.rejects(loadModel({ json: '{', safetensors }), code('INVALID_CONFIG'));
  await assert.rejects(loadModel({ jsonUrl: '/nonexistent/model.json', safetensorsUrl: '/nonexistent/model.safetensors' }), code('IO_ERROR'));
  await assert.rejects(loadModel({ json: 1 }), code('INVALID_CONFIG'));
  // The compute cost, counted by hand for the default MF CNN (widths 8, 16, 32, flatten, 28×28):
  // stem 8 · 784 · 9, convs 16 · 196 · 72 and 32 · 49 · 144, classifier 1 568 · 10.
  const m = await loadModel({ json, safetensors });
  const c = m.cost();
  assert.deepEqual(c.macs, { mult: 56448 + 15680, shift: 225792 + 225792, add: 0 });
  assert.ok(Math.abs(c.energyPj - (72128 * 3.7 + 451584 * 0.13)) < 1e-3, JSON.stringify(c));
  assert.equal(c.layers.length, 4);
  assert.equal(m.cost({ bits: 8, convention: 'physical' }).adds, 72128 + 451584);
  assert.throws(() => m.cost({ bits: 16 }), code('INVALID_CONFIG'));
  assert.throws(() => m.cost({ bit: 8 }), code('INVALID_CONFIG'));
  // The dataflow estimate: its levels add up, its compute part is the per-MAC energy above, and
  // a Shift layer moves 10-bit words.
  const d = m.dataflow({ batch: 2 });
  const e = d.energyPj;
  assert.ok(Math.abs(e.compute + e.dram + e.buffer + e.noc + e.registerFiles - e.total) < 1e-6 * e.total, JSON.stringify(e));
  assert.ok(Math.abs(e.compute - c.energyPj) < 1e-6 * c.energyPj && e.dram > 0 && d.latencyMs > 0, JSON.stringify(d));
  assert.equal(d.layers.length, 4);
  assert.ok(m.dataflow({ bits: 8 }).energyPj.total < m.dataflow().energyPj.total);
  for (const bad of [{ batch: 0 }, { batch: 1.5 }, { bits: 16 }, { batchSize: 2 }]) assert.throws(() => m.dataflow(bad), code('INVALID_CONFIG'));
  assert.throws(() => m.predict(new Float32Array(784), [1, 1, 28, 28], { engin: 'float' }), code('INVALID_CONFIG'));
  await assert.rejects(loadModel({ json, safetensors }, { memoryLimitMb: 1 }), code('INVALID_CONFIG'));
  m.dispose();
  // The memory limit: a 20 KB model needs more than 1 KiB and less than 512 MiB.
  await assert.rejects(loadModel({ json, safetensors }, { memoryLimitMB: 1 / 1024 }), (e) => code('INVALID_CONFIG')(e) && /memory limit/.test(e.message));
  await assert.rejects(loadModel({ json, safetensors }, { memoryLimitMB: -1 }), code('INVALID_CONFIG'));
  (await loadModel({ json, safetensors }, { memoryLimitMB: 1 })).dispose();
});

test('mutated exports are typed errors or run, never a crash', async () => {
  await sdk.init({ backend: 'wasm', worker: false });
  const trained = await sdk.createModel({ inputShape: [1, 28, 28], numClasses: 10, conv: 'add' });
  const { json, safetensors } = await trained.exportModel();
  trained.dispose();
  // A sample of what tests/fuzz/export.rs does natively (100 000 per file there).
  let seed = 7;
  const rand = (n) => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed % n; };
  const x = new Float32Array(784).fill(0.5);
  const outcomes = {};
  for (let i = 0; i < 2000; i++) {
    let j = json, b = safetensors.slice();
    if (i % 2 === 0) {
      const chars = [...j];
      for (let k = 0; k <= rand(3); k++) chars[rand(chars.length)] = '"[]{},:-019e.x'[rand(14)];
      j = chars.join('');
    } else if (rand(2) === 0) {
      for (let k = 0; k <= rand(8); k++) b[rand(b.length)] = rand(256);
    } else {
      b = b.subarray(0, rand(b.length));
    }
    let outcome = 'ran';
    try {
      const m = await loadModel({ json: j, safetensors: b });
      m.predict(x, [1, 1, 28, 28], { engine: 'float' });
      m.quantize({ calibration: x, images: 1 });
      m.predict(x, [1, 1, 28, 28]);
      m.dispose();
    } catch (e) {
      assert.equal(e.name, 'ShiftAddAugError', `case ${i}: ${e}`);
      assert.ok(['INVALID_CONFIG', 'SHAPE_MISMATCH', 'NON_FINITE_INPUT'].includes(e.code), `case ${i}: ${e.code} ${e.message}`);
      outcome = e.code;
    }
    outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
  }
  assert.ok(outcomes.ran > 100 && outcomes.INVALID_CONFIG > 500, JSON.stringify(outcomes));
  // The module is still usable.
  (await loadModel({ json, safetensors })).dispose();
});

test('the inference module is small', async () => {
  const { size } = await stat(new URL('../../pkg/infer/shiftaddaug_bg.wasm', import.meta.url));
  assert.ok(size <= 300_000, `pkg/infer/shiftaddaug_bg.wasm is ${size} bytes`);
});
