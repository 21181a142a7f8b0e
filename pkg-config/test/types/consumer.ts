// Compiles only if the public .d.ts fits a consumer's code (tsc --noEmit, see scripts/test.sh),
// under lib es2022 + dom (no ESNext.Disposable).
import { init, createModel, ShiftAddAugError, type History, type PhaseInfo, type RuntimeInfo } from '../../../pkg/index.js';

async function main(x: Float32Array, y: Uint8Array): Promise<number> {
  const rt: RuntimeInfo = await init({ backend: ['webgpu', 'wasm'], worker: true });
  const model = await createModel({ inputShape: [1, 28, 28], numClasses: 10, conv: 'add', widths: [8, 16] });
  const h: History = await model.fit(x, y, { epochs: 1, batchSize: 32, callbacks: { onEpochEnd: (e, l) => void (e + l.loss) } });
  const p: Float32Array = await model.predict(x, [1, 1, 28, 28]);
  model.dispose();
  const zoo = await createModel({ model: 'mbv2-tiny', inputShape: [1, 32, 32], numClasses: 10, conv: 'shift', stemConv: 'mult', classifier: 'add', aug: { alpha: 0.5 } });
  const phases: PhaseInfo[] = [];
  const stop = new AbortController();
  try {
    await zoo.fit(x, y, { epochs: 1, cropPadding: 2, horizontalFlip: true, evalBnImages: 500, signal: stop.signal, callbacks: { onPhase: (p) => void phases.push(p) } });
  } catch (e) {
    if (e instanceof ShiftAddAugError && e.code === 'ABORTED') return (e.history?.epoch.length ?? 0) + phases.length;
  }
  zoo.dispose();
  try { await init({ backend: 'wasm' }); } catch (e) { if (e instanceof ShiftAddAugError) return e.code.length; }
  return h.history.loss.length + p.length + rt.version.length;
}
void main;

// The inference entry, typed on its own.
import { loadModel, type DeployedModel } from '../../../pkg/infer.js';

async function deploy(exported: { json: string; safetensors: Uint8Array }, x: Float32Array): Promise<number> {
  const m: DeployedModel = await loadModel(exported, { calibration: { x, images: 1 } });
  const p: Float32Array = m.predict(x, [1, 1, 28, 28], { engine: 'integer' });
  const threads: number = (await init({ threads: 2 })).threads;
  const energy: number = m.cost({ bits: 8, convention: 'physical' }).energyPj;
  m.dispose();
  return p.length + m.classes + threads + energy;
}
void deploy;

// The architecture search, typed.
import { createModel as create2, type SearchCandidate, type SearchResult } from '../../../pkg/index.js';

async function searchTyped(x: Float32Array, y: Int32Array): Promise<number> {
  const supernet = await create2({ model: 'mbv2-tiny', inputShape: [1, 28, 28], numClasses: 10, conv: 'shift', aug: { enabled: true } });
  const r: SearchResult = await supernet.search({
    bnData: [x, y], evalData: [x, y], maxMacs: 400_000, maxEnergyUj: 0.05, population: 8, generations: 2,
    callbacks: { onGeneration: (g: number, best: SearchCandidate) => { void (g + best.accuracy); } },
    signal: new AbortController().signal,
  });
  const next = await create2({ model: 'mbv2-tiny', inputShape: [1, 28, 28], numClasses: 10, conv: 'shift', spec: r.best.plan });
  next.dispose();
  const asFound: DeployedModel = await loadModel(r.export);
  asFound.dispose();
  return r.front.length + r.best.cost.macs + (r.stopped ? 1 : 0);
}
void searchTyped;

// Saving and resuming, typed.
import { listModels, loadModel as loadSaved, removeModel, type SavedModelInfo } from '../../../pkg/index.js';

async function persist(x: Float32Array, y: Uint8Array): Promise<number> {
  const m = await createModel({ inputShape: [1, 28, 28], numClasses: 10 });
  await m.fit(x, y, { epochs: 2, checkpointEvery: 10, checkpointUrl: 'indexeddb://run' });
  await m.save('indexeddb://done');
  const again = await loadSaved('indexeddb://run');
  const h = await again.fit(x, y, { epochs: 2, resume: true });
  const saved: SavedModelInfo[] = await listModels();
  await removeModel(saved[0].url);
  return h.epoch.length + (saved[0].position?.batch ?? 0) + saved[0].step;
}
void persist;
