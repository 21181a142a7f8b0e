// Saving and resuming in headless Chromium: a fit with checkpoints to IndexedDB is cut short by
// a page reload; after the reload, loadModel + fit({ resume: true }) continue from the last
// checkpoint and give the losses of an uninterrupted fit at the same seed (the wasm backend in
// the SDK's worker computes the same operations in the same order; tolerance 1e-6 relative,
// 0 expected). listModels / removeModel see the saved run.
import { withDemoPage } from './demo-page.mjs';

const TOLERANCE = 1e-6;
const N = 320, BATCH = 32, EVERY = 3, RELOAD_AFTER = 14;
const config = { inputShape: [1, 28, 28], numClasses: 10, conv: 'shift', widths: [8, 16] };
const fitOpts = { epochs: 2, batchSize: BATCH, optimizer: 'sgd', learningRate: 0.05, cropPadding: 2, horizontalFlip: true, resetBn: 0 };
const URL_ = 'indexeddb://e2e-persist';

/** In the page: the first N Fashion-MNIST training images and labels. */
const loadData = async (n) => {
  const sdk = await import('./pkg/index.js');
  const idx = async (f) => sdk.parseIdx(new Uint8Array(await (await fetch(`./data/${f}`)).arrayBuffer()));
  const [im, lb] = [await idx('train-images-idx3-ubyte.gz'), await idx('train-labels-idx1-ubyte.gz')];
  const x = new Float32Array(n * 784);
  for (let i = 0; i < x.length; i++) x[i] = im.data[i] / 255;
  return { x, y: lb.data.slice(0, n) };
};

const t0 = Date.now();
const failures = await withDemoPage('backend=wasm', 300_000, async (page, errors) => {
  // 1. Start a fit with checkpoints and leave it running.
  await page.evaluate(async ({ config, fitOpts, url, every, n, loadSrc }) => {
    const sdk = await import('./pkg/index.js');
    await sdk.init({ backend: 'wasm', threads: 1 });
    await sdk.removeModel(url).catch(() => undefined);
    const { x, y } = await (0, eval)(loadSrc)(n);
    const m = await sdk.createModel(config, { seed: 5 });
    window.__losses = [];
    void m.fit(x, y, { ...fitOpts, checkpointEvery: every, checkpointUrl: url, callbacks: { onBatchEnd: (_, l) => { window.__losses.push(l.loss); } } });
  }, { config, fitOpts, url: URL_, every: EVERY, n: N, loadSrc: loadData.toString() });
  await page.waitForFunction((k) => (window.__losses?.length ?? 0) >= k, RELOAD_AFTER, { timeout: 120_000, polling: 20 });
  const before = await page.evaluate(() => window.__losses.slice());
  // 2. Reload mid-fit: the worker and its model are gone; IndexedDB keeps the last checkpoint.
  await page.reload();
  await page.waitForFunction(() => ['ready', 'error'].includes(document.body.dataset.state), null, { timeout: 60_000 });
  return page.evaluate(async ({ config, fitOpts, url, n, loadSrc, before, tolerance }) => {
    const sdk = await import('./pkg/index.js');
    await sdk.init({ backend: 'wasm', threads: 1 });
    const { x, y } = await (0, eval)(loadSrc)(n);
    const listed = (await sdk.listModels()).find((m) => m.url === url);
    const resumed = await sdk.loadModel(url);
    const after = [];
    await resumed.fit(x, y, { ...fitOpts, resume: true, callbacks: { onBatchEnd: (_, l) => { after.push(l.loss); } } });
    resumed.dispose();
    const straight = [];
    const fresh = await sdk.createModel(config, { seed: 5 });
    await fresh.fit(x, y, { ...fitOpts, callbacks: { onBatchEnd: (_, l) => { straight.push(l.loss); } } });
    fresh.dispose();
    await sdk.removeModel(url);
    const gone = await sdk.loadModel(url).then(() => 'loaded', (e) => e.code);
    const perEpoch = straight.length / 2;
    const saved = listed ? listed.position.epoch * perEpoch + listed.position.batch : -1;
    const rel = (a, b) => Math.max(0, ...a.map((v, i) => Math.abs(v - b[i]) / Math.max(Math.abs(b[i]), 1e-12)));
    const relAfter = rel(after, straight.slice(saved));
    const relBefore = rel(before, straight.slice(0, before.length));
    const summary = (`e2e-persist: reloaded after ${before.length} batches; resumed from batch ${saved} (step ${listed?.step}, ${listed?.bytes} bytes); `
      + `max relative loss difference ${relAfter.toExponential(2)} after the resume, ${relBefore.toExponential(2)} before`);
    return { summary, failures: [
      [!!listed && listed.step === saved, `listModels: ${JSON.stringify(listed)} (resume point ${saved})`],
      [saved > 0 && saved <= before.length && saved % 3 === 0, `last checkpoint at batch ${saved}, reload after ${before.length}`],
      [after.length === straight.length - saved, `resumed fit trained ${after.length} batches; expected ${straight.length - saved}`],
      [relAfter <= tolerance, `losses after the resume differ by ${relAfter} relative`],
      [relBefore <= tolerance, `losses before the reload differ by ${relBefore} relative`],
      [gone === 'IO_ERROR', `loadModel after removeModel: ${gone}`],
    ].filter(([ok]) => !ok).map(([, msg]) => msg) };
  }, { config, fitOpts, url: URL_, n: N, loadSrc: loadData.toString(), before, tolerance: TOLERANCE }).then(({ summary, failures: f }) => {
    console.log(summary);
    return [...f, ...(errors.length ? [`page errors: ${errors.join(' | ')}`] : [])];
  });
}, ['ready', 'error']);

for (const msg of failures) console.error(`e2e-persist FAILED: ${msg}`);
console.log(`e2e-persist: ${failures.length ? 'FAILED' : 'passed'} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
process.exit(failures.length ? 1 : 0);
