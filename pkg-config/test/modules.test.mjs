// The two training modules (issue 15): the wasm backend loads the CPU-only module, and only it.
// Its own file, so that this process has loaded no module before the first init below.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, stat } from 'node:fs/promises';
import * as sdk from '../../pkg/index.js';

const code = (c) => (e) => e?.code === c;
const cfg = { inputShape: [1, 28, 28], numClasses: 10, conv: 'shift', widths: [4, 8] };

test('the wasm backend loads the CPU-only module, from cpuWasmUrl when given', async () => {
  const cpu = new URL('../../pkg/cpu/shiftaddaug_bg.wasm', import.meta.url);
  const full = new URL('../../pkg/shiftaddaug_bg.wasm', import.meta.url);
  const [small, large] = [(await stat(cpu)).size, (await stat(full)).size];
  assert.ok(small < large, `the CPU-only module (${small} bytes) is not smaller than the WebGPU one (${large})`);
  // Only the WebGPU module's glue binds the WebGPU API (the WebGPU module built for size is 1.7×
  // the CPU-only one, the one built as the tests build it 3.4×).
  const glue = async (u) => (await readFile(new URL(u, import.meta.url), 'utf8')).includes('requestAdapter');
  assert.deepEqual([await glue('../../pkg/cpu/shiftaddaug.js'), await glue('../../pkg/shiftaddaug.js')], [false, true]);
  // A cpuWasmUrl that names no file: the wasm backend reads it (and nothing else), so init rejects.
  await assert.rejects(sdk.init({ backend: 'wasm', worker: false, cpuWasmUrl: new URL('./no-such-module.wasm', import.meta.url) }), code('IO_ERROR'));
  assert.equal(sdk.runtimeInfo(), null);
  await assert.rejects(sdk.createModel(cfg), code('NOT_INITIALIZED'));
  // The WebGPU module's file is not read for the wasm backend.
  const rt = await sdk.init({ backend: 'wasm', worker: false, cpuWasmUrl: cpu, wasmUrl: new URL('./no-such-module.wasm', import.meta.url) });
  assert.deepEqual([rt.backend, rt.module, rt.simd], ['wasm', 'cpu', true]);
  const m = await sdk.createModel(cfg);
  assert.ok(m.numParams > 0);
  m.dispose();
  // Loaded once per thread: a later URL for the same module is not read.
  const again = await sdk.init({ backend: 'wasm', worker: false, cpuWasmUrl: new URL('./no-such-module.wasm', import.meta.url) });
  assert.equal(again.module, 'cpu');
});
