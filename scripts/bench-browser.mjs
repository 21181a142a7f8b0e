// Runs the operator bench page (www/bench.html) in headless Chromium and prints its JSON.
// Usage (after scripts/build.sh):
//   node scripts/bench-browser.mjs [backend=wasm|webgpu] [batch=64] [reps=3] [ops=]
//   node scripts/bench-browser.mjs profile [backend=wasm|webgpu] [conv=shift] [batch=64] [reps=3] [kernels=all|bn_act|burn]   (step profile; prints markdown)
import { withPage } from './demo-page.mjs';

const profile = process.argv[2] === 'profile';
const args = process.argv.slice(profile ? 3 : 2);
const [backend = 'wasm', ...rest] = args;
const query = profile
  ? `backend=${backend}&profile=${rest[0] ?? 'shift'}&batch=${rest[1] ?? 64}&reps=${rest[2] ?? 3}&kernels=${rest[3] ?? 'all'}`
  : `backend=${backend}&batch=${rest[0] ?? 64}&reps=${rest[1] ?? 3}&ops=${rest[2] ?? ''}`;
await withPage('bench.html', query, 3_600_000, async (page, errors) => {
  const state = await page.evaluate(() => document.body.dataset.state);
  if (state !== 'done') {
    console.error(await page.textContent('#status'), errors);
    process.exit(1);
  }
  const json = await page.textContent('#json');
  console.log(profile ? JSON.parse(json).markdown : json);
});
