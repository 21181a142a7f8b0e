// Shared by e2e.mjs, e2e-threads.mjs, epoch-browser.mjs and the browser benches: serves dist/ (scripts/serve.py) on a free 127.0.0.1 port, opens a page
// (the demo by default) in headless Chromium (playwright-core driving Debian's /usr/bin/chromium) with `query`,
// and waits until the page reports a final state (body[data-state] = done | stopped | error | aborted), or the states given.
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import net from 'node:net';

const require = createRequire(new URL('../pkg-config/package.json', import.meta.url));
const { chromium } = require('playwright-core');

/** Flags Chromium needs on these machines (closed network, WebGPU via SwiftShader). */
export const CHROMIUM_ARGS = ['--no-sandbox', '--enable-unsafe-webgpu', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--no-first-run'];

const freePort = () => new Promise((res) => {
  const s = net.createServer();
  s.listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => res(p)); });
});

/**
 * Runs `fn(page, errors)` after the demo at `?query` reached a final state; `errors` collects
 * page errors and console errors. Always closes the browser and the server.
 */
export function withDemoPage(query, timeoutMs, fn, until) {
  return withPage('', query, timeoutMs, fn, until);
}

/**
 * As `withDemoPage`, for any page of dist/ (`path` relative to its root, e.g. `bench.html`), or
 * of the folder `root`. The server sends the cross-origin isolation headers unless `isolated` is
 * false.
 */
export async function withPage(path, query, timeoutMs, fn, until = ['done', 'stopped', 'error', 'aborted'], isolated = true, root = 'dist') {
  const port = await freePort();
  const serve = new URL('./serve.py', import.meta.url).pathname;
  const server = spawn('python3', [serve, String(port), root, ...(isolated ? [] : ['--no-isolation'])], { stdio: 'ignore' });
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
  try {
    const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
    const errors = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
    for (let i = 0; ; i++) {
      try { await page.goto(`http://127.0.0.1:${port}/${path}?${query}`); break; } catch (e) {
        if (i >= 50) throw e;
        await new Promise((r) => setTimeout(r, 200));
      }
    }
    await page.waitForFunction((states) => states.includes(document.body.dataset.state), until, { timeout: timeoutMs, polling: 500 });
    return await fn(page, errors);
  } finally {
    await browser.close();
    server.kill();
  }
}
