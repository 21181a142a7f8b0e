// The latency table on this device, checked in headless Chromium: a ShiftAddAug MobileNetV2-Tiny
// supernet (32x32, stem stride 1) is searched with a loose latency limit, so that each candidate
// carries the latency its layers predict (timed in the SDK's worker with performance.now()); then
// each candidate's plan is built, exported and run by shiftaddaug/infer's integer engine on the
// page thread at batch 1 (median of `reps` calls), and the two are compared. Prints a markdown table.
// Usage (after scripts/build.sh): node scripts/latency-browser.mjs [conv=shift] [archs=10] [reps=30]
//
// With `float` first: the training module's float model instead (the bench page's latencyCheck, on
// the page thread): its layers timed on `backend`, the sum against each whole model (batch images).
//   node scripts/latency-browser.mjs float [backend=wasm|webgpu] [conv=shift] [archs=10] [batch=1] [reps=30]
import { withPage } from './demo-page.mjs';

/** Prints one row per architecture and the mean and largest |error|. */
function print(rows, note) {
  console.log('| MACs | predicted (ms) | measured (ms) | error |\n|---|---|---|---|');
  const errs = [];
  for (const r of rows) {
    const e = r.predicted / r.measured - 1;
    errs.push(Math.abs(e));
    console.log(`| ${r.macs} | ${r.predicted.toFixed(3)} | ${r.measured.toFixed(3)} | ${(100 * e).toFixed(1)} % |`);
  }
  console.log(`\n${rows.length} architectures${note ? `, ${note}` : ''}: mean |error| ${(100 * errs.reduce((a, b) => a + b, 0) / errs.length).toFixed(1)} %, largest ${(100 * Math.max(...errs)).toFixed(1)} %`);
}

if (process.argv[2] === 'float') {
  const [backend = 'wasm', conv = 'shift', archs = '10', batch = '1', reps = '30'] = process.argv.slice(3);
  await withPage('bench.html', `backend=${backend}&latency=${conv}&archs=${archs}&batch=${batch}&reps=${reps}`, 3_600_000, async (page, errors) => {
    if (await page.evaluate(() => document.body.dataset.state) !== 'done') {
      console.error(await page.textContent('#status'), errors);
      process.exit(1);
    }
    const { rows, table } = JSON.parse(await page.textContent('#json'));
    console.log(`Chromium, ${backend}: the float model's latency table against whole models, MobileNetV2-Tiny ${conv} 32x32 width space, batch ${batch}\n`);
    print(rows.map((r) => ({ macs: r.macs, predicted: r.predictedMs, measured: r.measuredMs })), `${table.layers.length} layers timed`);
  });
  process.exit(0);
}

const [conv = 'shift', archs = '10', reps = '30'] = process.argv.slice(2);

await withPage('', 'backend=wasm', 1_800_000, async (page, errors) => {
  const rows = await page.evaluate(async ({ conv, archs, reps }) => {
    const sdk = await import('./pkg/index.js');
    const { loadModel } = await import('./pkg/infer.js');
    await sdk.init({ backend: 'wasm', threads: 1 });
    const n = 64, x = new Float32Array(n * 1024), y = new Uint8Array(n);
    for (let i = 0; i < x.length; i++) x[i] = (i * 7919 % 1000) / 1000;
    for (let i = 0; i < n; i++) y[i] = i % 10;
    const base = { model: 'mbv2-tiny', inputShape: [1, 32, 32], numClasses: 10, conv };
    const sup = await sdk.createModel({ ...base, aug: { enabled: true } });
    await sup.fit(x, y, { epochs: 1, batchSize: 32, resetBn: 0 });
    const r = await sup.search({ bnData: [x.subarray(0, 32 * 1024), y.subarray(0, 32)], evalData: [x.subarray(32 * 1024), y.subarray(32)],
      maxLatencyMs: 1000, population: archs, generations: 0, seed: 1 });
    sup.dispose();
    const median = (f) => {
      const t = [];
      for (let i = 0; i < reps; i++) { const s = performance.now(); f(); t.push(performance.now() - s); }
      t.sort((a, b) => a - b);
      return t[t.length >> 1];
    };
    const out = [];
    for (const c of r.evaluated) {
      const m = await sdk.createModel({ ...base, spec: c.plan, aug: { enabled: false } });
      const d = await loadModel(await m.exportModel());
      m.dispose();
      d.quantize({ calibration: x.subarray(0, 8 * 1024), images: 8 });
      const one = x.subarray(0, 1024);
      for (let i = 0; i < 100; i++) d.predict(one, [1, 1, 32, 32]);
      out.push({ macs: c.cost.macs, predicted: c.cost.latencyNs / 1e6, measured: median(() => d.predict(one, [1, 1, 32, 32])) });
      d.dispose();
    }
    return out;
  }, { conv, archs: Number(archs), reps: Number(reps) });
  console.log(`Chromium: latency table (worker) against the integer engine (page thread, batch 1), MobileNetV2-Tiny ${conv} 32x32 width space\n`);
  print(rows);
  if (errors.length) console.error(errors);
}, ['ready', 'error']);
