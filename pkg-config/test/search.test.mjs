// Architecture search from the SDK (Node, in-thread wasm CPU): a small supernet trained with
// augmentation is searched under a MAC limit on held-out training images; every candidate meets
// the limit, the callbacks report each generation and candidate, the same seed gives the same
// search, a stop keeps the result so far, the best's plan trains and exports, the best's export
// with the supernet's weights scores in the inference module as it scored in the search, and bad
// input is a typed error.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as sdk from '../../pkg/index.js';
import { loadModel } from '../../pkg/infer.js';
import { code, spec, split } from '../fixtures/shared.mjs';

const base = { model: 'mbv2-tiny', inputShape: [1, 28, 28], numClasses: 10, conv: 'shift', spec };

test('search: limits, callbacks, seed, stop, plan', async () => {
  await sdk.init({ backend: 'wasm', worker: false });
  const all = await split('train', 600);
  const part = (a, b) => [all.x.slice(a * 784, b * 784), all.y.slice(a, b)];
  const [x, y] = part(0, 256);
  const bnData = part(400, 500);
  const evalData = part(500, 600);
  const model = await sdk.createModel({ ...base, aug: { enabled: true, seed: 1 } }, { seed: 1 });
  await model.fit(x, y, { epochs: 1, batchSize: 32, resetBn: 0 });

  const gens = [];
  let candidates = 0;
  const opts = { bnData, evalData, population: 4, generations: 1, seed: 2 };
  const free = await model.search({ ...opts, callbacks: { onGeneration: (g, best) => { gens.push([g, best.accuracy]); }, onCandidate: () => { candidates += 1; } } });
  assert.deepEqual(gens.map((g) => g[0]), [0, 1], 'one report per generation');
  assert.equal(candidates, free.evaluated.length);
  assert.equal(free.stopped, false);
  assert.ok(free.evaluated.every((c) => c.accuracy >= 0 && c.accuracy <= 1 && c.cost.macs > 0 && c.cost.energyPj > 0 && c.plan.blocks.length === 3));
  assert.ok(free.evaluated.every((c) => c.accuracy <= free.best.accuracy));
  assert.ok(free.front.every((c, i) => i === 0 || (c.cost.macs > free.front[i - 1].cost.macs && c.accuracy > free.front[i - 1].accuracy)));
  assert.deepEqual(await model.search(opts), { ...free }, 'same seed, same search');

  // The best with the supernet's weights: its export has the best's plan, and the inference
  // module's f32 reference (BatchNorm folded) scores it on evalData as the search did.
  const doc0 = JSON.parse(free.export.json);
  assert.deepEqual(doc0.config.spec, free.best.plan);
  const deployed = await loadModel(free.export);
  const probs = deployed.predict(evalData[0], [100, 1, 28, 28], { engine: 'float' });
  let right = 0;
  for (let i = 0; i < 100; i++) {
    const r = probs.subarray(i * 10, i * 10 + 10);
    right += r.indexOf(Math.max(...r)) === evalData[1][i];
  }
  assert.equal(Math.fround(right / 100), free.best.accuracy, 'the export scores as its candidate (accuracy is an f32)');
  deployed.dispose();

  // A MAC limit between the cheapest and the dearest candidate seen: every candidate meets it.
  const macs = free.evaluated.map((c) => c.cost.macs).sort((a, b) => a - b);
  const limit = macs[Math.floor(macs.length / 2)];
  const bounded = await model.search({ ...opts, maxMacs: limit });
  assert.ok(bounded.evaluated.length >= 2 && bounded.evaluated.every((c) => c.cost.macs <= limit), JSON.stringify(bounded.evaluated.map((c) => c.cost)));
  // A latency limit: every candidate carries its latency predicted on this machine.
  const timed = await model.search({ ...opts, maxLatencyMs: 1000 });
  assert.ok(timed.evaluated.every((c) => c.cost.latencyNs > 0 && c.cost.latencyNs <= 1e9), JSON.stringify(timed.evaluated.map((c) => c.cost)));
  assert.ok(free.evaluated.every((c) => c.cost.latencyNs === undefined), 'no latency without a latency limit');
  // The same on the float model's table (this model's wasm backend): the same candidates (the
  // limit admits all), each with a predicted latency; the seed gives the same search.
  const float = await model.search({ ...opts, maxLatencyMs: 1000, latencyEngine: 'float' });
  assert.deepEqual(float.evaluated.map((c) => c.genome), timed.evaluated.map((c) => c.genome));
  assert.ok(float.evaluated.every((c) => c.cost.latencyNs > 0 && c.cost.latencyNs <= 1e9), JSON.stringify(float.evaluated.map((c) => c.cost)));
  // The same with a peak-memory limit.
  const peaks = free.evaluated.map((c) => c.cost.peakActivation).sort((a, b) => a - b);
  assert.ok(peaks[0] > 0, JSON.stringify(peaks));
  const peakLimit = peaks[Math.floor(peaks.length / 2)];
  const lean = await model.search({ ...opts, maxPeakActivation: peakLimit });
  assert.ok(lean.evaluated.length >= 2 && lean.evaluated.every((c) => c.cost.peakActivation <= peakLimit), JSON.stringify(lean.evaluated.map((c) => c.cost)));

  // A stop after the first candidate keeps what was scored.
  const ac = new AbortController();
  const stopped = await model.search({ ...opts, signal: ac.signal, callbacks: { onCandidate: () => ac.abort() } });
  assert.equal(stopped.stopped, true);
  assert.equal(stopped.evaluated.length, 1);
  assert.deepEqual(stopped.best, stopped.evaluated[0]);
  assert.equal(JSON.parse(stopped.export.json).format, 'shiftaddaug-tiny/3');

  // The best's plan is an architecture createModel trains and exports.
  const planned = await sdk.createModel({ ...base, spec: free.best.plan, aug: { enabled: true } });
  await planned.fit(x.slice(0, 32 * 784), y.slice(0, 32), { epochs: 1, batchSize: 32, resetBn: 32 });
  const doc = JSON.parse((await planned.exportModel()).json);
  assert.equal(doc.format, 'shiftaddaug-tiny/3');
  planned.dispose();

  // `depth`: candidates may leave the block with a shortcut to the augmented model; such a plan
  // trains, and its export has the blocks it kept.
  const deep = await model.search({ ...opts, depth: true, population: 8, generations: 0 });
  const left = (c) => c.plan.blocks.filter((b) => b.augOnly === true).length;
  const shallow = deep.evaluated.find((c) => left(c) > 0);
  assert.ok(shallow, JSON.stringify(deep.evaluated.map((c) => c.plan.blocks)));
  assert.ok(free.evaluated.every((c) => left(c) === 0), 'no depth genes without depth');
  const cut = await sdk.createModel({ ...base, spec: shallow.plan, aug: { enabled: true } });
  await cut.fit(x.slice(0, 32 * 784), y.slice(0, 32), { epochs: 1, batchSize: 32, resetBn: 32 });
  assert.equal(JSON.parse((await cut.exportModel()).json).config.spec.blocks.length, 3 - left(shallow));
  cut.dispose();

  // Bad input.
  await assert.rejects(model.search({ ...opts, depth: 'yes' }), code('INVALID_CONFIG'));
  await assert.rejects(model.search({ ...opts, maxMacs: 1 }), (e) => code('INVALID_CONFIG')(e) && /no architecture meets MACs <= 1: the cheapest has/.test(e.message));
  await assert.rejects(model.search({ ...opts, populaton: 4 }), (e) => code('INVALID_CONFIG')(e) && /populaton/.test(e.message));
  await assert.rejects(model.search({ ...opts, population: 1 }), code('INVALID_CONFIG'));
  await assert.rejects(model.search({ ...opts, maxEnergyUj: -1 }), code('INVALID_CONFIG'));
  await assert.rejects(model.search({ ...opts, maxPeakActivation: 1 }), (e) => code('INVALID_CONFIG')(e) && /peak activation <= 1 values/.test(e.message));
  await assert.rejects(model.search({ ...opts, maxPeakActivation: -5 }), code('INVALID_CONFIG'));
  await assert.rejects(model.search({ ...opts, maxLatencyMs: 1e-6 }), (e) => code('INVALID_CONFIG')(e) && /no architecture meets latency <= 0.000 ms/.test(e.message));
  await assert.rejects(model.search({ ...opts, maxLatencyMs: 0 }), (e) => code('INVALID_CONFIG')(e) && /maxLatencyMs 0 must be a positive number/.test(e.message));
  await assert.rejects(model.search({ ...opts, maxLatencyMs: 1e-6, latencyEngine: 'float' }), (e) => code('INVALID_CONFIG')(e) && /no architecture meets latency/.test(e.message));
  await assert.rejects(model.search({ ...opts, maxLatencyMs: 1, latencyEngine: 'gpu' }), (e) => code('INVALID_CONFIG')(e) && /latencyEngine|gpu/.test(e.message));
  await assert.rejects(model.search({ ...opts, evalData: undefined }), code('INVALID_DATASET'));
  await assert.rejects(model.search({ ...opts, evalData: [evalData[0].slice(1), evalData[1]] }), code('SHAPE_MISMATCH'));
  await assert.rejects(model.search(), code('INVALID_CONFIG'));
  const ac2 = new AbortController();
  ac2.abort();
  await assert.rejects(model.search({ ...opts, signal: ac2.signal }), code('ABORTED'));
  // The model is still usable after every refusal.
  assert.equal((await model.evaluate(evalData[0], evalData[1])).count, 100);
  model.dispose();

  const direct = await sdk.createModel({ ...base, aug: { enabled: false } });
  await assert.rejects(direct.search(opts), (e) => code('INVALID_CONFIG')(e) && /augmentation/.test(e.message));
  direct.dispose();
  const mf = await sdk.createModel({ inputShape: [1, 28, 28], numClasses: 10 });
  await assert.rejects(mf.search(opts), (e) => code('INVALID_CONFIG')(e) && /mfcnn/.test(e.message));
  mf.dispose();
});
