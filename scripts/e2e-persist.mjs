// Saving and resuming in headless Chromium: a fit with checkpoints to IndexedDB is cut short by
// a page reload; after the reload, loadModel + fit({ resume: true }) continue from the last
// checkpoint and give the losses of an uninterrupted fit at the same seed (the wasm backend in
// the SDK's worker computes the same operations in the same order; tolerance 1e-6 relative,
// 0 expected). listModels / removeModel see the saved run. Then the worker is crashed mid-fit
// (test hook): without `fallback` the fit rejects with BACKEND_LOST naming its last checkpoint;
// with `fallback: 'wasm'` it goes on from that checkpoint in a new worker (onFallback reports it)
// and gives the uninterrupted fit's losses from there.
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
    // The worker crashes after 8 batches were reported (it dies a few batches later, when it reads the message).
    const crashUrl = url + '-crash';
    const crashRun = async (fallback) => {
      const m = await sdk.createModel(config, { seed: 5 });
      const losses = [], switched = [], checkpoints = [];
      let crashed = false;
      const result = await m.fit(x, y, { ...fitOpts, checkpointEvery: 3, checkpointUrl: crashUrl, ...(fallback ? { fallback: 'wasm' } : {}), callbacks: {
        onBatchEnd: (_, l) => { losses.push(l.loss); if (losses.length === 8 && !crashed) { crashed = true; m._testCrashWorker(0); } },
        onFallback: (info) => { switched.push(info); }, onCheckpoint: (c) => { checkpoints.push(c); },
      } }).then((h) => ({ epochs: h.epoch }), (e) => ({ code: e.code, checkpoint: e.checkpoint }));
      const probe = await m.predict(x.subarray(0, 784), [1, 1, 28, 28]).then((p) => p.length, (e) => e.code);
      m.dispose();
      return { losses, switched, checkpoints, result, probe, backend: m.backend };
    };
    const noFallback = await crashRun(false);
    const withFallback = await crashRun(true);
    await sdk.removeModel(crashUrl);
    const sw = withFallback.switched[0];
    const from = sw ? sw.checkpoint.epoch * perEpoch + sw.checkpoint.batch : -1;
    const seen = withFallback.losses.length - (straight.length - from);
    const relFallback = sw ? Math.max(rel(withFallback.losses.slice(seen), straight.slice(from)), rel(withFallback.losses.slice(0, seen), straight)) : Infinity;
    const lastCk = noFallback.checkpoints.at(-1);
    const relAfter = rel(after, straight.slice(saved));
    const relBefore = rel(before, straight.slice(0, before.length));
    const summary = (`e2e-persist: reloaded after ${before.length} batches; resumed from batch ${saved} (step ${listed?.step}, ${listed?.bytes} bytes); `
      + `max relative loss difference ${relAfter.toExponential(2)} after the resume, ${relBefore.toExponential(2)} before; `
      + `crash without fallback: ${JSON.stringify(noFallback.result)}; with fallback: switched at ${JSON.stringify(sw?.checkpoint)} after ${seen} batches, `
      + `max relative loss difference ${relFallback.toExponential(2)}`);
    return { summary, failures: [
      [!!listed && listed.step === saved, `listModels: ${JSON.stringify(listed)} (resume point ${saved})`],
      // The worker may train (and save) a batch or two more than the page had heard of at the reload.
      [saved > 0 && saved % 3 === 0 && saved < straight.length, `last checkpoint at batch ${saved}, reload after ${before.length}`],
      [after.length === straight.length - saved, `resumed fit trained ${after.length} batches; expected ${straight.length - saved}`],
      [relAfter <= tolerance, `losses after the resume differ by ${relAfter} relative`],
      [relBefore <= tolerance, `losses before the reload differ by ${relBefore} relative`],
      [gone === 'IO_ERROR', `loadModel after removeModel: ${gone}`],
      [noFallback.result.code === 'BACKEND_LOST' && !!lastCk && JSON.stringify(noFallback.result.checkpoint) === JSON.stringify(lastCk),
        `crash without fallback: ${JSON.stringify(noFallback.result)}, last checkpoint ${JSON.stringify(lastCk)}`],
      [noFallback.probe === 'BACKEND_LOST' && noFallback.switched.length === 0, `the crashed model: ${noFallback.probe}`],
      [Array.isArray(withFallback.result.epochs) && withFallback.switched.length === 1 && sw.to === 'wasm' && sw.checkpoint.url === crashUrl,
        `crash with fallback: ${JSON.stringify(withFallback.result)}, switches ${JSON.stringify(withFallback.switched)}`],
      [withFallback.probe === 10 && withFallback.backend === 'wasm', `the model after the fallback: ${withFallback.probe} on ${withFallback.backend}`],
      [relFallback <= tolerance, `losses around the fallback differ by ${relFallback} relative`],
    ].filter(([ok]) => !ok).map(([, msg]) => msg) };
  }, { config, fitOpts, url: URL_, n: N, loadSrc: loadData.toString(), before, tolerance: TOLERANCE }).then(({ summary, failures: f }) => {
    console.log(summary);
    return [...f, ...(errors.length ? [`page errors: ${errors.join(' | ')}`] : [])];
  });
}, ['ready', 'error']);

// WebGPU (SwiftShader here): checkpoints read back asynchronously; a fit stopped after 5 batches
// resumes from its last checkpoint with the uninterrupted fit's losses, and the same checkpoint
// loads on the wasm backend and trains there. Then the worker's WebGPU device is destroyed
// mid-fit (a device loss, provoked): the worker ends, and `fallback: 'wasm'` goes on from the
// last checkpoint on the CPU.
const gpu = await withDemoPage('backend=wasm', 300_000, async (page, errors) => {
  const r = await page.evaluate(async ({ config, n, loadSrc }) => {
    const sdk = await import('./pkg/index.js');
    const url = 'indexeddb://e2e-persist-webgpu';
    const rt = await sdk.init({ backend: 'webgpu', threads: 1 });
    const { x, y } = await (0, eval)(loadSrc)(n);
    const opts = { epochs: 2, batchSize: 32, optimizer: 'sgd', learningRate: 0.05, resetBn: 0 };
    const run = async (model, extra, stopAt = Infinity) => {
      const losses = [], ctl = new AbortController();
      const out = await model.fit(x, y, { ...opts, ...extra, signal: ctl.signal, callbacks: { onBatchEnd: (_, l) => { losses.push(l.loss); if (losses.length === stopAt) ctl.abort(); } } })
        .then(() => 'done', (e) => e.code);
      return { losses, out };
    };
    const straight = await run(await sdk.createModel(config, { seed: 7 }), {});
    const first = await sdk.createModel(config, { seed: 7 });
    const cut = await run(first, { checkpointEvery: 2, checkpointUrl: url }, 5);
    first.dispose();
    const listed = (await sdk.listModels()).find((m) => m.url === url);
    const resumed = await run(await sdk.loadModel(url), { resume: true });
    await sdk.init({ backend: 'wasm', threads: 1 });
    const onWasm = await run(await sdk.loadModel(url), { resume: true });
    // The WebGPU device is lost mid-fit: with fallback 'wasm' the fit goes on on the CPU.
    await sdk.init({ backend: 'webgpu', threads: 1 });
    const m = await sdk.createModel(config, { seed: 7 });
    const switched = [], lost = [];
    let destroyed = null;
    const out = await m.fit(x, y, { ...opts, checkpointEvery: 2, checkpointUrl: url, fallback: 'wasm', callbacks: {
      onBatchEnd: (_, l) => { lost.push(l.loss); if (lost.length === 3 && destroyed === null) { destroyed = m._testLoseDevice(0).catch((e) => e.code); } },
      onFallback: (info) => { switched.push(info); },
    } }).then(() => 'done', (e) => `${e.code}: ${e.message}`);
    const fallback = { out, switched, losses: lost, backend: m.backend, runtime: sdk.runtimeInfo().backend, destroyed: await destroyed };
    m.dispose();
    await sdk.removeModel(url);
    return { backend: rt.backend, straight: straight.losses, cut, listed, resumed, onWasm, fallback };
  }, { config, n: 128, loadSrc: loadData.toString() });
  const perEpoch = r.straight.length / 2;
  const from = r.listed ? r.listed.position.epoch * perEpoch + r.listed.position.batch : -1;
  const rel = (a, b) => Math.max(0, ...a.map((v, i) => Math.abs(v - b[i]) / Math.max(Math.abs(b[i]), 1e-12)));
  const relGpu = rel(r.resumed.losses, r.straight.slice(from));
  const relWasm = rel(r.onWasm.losses, r.straight.slice(from));
  const f = r.fallback, sw = f.switched[0];
  const fFrom = sw ? sw.checkpoint.epoch * perEpoch + sw.checkpoint.batch : -1;
  const fSeen = f.losses.length - (r.straight.length - fFrom);
  const relFallback = sw ? Math.max(rel(f.losses.slice(fSeen), r.straight.slice(fFrom)), rel(f.losses.slice(0, fSeen), r.straight)) : Infinity;
  console.log(`e2e-persist WebGPU (${r.backend}): stopped after ${r.cut.losses.length} batches, resumed from batch ${from}; `
    + `max relative loss difference ${relGpu.toExponential(2)} resumed on WebGPU, ${relWasm.toExponential(2)} resumed on wasm; `
    + `device lost mid-fit (${f.destroyed} destroyed): ${f.out}, switched ${sw?.from} → ${sw?.to} at batch ${fFrom} after ${fSeen} batches (${sw?.reason}), now on ${f.backend}, `
    + `max relative loss difference ${relFallback.toExponential(2)}`);
  return [
    [r.backend === 'webgpu', `backend ${r.backend}`],
    // The worker may train a batch or two past the stop before it reads it.
    [r.cut.out === 'ABORTED' && from >= 4 && from % 2 === 0 && from < r.straight.length, `stopped fit: ${r.cut.out}, checkpoint at batch ${from}`],
    [r.resumed.out === 'done' && r.resumed.losses.length === r.straight.length - from, `resumed on WebGPU: ${r.resumed.out}, ${r.resumed.losses.length} batches`],
    [relGpu <= 1e-4, `resumed on WebGPU: losses differ by ${relGpu} relative`],
    [r.onWasm.out === 'done' && relWasm <= 1e-2, `resumed on wasm: ${r.onWasm.out}, losses differ by ${relWasm} relative`],
    [f.out === 'done' && f.switched.length === 1 && sw.from === 'webgpu' && sw.to === 'wasm' && f.backend === 'wasm' && f.runtime === 'wasm',
      `WebGPU device lost with fallback: ${f.out}, switches ${JSON.stringify(f.switched)}, model on ${f.backend}`],
    [f.destroyed >= 1 && /WebGPU device was lost/.test(sw?.reason ?? ''), `device loss: ${f.destroyed} devices destroyed, the switch's reason: ${sw?.reason}`],
    [relFallback <= 1e-2, `losses around the WebGPU → wasm fallback differ by ${relFallback} relative`],
    [errors.length === 0, `page errors: ${errors.join(' | ')}`],
  ].filter(([ok]) => !ok).map(([, msg]) => msg);
}, ['ready', 'error']);
failures.push(...gpu);

for (const msg of failures) console.error(`e2e-persist FAILED: ${msg}`);
console.log(`e2e-persist: ${failures.length ? 'FAILED' : 'passed'} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
process.exit(failures.length ? 1 : 0);
