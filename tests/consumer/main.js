// The consumer page: trains in the SDK's workers (two) and deploys (run.js); the result lands in
// body[data-state] and #out for scripts/pack-page.mjs.
import { trainAndDeploy } from './run.js';

const report = (state, value) => {
  document.getElementById('out').textContent = JSON.stringify(value);
  document.body.dataset.state = state;
};

trainAndDeploy({ backend: 'wasm', threads: 2 }).then((r) => report('done', r), (e) => report('error', { code: e.code, message: String(e.message ?? e) }));
