// Demo page: uses the SDK exactly as a user would (import from ./pkg/index.js).
import { init, createModel, parseIdx } from './pkg/index.js';
import { drawPlot } from './plot.js';
import { drawingPad } from './draw.js';

const CLASSES = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'];
const N_TEST = 2000;
const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
for (const k of ['model', 'mode', 'backend', 'threads', 'conv', 'ntrain', 'epochs', 'batch', 'croppad', 'subnets']) if (params.has(k)) $(k).value = params.get(k);
if (params.get('kernels') === '1') $('kernels').checked = true;
if (params.has('flip')) $('flip').checked = params.get('flip') !== '0';

const status = (s) => { $('status').textContent = s; };
const note = (s) => { $('note').textContent = s; };
let rt = null;
let data = null;
let controller = null;
/** The models of the last run, kept for Classify and the downloads until the next Train. */
let trained = [];
/** The plan the next Train uses for its ShiftAddAug run (set by "Train the chosen net"). */
let pendingPlan = null;
/** The best plan of the last search. */
let found = null;

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
  const [subnets, e5] = field('subnets', 'Sub-networks', 0, 8);
  const kernels = $('kernels').checked;
  const e6 = kernels && subnets === 0 ? 'Kernels 3/5/7 are trained by sub-networks: set Sub-networks to 1 or more, or untick Kernels.' : null;
  const error = e1 ?? e2 ?? e3 ?? e4 ?? e5 ?? e6 ?? (batchSize > nTrain ? `Batch size (${batchSize}) must not exceed the number of training images (${nTrain}).` : null);
  return { error, nTrain, epochs, batchSize, cropPadding, horizontalFlip: $('flip').checked, subnets, kernels };
}

/**
 * The runs the form asks for: [{ label, color, config }]. `subnets`: MF sub-networks of the
 * search space trained per ShiftAddAug step (stage 1 of the search, `aug.subnets`); `kernels`:
 * they also draw depthwise kernels 3, 5 and 7 (`aug.subnetKernels`).
 */
function plannedRuns(subnets = 0, kernels = false) {
  const conv = $('conv').value, mode = $('mode').value, model = $('model').value;
  if (model === 'mfcnn') {
    return [{ label: 'direct', color: '#c62828', config: { inputShape: [1, 28, 28], numClasses: 10, conv, widths: [8, 16, 32] } }];
  }
  const zoo = (aug) => ({ model, inputShape: [1, 28, 28], numClasses: 10, conv, aug });
  const direct = { label: 'direct', color: '#c62828', config: zoo({ enabled: false, widthList: [1], expandList: [1] }) };
  const stage1 = kernels && subnets > 0 ? { subnets, subnetKernels: [3, 5, 7] } : { subnets };
  const subLabel = `ShiftAddAug + ${subnets} sub-network${subnets > 1 ? 's' : ''}${stage1.subnetKernels ? ', kernels 3/5/7' : ''}`;
  const aug = pendingPlan
    ? { label: 'ShiftAddAug (searched net)', color: '#6a1b9a', config: { ...zoo(stage1), spec: pendingPlan } }
    : { label: subnets ? subLabel : 'ShiftAddAug', color: '#6a1b9a', config: zoo(stage1) };
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
 * Runs a deployed model (`shiftaddaug/infer`, its own small wasm, on this page's thread) on the
 * first `n` test images after calibrating it on 512 training images, and compares it with
 * `reference` (the float model's probabilities). Returns a sentence: test accuracy, agreement,
 * and latency per image at batch 1 (the first 50 images one by one) and in batches of 20.
 */
async function runDeployed(m, reference, n = 200) {
  const [c, h, w] = m.inputShape;
  if (c !== 1 || h !== w || h < 28) throw Object.assign(new Error(`the model takes ${c}×${h}×${w} images; this page has 1×28×28 (or padded to a larger square)`), { code: 'SHAPE_MISMATCH' });
  const pad = (x, k) => {
    if (h === 28) return x;
    const out = new Float32Array(k * h * h), o = (h - 28) >> 1;
    for (let i = 0; i < k; i++) for (let r = 0; r < 28; r++) out.set(x.subarray(i * 784 + r * 28, i * 784 + r * 28 + 28), i * h * h + (r + o) * h + o);
    return out;
  };
  const per = h * h;
  m.quantize({ calibration: pad(data.trainX.subarray(0, 512 * 784), 512), images: 512 });
  const x = pad(data.testX.subarray(0, n * 784), n);
  const probs = new Float32Array(n * 10);
  const single = [];
  for (let i = 0; i < 50; i++) {
    const t0 = performance.now();
    m.predict(x.subarray(i * per, (i + 1) * per), [1, 1, h, h]);
    single.push(performance.now() - t0);
  }
  single.sort((a, b) => a - b);
  let ms = 0;
  for (let i = 0; i < n; i += 20) {
    const k = Math.min(20, n - i), t0 = performance.now();
    probs.set(m.predict(x.subarray(i * per, (i + k) * per), [k, 1, h, h]), i * 10);
    ms += performance.now() - t0;
    await new Promise((r) => setTimeout(r, 0));
  }
  const ref = await reference(x, n, h);
  let agree = 0, correct = 0;
  for (let i = 0; i < n; i++) {
    const [a, b] = [argmax(ref.subarray(i * 10, i * 10 + 10)), argmax(probs.subarray(i * 10, i * 10 + 10))];
    agree += a === b; correct += b === data.testY[i];
  }
  const cost = m.cost(), flow = m.dataflow();
  const macs = cost.macs.mult + cost.macs.shift + cost.macs.add;
  return `test accuracy ${(correct / n).toFixed(3)} on ${n} images, the float model's class for ${(100 * agree / n).toFixed(1)} % of them, `
    + `${single[25].toFixed(2)} ms per image one at a time (median), ${(ms / n).toFixed(2)} ms per image in batches of 20, on this page's thread. `
    + `Compute energy ${(cost.energyPj / 1e6).toFixed(3)} µJ per image on a 45 nm chip (32-bit operations; ${(macs / 1e6).toFixed(2)} M multiply-accumulates, `
    + `${(100 * (cost.macs.shift + cost.macs.add) / macs).toFixed(1)} % of them shifts or additions). `
    + `With memory traffic on an Eyeriss-like accelerator: ${(flow.energyPj.total / 1e6).toFixed(1)} µJ per image, ${(100 * flow.energyPj.dram / flow.energyPj.total).toFixed(0)} % of it DRAM, `
    + `${(flow.latencyMs * 1e3).toFixed(0)} µs at 250 MHz.`;
}

/** The last trained model deployed as users deploy it: exported, then run by {@link runDeployed}. */
async function showInteger() {
  const box = $('integer');
  box.textContent = 'Running the exported model on the integer engine…';
  try {
    const { loadModel } = await import('./pkg/infer.js');
    const float = trained.at(-1);
    const m = await loadModel(await float.exportModel());
    try {
      const text = await runDeployed(m, (x, n, h) => float.predict(x, [n, 1, h, h]));
      box.textContent = `On the integer engine (shifts and additions on 16-bit fixed point, Shiftmax probabilities): ${text}`;
    } finally { m.dispose(); }
  } catch (e) {
    box.textContent = `The integer engine could not run this model: ${e.code ?? ''} ${e.message}`;
  }
}

/** A dropped or chosen `model.json` + `model.safetensors` pair, run by {@link runDeployed}. */
async function deployFiles(files) {
  const box = $('dropresult');
  const json = [...files].find((f) => f.name.endsWith('.json')), st = [...files].find((f) => f.name.endsWith('.safetensors'));
  if (!json || !st) {
    box.textContent = `Give both files, a .json and a .safetensors (got: ${[...files].map((f) => f.name).join(', ') || 'nothing'}).`;
    return;
  }
  if (!data) { box.textContent = 'The test images are still loading; try again in a moment.'; return; }
  box.textContent = `Loading ${json.name} + ${st.name}…`;
  try {
    const { loadModel } = await import('./pkg/infer.js');
    const m = await loadModel({ json: await json.text(), safetensors: new Uint8Array(await st.arrayBuffer()) });
    try {
      const text = await runDeployed(m, async (x, n, h) => m.predict(x, [n, 1, h, h], { engine: 'float' }));
      box.textContent = `${json.name} + ${st.name} on the integer engine: ${text} (float: the f32 reference of the same files)`;
    } finally { m.dispose(); }
  } catch (e) {
    box.textContent = `${json.name} + ${st.name} could not be deployed: ${e.code ?? ''} ${e.message}`;
  }
}

const zone = $('dropzone');
zone.addEventListener('dragover', (e) => { e.preventDefault(); zone.classList.add('over'); });
zone.addEventListener('dragleave', () => zone.classList.remove('over'));
zone.addEventListener('drop', (e) => { e.preventDefault(); zone.classList.remove('over'); deployFiles(e.dataTransfer.files); });
$('modelfiles').addEventListener('change', (e) => deployFiles(e.target.files));

/** Download links for each trained model's export files. */
async function showDownloads(runs) {
  const box = $('deploy'); box.textContent = 'Download: ';
  for (const [i, m] of trained.entries()) appendDownloads(box, await m.exportModel(), runs.length > 1 ? `${runs[i].label} ` : '');
}

/** Locks (or unlocks) the form while training; Stop is enabled only while training. */
function lockForm(locked) {
  for (const el of document.querySelectorAll('fieldset select, fieldset input')) el.disabled = locked;
  $('train').disabled = locked; $('stop').disabled = !locked; $('classify').disabled = locked || trained.length === 0;
  const m = trained.at(-1)?.config;
  const searchable = Boolean(m && m.model !== 'mfcnn' && m.aug?.enabled !== false);
  $('search').disabled = locked || !searchable;
  $('trainplan').disabled = locked || !found;
  // The search box's hint (not a search's result) follows the model the search would take.
  const box = $('searchresult');
  if (!locked && box.dataset.hint !== undefined) {
    box.textContent = searchable
      ? `Ready: the search takes the ShiftAddAug ${[...$('model').options].find((o) => o.value === m.model)?.text ?? m.model} just trained.`
      : 'Train a zoo model with ShiftAddAug first.';
  }
}

/** The backend and worker count the form asks for. */
const runtimeKey = () => `${$('backend').value}/${$('threads').value}`;

/** `init` with the form's backend and workers ("auto": the SDK's default for this device). */
async function startRuntime() {
  const threads = $('threads').value === 'auto' ? {} : { threads: Number($('threads').value) };
  const r = await init({ backend: $('backend').value, ...threads });
  r.requested = runtimeKey();
  return r;
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
  $('searchresult').dataset.hint = '';
  lockForm(true); $('testacc').textContent = '–';
  const { nTrain, epochs, batchSize } = form;
  const total = Math.ceil(nTrain / batchSize), planned = total * epochs;
  const runs = plannedRuns(form.subnets, form.kernels).map((r) => ({ ...r, points: [], phase: null, t0: 0 }));
  pendingPlan = null;
  const redraw = () => drawPlot($('plot'), $('legend'), runs, planned, total);
  redraw();
  controller = new AbortController();
  const models = [];
  let ticker = null;
  document.body.dataset.state = 'training';
  try {
    if (!rt || rt.requested !== runtimeKey()) {
      status('initialising backend…');
      rt = await startRuntime();
    }
    for (const r of runs) models.push(await createModel(r.config, { totalSteps: planned }));
    const head = `${backendText(rt)}; ` + runs.map((r, i) => `${r.label}: ${models[i].numParams.toLocaleString('en')} parameters (deployed model)`).join(', ');
    const t0 = performance.now();
    const accs = runs.map(() => '–');
    const line = (q) => {
      const done = q.points.length, s = (performance.now() - t0) / 1000;
      const rate = done / s;
      const p = q.phase && q.phase.phase !== 'training' ? `  [${PHASE[q.phase.phase]} ${q.phase.done}/${q.phase.total}]` : `  ETA ${clock((planned - done) / rate)}`;
      // The last batch of an epoch still counts to that epoch (batch total/total, not the next epoch's 0).
      return `${q.label}: epoch ${done ? Math.min(epochs, Math.floor((done - 1) / total) + 1) : 1}/${epochs} · batch ${done % total || (done ? total : 0)}/${total}`
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

/** Download links for a `{ json, safetensors }` export, appended to `box`. */
function appendDownloads(box, exported, prefix = '') {
  for (const [name, blob] of [['model.json', new Blob([exported.json], { type: 'application/json' })], ['model.safetensors', new Blob([exported.safetensors])]]) {
    const a = document.createElement('a');
    a.href = URL.createObjectURL(blob); a.download = name;
    a.textContent = `${prefix}${name} (${(blob.size / 1024).toFixed(1)} KB)`;
    box.append(a);
  }
}

/**
 * The search's best as the supernet trained it (its weights, BatchNorm re-estimated on the
 * search's held-out images; no retraining), deployed by {@link runDeployed}, with its files.
 */
async function showFound(exported) {
  const box = $('foundresult');
  box.textContent = 'Running the chosen net with the supernet\'s weights on the integer engine…';
  try {
    const { loadModel } = await import('./pkg/infer.js');
    const m = await loadModel(exported);
    try {
      const text = await runDeployed(m, async (x, n, h) => m.predict(x, [n, 1, h, h], { engine: 'float' }));
      box.textContent = `The chosen net as the supernet trained it (no retraining), on the integer engine: ${text} (float: the f32 reference of the same files). Download: `;
      appendDownloads(box, exported);
    } finally { m.dispose(); }
  } catch (e) {
    box.textContent = `The chosen net could not be deployed: ${e.code ?? ''} ${e.message}`;
  }
}

/** Searches the last trained ShiftAddAug supernet within the MAC budget (see index.html). */
async function search() {
  const m = trained.at(-1);
  const field = (id, lo, hi) => { const v = Number($(id).value); return Number.isInteger(v) && v >= lo && v <= hi ? v : null; };
  const [budget, population, generations] = [field('budget', 10, 300), field('population', 2, 100), field('generations', 0, 50)];
  const ms = $('maxms').value.trim() === '' ? undefined : Number($('maxms').value);
  const box = $('searchresult');
  if (!m || budget === null || population === null || generations === null || (ms !== undefined && !(ms > 0))) {
    box.textContent = 'Budget 10–300 %, population 2–100 and generations 0–50 (whole numbers); a latency budget above 0 ms, or none.';
    return;
  }
  lockForm(true); $('stop').disabled = true; $('stopsearch').disabled = false;
  delete box.dataset.hint;
  $('foundresult').textContent = '';
  document.body.dataset.state = 'searching';
  controller = new AbortController();
  try {
    const { loadModel } = await import('./pkg/infer.js');
    const d = await loadModel(await m.exportModel());
    const c = d.cost().macs, own = c.mult + c.shift + c.add;
    d.dispose();
    const maxMacs = Math.round(own * budget / 100);
    // Held out: the training images after those the run used (the last 1000 when it used them all).
    const used = readForm().nTrain ?? data.trainY.length, first = Math.min(used, data.trainY.length - 1000);
    const part = (a, b) => [data.trainX.subarray(a * 784, b * 784), data.trainY.subarray(a, b)];
    const seen = first < used ? ' (seen in training: the run used every image)' : '';
    const latencyEngine = $('latencyengine').value;
    const within = ms === undefined ? '' : ` and ${ms} ms per image on this device (${latencyEngine === 'float' ? 'float model' : 'integer engine'})`;
    box.textContent = `searching within ${maxMacs.toLocaleString('en')} MACs${within} (the trained model: ${own.toLocaleString('en')} MACs)…`;
    const latency = (c) => (c.latencyNs ? `, ${(c.latencyNs / 1e6).toFixed(2)} ms here` : '');
    const line = (best) => `best: held-out accuracy ${best.accuracy.toFixed(4)} at ${best.cost.macs.toLocaleString('en')} MACs`
      + ` (${(100 * best.cost.macs / own).toFixed(0)} % of the trained model), ${best.cost.params.toLocaleString('en')} parameters${latency(best.cost)}`;
    let latest = '';
    const r = await m.search({
      bnData: part(first, first + 500), evalData: part(first + 500, first + 1000), maxMacs, maxLatencyMs: ms, latencyEngine, population, generations, seed: 0,
      signal: controller.signal,
      callbacks: {
        onGeneration: (g, best) => { latest = `generation ${g}/${generations}: ${line(best)}`; box.textContent = latest; },
        onCandidate: (n) => { box.textContent = `${latest || 'generation 0'} · ${n} candidates scored`; },
      },
    });
    found = r.best.plan;
    await showFound(r.export);
    box.textContent = `${r.stopped ? 'stopped' : 'done'}: ${line(r.best)}; ${r.evaluated.length} candidates scored on images ${first + 500}–${first + 999}${seen}; ${r.front.length} on the front`;
    const t = $('front'); t.textContent = '';
    const row = (cells, tag = 'td') => { const tr = document.createElement('tr'); for (const v of cells) { const c2 = document.createElement(tag); c2.textContent = v; tr.append(c2); } t.append(tr); };
    row(['MACs', 'held-out accuracy', 'parameters', ...(ms === undefined ? [] : ['ms per image here'])], 'th');
    for (const f of r.front) {
      row([f.cost.macs.toLocaleString('en'), f.accuracy.toFixed(4), f.cost.params.toLocaleString('en'), ...(ms === undefined ? [] : [(f.cost.latencyNs / 1e6).toFixed(2)])]);
    }
    document.body.dataset.state = 'searched';
  } catch (e) {
    box.textContent = `error ${e.code ?? ''}: ${e.message}`;
    document.body.dataset.state = 'error';
  } finally {
    $('stopsearch').disabled = true;
    lockForm(false);
  }
}

$('search').onclick = search;
$('stopsearch').onclick = () => controller?.abort();
$('trainplan').onclick = () => {
  if (!found) return;
  pendingPlan = found;
  $('mode').value = 'aug';
  train();
};

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
    rt = await startRuntime();
    data = await loadData();
    status(`ready: ${data.trainY.length} training / ${data.testY.length} test images; ${backendText(rt)}`);
    document.body.dataset.state = 'ready';
    if (params.has('autostart')) train();
  } catch (e) {
    status(`error ${e.code ?? ''}: ${e.message}`);
    document.body.dataset.state = 'error';
  }
})();
