// Demo page: uses the SDK exactly as a user would (import from ./pkg/index.js).
import { init, createModel, parseIdx } from './pkg/index.js';

const CLASSES = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'];
const N_TEST = 2000;
const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
for (const k of ['model', 'mode', 'backend', 'conv', 'ntrain', 'epochs', 'batch', 'croppad']) if (params.has(k)) $(k).value = params.get(k);
if (params.has('flip')) $('flip').checked = params.get('flip') !== '0';

const status = (s) => { $('status').textContent = s; };
let rt = null;
let data = null;
let controller = null;

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

// Live plot: per-batch loss of every run (left axis) and, for a single run, batch accuracy
// (right axis 0..1, blue). Runs: { label, color, points: [{ loss, acc }] }.
let runs = [];
function plot() {
  const c = $('plot'), g = c.getContext('2d');
  g.clearRect(0, 0, c.width, c.height);
  g.strokeStyle = '#eee';
  for (let i = 0; i <= 4; i++) { g.beginPath(); g.moveTo(0, i * c.height / 4); g.lineTo(c.width, i * c.height / 4); g.stroke(); }
  const all = runs.flatMap((r) => r.points);
  if (all.length < 2) return;
  const maxLoss = Math.max(...all.map((p) => p.loss), 1e-6);
  const longest = Math.max(...runs.map((r) => r.points.length), 2);
  const draw = (pts, key, scale, color) => {
    g.strokeStyle = color; g.lineWidth = 1.5; g.beginPath();
    pts.forEach((p, i) => {
      const x = i / (longest - 1) * c.width, y = c.height - p[key] / scale * (c.height - 4) - 2;
      i ? g.lineTo(x, y) : g.moveTo(x, y);
    });
    g.stroke();
  };
  for (const r of runs) draw(r.points, 'loss', maxLoss, r.color);
  if (runs.length === 1) draw(runs[0].points, 'acc', 1, '#1565c0');
  g.fillStyle = '#333'; g.font = '12px sans-serif';
  const colour = (r) => (r.color === '#c62828' ? 'red' : 'purple');
  const legend = runs.length === 1 ? `${runs[0].label} loss (${colour(runs[0])}, max ${maxLoss.toFixed(2)})  ·  batch accuracy (blue, 0–1)`
    : runs.map((r) => `${r.label} loss (${colour(r)})`).join('  ·  ') + `  ·  max ${maxLoss.toFixed(2)}`;
  g.fillText(legend, 8, 14);
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

/** The runs the form asks for: [{ label, color, config }]. */
function plannedRuns() {
  const conv = $('conv').value;
  const mode = $('mode').value;
  if ($('model').value === 'mfcnn' && mode === 'direct') {
    return [{ label: 'direct', color: '#c62828', config: { inputShape: [1, 28, 28], numClasses: 10, conv, widths: [8, 16, 32] } }];
  }
  // ShiftAddAug needs a zoo supernet (MobileNetV2-Tiny for the small CNN, which has no augmentation).
  const model = $('model').value === 'mfcnn' ? 'mbv2-tiny' : $('model').value;
  const mbv2 = (aug) => ({ model, inputShape: [1, 28, 28], numClasses: 10, conv, aug });
  const direct = { label: 'direct', color: '#c62828', config: mbv2({ enabled: false, widthList: [1], expandList: [1] }) };
  const aug = { label: 'ShiftAddAug', color: '#6a1b9a', config: mbv2({}) };
  return mode === 'direct' ? [direct] : mode === 'aug' ? [aug] : [direct, aug];
}

/** Locks (or unlocks) the form while training; Stop is enabled only while training. */
function lockForm(locked) {
  for (const el of document.querySelectorAll('fieldset select, fieldset input')) el.disabled = locked;
  $('train').disabled = locked; $('stop').disabled = !locked;
}

/** A plain sentence for where training runs. */
const backendText = (r) => `training on ${r.backend === 'webgpu' ? 'the GPU (WebGPU)' : `the CPU (WebAssembly${r.simd ? ' with SIMD' : ''})`}`
  + `${r.worker ? ' in a background worker' : ' on the page thread'}`;

const PHASE = { training: 'training', validation: 'evaluating on the test images', bnReestimation: 'BatchNorm re-estimation' };

async function train() {
  lockForm(true); $('testacc').textContent = '–';
  const planned = plannedRuns();
  runs = planned.map((r) => ({ ...r, points: [], phase: null }));
  plot();
  controller = new AbortController();
  const models = [];
  try {
    if (!rt || rt.requested !== $('backend').value) {
      status('initialising backend…');
      rt = await init({ backend: $('backend').value });
      rt.requested = $('backend').value;
    }
    const nTrain = Math.min(60000, Math.max(64, Number($('ntrain').value)));
    const batchSize = Number($('batch').value), epochs = Number($('epochs').value);
    const total = Math.ceil(nTrain / batchSize);
    for (const r of runs) models.push(await createModel(r.config, { totalSteps: total * epochs }));
    const head = `${backendText(rt)}; ` + runs.map((r, i) => `${r.label}: ${models[i].numParams} parameters`).join(', ');
    const t0 = performance.now();
    const accs = runs.map(() => '–');
    const phaseText = (q) => (q.phase && q.phase.phase !== 'training' ? `  [${PHASE[q.phase.phase]} ${q.phase.done}/${q.phase.total}]` : '');
    const showStatus = () => {
      const s = (performance.now() - t0) / 1000;
      const images = runs.reduce((n, q) => n + q.points.length * batchSize, 0);
      status(`${head}\n` + runs.map((q) => `${q.label}: batch ${q.points.length % total || total}/${total}  loss ${(q.points.at(-1)?.loss ?? NaN).toFixed(4)}${phaseText(q)}`).join('  |  ')
        + `  ${(images / s).toFixed(0)} images/s`);
    };
    let stopped = false;
    const histories = await Promise.all(runs.map((r, i) => models[i].fit(data.trainX.subarray(0, nTrain * 784), data.trainY.subarray(0, nTrain), {
      epochs, batchSize, signal: controller.signal,
      cropPadding: Number($('croppad').value), horizontalFlip: $('flip').checked,
      validationData: [data.testX, data.testY],
      resetBn: Math.min(nTrain, 4096),
      callbacks: {
        onBatchEnd: (b, logs) => {
          r.points.push(logs);
          if (b % 5 === 0 || b === total - 1) { plot(); showStatus(); }
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
    const secs = (performance.now() - t0) / 1000;
    plot();
    // After the BN re-estimation (zoo models) the deployed tiny model is re-evaluated.
    const final = await Promise.all(models.map((m, i) => m.evaluate(data.testX, data.testY).then((v) => { accs[i] = v.acc.toFixed(4); return v.acc; })));
    $('testacc').textContent = runs.length === 1 ? accs[0] : runs.map((q, k) => `${q.label} ${accs[k]}`).join('  ·  ');
    const trainLoss = runs.map((r) => (r.points.at(-1)?.loss ?? NaN).toFixed(4));
    const seen = runs.reduce((n, q) => n + q.points.length * batchSize, 0);
    status(`${head}\n${stopped ? 'stopped' : 'done'}: ${stopped ? `after ${seen} images` : `${epochs} epoch(s) on ${nTrain} images`} in ${secs.toFixed(1)} s (${(seen / secs).toFixed(0)} images/s); `
      + runs.map((r, i) => `${runs.length > 1 ? r.label + ': ' : ''}train loss ${trainLoss[i]}, test accuracy ${final[i].toFixed(4)}`).join('; '));
    void histories;
    showPredictions(await models.at(-1).predict(data.testX.subarray(0, 24 * 784), [24, 1, 28, 28]), 24);
    // Final state only once everything the run shows is on the page.
    document.body.dataset.state = stopped ? 'stopped' : 'done';
  } catch (e) {
    status(`error ${e.code ?? ''}: ${e.message}`);
    document.body.dataset.state = 'error';
  } finally {
    for (const m of models) m.dispose();
    lockForm(false);
  }
}

$('train').onclick = train;
$('stop').onclick = () => controller?.abort();
(async () => {
  try {
    status('loading Fashion-MNIST from this site…');
    rt = await init({ backend: $('backend').value });
    rt.requested = $('backend').value;
    data = await loadData();
    status(`ready: ${data.trainY.length} training / ${data.testY.length} test images; backend ${rt.backend} (${rt.reason})`);
    document.body.dataset.state = 'ready';
    if (params.has('autostart')) train();
  } catch (e) {
    status(`error ${e.code ?? ''}: ${e.message}`);
    document.body.dataset.state = 'error';
  }
})();
