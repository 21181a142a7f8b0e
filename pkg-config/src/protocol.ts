// The messages between the main thread (client.ts) and a model worker (worker.ts), typed once:
// per operation its arguments and its result, so that a call and its handler cannot disagree.
// Request {id, op, args} → {id, ok: true, value} | {id, ok: false, error}; progress {id, event,
// index, logs} before the reply; {op: 'abort', target} asks a running fit or search to stop.
import type { PartResult, SharedExchange } from './core.js';
import type {
  FitOptions, FitPosition, History, InitOptions, Logs, ModelConfig, PhaseInfo, RuntimeInfo, SearchCandidate, SearchResult, TrainOptions,
} from './types.js';

/** What `create` resolves to. */
export interface Created { handle: number; backend: string; numParams: number; gradientLength: number }

/** Every operation: its arguments (a model's handle first) and what it resolves to. */
export interface Ops {
  init: { args: [InitOptions]; result: RuntimeInfo };
  parseIdx: { args: [Uint8Array]; result: { dims: number[]; data: Uint8Array } };
  create: { args: [ModelConfig, TrainOptions]; result: Created };
  fit: { args: [number, Float32Array, ArrayLike<number>, FitOptions, FitPosition | null]; result: History };
  search: { args: [number, [Float32Array, ArrayLike<number>], [Float32Array, ArrayLike<number>], Record<string, unknown>]; result: SearchResult };
  evaluate: { args: [number, Float32Array, ArrayLike<number>]; result: { loss: number; acc: number; count: number } };
  predict: { args: [number, Float32Array, [number, number, number, number]]; result: Float32Array };
  exportModel: { args: [number]; result: { json: string; safetensors: Uint8Array } };
  save: { args: [number, string] | [number, string, FitPosition | null]; result: void };
  restore: { args: [number, Uint8Array]; result: void };
  testTrap: { args: [number]; result: unknown };
  testCrash: { args: []; result: null };
  testLoseDevice: { args: []; result: number };
  testMemory: { args: []; result: number };
  dispose: { args: [number]; result: null };
  // A replica of a data-parallel group (group.ts drives the loop).
  replicaPrepare: { args: [number, Float32Array, ArrayLike<number>, FitOptions, SharedExchange | null]; result: void };
  replicaBeginEpoch: { args: [number, number]; result: number };
  replicaResumeEpoch: { args: [number, number, number]; result: number };
  replicaTrainPart: { args: [number, number, number]; result: PartResult };
  replicaApply: { args: [number, Float32Array | null, Uint8Array]; result: void };
  replicaValidate: { args: [number]; result: { loss: number; accuracy: number } };
  replicaResetBn: { args: [number, 'begin' | 'step' | 'finish'] | [number, 'begin', number | undefined, boolean]; result: unknown };
}

export type Op = keyof Ops;
export type Args<K extends Op> = Ops[K]['args'];
export type Result<K extends Op> = Ops[K]['result'];

/** A request to the worker. */
export type Request = { [K in Op]: { id: number; op: K; args: Args<K> } }[Op] | { op: 'abort'; target: number };

/** Progress of a fit (`Logs`, `PhaseInfo`, a checkpoint's position) or of a search (its best candidate). */
export type EventLogs = Logs | PhaseInfo | FitPosition | SearchCandidate;

/** A message from the worker. */
export type Reply =
  | { id: number; ok: true; value: unknown }
  | { id: number; ok: false; error: { code: string; message: string; history?: History } }
  | { id: number; event: string; index: number; logs?: EventLogs };
