// Opens scripts/bench-ort.html in the folder scripts/bench-ort.sh assembles and prints its table.
// Usage: node scripts/bench-ort.mjs DIR
import { withPage } from './demo-page.mjs';

const root = process.argv[2];
const r = await withPage('bench-ort.html', '', 600_000, async (page) => ({
  state: await page.evaluate(() => document.body.dataset.state),
  out: JSON.parse(await page.textContent('#out')),
}), ['done', 'error'], true, root);
if (r.state !== 'done') throw new Error(`bench-ort: ${JSON.stringify(r.out)}`);
const f = (v) => v.map((t) => t.toFixed(3)).join(' / ');
const o = r.out;
console.log('Chromium, one thread, MobileNetV2-Tiny 32x32; median ms per image, three alternating rounds\n');
console.log('| batch | onnxruntime-web (f32, Mult twin) | integer engine, Shift | integer engine, Add |\n|---|---|---|---|');
console.log(`| 1 | ${f(o.ort)} | ${f(o.shift)} | ${f(o.add)} |`);
console.log(`| 64 | ${f(o.ort64)} | ${f(o.shift64)} | ${f(o.add64)} |`);
