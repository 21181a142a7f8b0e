// Data-parallel training throughput in headless Chromium through the SDK: MobileNetV2-Tiny
// (Fashion-MNIST padded to 32x32, stem stride 1, batch 64, SGD), direct and ShiftAddAug (widths augmented),
// with init({ threads: K }) for each K, on the cross-origin isolated demo server; prints a
// markdown table (BENCH_ISOLATED=0: a plain page, gradients in transferred buffers). With BENCH_PYTORCH=1 it then runs scripts/bench_pytorch.py (2 threads) in the
// same run for the native PyTorch figure (needs the venv of scripts/bench-pytorch.sh).
// Usage (after scripts/build.sh): node scripts/bench-threads.mjs [conv=shift] [threads=1,2] [directSteps=24] [augSteps=8]
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { withPage } from './demo-page.mjs';

const [conv = 'shift', list = '1,2', directSteps = '24', augSteps = '8'] = process.argv.slice(2);
const threads = list.split(',').map(Number);
const WARMUP = 2;

async function inPage({ conv, threads, directSteps, augSteps, warmup }) {
  const sdk = await import('./pkg/index.js');
  const batch = 64;
  const rows = [];
  // Fashion-MNIST padded to 32x32, as the native bench and scripts/bench_pytorch.py use (the
  // kernels' speed must not be measured on synthetic patterns).
  await sdk.init({ backend: 'wasm', threads: 1 });
  const idx = async (f) => sdk.parseIdx(new Uint8Array(await (await fetch(`./data/${f}`)).arrayBuffer()));
  const [im, lb] = [await idx('train-images-idx3-ubyte.gz'), await idx('train-labels-idx1-ubyte.gz')];
  const data = (n) => {
    const x = new Float32Array(n * 1024);
    for (let i = 0; i < n; i++) for (let r = 0; r < 28; r++) for (let c = 0; c < 28; c++) x[i * 1024 + (r + 2) * 32 + c + 2] = im.data[i * 784 + r * 28 + c] / 255;
    return { x, y: lb.data.slice(0, n) };
  };
  for (const k of threads) {
    const rt = await sdk.init({ backend: 'wasm', threads: k });
    const row = { threads: rt.threads, exchange: rt.gradientExchange ?? '-' };
    for (const [name, aug, steps] of [['direct', false, directSteps], ['augmented', true, augSteps]]) {
      const { x, y } = data((steps + warmup) * batch);
      const m = await sdk.createModel(
        { model: 'mbv2-tiny', inputShape: [1, 32, 32], numClasses: 10, conv, aug: { enabled: aug } },
        { optimizer: 'sgd', learningRate: 0.05, totalSteps: 100_000 });
      const t = [];
      await m.fit(x, y, { batchSize: batch, resetBn: 0, callbacks: { onBatchEnd: () => { t.push(performance.now()); } } });
      m.dispose();
      row[name] = (steps - 1) * batch / ((t.at(-1) - t[warmup]) / 1000);
    }
    rows.push(row);
  }
  return { rows, cores: navigator.hardwareConcurrency, isolated: crossOriginIsolated };
}

await withPage('', 'backend=wasm', 3_600_000, async (page, errors) => {
  const r = await page.evaluate(inPage, { conv, threads, directSteps: Number(directSteps), augSteps: Number(augSteps), warmup: WARMUP });
  const base = r.rows[0];
  console.log(`Chromium, wasm, MobileNetV2-Tiny ${conv} 32x32 batch 64, navigator.hardwareConcurrency = ${r.cores}, cross-origin isolated: ${r.isolated}\n`);
  console.log('| workers | gradient exchange | direct images/s | × 1st row | augmented images/s | × 1st row |\n|---|---|---|---|---|---|');
  for (const row of r.rows) {
    console.log(`| ${row.threads} | ${row.exchange} | ${row.direct.toFixed(1)} | ${(row.direct / base.direct).toFixed(2)} | ${row.augmented.toFixed(1)} | ${(row.augmented / base.augmented).toFixed(2)} |`);
  }
  if (errors.length) console.error(errors);
}, ['ready', 'error'], process.env.BENCH_ISOLATED !== '0');

if (process.env.BENCH_PYTORCH === '1') {
  const py = `${process.env.SA_BENCH_VENV ?? `${homedir()}/.cache/sa-bench-venv`}/bin/python`;
  if (!existsSync(py)) throw new Error(`no PyTorch venv at ${py}: run scripts/bench-pytorch.sh once`);
  spawnSync(py, ['scripts/bench_pytorch.py', '--threads', '2', '--steps', '12'], { stdio: 'inherit' });
}
