// End-to-end: serves dist/ on 127.0.0.1, opens the demo in headless Chromium (playwright-core
// driving Debian's /usr/bin/chromium), trains one epoch through the SDK's worker on the wasm
// backend, and asserts the test accuracy the page shows. Screenshot: target/e2e-demo.png.
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { mkdirSync } from 'node:fs';
import net from 'node:net';

const require = createRequire(new URL('../pkg-config/package.json', import.meta.url));
const { chromium } = require('playwright-core');
const MIN_ACCURACY = 0.7;
const N_TRAIN = Number(process.env.E2E_NTRAIN ?? 3072);

const port = await new Promise((res) => { const s = net.createServer(); s.listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => res(p)); }); });
const server = spawn('python3', ['-m', 'http.server', String(port), '--bind', '127.0.0.1', '--directory', 'dist'], { stdio: 'ignore' });
const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--no-sandbox', '--enable-unsafe-webgpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
});
let failed = false;
try {
  const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  for (let i = 0; i < 50; i++) {
    try { await page.goto(`http://127.0.0.1:${port}/?backend=wasm&conv=shift&ntrain=${N_TRAIN}&epochs=1&batch=32&autostart=1`); break; }
    catch { await new Promise((r) => setTimeout(r, 200)); }
  }
  const t0 = Date.now();
  await page.waitForFunction(() => ['done', 'error', 'aborted'].includes(document.body.dataset.state), null, { timeout: 600_000, polling: 500 });
  const state = await page.evaluate(() => document.body.dataset.state);
  const status = await page.textContent('#status');
  const acc = Number(await page.textContent('#testacc'));
  const preds = await page.locator('#preds .pred').count();
  mkdirSync('target', { recursive: true });
  await page.screenshot({ path: 'target/e2e-demo.png', fullPage: true });
  console.log(`e2e: state=${state} test accuracy=${acc} predictions=${preds} in ${((Date.now() - t0) / 1000).toFixed(1)} s\n${status}`);
  const checks = [
    [state === 'done', `page state ${state}`],
    [acc >= MIN_ACCURACY, `test accuracy ${acc} < ${MIN_ACCURACY}`],
    [preds === 24, `${preds} predictions shown`],
    [/worker true/.test(status), 'training did not run in a worker'],
    [errors.length === 0, `page errors: ${errors.join(' | ')}`],
  ];
  for (const [ok, msg] of checks) if (!ok) { console.error(`e2e FAILED: ${msg}`); failed = true; }
  console.log(failed ? '0 passed, 1 failed' : '1 passed, 0 failed');
} finally {
  await browser.close();
  server.kill();
}
process.exit(failed ? 1 : 0);
