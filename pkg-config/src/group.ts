// Data-parallel training across K workers. Every worker holds a replica of the model; for each
// batch, worker k computes the gradient of part k of K (`Session.trainPart`), this thread sums the
// parts in part order (in f32, as one worker with `microBatches: K` sums them), and every replica
// applies the same sum, so the replicas stay equal. Gradients travel on a SharedArrayBuffer when
// the page is cross-origin isolated, else as transferred (and, for all but one worker, copied)
// buffers.
import type { WorkerClient } from './client.js';
import type { SharedExchange } from './core.js';
import type { Args, Op, Result } from './protocol.js';
import type { FitTarget } from './fitloop.js';
import { FitOptions, FitPosition, ShiftAddAugError } from './types.js';

/** One replica: its worker and the model's handle there. Replica 0 is the one users talk to. */
export interface Replica { client: WorkerClient; handle: number }

/** How gradients move between the workers of a group. */
export type GradientExchange = 'shared' | 'transfer';

/** Whether this context can share memory with its workers. */
export function canShareMemory(): boolean {
  return typeof SharedArrayBuffer !== 'undefined' && (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated === true;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** The fit loop's view of a group of replicas. */
export class GroupTarget implements FitTarget {
  private readonly exchange: SharedExchange | null;
  /** Where `checkpoint` saves (the fit's `checkpointUrl`). */
  private checkpointUrl = '';

  constructor(private readonly replicas: Replica[], private readonly length: number, mode: GradientExchange) {
    const parts = replicas.length;
    this.exchange = mode === 'shared' ? { buffer: new SharedArrayBuffer((parts + 1) * length * 4), length, parts } : null;
  }

  /** `op` on every replica, with the arguments `args(replica, k)` gives. */
  private all<K extends Op>(op: K, args: (r: Replica, k: number) => Args<K>): Promise<Result<K>[]> {
    return Promise.all(this.replicas.map((r, k) => r.client.call(op, args(r, k)).promise));
  }

  /** Sends the options and the training data to every replica (the validation data to replica 0 only). */
  async prepare(x: Float32Array, y: ArrayLike<number>, opts: FitOptions): Promise<void> {
    const rest: FitOptions = { ...opts, validationData: undefined };
    this.checkpointUrl = opts.checkpointUrl ?? '';
    await this.all('replicaPrepare', (r, k) => [r.handle, x, y, k === 0 ? opts : rest, this.exchange]);
  }

  beginEpoch(epoch: number): Promise<number> {
    return this.agreed(epoch, this.all('replicaBeginEpoch', (r) => [r.handle, epoch]));
  }

  resumeEpoch(epoch: number, batch: number): Promise<number> {
    return this.agreed(epoch, this.all('replicaResumeEpoch', (r) => [r.handle, epoch, batch]));
  }

  /** The replicas' batch count for `epoch`, which they must agree on. */
  private async agreed(epoch: number, counts: Promise<number[]>): Promise<number> {
    const n = await counts;
    if (n.some((v) => v !== n[0])) throw new ShiftAddAugError('BACKEND_ERROR', `replicas disagree on the batches of epoch ${epoch}: ${n.join(', ')}`);
    return n[0];
  }

  async trainNext(readMetrics: boolean): Promise<{ loss: number; accuracy: number } | null> {
    const parts = this.replicas.length;
    const results = await this.all('replicaTrainPart', (r, k) => [r.handle, k, parts]);
    const ex = this.exchange;
    const slot = (k: number) => new Float32Array(ex!.buffer, k * this.length * 4, this.length);
    let sum: Float32Array | null = null;
    let present: Uint8Array | null = null;
    let loss = 0, correct = 0;
    for (let k = 0; k < parts; k++) {
      const p = results[k];
      if (p.count === 0) continue;
      const g = p.gradients ?? slot(k);
      if (!p.present || g.length !== this.length) throw new ShiftAddAugError('BACKEND_ERROR', `replica ${k} returned a gradient of ${g.length} values; expected ${this.length}`);
      if (!present || !sum) {
        present = p.present;
        sum = ex ? slot(parts) : new Float32Array(this.length);
        sum.set(g);
        loss = p.loss;
      } else {
        if (!sameBytes(present, p.present)) throw new ShiftAddAugError('BACKEND_ERROR', `replica ${k} trained another architecture than replica 0`);
        // An f64 sum of two f32 values stored into a Float32Array rounds as an f32 addition.
        for (let i = 0; i < sum.length; i++) sum[i] += g[i];
        loss = Math.fround(loss + p.loss);
      }
      correct += p.correct;
    }
    if (!sum || !present) throw new ShiftAddAugError('BACKEND_ERROR', 'no replica trained on this batch');
    const total = sum, mask = present;
    // Every replica but the last gets a copy; the last one the buffer itself.
    await Promise.all(this.replicas.map((r, k) => {
      const own = !ex && k === parts - 1;
      return r.client.call('replicaApply', [r.handle, ex ? null : total, mask], undefined, own ? [total.buffer] : []).promise;
    }));
    return readMetrics ? { loss, accuracy: correct / results[0].batch } : null;
  }

  /** Replica 0 (the replicas are equal). */
  private get first(): Replica { return this.replicas[0]; }

  /** The replicas are equal: replica 0 saves. */
  checkpoint(position: FitPosition): Promise<unknown> { return this.first.client.call('save', [this.first.handle, this.checkpointUrl, position]).promise; }
  validate(): Promise<{ loss: number; accuracy: number }> { return this.first.client.call('replicaValidate', [this.first.handle]).promise; }
  async resetBnBegin(images: number | undefined, afterStop: boolean): Promise<number> {
    return (await this.first.client.call('replicaResetBn', [this.first.handle, 'begin', images, afterStop]).promise) as number;
  }
  resetBnStep(): Promise<unknown> { return this.first.client.call('replicaResetBn', [this.first.handle, 'step']).promise; }
  resetBnFinish(): Promise<unknown> { return this.first.client.call('replicaResetBn', [this.first.handle, 'finish']).promise; }
}
