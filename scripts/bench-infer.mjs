// Inference latency in headless Chromium, single thread (page thread, worker: false): the SDK's
// predict (the float training engine, burn on wasm) against shiftaddaug/infer (the f32
// reference and the integer engine) on the same export of MobileNetV2-Tiny (Fashion-MNIST padded
// to 32x32, stem stride 1), batch 1 and 64. Prints a markdown table (median ms per call).
// Usage (after scripts/build.sh): node scripts/bench-infer.mjs [conv=shift] [reps=30]
import { withPage } from './demo-page.mjs';

const [conv = 'shift', reps = '30'] = process.argv.slice(2);

await withPage('', 'backend=wasm', 1_800_000, async (page, errors) => {
  const rows = await page.evaluate(async ({ conv, reps }) => {
    const sdk = await import('./pkg/index.js');
    const { loadModel } = await import('./pkg/infer.js');
    await sdk.init({ backend: 'wasm', worker: false });
    const idx = async (f) => sdk.parseIdx(new Uint8Array(await (await fetch(`./data/${f}`)).arrayBuffer()));
    const [im, lb] = [await idx('train-images-idx3-ubyte.gz'), await idx('train-labels-idx1-ubyte.gz')];
    const n = 1024, x = new Float32Array(n * 1024);
    for (let i = 0; i < n; i++) for (let r = 0; r < 28; r++) for (let c = 0; c < 28; c++) x[i * 1024 + (r + 2) * 32 + c + 2] = im.data[i * 784 + r * 28 + c] / 255;
    const model = await sdk.createModel({ model: 'mbv2-tiny', inputShape: [1, 32, 32], numClasses: 10, conv, aug: { enabled: false } }, { optimizer: 'sgd', learningRate: 0.05 });
    await model.fit(x, lb.data.slice(0, n), { batchSize: 64, resetBn: 1024 });
    const m = await loadModel(await model.exportModel());
    m.quantize({ calibration: x.subarray(0, 256 * 1024), images: 256 });
    const median = async (f) => {
      const t = [];
      for (let i = 0; i < reps; i++) { const s = performance.now(); await f(); t.push(performance.now() - s); }
      t.sort((a, b) => a - b);
      return t[t.length >> 1];
    };
    const out = [];
    for (const b of [1, 64]) {
      const xb = x.subarray(0, b * 1024), shape = [b, 1, 32, 32];
      out.push({
        batch: b,
        sdk: await median(() => model.predict(xb, shape)),
        float: await median(() => m.predict(xb, shape, { engine: 'float' })),
        integer: await median(() => m.predict(xb, shape, { engine: 'integer' })),
      });
    }
    model.dispose(); m.dispose();
    return out;
  }, { conv, reps: Number(reps) });
  console.log(`Chromium, one thread, MobileNetV2-Tiny ${conv} 32x32; median ms per call of ${reps}\n`);
  console.log('| batch | SDK predict (burn, f32) | infer: f32 reference | infer: integer engine | integer ms / image | SDK / integer |\n|---|---|---|---|---|---|');
  for (const r of rows) {
    console.log(`| ${r.batch} | ${r.sdk.toFixed(2)} | ${r.float.toFixed(2)} | ${r.integer.toFixed(2)} | ${(r.integer / r.batch).toFixed(3)} | ${(r.sdk / r.integer).toFixed(2)}× |`);
  }
  if (errors.length) console.error(errors);
}, ['ready', 'error']);
