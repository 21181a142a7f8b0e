// Bench page: calls the wasm module's benchOps (or, with ?profile=mult|shift|add, profileStep;
// &kernels=burn|bn_act|all: burn's ops, only the fused BatchNorm + activation, or every fast kernel;
// with ?latency=mult|shift|add&archs=N&seed=S, latencyCheck: the float model's latency table)
// and shows the result as a table and as JSON (#json, read by scripts/bench-browser.mjs).
// body[data-state] ends as done | error.
import init, { benchOps, latencyCheck, profileStep, simdEnabled } from './pkg/shiftaddaug.js';

const params = new URLSearchParams(location.search);
const backend = params.get('backend') ?? 'wasm';
const batch = Number(params.get('batch') ?? 64);
const reps = Number(params.get('reps') ?? 3);
const ops = params.get('ops') ?? '';
const $ = (id) => document.getElementById(id);

/** Forward + backward of each operator on each MobileNetV2-Tiny layer shape. */
async function operators() {
  const rows = await benchOps(backend, batch, reps, ops);
  $('table').innerHTML = '<tr><th>layer</th><th>op</th><th>ms</th><th>images/s</th><th>wasm memory MiB</th></tr>' + rows.map((r) =>
    `<tr><td>${r.layer}</td><td>${r.op}</td><td>${r.ms.toFixed(2)}</td><td>${r.imagesPerSecond.toFixed(0)}</td><td>${(r.wasmMemoryBytes / 2 ** 20).toFixed(1)}</td></tr>`).join('');
  return { rows };
}

/** Where one direct and one ShiftAddAug step of MobileNetV2-Tiny spend their time. */
async function stepProfile(conv) {
  const kernels = params.get('kernels') ?? 'all';
  const { profiles, markdown } = await profileStep(backend, conv, batch, reps, kernels);
  $('table').replaceWith(Object.assign(document.createElement('pre'), { id: 'table', textContent: markdown }));
  return { conv, kernels, profiles, markdown };
}

/** The float model's latency table against whole models of the width space. */
async function latency(conv) {
  const archs = Number(params.get('archs') ?? 10), seed = Number(params.get('seed') ?? 1);
  const { rows, table } = await latencyCheck(backend, conv, archs, batch, reps, seed);
  $('table').innerHTML = '<tr><th>MACs</th><th>predicted ms</th><th>measured ms</th><th>error</th></tr>' + rows.map((r) =>
    `<tr><td>${r.macs}</td><td>${r.predictedMs.toFixed(3)}</td><td>${r.measuredMs.toFixed(3)}</td><td>${(100 * (r.predictedMs / r.measuredMs - 1)).toFixed(1)} %</td></tr>`).join('');
  return { conv, archs, seed, rows, table };
}

try {
  await init();
  if (backend === 'webgpu' && !('gpu' in navigator && await navigator.gpu.requestAdapter())) {
    throw new Error('no WebGPU adapter (Chromium needs --enable-unsafe-webgpu)');
  }
  $('status').textContent = `running on ${backend}, batch ${batch}, median of ${reps}…`;
  const result = params.has('profile') ? await stepProfile(params.get('profile'))
    : params.has('latency') ? await latency(params.get('latency')) : await operators();
  $('json').textContent = JSON.stringify({ backend, batch, reps, simd128: simdEnabled(), userAgent: navigator.userAgent, ...result });
  $('status').textContent = 'done';
  document.body.dataset.state = 'done';
} catch (e) {
  $('status').textContent = `error: ${e.message ?? e}`;
  document.body.dataset.state = 'error';
}
