// The baseline build of the CPU-only module (no SIMD128, issue 15): `init({ simd: false })` forces
// it, as engines without SIMD128 get it by detection. Its own file, so that no module is loaded in
// this process before.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { existsSync } from 'node:fs';
import * as sdk from '../../pkg/index.js';
import { simdSupported } from '../../pkg/core.js';

const run = promisify(execFile);

const code = (c) => (e) => e?.code === c;
// scripts/build.sh builds the baseline variant (with and without --ci); a build of some variants
// only (scripts/variants.py names) may leave it out, and then these tests say so.
const built = existsSync(new URL('../../pkg/cpu/baseline/shiftaddaug_bg.wasm', import.meta.url));
const needsBaseline = built || process.env.SHIFTADDAUG_FULL ? {} : { skip: 'pkg/cpu/baseline not built; scripts/build.sh builds it' };

test('simd must be a boolean', async () => {
  await assert.rejects(sdk.init({ backend: 'wasm', worker: false, simd: 'no' }), code('INVALID_CONFIG'));
});

test('SIMD128 detection: this engine validates the probe, a mutated probe does not', () => {
  assert.equal(simdSupported(), true);
  const validate = WebAssembly.validate;
  let probes = 0;
  WebAssembly.validate = (bytes) => { probes++; const b = new Uint8Array(bytes); b[b.length - 2] = 0xff; return validate(b); };
  try { assert.equal(simdSupported(), false); } finally { WebAssembly.validate = validate; }
  assert.equal(probes, 1);
});

test('an engine without SIMD128 gets the baseline build, with the CPU glue', needsBaseline, async () => {
  // The one way to be such an engine in Node: its validate() refuses SIMD128 instructions (0xfd prefix).
  const validate = WebAssembly.validate;
  WebAssembly.validate = (bytes) => !new Uint8Array(bytes).includes(0xfd) && validate(bytes);
  let rt;
  try { rt = await sdk.init({ backend: 'wasm', worker: false }); } finally { WebAssembly.validate = validate; }
  assert.deepEqual([rt.backend, rt.module, rt.simd], ['wasm', 'cpu', false]);
  const n = 64, x = new Float32Array(n * 784), y = new Uint8Array(n);
  for (let i = 0; i < x.length; i++) x[i] = ((i * 2654435761) % 1000) / 1000;
  for (let i = 0; i < n; i++) y[i] = i % 10;
  const m = await sdk.createModel({ inputShape: [1, 28, 28], numClasses: 10, conv: 'add', widths: [4, 8] });
  const h = await m.fit(x, y, { epochs: 1, batchSize: 16, resetBn: 0 });
  assert.ok(Number.isFinite(h.history.loss[0]));
  const p = await m.predict(x.subarray(0, 784), [1, 1, 28, 28]);
  assert.ok(Math.abs(p.reduce((a, b) => a + b, 0) - 1) < 1e-3);
  m.dispose();
});

test('init({ simd: false }) forces the baseline build on an engine with SIMD128', needsBaseline, async () => {
  // A new process: this one has loaded its CPU module already (once per thread).
  const index = new URL('../../pkg/index.js', import.meta.url).href;
  const script = `import * as sdk from ${JSON.stringify(index)};
    const rt = await sdk.init({ backend: 'wasm', worker: false, simd: false });
    const m = await sdk.createModel({ inputShape: [1, 28, 28], numClasses: 10, conv: 'shift', widths: [4, 8] });
    console.log(JSON.stringify([rt.module, rt.simd, m.numParams > 0]));`;
  const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script]);
  assert.deepEqual(JSON.parse(stdout.trim()), ['cpu', false, true]);
});
