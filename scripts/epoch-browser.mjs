// Measures training of `ntrain` images in headless Chromium through the demo page (SDK worker)
// and prints JSON. The page evaluates on the first 2000 test images. Usage (after scripts/build.sh):
//   node scripts/epoch-browser.mjs [backend=wasm|webgpu] [conv=shift] [ntrain=60000] [batch=64]
import { withDemoPage } from './demo-page.mjs';

const [backend = 'wasm', conv = 'shift', ntrain = '60000', batch = '64'] = process.argv.slice(2);
await withDemoPage(`backend=${backend}&conv=${conv}&ntrain=${ntrain}&batch=${batch}&epochs=1&autostart=1`, 3_600_000, async (page) => {
  const status = await page.textContent('#status');
  const m = /in ([\d.]+) s \(([\d.]+) images\/s\).*test accuracy ([\d.]+)/.exec(status);
  console.log(JSON.stringify({ path: `chromium-${backend}`, conv, images: Number(ntrain), batch: Number(batch),
    seconds: m && Number(m[1]), imagesPerSecond: m && Number(m[2]), testAccuracy: m && Number(m[3]), testImages: 2000, status }));
});
