// The main thread's proxy of one worker (worker.ts): calls by id (protocol.ts), progress events,
// and its death.
import type { Args, EventLogs, Op, Reply, Request, Result } from './protocol.js';
import { ErrorCode, ShiftAddAugError } from './types.js';

type Pending = { resolve: (v: any) => void; reject: (e: unknown) => void; onEvent?: (ev: string, i: number, logs?: EventLogs) => void };

export class WorkerClient {
  private worker: Worker;
  private pending = new Map<number, Pending>();
  private nextId = 1;
  dead: ShiftAddAugError | null = null;
  /** The worker died (trap, out of memory); a new one replaces it on the next call. */
  crashed = false;
  /** Called once when the worker dies (a group then ends its other workers). */
  onDeath: (() => void) | null = null;

  /** `spawn` starts the worker (see `startWorkers`). */
  constructor(spawn: () => Worker) {
    this.worker = spawn();
    this.worker.onmessage = (e: MessageEvent) => {
      const msg = e.data as Reply;
      const p = this.pending.get(msg.id);
      if (!p) return;
      if ('event' in msg) { p.onEvent?.(msg.event, msg.index, msg.logs); return; }
      this.pending.delete(msg.id);
      if (msg.ok) p.resolve(msg.value);
      else p.reject(new ShiftAddAugError(msg.error.code as ErrorCode, msg.error.message, msg.error.history));
    };
    this.worker.onerror = (e: ErrorEvent) => { e.preventDefault?.(); this.die(`worker crashed: ${e.message || 'its script failed to load or threw before it ran'}`); };
    this.worker.onmessageerror = () => this.die('worker message could not be deserialised');
  }

  /** Ends the worker as crashed: its calls reject with `BACKEND_LOST`. */
  die(why: string): void {
    if (this.crashed) return;
    this.crashed = true;
    this.worker.terminate();
    this.dead = new ShiftAddAugError('BACKEND_LOST', `${why}; its models are lost. The next init(), createModel() or parseIdx() starts a new worker`);
    for (const p of this.pending.values()) p.reject(this.dead);
    this.pending.clear();
    const hook = this.onDeath;
    this.onDeath = null;
    hook?.();
  }

  /** Posts `op`; `transfer` lists buffers moved (not copied) to the worker. */
  call<K extends Op>(op: K, args: Args<K>, onEvent?: Pending['onEvent'], transfer: Transferable[] = []): { id: number; promise: Promise<Result<K>> } {
    const id = this.nextId++;
    const promise = new Promise<Result<K>>((resolve, reject) => {
      if (this.dead) { reject(this.dead); return; }
      this.pending.set(id, { resolve, reject, onEvent });
      this.worker.postMessage({ id, op, args } as Request, transfer);
    });
    return { id, promise };
  }

  abort(target: number): void { if (!this.dead) this.worker.postMessage({ op: 'abort', target } satisfies Request); }

  /** Ends the worker; its models' calls reject with `DISPOSED` from then on. */
  terminate(): void {
    this.onDeath = null;
    this.worker.terminate();
    this.dead = new ShiftAddAugError('DISPOSED', 'the runtime was re-initialised by init(); create the model again');
    for (const p of this.pending.values()) p.reject(this.dead);
    this.pending.clear();
  }
}

