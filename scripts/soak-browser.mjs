// Soak in headless Chromium (issue 15 item 4), a documented command, not a CI tier:
//   node scripts/soak-browser.mjs [cycles=200]
// One page, the default worker runtime: create → fit a few steps → predict → dispose, `cycles`
// times (the small CNN and the MobileNetV2-Tiny supernet, direct and augmented, in turn). It
// prints the worker's wasm memory after cycles 1, 2, 5, 10, 20, 50, 100, … and the last, checks
// that it stops growing after cycle 20 (within 8 MiB) and that the page holds one worker
// throughout (no worker is started for a model, none leaks).
import { withDemoPage } from './demo-page.mjs';

const cycles = Number(process.argv[2] ?? 200);
const t0 = Date.now();
const failures = await withDemoPage('backend=wasm', 3_600_000, async (page, errors) => {
  // Count the workers the page starts.
  await page.evaluate(() => {
    const W = window.Worker;
    window.__workers = 0;
    window.Worker = class extends W { constructor(...a) { super(...a); window.__workers++; } };
  });
  const r = await page.evaluate(async (cycles) => {
    const sdk = await import('./pkg/index.js');
    await sdk.init({ backend: 'wasm', threads: 1 });
    const idx = async (f) => sdk.parseIdx(new Uint8Array(await (await fetch(`./data/${f}`)).arrayBuffer()));
    const [im, lb] = [await idx('train-images-idx3-ubyte.gz'), await idx('train-labels-idx1-ubyte.gz')];
    const x = new Float32Array(16 * 784);
    for (let i = 0; i < x.length; i++) x[i] = im.data[i] / 255;
    const y = lb.data.slice(0, 16);
    const spec = { stem: 8, ds: 8, head: 32, blocks: [{ kernel: 3, stride: 2, channels: [8, 16, 8] }, { kernel: 3, stride: 1, channels: [8, 16, 8] }] };
    const curve = [];
    for (let i = 1; i <= cycles; i++) {
      const config = { inputShape: [1, 28, 28], numClasses: 10, conv: 'add', ...(i % 2 ? {} : { model: 'mbv2-tiny', spec, aug: { enabled: i % 4 === 0 } }) };
      const m = await sdk.createModel(config);
      await m.fit(x, y, { epochs: 1, batchSize: 8, resetBn: 16 });
      if ((await m.predict(x.subarray(0, 784), [1, 1, 28, 28])).length !== 10) throw new Error('predict');
      m.dispose();
      curve.push((await sdk._testMemory()) / 2 ** 20);
    }
    return { curve, workers: window.__workers };
  }, cycles);
  const at = (c) => r.curve[c - 1];
  const marks = [1, 2, 5, 10, 20, 50, 100, 150, cycles].filter((c, i, a) => c <= cycles && a.indexOf(c) === i);
  console.log(`soak-browser: wasm memory of the worker (MiB) after cycles ${marks.join(', ')}: ${marks.map((c) => at(c).toFixed(1)).join(', ')}; workers started: ${r.workers}`);
  const after = cycles >= 20 ? at(20) : at(1);
  return [
    [at(cycles) - after <= 8, `memory grew from ${after.toFixed(1)} MiB to ${at(cycles).toFixed(1)} MiB`],
    [r.workers === 1, `${r.workers} workers started`],
    [errors.length === 0, `page errors: ${errors.join(' | ')}`],
  ].filter(([ok]) => !ok).map(([, msg]) => msg);
}, ['ready', 'error']);
for (const msg of failures) console.error(`soak-browser FAILED: ${msg}`);
console.log(`soak-browser: ${failures.length ? 'FAILED' : 'passed'} ${cycles} cycles in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
process.exit(failures.length ? 1 : 0);
