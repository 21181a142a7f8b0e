// Data-parallel training in headless Chromium: init({ threads: 2 }) trains each model in two
// workers, and 20 steps give the losses of one worker with microBatches: 2 at the same seed
// (the small MF CNN and the ShiftAddAug MobileNetV2-Tiny with adder convs), on a cross-origin
// isolated page (gradients on a SharedArrayBuffer) and on a plain one (transferred buffers).
// Bad thread counts are INVALID_CONFIG; a worker that dies mid-fit rejects the fit with
// BACKEND_LOST, ends its group, and the next createModel starts a fresh one.
import { withDemoPage, withPage } from './demo-page.mjs';

/** Largest relative loss difference allowed between 2 workers and 1 worker with 2 parts. */
const TOLERANCE = 1e-3;
const STEPS = 20;

/** Runs in the page: trains `config` for STEPS batches of 32 with each setting; returns the losses. */
async function compareInPage({ configs, steps }) {
  const sdk = await import('./pkg/index.js');
  await sdk.init({ backend: 'wasm', threads: 1 });
  const idx = async (n) => sdk.parseIdx(new Uint8Array(await (await fetch(`./data/${n}`)).arrayBuffer()));
  const [im, lb] = [await idx('train-images-idx3-ubyte.gz'), await idx('train-labels-idx1-ubyte.gz')];
  const n = steps * 32, x = new Float32Array(n * 784);
  for (let i = 0; i < x.length; i++) x[i] = im.data[i] / 255;
  const y = lb.data.slice(0, n);
  const run = async (threads, microBatches, config) => {
    const rt = await sdk.init({ backend: 'wasm', threads });
    const m = await sdk.createModel(config, { seed: 3 });
    const losses = [];
    let busy = null;
    const t0 = performance.now();
    await m.fit(x, y, {
      batchSize: 32, microBatches, optimizer: 'sgd', learningRate: 0.05, cropPadding: 2, horizontalFlip: true, resetBn: 256,
      callbacks: {
        onBatchEnd: (b, logs) => {
          losses.push(logs.loss);
          if (b === 2) busy = m.predict(x.subarray(0, 784), [1, 1, 28, 28]).then(() => 'resolved', (e) => e.code);
        },
      },
    });
    const secs = (performance.now() - t0) / 1000;
    // After the BN re-estimation on the same images the deployed models agree too.
    const probs = Array.from(await m.predict(x.subarray(0, 8 * 784), [8, 1, 28, 28]));
    m.dispose();
    return { threads: rt.threads, exchange: rt.gradientExchange, isolated: rt.crossOriginIsolated, losses, probs, busy: await busy, secs };
  };
  const out = [];
  for (const config of configs) out.push({ model: config.model ?? 'mfcnn', one: await run(1, 2, config), two: await run(2, 1, config) });
  return out;
}

const relDiff = (a, b) => Math.max(...a.map((v, i) => Math.abs(v - b[i]) / Math.max(Math.abs(v), 1e-12)));

function checkPair(r, exchange) {
  const { one, two } = r;
  const rel = relDiff(one.losses, two.losses);
  const probDiff = Math.max(...one.probs.map((p, i) => Math.abs(p - two.probs[i])));
  console.log(`e2e-threads ${r.model} (${exchange}): 1 worker ${one.secs.toFixed(1)} s, 2 workers ${two.secs.toFixed(1)} s; `
    + `max relative loss difference ${rel.toExponential(2)} over ${one.losses.length} steps; max probability difference ${probDiff.toExponential(2)}`);
  return [
    [one.threads === 1 && two.threads === 2, `threads: ${one.threads}, ${two.threads}`],
    [two.exchange === exchange && (exchange === 'shared') === two.isolated, `exchange ${two.exchange}, isolated ${two.isolated}`],
    [one.losses.length === STEPS && two.losses.length === STEPS, `steps: ${one.losses.length}, ${two.losses.length}`],
    [rel <= TOLERANCE, `${r.model}: losses differ by ${rel} relative (> ${TOLERANCE})`],
    [probDiff <= 1e-4, `${r.model}: predictions differ by ${probDiff}`],
    [two.busy === 'BUSY', `predict during a 2-worker fit: ${two.busy}`],
  ];
}

const mfcnn = { inputShape: [1, 28, 28], numClasses: 10, conv: 'shift' };
const mbv2 = { model: 'mbv2-tiny', inputShape: [1, 28, 28], numClasses: 10, conv: 'add', aug: { enabled: true } };
const t0 = Date.now();

const isolated = await withDemoPage('backend=wasm', 600_000, async (page, errors) => {
  const pairs = await page.evaluate(compareInPage, { configs: [mfcnn, mbv2], steps: STEPS });
  const bad = await page.evaluate(async () => {
    const sdk = await import('./pkg/index.js');
    const codes = [];
    for (const threads of [0, 17, 1.5, 'two']) codes.push(await sdk.init({ backend: 'wasm', threads }).then(() => 'resolved', (e) => e.code));
    await sdk.init({ backend: 'wasm', threads: 2 });
    const parts = await sdk.createModel({ inputShape: [1, 28, 28], numClasses: 10 }, { microBatches: 2 }).then(() => 'resolved', (e) => e.code);
    return { codes, parts };
  });
  // A worker of the group dies mid-fit: the fit rejects, nothing hangs, the next model is fresh.
  const crash = await page.evaluate(async () => {
    const sdk = await import('./pkg/index.js');
    await sdk.init({ backend: 'wasm', threads: 2 });
    const cfg = { inputShape: [1, 28, 28], numClasses: 10, widths: [4, 8] };
    const m = await sdk.createModel(cfg);
    const x = new Float32Array(640 * 784).fill(0.5), y = new Int32Array(640);
    const t = performance.now();
    const result = await m.fit(x, y, { batchSize: 32, epochs: 50, callbacks: { onBatchEnd: (b) => { if (b === 3) m._testCrashWorker(1); } } })
      .then(() => 'resolved', (e) => `${e.code}: ${e.message}`);
    const ms = performance.now() - t;
    const after = await m.predict(x.subarray(0, 784), [1, 1, 28, 28]).then(() => 'resolved', (e) => e.code);
    const fresh = await sdk.createModel(cfg);
    const h = await fresh.fit(x.subarray(0, 64 * 784), y.subarray(0, 64), { batchSize: 32, resetBn: 0 });
    fresh.dispose();
    return { result, ms, after, freshLoss: h.history.loss[0], threads: sdk.runtimeInfo().threads };
  });
  console.log(`e2e-threads bad input: ${JSON.stringify(bad)}; crash: ${JSON.stringify(crash)}`);
  const pageErrors = errors.filter((e) => !/testCrash/.test(e));
  return [
    ...pairs.flatMap((r) => checkPair(r, 'shared')),
    [bad.codes.every((c) => c === 'INVALID_CONFIG'), `bad thread counts: ${bad.codes}`],
    [bad.parts === 'INVALID_CONFIG', `microBatches with 2 workers: ${bad.parts}`],
    [/^BACKEND_LOST: /.test(crash.result) && crash.ms < 30_000, `fit after a worker crash: ${crash.result} after ${crash.ms} ms`],
    [crash.after === 'BACKEND_LOST', `the crashed group's model: ${crash.after}`],
    [Number.isFinite(crash.freshLoss) && crash.threads === 2, `fresh group: ${JSON.stringify(crash)}`],
    [pageErrors.length === 0, `page errors: ${pageErrors.join(' | ')}`],
  ].filter(([ok]) => !ok).map(([, msg]) => msg);
}, ['ready', 'error']);

const plain = await withPage('', 'backend=wasm', 600_000, async (page, errors) => {
  const pairs = await page.evaluate(compareInPage, { configs: [mfcnn], steps: STEPS });
  return [
    ...pairs.flatMap((r) => checkPair(r, 'transfer')),
    [errors.length === 0, `page errors: ${errors.join(' | ')}`],
  ].filter(([ok]) => !ok).map(([, msg]) => msg);
}, ['ready', 'error'], false);

const failures = [...isolated, ...plain];
for (const msg of failures) console.error(`e2e-threads FAILED: ${msg}`);
console.log(`e2e-threads: ${failures.length ? 'FAILED' : 'passed'} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
process.exit(failures.length ? 1 : 0);
