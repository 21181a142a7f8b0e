// ShiftAddAug from the SDK (Node, in-thread wasm CPU): the augmented MobileNetV2-style
// supernet trains through `fit` with augmentation options, its per-step losses agree with the
// native CLI at the same seed (`shiftaddaug trace`), random crop and flip included, BN reset and export work, and bad
// augmentation options are typed errors. Needs the native binary: SHIFTADDAUG_BIN or
// target/release/shiftaddaug (scripts/test.sh builds it first).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as sdk from '../../pkg/index.js';
import { loadModel } from '../../pkg/infer.js';
import { code, spec, split } from '../fixtures/shared.mjs';

const BIN = process.env.SHIFTADDAUG_BIN ?? new URL('../../target/release/shiftaddaug', import.meta.url).pathname;

test('augmented training matches the native run at the same seed', async () => {
  await sdk.init({ backend: 'wasm', worker: false });
  const N = 256;
  const { x, y } = await split('train', N);
  const test = await split('t10k', 500);
  for (const conv of ['shift', 'add']) {
    const modelCfg = { inputShape: [1, 28, 28], numClasses: 10, conv, spec, aug: { seed: 3 } };
    // Random crop (padding 2) and flip on both sides: the draws depend only on (seed, epoch,
    // batch), so the SDK's batches are the native ones pixel for pixel.
    const trainCfg = { batchSize: 32, seed: 3, totalSteps: 16, cropPadding: 2, horizontalFlip: true };
    const trace = (tc, epochs) => JSON.parse(execFileSync(BIN, ['trace', JSON.stringify(modelCfg), JSON.stringify(tc), String(N), String(epochs)]).toString());
    const native = trace(trainCfg, 2);
    const plain = trace({ batchSize: 32, seed: 3, totalSteps: 16 }, 1);
    // At init every loss is near ln 10, so crop/flip move the first loss by only ~0.1 %; that is
    // still 10× the 1e-5 agreement of two runs on the same images asserted below.
    assert.ok(Math.abs(plain.losses[0] - native.losses[0]) > 1e-4 * native.losses[0], `${conv}: crop/flip change the first batch (${plain.losses[0]} vs ${native.losses[0]})`);
    const model = await sdk.createModel({ model: 'mbv2-tiny', ...modelCfg }, trainCfg);
    const losses = [];
    await model.fit(x, y, { epochs: 2, ...trainCfg, resetBn: N, callbacks: { onBatchEnd: (_, l) => { losses.push(l.loss); } } });
    assert.equal(losses.length, native.losses.length);
    // Same initial weights, data order and sampled architectures: the first loss agrees to
    // float rounding. Later steps drift apart slowly (Flex's gemm/conv sum in a different
    // order natively, with rayon, and PoT rounding turns tiny differences into weight flips):
    // measured ≤ 0.5 % after 16 steps, so the tolerance is 1.5 %.
    assert.ok(Math.abs(losses[0] - native.losses[0]) <= 1e-5 * native.losses[0], `${conv} step 0: ${losses[0]} vs ${native.losses[0]}`);
    losses.forEach((l, i) => assert.ok(Math.abs(l - native.losses[i]) <= 0.015 * Math.abs(native.losses[i]),
      `${conv} step ${i}: wasm loss ${l}, native ${native.losses[i]}`));
    const ev = await model.evaluate(test.x, test.y);
    // Held-out accuracy on 500 images at ~20–30 % has a binomial SD of ~0.02 per run, and the
    // rounding drift above changes which images land right: measured gaps up to 0.032 (Add).
    assert.ok(Math.abs(ev.acc - native.accuracy) <= 0.05, `${conv}: wasm accuracy ${ev.acc}, native ${native.accuracy}`);
    const { json, safetensors } = await model.exportModel();
    assert.equal(JSON.parse(json).format, 'shiftaddaug-tiny/3');
    assert.ok(safetensors instanceof Uint8Array && safetensors.length > 1000);
    model.dispose();
  }
});

test('zoo models by name: MobileNetV3-0.35 (SE, h-swish) with Add, Add stem and Add classifier trains augmented and exports', async () => {
  await sdk.init({ backend: 'wasm', worker: false });
  const { x, y } = await split('train', 32);
  const model = await sdk.createModel({ model: 'mobilenetv3-0.35', inputShape: [1, 28, 28], numClasses: 10, conv: 'add', stemConv: 'add', classifier: 'add', aug: { enabled: true } });
  const h = await model.fit(x, y, { epochs: 1, batchSize: 32, resetBn: 32 });
  assert.ok(Number.isFinite(h.history.loss[0]), `loss ${h.history.loss}`);
  const { json } = await model.exportModel();
  const doc = JSON.parse(json);
  assert.equal(doc.format, 'shiftaddaug-tiny/3');
  assert.ok(doc.layers.some((l) => l.act === 'hswish') && doc.config.spec.finalConv === 1280 && doc.config.spec.blocks.some((b) => b.se));
  const [first, last] = [doc.layers[0], doc.layers[doc.layers.length - 1]];
  assert.deepEqual([first.name, first.kind, last.name, last.kind, last.channels], ['stem', 'add', 'classifier', 'add', [1280, 10]]);
  // The inference module runs it: its f32 reference gives the trained model's probabilities,
  // and the integer engine (h-swish, squeeze-and-excitation, the final conv) runs it too.
  const want = await model.predict(x, [32, 1, 28, 28]);
  const deployed = await loadModel(await model.exportModel());
  const float = deployed.predict(x, [32, 1, 28, 28]);
  const err = float.reduce((e, p, i) => Math.max(e, Math.abs(p - want[i])), 0);
  assert.ok(err < 1e-3, `f32 reference vs the trained model: ${err}`);
  deployed.quantize({ calibration: x, images: 32 });
  const int = deployed.predict(x, [32, 1, 28, 28]);
  assert.ok(int.length === 320 && int.every((p) => p >= 0 && p <= 1), 'integer probabilities');
  deployed.dispose();
  model.dispose();
  await assert.rejects(sdk.createModel({ model: 'mcunet', inputShape: [1, 28, 28], numClasses: 10, conv: 'shift', classifier: 'conv' }), code('INVALID_CONFIG'));
});

test('augmentation options: changeable in fit, fixed ones rejected, mfcnn has none', async () => {
  await sdk.init({ backend: 'wasm', worker: false });
  const { x, y } = await split('train', 64);
  const model = await sdk.createModel({ model: 'mbv2-tiny', inputShape: [1, 28, 28], numClasses: 10, conv: 'shift', spec });
  await model.fit(x, y, { epochs: 1, batchSize: 32, aug: { mode: 'H2', alpha: 0.5 }, resetBn: 0 });
  await assert.rejects(model.fit(x, y, { aug: { widthList: [1, 3] } }), code('INVALID_CONFIG'));
  await assert.rejects(model.fit(x, y, { aug: { mode: 'H9' } }), code('INVALID_CONFIG'));
  await assert.rejects(model.fit(x, y, { aug: { alpha: -1 } }), code('INVALID_CONFIG'));
  // Stage 1 of the search: sub-network passes are a fit option too.
  const sub = await model.fit(x, y, { epochs: 1, batchSize: 32, aug: { subnets: 2, subnetShrink: [0.5], subnetAlpha: 0.3 }, resetBn: 0 });
  assert.ok(Number.isFinite(sub.history.loss.at(-1)), JSON.stringify(sub));
  await assert.rejects(model.fit(x, y, { aug: { subnets: 9 } }), code('INVALID_CONFIG'));
  await assert.rejects(model.fit(x, y, { aug: { subnetShrink: [1.5] } }), code('INVALID_CONFIG'));
  // Elastic kernels shape the stored banks: fixed at creation.
  await assert.rejects(model.fit(x, y, { aug: { subnetKernels: [5] } }), (e) => code('INVALID_CONFIG')(e) && /subnetKernels and subnetOpBn \(with its subnetOps\) are fixed/.test(e.message));
  const elastic = await sdk.createModel({ model: 'mbv2-tiny', inputShape: [1, 28, 28], numClasses: 10, conv: 'shift', spec, aug: { subnets: 1, subnetKernels: [5, 7] } });
  const ek = await elastic.fit(x, y, { epochs: 1, batchSize: 32, resetBn: 0 });
  assert.ok(Number.isFinite(ek.history.loss.at(-1)), JSON.stringify(ek));
  const ekLayers = JSON.parse((await elastic.exportModel()).json).layers;
  const dw = ekLayers.find((l) => l.name === 'blocks.0.depthwise');
  assert.equal(dw?.kernel, spec.blocks[0].kernel, 'the export has the tiny model\'s kernel, the centre of the 7×7 bank');
  elastic.dispose();
  await assert.rejects(sdk.createModel({ model: 'mbv2-tiny', inputShape: [1, 28, 28], numClasses: 10, conv: 'shift', spec, aug: { subnets: 1, subnetKernels: [4] } }), code('INVALID_CONFIG'));
  // Operators per block in the sub-networks: Add blocks in a Shift supernet; Mult is refused.
  const mixedOps = await model.fit(x, y, { epochs: 1, batchSize: 32, aug: { subnets: 1, subnetOps: ['add'] }, resetBn: 0 });
  assert.ok(Number.isFinite(mixedOps.history.loss.at(-1)), JSON.stringify(mixedOps));
  await assert.rejects(model.fit(x, y, { aug: { subnetOps: ['mult'] } }), (e) => code('INVALID_CONFIG')(e) && /valid: shift, add/.test(e.message));
  // A BatchNorm per operator: parameters of their own, fixed at creation; it needs subnetOps.
  await assert.rejects(model.fit(x, y, { aug: { subnetOps: ['add'], subnetOpBn: true } }), (e) => code('INVALID_CONFIG')(e) && /are fixed/.test(e.message));
  const opBn = await sdk.createModel({ model: 'mbv2-tiny', inputShape: [1, 28, 28], numClasses: 10, conv: 'shift', spec, aug: { subnets: 1, subnetOps: ['add'], subnetOpBn: true } });
  // The second BatchNorms are the sub-networks': the deployed model's parameters are the same.
  const shared = await sdk.createModel({ model: 'mbv2-tiny', inputShape: [1, 28, 28], numClasses: 10, conv: 'shift', spec, aug: { subnets: 1, subnetOps: ['add'] } });
  assert.equal(opBn.numParams, shared.numParams);
  shared.dispose();
  const ob = await opBn.fit(x, y, { epochs: 1, batchSize: 32, resetBn: 0 });
  assert.ok(Number.isFinite(ob.history.loss.at(-1)), JSON.stringify(ob));
  await assert.rejects(opBn.fit(x, y, { aug: { subnetOps: ['shift'] } }), (e) => code('INVALID_CONFIG')(e) && /are fixed/.test(e.message));
  opBn.dispose();
  await assert.rejects(sdk.createModel({ model: 'mbv2-tiny', inputShape: [1, 28, 28], numClasses: 10, conv: 'shift', spec, aug: { subnets: 1, subnetOpBn: true } }),
    (e) => code('INVALID_CONFIG')(e) && /needs subnetOps/.test(e.message));
  await assert.rejects(model.fit(x, y, { aug: { enabled: false, subnets: 1 } }), (e) => code('INVALID_CONFIG')(e) && /direct training \(enabled: false\)/.test(e.message));
  await assert.rejects(sdk.createModel({ model: 'resnet', inputShape: [1, 28, 28], numClasses: 10 }), code('INVALID_CONFIG'));
  await assert.rejects(sdk.createModel({ model: 'mbv2-tiny', inputShape: [1, 28, 28], numClasses: 10, conv: 'shift', aug: { expandList: [] } }), code('INVALID_CONFIG'));
  // Operators per block: block 1 all Mult, block 2 an Add depthwise; an unknown block field is refused.
  const mixed = { ...spec, blocks: spec.blocks.map((b, i) => (i === 1 ? { ...b, conv: 'mult' } : i === 2 ? { ...b, depthwise: 'add' } : b)) };
  const mm = await sdk.createModel({ model: 'mbv2-tiny', inputShape: [1, 28, 28], numClasses: 10, conv: 'shift', spec: mixed, aug: { enabled: false } });
  await mm.fit(x, y, { epochs: 1, batchSize: 32, resetBn: 0 });
  const kinds = Object.fromEntries(JSON.parse((await mm.exportModel()).json).layers.map((l) => [l.name, l.kind]));
  assert.deepEqual([1, 2].flatMap((i) => ['expand', 'depthwise', 'project'].map((n) => kinds[`blocks.${i}.${n}`])), ['mult', 'mult', 'mult', 'shift', 'add', 'shift']);
  mm.dispose();
  const typo = { ...spec, blocks: [{ ...spec.blocks[0], op: 'mult' }, ...spec.blocks.slice(1)] };
  await assert.rejects(sdk.createModel({ model: 'mbv2-tiny', inputShape: [1, 28, 28], numClasses: 10, conv: 'shift', spec: typo }), code('INVALID_CONFIG'));
  const mf = await sdk.createModel({ inputShape: [1, 28, 28], numClasses: 10, widths: [4, 8] });
  await assert.rejects(mf.fit(x, y, { aug: { alpha: 1 } }), code('INVALID_CONFIG'));
  // 'mfcnn' exports too (docs/FORMAT.md, family 'mfcnn').
  const files = await mf.exportModel();
  const doc = JSON.parse(files.json);
  assert.deepEqual([doc.format, doc.model, doc.layers.map((l) => l.name), doc.classes], ['shiftaddaug-tiny/3', 'mfcnn', ['stem', 'layers.0'], 10]);
  assert.ok(files.safetensors instanceof Uint8Array && files.safetensors.length > 4 * (14 * 14 * 8 * 10));
  model.dispose(); mf.dispose();
});
