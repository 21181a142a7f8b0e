// Dedicated-worker entry: serves the in-thread engine over postMessage, in the messages of
// protocol.ts. The `replica*` ops are the steps of a data-parallel fit driven from the main
// thread (group.ts). A trap or a lost WebGPU device ends this worker (its uncaught error reaches
// the main thread's `onerror`), and the main thread replaces it on the next call.
import { CoreModel, coreInit, coreParseIdx, wasmMemoryBytes } from './core.js';
import type { EventLogs, Reply, Request, Result } from './protocol.js';
import { toError } from './types.js';

interface Scope { postMessage(m: Reply, transfer?: Transferable[]): void; onmessage: ((e: MessageEvent) => void) | null }
const scope = globalThis as unknown as Scope;

/**
 * The WebGPU devices this worker's module asked for. A lost device (a driver reset, a removed
 * GPU, `testLoseDevice`) ends the worker as a trap does: its calls reject with `BACKEND_LOST`,
 * and a fit with `fallback: 'wasm'` goes on from its last checkpoint on the CPU, instead of
 * running on a device that can no longer compute.
 */
const devices: Array<{ destroy(): void; lost?: Promise<unknown> }> = [];
/** Set once a device is lost: this worker is ending. */
let deviceLost = false;

function watchWebGpuDevices(): void {
  type Lost = { reason?: string; message?: string };
  type Device = { destroy(): void; lost?: Promise<Lost> };
  const adapter = (globalThis as { GPUAdapter?: { prototype: { requestDevice(...a: unknown[]): Promise<Device> } } }).GPUAdapter;
  if (!adapter) return;
  const request = adapter.prototype.requestDevice;
  adapter.prototype.requestDevice = async function (this: unknown, ...args: unknown[]): Promise<Device> {
    const device = await request.apply(this, args);
    devices.push(device);
    void device.lost?.then((info) => {
      deviceLost = true;
      // Thrown outside any call, the error ends this worker and reaches the main thread's `onerror`.
      setTimeout(() => { throw new Error(`the WebGPU device was lost (${info?.reason ?? 'unknown'}${info?.message ? `: ${info.message}` : ''})`); }, 0);
    });
    return device;
  };
}
watchWebGpuDevices();

/**
 * Whether a call's failure comes from a lost device. The failure of a readback can arrive before
 * the device's `lost` promise settles, so a backend error waits for it a little.
 */
async function failedOnLostDevice(code: string): Promise<boolean> {
  if (deviceLost) return true;
  if (code !== 'BACKEND_ERROR' || devices.length === 0) return false;
  const lost = devices.map((d) => d.lost?.then(() => true) ?? new Promise<boolean>(() => undefined));
  return Promise.race([...lost, new Promise<boolean>((r) => setTimeout(() => r(false), LOST_WAIT_MS))]);
}
/** How long a backend error waits for a device loss to show. */
const LOST_WAIT_MS = 200;

const models = new Map<number, CoreModel>();
const aborted = new Set<number>();
let nextModel = 1;

type Call = Exclude<Request, { op: 'abort' }>;

/** Runs one call; `args` is typed by the message's `op`. */
async function handle(msg: Call): Promise<Result<Call['op']>> {
  const { id } = msg;
  const emit = (event: string, index: number, logs?: EventLogs) => scope.postMessage({ id, event, index, logs });
  switch (msg.op) {
    case 'init':
      return coreInit(msg.args[0], true);
    case 'parseIdx':
      return coreParseIdx(msg.args[0]);
    case 'create': {
      const m = await CoreModel.create(msg.args[0], msg.args[1]);
      const handleId = nextModel++;
      models.set(handleId, m);
      return { handle: handleId, backend: m.backend, numParams: m.numParams(), gradientLength: m.gradientLength() };
    }
    case 'fit': {
      const [h, x, y, opts, start] = msg.args;
      return model(h).fit(x, y, opts ?? {}, emit, () => aborted.has(id), start ?? null);
    }
    case 'search': {
      const [h, bn, ev, opts] = msg.args;
      return model(h).search(bn, ev, opts ?? {}, (event, index, best) => emit(event, index, best), () => aborted.has(id));
    }
    case 'evaluate':
      return model(msg.args[0]).evaluate(msg.args[1], msg.args[2]);
    case 'predict':
      return model(msg.args[0]).predict(msg.args[1], msg.args[2]);
    case 'exportModel':
      return model(msg.args[0]).exportModel();
    case 'save':
      return model(msg.args[0]).save(msg.args[1], msg.args[2] ?? null);
    case 'restore':
      return model(msg.args[0]).restore(msg.args[1]);
    case 'testTrap':
      return model(msg.args[0]).testTrap();
    case 'replicaPrepare':
      return model(msg.args[0]).replicaPrepare(msg.args[1], msg.args[2], msg.args[3] ?? {}, msg.args[4] ?? null);
    case 'replicaBeginEpoch':
      return model(msg.args[0]).replicaBeginEpoch(msg.args[1]);
    case 'replicaResumeEpoch':
      return model(msg.args[0]).replicaResumeEpoch(msg.args[1], msg.args[2]);
    case 'replicaTrainPart':
      return model(msg.args[0]).replicaTrainPart(msg.args[1], msg.args[2]);
    case 'replicaApply':
      return model(msg.args[0]).replicaApply(msg.args[1] ?? null, msg.args[2]);
    case 'replicaValidate':
      return model(msg.args[0]).replicaValidate();
    case 'replicaResetBn':
      return model(msg.args[0]).replicaResetBn(msg.args[1], msg.args[2], msg.args[3]);
    case 'testCrash':
      // Test hook: this worker dies as after a trap (an uncaught error ends it).
      setTimeout(() => { throw new Error('testCrash: deliberate worker crash'); }, 0);
      return null;
    case 'testLoseDevice':
      // Test hook: destroys this worker's WebGPU devices (a device loss, provoked).
      for (const d of devices) d.destroy();
      return devices.length;
    case 'testMemory':
      return wasmMemoryBytes();
    case 'dispose':
      models.get(msg.args[0])?.dispose();
      models.delete(msg.args[0]);
      return null;
    default: {
      const unknown: never = msg;
      throw new Error(`unknown op ${(unknown as { op: string }).op}`);
    }
  }
}

function model(h: number): CoreModel {
  const m = models.get(h);
  if (!m) throw Object.assign(new Error('model was disposed'), { code: 'DISPOSED' });
  return m;
}

scope.onmessage = async (e: MessageEvent) => {
  const msg = (e.data ?? {}) as Request;
  if (msg.op === 'abort') { aborted.add(msg.target); return; }
  const { id } = msg;
  try {
    const value = await handle(msg);
    const transfer = value instanceof Float32Array ? [value.buffer]
      : (value as { gradients?: unknown } | null)?.gradients instanceof Float32Array ? [(value as { gradients: Float32Array }).gradients.buffer] : [];
    scope.postMessage({ id, ok: true, value }, transfer);
  } catch (err) {
    const e2 = toError(err);
    // A lost device ends this worker; its death rejects this call (and every other) with BACKEND_LOST.
    if (await failedOnLostDevice(e2.code)) return;
    scope.postMessage({ id, ok: false, error: { code: e2.code, message: e2.message, history: e2.history } });
  } finally {
    aborted.delete(id);
  }
};
