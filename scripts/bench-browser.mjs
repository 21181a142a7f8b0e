// Runs the operator bench page (www/bench.html) in headless Chromium and prints its JSON.
// Usage (after scripts/build.sh): node scripts/bench-browser.mjs [backend=wasm|webgpu] [batch=64] [reps=3] [ops=]
import { withPage } from './demo-page.mjs';

const [backend = 'wasm', batch = '64', reps = '3', ops = ''] = process.argv.slice(2);
await withPage('bench.html', `backend=${backend}&batch=${batch}&reps=${reps}&ops=${ops}`, 3_600_000, async (page, errors) => {
  const state = await page.evaluate(() => document.body.dataset.state);
  if (state !== 'done') {
    console.error(await page.textContent('#status'), errors);
    process.exit(1);
  }
  console.log(await page.textContent('#json'));
});
