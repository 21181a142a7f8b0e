// Opens a bundled consumer page (scripts/pack-test.sh, tests/consumer/) in headless Chromium,
// served cross-origin isolated from DIR, and checks what it reports: it trained in the SDK's
// workers and deployed the export through `shiftaddaug/infer`.
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
const sum = (out.probabilities ?? []).reduce((a, b) => a + b, 0);
const ok = state === 'done' && out.worker === true && out.threads === 2 && out.backend === 'wasm'
  && out.loss?.length === 1 && Number.isFinite(out.loss[0]) && out.probabilities.length === 10 && Math.abs(sum - 1) < 0.1
  && errors.length === 0;
if (!ok) {
  console.error(`pack-test: the bundled page failed: state ${state}, ${JSON.stringify(out)}, page errors ${JSON.stringify(errors)}`);
  process.exit(1);
}
console.log(`pack-test: the Vite-bundled page trained in ${out.threads} workers (${out.backend}, loss ${out.loss[0].toFixed(3)}) and deployed (probabilities sum ${sum.toFixed(3)}) in Chromium`);
