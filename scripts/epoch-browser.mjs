// Measures training of `ntrain` images in headless Chromium through the demo page (SDK worker)
// and prints JSON. Usage (after scripts/build.sh):
//   node scripts/epoch-browser.mjs [backend=wasm|webgpu] [conv=shift] [ntrain=60000] [batch=64]
// The page evaluates on 2000 test images; for backend=webgpu pass allowSoftware via 'webgpu' (forced).
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import net from 'node:net';

const require = createRequire(new URL('../pkg-config/package.json', import.meta.url));
const { chromium } = require('playwright-core');
const [backend = 'wasm', conv = 'shift', ntrain = '60000', batch = '64'] = process.argv.slice(2);
const port = await new Promise((res) => { const s = net.createServer(); s.listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => res(p)); }); });
const server = spawn('python3', ['-m', 'http.server', String(port), '--bind', '127.0.0.1', '--directory', 'dist'], { stdio: 'ignore' });
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium',
  args: ['--no-sandbox', '--enable-unsafe-webgpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'] });
try {
  const page = await browser.newPage();
  await new Promise((r) => setTimeout(r, 500));
  await page.goto(`http://127.0.0.1:${port}/?backend=${backend}&conv=${conv}&ntrain=${ntrain}&batch=${batch}&epochs=1&autostart=1`);
  await page.waitForFunction(() => ['done', 'error'].includes(document.body.dataset.state), null, { timeout: 3_600_000, polling: 1000 });
  const status = await page.textContent('#status');
  const m = /in ([\d.]+) s \(([\d.]+) images\/s\).*test accuracy ([\d.]+)/.exec(status);
  console.log(JSON.stringify({ path: `chromium-${backend}`, conv, images: Number(ntrain), batch: Number(batch),
    seconds: m && Number(m[1]), imagesPerSecond: m && Number(m[2]), testAccuracy: m && Number(m[3]), testImages: 2000, status }));
} finally {
  await browser.close();
  server.kill();
}
