// What both consumer tests of scripts/pack-test.sh do with the installed package (in Node, and in
// the Vite-bundled page): a small CNN trained on 64 synthetic images, its export deployed through
// `shiftaddaug/infer`. No configuration tells the bundler or the SDK where the worker or the .wasm
// files are.
import { init, createModel } from 'shiftaddaug';
import { loadModel } from 'shiftaddaug/infer';

/** Trains and deploys; resolves with the runtime, the epoch's loss and one image's probabilities. */
export async function trainAndDeploy(initOptions) {
  const rt = await init(initOptions);
  const n = 64, x = new Float32Array(n * 784), y = new Uint8Array(n);
  let s = 1;
  for (let i = 0; i < x.length; i++) { s = (s * 1103515245 + 12345) % 2147483648; x[i] = s / 2147483648; }
  for (let i = 0; i < n; i++) y[i] = i % 10;
  const model = await createModel({ inputShape: [1, 28, 28], numClasses: 10, conv: 'shift', widths: [4, 8] });
  const h = await model.fit(x, y, { epochs: 1, batchSize: 16 });
  const deployed = await loadModel(await model.exportModel(), { calibration: { x, images: n } });
  const p = deployed.predict(x.subarray(0, 784), [1, 1, 28, 28]);
  model.dispose();
  deployed.dispose();
  return { backend: rt.backend, module: rt.module, worker: rt.worker, threads: rt.threads, simd: rt.simd, loss: h.history.loss, probabilities: Array.from(p) };
}
