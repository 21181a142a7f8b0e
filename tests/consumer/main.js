// The consumer page: trains in the SDK's workers (two, the CPU-only module), then in one worker on
// WebGPU (the WebGPU module), and deploys (run.js); the results land in body[data-state] and #out
// for scripts/pack-page.mjs.
import { trainAndDeploy } from './run.js';

const report = (state, value) => {
  document.getElementById('out').textContent = JSON.stringify(value);
  document.body.dataset.state = state;
};

(async () => {
  const wasm = await trainAndDeploy({ backend: 'wasm', threads: 2 });
  const webgpu = await trainAndDeploy({ backend: 'webgpu', allowSoftwareWebGPU: true });
  return { wasm, webgpu };
})().then((r) => report('done', r), (e) => report('error', { code: e.code, message: String(e.message ?? e) }));
