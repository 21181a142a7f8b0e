// End-to-end: the demo page (served from dist/) trains one epoch in headless Chromium through the
// SDK's worker on the wasm backend; asserts the test accuracy the page shows, the plot's axes and
// legend, the model downloads, the integer engine on the trained model and on the downloaded files
// dropped onto the deploy view, classifying a drawing, the explanation, and input validation. Then the side-by-side
// mode trains direct and ShiftAddAug MobileNetV2-Tiny at once (with random crop and flip). Screenshots: target/e2e-*.png.
import { mkdirSync } from 'node:fs';
import { withDemoPage } from './demo-page.mjs';

const MIN_ACCURACY = 0.7;
const N_TRAIN = Number(process.env.E2E_NTRAIN ?? 3072);
const t0 = Date.now();
const failures = await withDemoPage(`backend=wasm&conv=shift&ntrain=${N_TRAIN}&epochs=1&batch=32&autostart=1`, 600_000, async (page, errors) => {
  const state = await page.evaluate(() => document.body.dataset.state);
  const status = await page.textContent('#status');
  const acc = Number(await page.textContent('#testacc'));
  const preds = await page.locator('#preds .pred').count();
  // The plot names its axes and the legend sits outside the curves.
  const legend = await page.locator('#legend li').allTextContents();
  const axes = await page.getAttribute('#plot', 'aria-label');
  // The trained model's files download; they are the export format.
  const files = await page.evaluate(async () => {
    const href = (name) => document.querySelector(`#deploy a[download="${name}"]`)?.href;
    const doc = await (await fetch(href('model.json'))).json();
    const st = await (await fetch(href('model.safetensors'))).arrayBuffer();
    return { format: doc.format, model: doc.model, bytes: st.byteLength };
  });
  // Draw a rough trouser (two white legs) and classify it.
  await page.locator('#draw').scrollIntoViewIfNeeded();
  const box = await page.locator('#draw').boundingBox();
  for (const x of [0.38, 0.62]) {
    await page.mouse.move(box.x + box.width * 0.5, box.y + box.height * 0.1);
    await page.mouse.down();
    await page.mouse.move(box.x + box.width * x, box.y + box.height * 0.9, { steps: 12 });
    await page.mouse.up();
  }
  const ink = await page.evaluate(() => {
    const c = document.getElementById('draw'), d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let white = 0; for (let i = 0; i < d.length; i += 4) white += d[i] > 128;
    return white / (c.width * c.height);
  });
  await page.click('#classify');
  await page.waitForFunction(() => /%/.test(document.getElementById('drawresult').textContent), null, { timeout: 30_000 });
  const drawn = await page.textContent('#drawresult');
  const how = await page.textContent('#how');
  const integer = await page.textContent('#integer');
  // The deploy view: the downloaded pair dropped onto the page runs on the integer engine; one
  // file alone and a truncated safetensors are sentences.
  const drop = async (which) => {
    await page.evaluate(async (which) => {
      const href = (name) => document.querySelector(`#deploy a[download="${name}"]`).href;
      const json = await (await fetch(href('model.json'))).blob();
      let st = await (await fetch(href('model.safetensors'))).blob();
      if (which === 'truncated') st = st.slice(0, st.size - 100);
      const dt = new DataTransfer();
      dt.items.add(new File([json], 'model.json'));
      if (which !== 'one') dt.items.add(new File([st], 'model.safetensors'));
      document.getElementById('dropresult').textContent = '';
      document.getElementById('dropzone').dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
    }, which);
    await page.waitForFunction(() => /ms per image|could not|both files/.test(document.getElementById('dropresult').textContent), null, { timeout: 60_000 });
    return page.textContent('#dropresult');
  };
  const dropped = { pair: await drop('pair'), one: await drop('one'), truncated: await drop('truncated') };
  mkdirSync('target', { recursive: true });
  await page.screenshot({ path: 'target/e2e-demo.png', fullPage: true });
  // Bad input is a sentence and starts nothing; choosing ShiftAddAug with the small CNN switches
  // the model visibly, with a note.
  await page.fill('#batch', '0');
  await page.click('#train');
  const invalid = { state: await page.evaluate(() => document.body.dataset.state), status: await page.textContent('#status') };
  await page.fill('#batch', '32');
  await page.selectOption('#mode', 'aug');
  const coupled = { model: await page.inputValue('#model'), note: await page.textContent('#note') };
  // Worker-mode lifecycle: a model from before a re-init must not reach the new worker.
  const reinit = await page.evaluate(async () => {
    const sdk = await import('./pkg/index.js');
    const cfg = { inputShape: [1, 28, 28], numClasses: 10, widths: [4, 8] };
    const old = await sdk.createModel(cfg);
    await sdk.init({ backend: 'wasm' });
    const fresh = await sdk.createModel(cfg);
    const x = new Float32Array(784).fill(0.5);
    const oldResult = await old.predict(x, [1, 1, 28, 28]).then(() => 'resolved', (e) => e.code);
    const freshLength = (await fresh.predict(x, [1, 1, 28, 28])).length;
    fresh.dispose();
    return { oldResult, freshLength };
  });
  console.log(`e2e: state=${state} test accuracy=${acc} predictions=${preds} drawing: ${drawn} in ${((Date.now() - t0) / 1000).toFixed(1)} s\n${status}\n${integer}\n${dropped.pair}`);
  return [
    [state === 'done', `page state ${state}`],
    [acc >= MIN_ACCURACY, `test accuracy ${acc} < ${MIN_ACCURACY}`],
    [preds === 24, `${preds} predictions shown`],
    [/in (a|\d+) background workers?/.test(status), 'training did not run in a worker'],
    [legend.join(' | ') === 'direct: training loss (left axis) | batch accuracy (right axis, 0–1)', `legend: ${legend.join(' | ')}`],
    [/batches 0–96: loss on the left axis \(0–[\d.]+\), batch accuracy on the right axis/.test(axes), `plot axes: ${axes}`],
    [files.format === 'shiftaddaug-tiny/3' && files.model === 'mfcnn' && files.bytes > 60_000, `downloads: ${JSON.stringify(files)}`],
    [ink > 0.05 && ink < 0.5, `the strokes cover ${ink} of the drawing area`],
    [/^([A-Za-z/ -]+ \d+%)( · [A-Za-z/ -]+ \d+%){2}$/.test(drawn), `drawing classified as: ${drawn}`],
    [how.includes('bit-shift') && how.includes('−Σ|x − w|'), 'no explanation of shift and add'],
    [Number(/class for ([\d.]+) %/.exec(integer)?.[1]) >= 97 && /test accuracy 0\.[5-9]\d* on 200 images/.test(integer), `integer engine: ${integer}`],
    [/model\.json \+ model\.safetensors on the integer engine: test accuracy 0\.[5-9]\d* on 200 images, the float model's class for (9[7-9]|100)[\d.]* %.*[\d.]+ ms per image one at a time/.test(dropped.pair), `dropped pair: ${dropped.pair}`],
    [/Compute energy [\d.]+ µJ per image on a 45 nm chip/.test(dropped.pair), `no energy: ${dropped.pair}`],
    [/Eyeriss-like accelerator: [\d.]+ µJ per image, \d+ % of it DRAM, \d+ µs at 250 MHz/.test(dropped.pair), `no dataflow estimate: ${dropped.pair}`],
    [/both files/.test(dropped.one) && /could not be deployed: INVALID_CONFIG/.test(dropped.truncated), `bad drops: ${JSON.stringify(dropped)}`],
    [invalid.state === 'invalid' && invalid.status === 'Batch size must be a whole number from 1 to 1,024 (got "0").', `batch 0: ${JSON.stringify(invalid)}`],
    [coupled.model === 'mbv2-tiny' && /MobileNetV2-Tiny/.test(coupled.note), `mfcnn + ShiftAddAug: ${JSON.stringify(coupled)}`],
    [reinit.oldResult === 'DISPOSED' && reinit.freshLength === 10, `after re-init: ${JSON.stringify(reinit)}`],
    [errors.length === 0, `page errors: ${errors.join(' | ')}`],
  ].filter(([ok]) => !ok).map(([, msg]) => msg);
});
// Side by side: direct and ShiftAddAug MobileNetV2-Tiny (with one sub-network per step, stage 1
// of the search) train at once in two workers; the page shows both test accuracies and both
// final losses. Then the search view searches the ShiftAddAug supernet (in its worker), runs the
// chosen net with the supernet's weights on the integer engine, and trains the chosen net.
const t1 = Date.now();
const failures2 = await withDemoPage('model=mbv2-tiny&mode=compare&backend=wasm&conv=shift&ntrain=256&epochs=1&batch=64&croppad=2&flip=1&subnets=1&autostart=1', 600_000, async (page, errors) => {
  const state = await page.evaluate(() => document.body.dataset.state);
  const status = await page.textContent('#status');
  const acc = await page.textContent('#testacc');
  await page.screenshot({ path: 'target/e2e-compare.png', fullPage: true });
  console.log(`e2e side by side: state=${state} ${acc} in ${((Date.now() - t1) / 1000).toFixed(1)} s\n${status}`);
  const m = /direct ([\d.]+)\s+·\s+ShiftAddAug \+ 1 sub-network ([\d.]+)/.exec(acc);
  const legend = await page.locator('#legend li').allTextContents();
  const model = await page.inputValue('#model');
  // The search view: the ShiftAddAug supernet searched within its own MACs and 1 000 ms per
  // image on this device (the latency table timed in the worker), in its worker; then the chosen
  // net trains.
  const hint = await page.textContent('#searchresult');
  await page.fill('#maxms', '1000');
  await page.fill('#population', '4');
  await page.fill('#generations', '1');
  await page.click('#search');
  await page.waitForFunction(() => ['searched', 'error'].includes(document.body.dataset.state), null, { timeout: 300_000, polling: 250 });
  const searched = { state: await page.evaluate(() => document.body.dataset.state), text: await page.textContent('#searchresult'), front: await page.locator('#front tr').count(),
    found: await page.textContent('#foundresult'), links: await page.locator('#foundresult a').count() };
  await page.click('#trainplan');
  await page.waitForFunction(() => ['done', 'error'].includes(document.body.dataset.state), null, { timeout: 300_000, polling: 250 });
  const planned = { state: await page.evaluate(() => document.body.dataset.state), status: await page.textContent('#status') };
  console.log(`e2e search: ${JSON.stringify(searched)}\ne2e searched net: ${JSON.stringify(planned)}`);
  return [
    [hint === 'Ready: the search takes the ShiftAddAug MobileNetV2-Tiny just trained.', `search hint after training: ${hint}`],
    [searched.state === 'searched', `search state ${searched.state}: ${searched.text}`],
    [/^done: best: held-out accuracy 0\.\d+ at [\d,]+ MACs \((\d+) % of the trained model\), [\d,]+ parameters, \d+\.\d\d ms here; \d+ candidates scored/.test(searched.text)
      && Number(/\((\d+) % of/.exec(searched.text)?.[1]) <= 100, `search result: ${searched.text}`],
    [searched.front >= 2, `${searched.front} front rows (with the header)`],
    [/^The chosen net as the supernet trained it \(no retraining\), on the integer engine: test accuracy 0\.\d+ on 200 images, the float model's class for ([\d.]+) %/.test(searched.found)
      && Number(/class for ([\d.]+) %/.exec(searched.found)[1]) >= 90 && searched.links === 2, `chosen net deployed: ${searched.found} (${searched.links} links)`],
    [planned.state === 'done' && /ShiftAddAug \(searched net\): [\d,]+ parameters/.test(planned.status), `searched net training: ${JSON.stringify(planned)}`],
    [state === 'done', `page state ${state}`],
    [m && Number(m[1]) > 0.1 && Number(m[2]) > 0.0, `test accuracies shown: ${acc}`],
    [/direct: train loss [\d.]+.*ShiftAddAug \+ 1 sub-network: train loss [\d.]+/.test(status), 'both runs reported'],
    [legend.join(' | ') === 'direct: training loss (left axis) | ShiftAddAug + 1 sub-network: training loss (left axis)', `legend: ${legend.join(' | ')}`],
    [/direct: [\d,]+ parameters \(deployed model\), ShiftAddAug \+ 1 sub-network: [\d,]+ parameters \(deployed model\)/.test(status), 'parameter counts of both runs'],
    [model === 'mbv2-tiny', `model switched to ${model}`],
    [errors.length === 0, `page errors: ${errors.join(' | ')}`],
  ].filter(([ok]) => !ok).map(([, msg]) => msg);
});
// Recovery and Stop: a worker that traps (test hook, as an out-of-memory abort would) rejects with
// BACKEND_LOST, and the demo's next Train runs in a fresh worker; the form is locked while
// training; Stop ends training as a normal end that keeps the partly trained model (BN
// re-estimated on a few images, test accuracy and predictions shown).
const t2 = Date.now();
const failures3 = await withDemoPage('model=mbv2-tiny&mode=direct&backend=wasm&threads=1&conv=add&ntrain=4096&epochs=1&batch=64', 600_000, async (page, errors) => {
  const trap = await page.evaluate(async () => {
    const sdk = await import('./pkg/index.js');
    const m = await sdk.createModel({ inputShape: [1, 28, 28], numClasses: 10, widths: [4, 8] });
    try { await m._testTrap(); return 'resolved'; } catch (e) { return `${e.code}: ${e.message}`; }
  });
  await page.click('#train');
  await page.waitForFunction(() => /batch (\d+)\/64/.exec(document.getElementById('status').textContent)?.[1] >= 6, null, { timeout: 300_000, polling: 250 });
  const locked = await page.evaluate(() => ['model', 'threads', 'conv', 'ntrain', 'batch'].every((id) => document.getElementById(id).disabled) && document.getElementById('train').disabled);
  const during = await page.textContent('#status');
  await page.click('#stop');
  await page.waitForFunction(() => ['stopped', 'done', 'error'].includes(document.body.dataset.state), null, { timeout: 300_000, polling: 500 });
  const state = await page.evaluate(() => document.body.dataset.state);
  const status = await page.textContent('#status');
  const acc = Number(await page.textContent('#testacc'));
  const preds = await page.locator('#preds .pred').count();
  const unlocked = await page.evaluate(() => !document.getElementById('model').disabled && !document.getElementById('train').disabled);
  await page.screenshot({ path: 'target/e2e-stop.png', fullPage: true });
  // MobileNetV2-Tiny on 8 192 images with the default fit options (BN re-estimated on all of them) in the
  // worker keeps its model: it predicts, evaluates (accuracy on 1 000 test images) and exports.
  const big = await page.evaluate(async () => {
    const sdk = await import('./pkg/index.js');
    const idx = async (n) => sdk.parseIdx(new Uint8Array(await (await fetch(`./data/${n}`)).arrayBuffer()));
    const [im, lb] = [await idx('train-images-idx3-ubyte.gz'), await idx('train-labels-idx1-ubyte.gz')];
    const n = 8192, x = new Float32Array(n * 784);
    for (let i = 0; i < x.length; i++) x[i] = im.data[i] / 255;
    const m = await sdk.createModel({ model: 'mbv2-tiny', inputShape: [1, 28, 28], numClasses: 10, conv: 'add', aug: { enabled: false } });
    let bn = 0;
    try {
      const h = await m.fit(x, lb.data.slice(0, n), { callbacks: { onPhase: (p) => { if (p.phase === 'bnReestimation') bn = p.done; } } });
      const probs = await m.predict(x.subarray(0, 784), [1, 1, 28, 28]);
      const [ti, tl] = [await idx('t10k-images-idx3-ubyte.gz'), await idx('t10k-labels-idx1-ubyte.gz')];
      const tx = new Float32Array(1000 * 784);
      for (let i = 0; i < tx.length; i++) tx[i] = ti.data[i] / 255;
      const ev = await m.evaluate(tx, tl.data.slice(0, 1000));
      const { json } = await m.exportModel();
      return { loss: h.history.loss[0], bn, probs: probs.length, acc: ev.acc, format: JSON.parse(json).format };
    } catch (e) { return { error: `${e.code}: ${e.message}`, bn }; } finally { m.dispose(); }
  });
  console.log(`e2e 8192 images: ${JSON.stringify(big)}`);
  console.log(`e2e trap + stop: trap → ${trap}; state=${state} test accuracy=${acc} predictions=${preds} in ${((Date.now() - t2) / 1000).toFixed(1)} s\n${status}`);
  const pageErrors = errors.filter((e) => !/testTrap|unreachable/.test(e));
  return [
    [/^BACKEND_LOST: .*new worker/.test(trap), `trap: ${trap}`],
    [locked, 'form not locked while training'],
    [/^training on the CPU \(WebAssembly with SIMD\) in a background worker;/.test(during), `Workers = 1 not in the status: ${during}`],
    [/direct: epoch 1\/1 · batch \d+\/64 · loss [\d.]+ · \d+ images\/s  ETA \d+:\d\d/.test(during), `status while training: ${during}`],
    [state === 'stopped', `page state ${state}`],
    [/stopped: after \d+ images/.test(status), 'status does not say stopped'],
    [acc > 0 && acc <= 1, `test accuracy shown: ${acc}`],
    [preds === 24, `${preds} predictions shown`],
    [unlocked, 'form still locked after the stop'],
    [!big.error && big.bn === Math.ceil(8192 / 250) && big.probs === 10 && Number.isFinite(big.loss) && big.acc > 0.3 && big.format === 'shiftaddaug-tiny/3', `8192 images: ${JSON.stringify(big)}`],
    [pageErrors.length === 0, `page errors: ${pageErrors.join(' | ')}`],
  ].filter(([ok]) => !ok).map(([, msg]) => msg);
}, ['ready', 'error']);
const all = [failures, failures2, failures3];
const failed = all.filter((f) => f.length > 0).length;
for (const msg of all.flat()) console.error(`e2e FAILED: ${msg}`);
console.log(`${all.length - failed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
