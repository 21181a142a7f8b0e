// Opens a bundled consumer page (scripts/pack-test.sh, tests/consumer/) in headless Chromium,
// served cross-origin isolated from DIR, and checks what it reports: it trained in the SDK's
// workers, in two on the CPU-only module and in one on WebGPU (SwiftShader) with the WebGPU
// module, and deployed the export through `shiftaddaug/infer`.
// Usage: node scripts/pack-page.mjs DIR
import { withPage } from './demo-page.mjs';

const root = process.argv[2];
if (!root) throw new Error('usage: node scripts/pack-page.mjs DIR');
const r = await withPage('', '', 300_000, async (page, errors) => {
  const state = await page.evaluate(() => document.body.dataset.state);
  const out = JSON.parse(await page.evaluate(() => document.getElementById('out').textContent));
  return { state, out, errors };
}, ['done', 'error'], true, root);
const { state, out, errors } = r;
const trained = (o) => o?.loss?.length === 1 && Number.isFinite(o.loss[0]) && o.probabilities?.length === 10
  && Math.abs(o.probabilities.reduce((a, b) => a + b, 0) - 1) < 0.1 && o.worker === true;
const ok = state === 'done' && errors.length === 0
  && trained(out.wasm) && out.wasm.threads === 2 && out.wasm.backend === 'wasm' && out.wasm.module === 'cpu'
  && trained(out.webgpu) && out.webgpu.backend === 'webgpu' && out.webgpu.module === 'webgpu';
if (!ok) {
  console.error(`pack-test: the bundled page failed: state ${state}, ${JSON.stringify(out)}, page errors ${JSON.stringify(errors)}`);
  process.exit(1);
}
for (const o of [out.wasm, out.webgpu]) {
  console.log(`pack-test: the Vite-bundled page trained in ${o.threads} worker(s) (${o.backend}, ${o.module} module, loss ${o.loss[0].toFixed(3)}) and deployed in Chromium`);
}
