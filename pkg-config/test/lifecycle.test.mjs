// The SDK in Node (in-thread): a stop keeps the work (fit rejects ABORTED with the history; the
// model predicts and exports; every phase reports progress and honours the signal), training-time
// validation reports the deployed model, and a wasm trap is a catchable BACKEND_LOST.
// The trap runs in a child process: a trapped module cannot run again in its process.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import * as sdk from '../../pkg/index.js';
import { code, spec, split } from '../fixtures/shared.mjs';

const zoo = (conv) => ({ model: 'mbv2-tiny', inputShape: [1, 28, 28], numClasses: 10, conv, spec, aug: { enabled: false } });

test('Stop during training keeps the model: ABORTED with history, BN re-estimated on a few images, predict and export work', async () => {
  await sdk.init({ backend: 'wasm', worker: false });
  const { x, y } = await split('train', 2048);
  const model = await sdk.createModel(zoo('add'));
  const controller = new AbortController();
  const phases = [];
  let batches = 0;
  // Epoch 1 completes (16 batches of 64 over 1024 images); the stop comes in epoch 2.
  const run = model.fit(x.subarray(0, 1024 * 784), y.subarray(0, 1024), {
    epochs: 3, batchSize: 64, signal: controller.signal,
    callbacks: { onBatchEnd: () => { if (++batches === 20) controller.abort(); }, onPhase: (p) => { phases.push(p); } },
  });
  const err = await run.then(() => null, (e) => e);
  assert.ok(err, 'fit resolved after a stop');
  code('ABORTED')(err);
  assert.deepEqual(err.history.epoch, [0], 'history holds the completed epoch');
  assert.equal(err.history.history.loss.length, 1);
  assert.equal(batches, 20, 'no batch ran after the stop');
  const bn = phases.filter((p) => p.phase === 'bnReestimation');
  // At most 500 images after a stop (Rust `BN_RESET_IMAGES_AFTER_STOP`) → 2 batches of 250.
  assert.deepEqual(bn.map((p) => [p.done, p.total]), [[0, 2], [1, 2], [2, 2]]);
  assert.ok(phases.some((p) => p.phase === 'training' && p.epoch === 1 && p.done === 4 && p.total === 16), 'training progress reported');
  const probs = await model.predict(x.subarray(0, 784 * 4), [4, 1, 28, 28]);
  assert.equal(probs.length, 40);
  assert.ok(probs.every(Number.isFinite));
  const { json } = await model.exportModel();
  assert.equal(JSON.parse(json).format, 'shiftaddaug-tiny/3');
  // The partly trained Add model is usable: above chance on held-out images after its BN re-estimation.
  const test = await split('t10k', 500);
  const ev = await model.evaluate(test.x, test.y);
  assert.ok(ev.acc > 0.15, `accuracy after stop ${ev.acc}`);
  model.dispose();
});

test('Stop during BN re-estimation keeps the batches done (at least two)', async () => {
  await sdk.init({ backend: 'wasm', worker: false });
  const { x, y } = await split('train', 1500);
  const model = await sdk.createModel(zoo('shift'));
  const controller = new AbortController();
  const bn = [];
  const err = await model.fit(x, y, {
    epochs: 1, batchSize: 250, signal: controller.signal, resetBn: 1500,
    callbacks: { onPhase: (p) => { if (p.phase === 'bnReestimation') { bn.push(p.done); if (p.done === 1) controller.abort(); } } },
  }).then(() => null, (e) => e);
  code('ABORTED')(err);
  assert.deepEqual(bn, [0, 1, 2], 'stops after the minimum of two batches of six');
  assert.deepEqual(err.history.epoch, [0]);
  assert.equal((await model.predict(x.subarray(0, 784), [1, 1, 28, 28])).length, 10);
  model.dispose();
});

test('validation during fit is the deployed model: valAcc agrees with evaluate() after fit within 2 pt (Add)', async () => {
  await sdk.init({ backend: 'wasm', worker: false });
  const { x, y } = await split('train', 1024);
  const test = await split('t10k', 1000);
  const model = await sdk.createModel(zoo('add'));
  const phases = [];
  const h = await model.fit(x, y, { epochs: 1, batchSize: 32, validationData: [test.x, test.y], resetBn: 1024, evalBnImages: 1024,
    callbacks: { onPhase: (p) => { if (p.phase !== 'training') phases.push(`${p.phase} ${p.done}/${p.total}`); } } });
  const after = await model.evaluate(test.x, test.y);
  console.log(`valAcc ${h.history.valAcc[0]}, evaluate() after fit ${after.acc}`);
  assert.ok(Math.abs(h.history.valAcc[0] - after.acc) < 0.02, `valAcc ${h.history.valAcc[0]} vs ${after.acc}`);
  assert.ok(after.acc > 0.15, `accuracy ${after.acc}`);
  assert.deepEqual(phases, ['validation 0/1', 'validation 1/1', 'bnReestimation 0/5', 'bnReestimation 1/5', 'bnReestimation 2/5',
    'bnReestimation 3/5', 'bnReestimation 4/5', 'bnReestimation 5/5']);
  model.dispose();
});

test('a wasm trap is a catchable BACKEND_LOST, later calls say what to do, the process lives on', () => {
  // In its own process, as a user's script: a trapped module cannot run again in that thread.
  const r = spawnSync(process.execPath, [fileURLToPath(new URL('../fixtures/trap.mjs', import.meta.url))], { encoding: 'utf8', timeout: 120_000 });
  assert.equal(r.status, 0, `exit ${r.status}: ${r.stderr}`);
  const seen = JSON.parse(r.stdout.trim().split('\n').at(-1));
  assert.equal(seen.trap.name, 'ShiftAddAugError');
  assert.equal(seen.trap.code, 'BACKEND_LOST');
  assert.match(seen.trap.message, /crashed/);
  assert.equal(seen.after, 'BACKEND_LOST');
  assert.equal(seen.create.code, 'BACKEND_LOST');
  assert.match(seen.create.message, /worker: true/);
});

// Soak: create → fit → predict → dispose, again and again (the small CNN and the MobileNetV2-Tiny
// supernet, direct and augmented, in turn; a leaked supernet would add megabytes a cycle): the wasm linear memory stops growing after the first
// cycles. SDK_SOAK_CYCLES sets the cycles (default 60; the full run is 200).
test('create → fit → predict → dispose cycles: wasm memory stops growing', { timeout: 900_000 }, async () => {
  const cycles = Number(process.env.SDK_SOAK_CYCLES ?? 60);
  await sdk.init({ backend: 'wasm', worker: false });
  const { x, y } = await split('train', 16);
  const curve = [];
  for (let i = 1; i <= cycles; i++) {
    const config = { inputShape: [1, 28, 28], numClasses: 10, conv: 'add', ...(i % 2 ? {} : { model: 'mbv2-tiny', aug: { enabled: i % 4 === 0 } }) };
    const m = await sdk.createModel(config);
    await m.fit(x, y, { epochs: 1, batchSize: 8, resetBn: 16 });
    assert.equal((await m.predict(x.subarray(0, 784), [1, 1, 28, 28])).length, 10);
    m.dispose();
    curve.push((await sdk._testMemory()) / 2 ** 20);
  }
  const at = (c) => curve[c - 1];
  console.log(`wasm memory (MiB) after cycles 1, 2, 4, 10, 20, ${cycles}: ${[1, 2, 4, 10, 20, cycles].map((c) => at(c).toFixed(1)).join(', ')}`);
  assert.ok(at(cycles) - at(20) <= 8, `memory grew from ${at(20).toFixed(1)} MiB after cycle 20 to ${at(cycles).toFixed(1)} MiB after ${cycles}`);
});
