// Measures one epoch of training in Node through the SDK (wasm CPU path, SIMD128) and prints JSON.
// Usage (after scripts/build.sh): node scripts/epoch-node.mjs [conv=shift] [ntrain=60000] [batch=64]
import { readFile } from 'node:fs/promises';
import * as sdk from '../pkg/index.js';

const [conv = 'shift', ntrain = '60000', batch = '64'] = process.argv.slice(2);
const DIR = '/usr/share/datasets/fashion-mnist';
await sdk.init({ backend: 'wasm', worker: false });
const load = async (f) => sdk.parseIdx(new Uint8Array(await readFile(`${DIR}/${f}`)));
const [ti, tl, vi, vl] = await Promise.all(['train-images-idx3-ubyte.gz', 'train-labels-idx1-ubyte.gz',
  't10k-images-idx3-ubyte.gz', 't10k-labels-idx1-ubyte.gz'].map(load));
const f32 = (u8) => Float32Array.from(u8, (v) => v / 255);
const n = Number(ntrain);
const model = await sdk.createModel({ inputShape: [1, 28, 28], numClasses: 10, conv, widths: [8, 16, 32] });
const t0 = performance.now();
const h = await model.fit(f32(ti.data.subarray(0, n * 784)), tl.data.subarray(0, n), { epochs: 1, batchSize: Number(batch), logEvery: 1 });
const secs = (performance.now() - t0) / 1000;
const ev = await model.evaluate(f32(vi.data), vl.data);
console.log(JSON.stringify({ path: 'node-wasm-simd', conv, images: n, batch: Number(batch), seconds: +secs.toFixed(1),
  imagesPerSecond: +(n / secs).toFixed(1), trainLoss: +h.history.loss[0].toFixed(4), testAccuracy: ev.acc, testImages: ev.count }));
