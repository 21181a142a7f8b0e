// Persistence in Node (in-thread): model.save / loadModel to files, fit checkpoints, and a fit
// resumed from a checkpoint that gives the losses of the uninterrupted fit (wasm, one thread:
// the same operations in the same order, so the same bits); bad files and bad calls are typed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import * as sdk from '../../pkg/index.js';
import { code, spec, split } from '../fixtures/shared.mjs';

const mfcnn = { inputShape: [1, 28, 28], numClasses: 10, conv: 'shift', widths: [8, 16] };
const zoo = { model: 'mbv2-tiny', inputShape: [1, 28, 28], numClasses: 10, conv: 'add', spec, aug: { enabled: true } };
const fitOpts = { epochs: 2, batchSize: 32, optimizer: 'sgd', learningRate: 0.05, cropPadding: 2, horizontalFlip: true, resetBn: 0 };

/** Per-batch losses of `model.fit(x, y, opts)`; with `stopAt`, the fit is stopped after that many batches. */
async function losses(model, x, y, opts, stopAt = Infinity) {
  const out = [];
  const controller = new AbortController();
  const run = model.fit(x, y, { ...opts, signal: controller.signal, callbacks: { onBatchEnd: (_, l) => { out.push(l.loss); if (out.length === stopAt) controller.abort(); } } });
  const err = await run.then(() => null, (e) => e);
  if (stopAt === Infinity) assert.equal(err, null, `fit: ${err?.message}`);
  else code('ABORTED')(err);
  return out;
}

for (const [name, config, n, every, stopAt] of [['mfcnn', mfcnn, 320, 3, 14], ['mbv2-tiny with ShiftAddAug', zoo, 160, 2, 7]]) {
  test(`${name}: a fit resumed from its last checkpoint gives the uninterrupted fit's losses`, async () => {
    await sdk.init({ backend: 'wasm', worker: false });
    const dir = await mkdtemp(join(tmpdir(), 'sa-persist-'));
    const { x, y } = await split('train', n);
    const straight = await losses(await sdk.createModel(config, { seed: 5 }), x, y, fitOpts);
    const batches = straight.length / 2;
    // Interrupted after `stopAt` batches; the last checkpoint was taken after `every·⌊stopAt/every⌋`.
    const url = join(dir, 'run.saamodel');
    const first = await sdk.createModel(config, { seed: 5 });
    const before = await losses(first, x, y, { ...fitOpts, checkpointEvery: every, checkpointUrl: url }, stopAt);
    first.dispose();
    const saved = Math.floor(stopAt / every) * every;
    const resumed = await sdk.loadModel(url);
    const after = await losses(resumed, x, y, { ...fitOpts, resume: true });
    assert.deepEqual(before, straight.slice(0, stopAt));
    assert.equal(after.length, 2 * batches - saved, 'the fit continued after the checkpoint');
    assert.deepEqual(after, straight.slice(saved), 'the same losses, bit for bit');
    // A file:// URL and a save between fits (no position): resume is refused, a plain fit runs.
    const fileUrl = pathToFileURL(join(dir, 'after.saamodel')).href;
    await resumed.save(fileUrl);
    const again = await sdk.loadModel(fileUrl);
    await assert.rejects(again.fit(x, y, { ...fitOpts, resume: true }), code('INVALID_CONFIG'));
    assert.deepEqual(await again.predict(x.subarray(0, 2 * 784), [2, 1, 28, 28]), await resumed.predict(x.subarray(0, 2 * 784), [2, 1, 28, 28]));
    resumed.dispose();
    again.dispose();
  });
}

test('bad saves, loads and options are typed errors', async () => {
  await sdk.init({ backend: 'wasm', worker: false });
  const dir = await mkdtemp(join(tmpdir(), 'sa-persist-'));
  const { x, y } = await split('train', 64);
  const model = await sdk.createModel(mfcnn);
  await model.fit(x, y, { batchSize: 32, resetBn: 0 });
  const url = join(dir, 'm.saamodel');
  await model.save(url);
  const good = await readFile(url);
  await assert.rejects(sdk.loadModel(join(dir, 'missing.saamodel')), code('IO_ERROR'));
  await assert.rejects(sdk.removeModel(join(dir, 'missing.saamodel')), code('IO_ERROR'));
  const damaged = Uint8Array.from(good);
  damaged[damaged.length - 200] ^= 0x10;
  for (const [what, bytes] of [['damaged', damaged], ['truncated', good.subarray(0, good.length - 50)], ['not a model', new TextEncoder().encode('hello world, no model here')],
    ['a long description claim', Uint8Array.from([...new TextEncoder().encode('SAAMODEL'), 255, 255, 255, 127])]]) {
    const p = join(dir, `${what}.saamodel`);
    await writeFile(p, bytes);
    await assert.rejects(sdk.loadModel(p), code('INVALID_CONFIG'), what);
  }
  // A newer format version, and a checkpoint of another config, are refused.
  const n = new DataView(good.buffer, good.byteOffset).getUint32(8, true);
  const meta = JSON.parse(new TextDecoder().decode(good.subarray(12, 12 + n)));
  const retag = (m) => { const j = new TextEncoder().encode(JSON.stringify(m)); const b = new Uint8Array(12 + j.length + good.length - 12 - n);
    b.set(good.subarray(0, 8)); new DataView(b.buffer).setUint32(8, j.length, true); b.set(j, 12); b.set(good.subarray(12 + n), 12 + j.length); return b; };
  await writeFile(join(dir, 'v2.saamodel'), retag({ ...meta, version: 2 }));
  await assert.rejects(sdk.loadModel(join(dir, 'v2.saamodel')), code('INVALID_CONFIG'));
  await writeFile(join(dir, 'other.saamodel'), retag({ ...meta, config: { ...mfcnn, widths: [4, 8] } }));
  await assert.rejects(sdk.loadModel(join(dir, 'other.saamodel')), (e) => code('INVALID_CONFIG')(e) && /another model config/.test(e.message));
  // URLs and options.
  for (const bad of ['indexeddb://x', 'http://example.com/m', '', 42]) await assert.rejects(model.save(bad), code('INVALID_CONFIG'), String(bad));
  await assert.rejects(sdk.listModels(), code('INVALID_CONFIG'));
  for (const o of [{ checkpointEvery: 2 }, { checkpointUrl: url }, { checkpointEvery: 0, checkpointUrl: url }, { checkpointEvery: 1.5, checkpointUrl: url },
    { resume: true }, { resume: 'yes' }, { checkpointEvery: 1, checkpointUrl: 'indexeddb://x' },
    // In-thread, a trapped module cannot run again: no fallback.
    { fallback: 'wasm' }, { fallback: 'cpu' }]) {
    await assert.rejects(model.fit(x, y, { batchSize: 32, resetBn: 0, ...o }), code('INVALID_CONFIG'), JSON.stringify(o));
  }
  await sdk.removeModel(url);
  await assert.rejects(sdk.loadModel(url), code('IO_ERROR'));
  model.dispose();
  await assert.rejects(model.save(url), code('DISPOSED'));
});
