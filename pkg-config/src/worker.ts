// Dedicated-worker entry: serves the in-thread engine over postMessage.
// Protocol: {id, op, args} → {id, ok: true, value} | {id, ok: false, error: {code, message}};
// the `replica*` ops are the steps of a data-parallel fit driven from the main thread (group.ts);
// progress: {id, event, index, logs}. `{op: 'abort', target}` aborts a running fit or search.
// A trap ends this worker (its uncaught error reaches the main thread's `onerror`), and the
// main thread replaces it on the next call.
import { CoreModel, coreInit, coreParseIdx } from './core.js';
import { InitOptions, toError } from './types.js';

interface Scope { postMessage(m: unknown, transfer?: Transferable[]): void; onmessage: ((e: MessageEvent) => void) | null }
const scope = globalThis as unknown as Scope;

const models = new Map<number, CoreModel>();
const aborted = new Set<number>();
let nextModel = 1;

async function handle(id: number, op: string, args: any[]): Promise<unknown> {
  switch (op) {
    case 'init':
      return coreInit(args[0] as InitOptions, true);
    case 'parseIdx':
      return coreParseIdx(args[0]);
    case 'create': {
      const m = await CoreModel.create(args[0], args[1]);
      const handleId = nextModel++;
      models.set(handleId, m);
      return { handle: handleId, backend: m.backend, numParams: m.numParams(), gradientLength: m.gradientLength() };
    }
    case 'fit':
      return model(args[0]).fit(args[1], args[2], args[3] ?? {},
        (event, index, logs) => scope.postMessage({ id, event, index, logs }),
        () => aborted.has(id), args[4] ?? null);
    case 'save':
      return model(args[0]).save(args[1], args[2] ?? null);
    case 'restore':
      return model(args[0]).restore(args[1]);
    case 'search':
      return model(args[0]).search(args[1], args[2], args[3] ?? {},
        (event, index, best) => scope.postMessage({ id, event, index, logs: best }),
        () => aborted.has(id));
    case 'evaluate':
      return model(args[0]).evaluate(args[1], args[2]);
    case 'predict':
      return model(args[0]).predict(args[1], args[2]);
    case 'exportModel':
      return model(args[0]).exportModel();
    case 'testTrap':
      return model(args[0]).testTrap();
    // A replica of a data-parallel group (the main thread runs the loop, see group.ts).
    case 'replicaPrepare':
      return model(args[0]).replicaPrepare(args[1], args[2], args[3] ?? {}, args[4] ?? null);
    case 'replicaBeginEpoch':
      return model(args[0]).replicaBeginEpoch(args[1]);
    case 'replicaResumeEpoch':
      return model(args[0]).replicaResumeEpoch(args[1], args[2]);
    case 'replicaTrainPart':
      return model(args[0]).replicaTrainPart(args[1], args[2]);
    case 'replicaApply':
      return model(args[0]).replicaApply(args[1] ?? null, args[2]);
    case 'replicaValidate':
      return model(args[0]).replicaValidate();
    case 'replicaResetBn':
      return model(args[0]).replicaResetBn(args[1], args[2]);
    case 'testCrash':
      // Test hook: this worker dies as after a trap (an uncaught error ends it).
      setTimeout(() => { throw new Error('testCrash: deliberate worker crash'); }, 0);
      return null;
    case 'dispose':
      models.get(args[0])?.dispose();
      models.delete(args[0]);
      return null;
    default:
      throw new Error(`unknown op ${op}`);
  }
}

function model(h: number): CoreModel {
  const m = models.get(h);
  if (!m) throw Object.assign(new Error('model was disposed'), { code: 'DISPOSED' });
  return m;
}

scope.onmessage = async (e: MessageEvent) => {
  const { id, op, args, target } = e.data ?? {};
  if (op === 'abort') { aborted.add(target); return; }
  try {
    const value = await handle(id, op, args ?? []);
    const transfer = value instanceof Float32Array ? [value.buffer]
      : (value as { gradients?: unknown } | null)?.gradients instanceof Float32Array ? [(value as { gradients: Float32Array }).gradients.buffer] : [];
    scope.postMessage({ id, ok: true, value }, transfer);
  } catch (err) {
    const e2 = toError(err);
    scope.postMessage({ id, ok: false, error: { code: e2.code, message: e2.message, history: e2.history } });
  } finally {
    aborted.delete(id);
  }
};
