// Demo page: uses the SDK exactly as a user would (import from ./pkg/index.js).
import { init, createModel, parseIdx } from './pkg/index.js';
import { drawPlot } from './plot.js';
import { drawingPad } from './draw.js';

const CLASSES = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'];
const N_TEST = 2000;
const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
for (const k of ['model', 'mode', 'backend', 'conv', 'ntrain', 'epochs', 'batch', 'croppad']) if (params.has(k)) $(k).value = params.get(k);
if (params.has('flip')) $('flip').checked = params.get('flip') !== '0';

const status = (s) => { $('status').textContent = s; };
const note = (s) => { $('note').textContent = s; };
let rt = null;
let data = null;
let controller = null;
/** The models of the last run, kept for Classify and the downloads until the next Train. */
let trained = [];

async function loadIdx(name) {
  const r = await fetch(`./data/${name}`);
  if (!r.ok) throw new Error(`fetch ${name}: HTTP ${r.status}`);
  return parseIdx(new Uint8Array(await r.arrayBuffer()));
}

async function loadData() {
  const [ti, tl, vi, vl] = await Promise.all([
    loadIdx('train-images-idx3-ubyte.gz'), loadIdx('train-labels-idx1-ubyte.gz'),
    loadIdx('t10k-images-idx3-ubyte.gz'), loadIdx('t10k-labels-idx1-ubyte.gz'),
  ]);
  const toF32 = (u8) => { const f = new Float32Array(u8.length); for (let i = 0; i < u8.length; i++) f[i] = u8[i] / 255; return f; };
  return { trainX: toF32(ti.data), trainY: tl.data, testX: toF32(vi.data.subarray(0, N_TEST * 784)), testY: vl.data.subarray(0, N_TEST) };
}

// ShiftAddAug needs a zoo model (the small MF CNN has no supernet): the page switches the model
// or the mode visibly and says why, never silently.
function coupleModelAndMode(changed) {
  if ($('model').value !== 'mfcnn' || $('mode').value === 'direct') return;
  if (changed === 'model') {
    $('mode').value = 'direct';
    note('The small MF CNN trains directly only (ShiftAddAug needs a zoo model), so Training is set to "direct".');
  } else {
    $('model').value = 'mbv2-tiny';
    note('ShiftAddAug trains a zoo model inside a wider supernet; the small MF CNN has none, so the model is set to MobileNetV2-Tiny.');
  }
}
$('model').addEventListener('change', () => { note(''); coupleModelAndMode('model'); });
$('mode').addEventListener('change', () => { note(''); coupleModelAndMode('mode'); });
coupleModelAndMode('mode');

/** The form's numbers, or a sentence saying which one is wrong. */
function readForm() {
  const field = (id, name, lo, hi) => {
    const raw = $(id).value.trim(), v = Number(raw);
    const ok = raw !== '' && Number.isInteger(v) && v >= lo && v <= hi;
    return ok ? [v, null] : [null, `${name} must be a whole number from ${lo.toLocaleString('en')} to ${hi.toLocaleString('en')} (got "${raw}").`];
  };
  const [nTrain, e1] = field('ntrain', 'Training images', 64, 60000);
  const [epochs, e2] = field('epochs', 'Epochs', 1, 20);
  const [batchSize, e3] = field('batch', 'Batch size', 1, 1024);
  const [cropPadding, e4] = field('croppad', 'Crop padding', 0, 32);
  const error = e1 ?? e2 ?? e3 ?? e4 ?? (batchSize > nTrain ? `Batch size (${batchSize}) must not exceed the number of training images (${nTrain}).` : null);
  return { error, nTrain, epochs, batchSize, cropPadding, horizontalFlip: $('flip').checked };
}

/** The runs the form asks for: [{ label, color, config }]. */
function plannedRuns() {
  const conv = $('conv').value, mode = $('mode').value, model = $('model').value;
  if (model === 'mfcnn') {
    return [{ label: 'direct', color: '#c62828', config: { inputShape: [1, 28, 28], numClasses: 10, conv, widths: [8, 16, 32] } }];
  }
  const zoo = (aug) => ({ model, inputShape: [1, 28, 28], numClasses: 10, conv, aug });
  const direct = { label: 'direct', color: '#c62828', config: zoo({ enabled: false, widthList: [1], expandList: [1] }) };
  const aug = { label: 'ShiftAddAug', color: '#6a1b9a', config: zoo({}) };
  return mode === 'direct' ? [direct] : mode === 'aug' ? [aug] : [direct, aug];
}

function showPredictions(probs, n) {
  const box = $('preds'); box.textContent = '';
  for (let i = 0; i < n; i++) {
    const row = probs.subarray(i * 10, i * 10 + 10);
    let arg = 0; for (let k = 1; k < 10; k++) if (row[k] > row[arg]) arg = k;
    const div = document.createElement('div'); div.className = 'pred';
    const cv = document.createElement('canvas'); cv.width = 28; cv.height = 28;
    const img = cv.getContext('2d').createImageData(28, 28);
    for (let p = 0; p < 784; p++) { const v = 255 - data.testX[i * 784 + p] * 255; img.data.set([v, v, v, 255], p * 4); }
    cv.getContext('2d').putImageData(img, 0, 0);
    const ok = arg === data.testY[i];
    div.append(cv, Object.assign(document.createElement('div'), { className: ok ? 'ok' : 'bad', textContent: CLASSES[arg] }));
    div.title = `true: ${CLASSES[data.testY[i]]}, p=${row[arg].toFixed(2)}`;
    box.append(div);
  }
}

const argmax = (r) => r.reduce((b, v, i) => (v > r[b] ? i : b), 0);

/**
 * The last trained model deployed as users deploy it: exported, loaded into the integer engine
 * (`shiftaddaug/infer`, its own small wasm, on this page's thread), calibrated on 512 training
 * images, and run on the first test images beside the float model.
 */
async function showInteger(n = 200) {
  const box = $('integer');
  box.textContent = 'Running the exported model on the integer engine…';
  try {
    const { loadModel } = await import('./pkg/infer.js');
    const float = trained.at(-1);
    const m = await loadModel(await float.exportModel());
    m.quantize({ calibration: data.trainX.subarray(0, 512 * 784), images: 512 });
    const x = data.testX.subarray(0, n * 784);
    const probs = new Float32Array(n * 10);
    let ms = 0;
    for (let i = 0; i < n; i += 20) {
      const k = Math.min(20, n - i), t0 = performance.now();
      probs.set(m.predict(x.subarray(i * 784, (i + k) * 784), [k, 1, 28, 28]), i * 10);
      ms += performance.now() - t0;
      await new Promise((r) => setTimeout(r, 0));
    }
    m.dispose();
    const ref = await float.predict(x, [n, 1, 28, 28]);
    let agree = 0, correct = 0;
    for (let i = 0; i < n; i++) {
      const [a, b] = [argmax(ref.subarray(i * 10, i * 10 + 10)), argmax(probs.subarray(i * 10, i * 10 + 10))];
      agree += a === b; correct += b === data.testY[i];
    }
    box.textContent = `On the integer engine (shifts and additions on 16-bit fixed point, Shiftmax probabilities): `
      + `test accuracy ${(correct / n).toFixed(3)} on ${n} images, the float model's class for ${(100 * agree / n).toFixed(1)} % of them, `
      + `${(ms / n).toFixed(2)} ms per image on this page's thread.`;
  } catch (e) {
    box.textContent = `The integer engine could not run this model: ${e.code ?? ''} ${e.message}`;
  }
}

/** Download links for each trained model's export files. */
async function showDownloads(runs) {
  const box = $('deploy'); box.textContent = 'Download: ';
  for (const [i, m] of trained.entries()) {
    const { json, safetensors } = await m.exportModel();
    for (const [name, blob] of [['model.json', new Blob([json], { type: 'application/json' })], ['model.safetensors', new Blob([safetensors])]]) {
      const a = document.createElement('a');
      a.href = URL.createObjectURL(blob); a.download = name;
      a.textContent = `${runs.length > 1 ? `${runs[i].label} ` : ''}${name} (${(blob.size / 1024).toFixed(1)} KB)`;
      box.append(a);
    }
  }
}

/** Locks (or unlocks) the form while training; Stop is enabled only while training. */
function lockForm(locked) {
  for (const el of document.querySelectorAll('fieldset select, fieldset input')) el.disabled = locked;
  $('train').disabled = locked; $('stop').disabled = !locked; $('classify').disabled = locked || trained.length === 0;
}

/** A plain sentence for where training runs. */
const backendText = (r) => `training on ${r.backend === 'webgpu' ? 'the GPU (WebGPU)' : `the CPU (WebAssembly${r.simd ? ' with SIMD' : ''})`}`
  + `${!r.worker ? ' on the page thread' : r.threads > 1 ? ` in ${r.threads} background workers` : ' in a background worker'}`;

const PHASE = { training: 'training', validation: 'evaluating on the test images', bnReestimation: 'BatchNorm re-estimation' };
const clock = (s) => (Number.isFinite(s) ? `${Math.floor(s / 60)}:${String(Math.round(s % 60)).padStart(2, '0')}` : '–');

async function train() {
  const form = readForm();
  if (form.error) {
    status(form.error);
    document.body.dataset.state = 'invalid';
    return;
  }
  for (const m of trained) m.dispose();
  trained = [];
  $('deploy').textContent = 'The trained model\'s files appear here after training.';
  lockForm(true); $('testacc').textContent = '–';
  const { nTrain, epochs, batchSize } = form;
  const total = Math.ceil(nTrain / batchSize), planned = total * epochs;
  const runs = plannedRuns().map((r) => ({ ...r, points: [], phase: null, t0: 0 }));
  const redraw = () => drawPlot($('plot'), $('legend'), runs, planned, total);
  redraw();
  controller = new AbortController();
  const models = [];
  let ticker = null;
  document.body.dataset.state = 'training';
  try {
    if (!rt || rt.requested !== $('backend').value) {
      status('initialising backend…');
      rt = await init({ backend: $('backend').value });
      rt.requested = $('backend').value;
    }
    for (const r of runs) models.push(await createModel(r.config, { totalSteps: planned }));
    const head = `${backendText(rt)}; ` + runs.map((r, i) => `${r.label}: ${models[i].numParams.toLocaleString('en')} parameters (deployed model)`).join(', ');
    const t0 = performance.now();
    const accs = runs.map(() => '–');
    const line = (q) => {
      const done = q.points.length, s = (performance.now() - t0) / 1000;
      const rate = done / s;
      const p = q.phase && q.phase.phase !== 'training' ? `  [${PHASE[q.phase.phase]} ${q.phase.done}/${q.phase.total}]` : `  ETA ${clock((planned - done) / rate)}`;
      return `${q.label}: epoch ${Math.min(epochs, Math.floor(done / total) + 1)}/${epochs} · batch ${done % total || (done ? total : 0)}/${total}`
        + ` · loss ${(q.points.at(-1)?.loss ?? NaN).toFixed(4)} · ${(rate * batchSize).toFixed(0)} images/s${p}`;
    };
    const showStatus = () => status(`${head}\n${runs.map(line).join('\n')}`);
    ticker = setInterval(() => { redraw(); showStatus(); }, 1000);
    let stopped = false;
    await Promise.all(runs.map((r, i) => models[i].fit(data.trainX.subarray(0, nTrain * 784), data.trainY.subarray(0, nTrain), {
      epochs, batchSize, signal: controller.signal,
      cropPadding: form.cropPadding, horizontalFlip: form.horizontalFlip,
      validationData: [data.testX, data.testY],
      resetBn: Math.min(nTrain, 4096),
      callbacks: {
        onBatchEnd: (b, logs) => {
          r.points.push(logs);
          if (b % 5 === 0 || b === total - 1) { redraw(); showStatus(); }
        },
        onPhase: (p) => { r.phase = p; if (p.phase !== 'training') showStatus(); },
        onEpochEnd: (e, logs) => {
          accs[i] = logs.valAcc.toFixed(4);
          $('testacc').textContent = runs.length === 1 ? accs[0] : runs.map((q, k) => `${q.label} ${accs[k]}`).join('  ·  ');
          $('testacc').dataset.epoch = String(e + 1);
        },
      },
    }).catch((e) => {
      // Stop is a normal end: the model keeps what it learned.
      if (e.code === 'ABORTED') { stopped = true; return e.history; }
      throw e;
    })));
    clearInterval(ticker);
    const secs = (performance.now() - t0) / 1000;
    redraw();
    // After the BN re-estimation the deployed model is re-evaluated.
    const final = await Promise.all(models.map((m, i) => m.evaluate(data.testX, data.testY).then((v) => { accs[i] = v.acc.toFixed(4); return v.acc; })));
    $('testacc').textContent = runs.length === 1 ? accs[0] : runs.map((q, k) => `${q.label} ${accs[k]}`).join('  ·  ');
    const trainLoss = runs.map((r) => (r.points.at(-1)?.loss ?? NaN).toFixed(4));
    const seen = runs.reduce((n, q) => n + q.points.length * batchSize, 0);
    status(`${head}\n${stopped ? 'stopped' : 'done'}: ${stopped ? `after ${seen} images` : `${epochs} epoch(s) on ${nTrain} images`} in ${secs.toFixed(1)} s (${(seen / secs).toFixed(0)} images/s); `
      + runs.map((r, i) => `${runs.length > 1 ? r.label + ': ' : ''}train loss ${trainLoss[i]}, test accuracy ${final[i].toFixed(4)}`).join('; '));
    showPredictions(await models.at(-1).predict(data.testX.subarray(0, 24 * 784), [24, 1, 28, 28]), 24);
    trained = models.splice(0);
    await showDownloads(runs);
    await showInteger();
    $('drawresult').textContent = `Draw, then Classify (with the ${runs.at(-1).label} model).`;
    // Final state only once everything the run shows is on the page.
    document.body.dataset.state = stopped ? 'stopped' : 'done';
  } catch (e) {
    status(`error ${e.code ?? ''}: ${e.message}`);
    document.body.dataset.state = 'error';
  } finally {
    clearInterval(ticker);
    for (const m of models) m.dispose();
    lockForm(false);
  }
}

const pad = drawingPad($('draw'));
$('clear').onclick = () => pad.clear();
$('classify').onclick = async () => {
  const m = trained.at(-1);
  if (!m) return;
  const probs = await m.predict(pad.image(), [1, 1, 28, 28]);
  const top = [...probs].map((p, k) => [p, k]).sort((a, b) => b[0] - a[0]).slice(0, 3);
  $('drawresult').textContent = top.map(([p, k]) => `${CLASSES[k]} ${(p * 100).toFixed(0)}%`).join(' · ');
};
$('train').onclick = train;
$('stop').onclick = () => controller?.abort();
(async () => {
  try {
    status('loading Fashion-MNIST from this site…');
    rt = await init({ backend: $('backend').value });
    rt.requested = $('backend').value;
    data = await loadData();
    status(`ready: ${data.trainY.length} training / ${data.testY.length} test images; ${backendText(rt)}`);
    document.body.dataset.state = 'ready';
    if (params.has('autostart')) train();
  } catch (e) {
    status(`error ${e.code ?? ''}: ${e.message}`);
    document.body.dataset.state = 'error';
  }
})();
