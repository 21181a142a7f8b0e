// The training loop of `Model.fit`, one for every way a model runs: a session in this thread (or
// in the one worker), or a group of worker replicas that each train one part of every batch.
import { parseUrl } from './persist.js';
import { FitOptions, FitPosition, History, Logs, PhaseInfo, ShiftAddAugError } from './types.js';

/** Emits progress; the worker forwards it, in-thread calls the user's callbacks. */
export type Emit = (event: 'trainBegin' | 'epochBegin' | 'batchEnd' | 'epochEnd' | 'trainEnd' | 'phase' | 'checkpoint', index: number, logs?: Logs | PhaseInfo | FitPosition) => unknown;

/** What the loop drives. `prepare` has been called before any other method. */
export interface FitTarget {
  /** Number of batches of epoch `epoch` (shuffled, the model's start-of-epoch step run). */
  beginEpoch(epoch: number): Promise<number>;
  /** Trains on the next batch; its metrics when `readMetrics`, else `null`. */
  trainNext(readMetrics: boolean): Promise<{ loss: number; accuracy: number } | null>;
  /** Loss and accuracy of the deployed model on the validation data given to `prepare`. */
  validate(): Promise<{ loss: number; accuracy: number }>;
  /**
   * Starts BatchNorm re-estimation on `images` images (`undefined`: the module's default, at
   * most its after-stop count when `afterStop`); the number of batches.
   */
  resetBnBegin(images: number | undefined, afterStop: boolean): Promise<number>;
  resetBnStep(): Promise<unknown>;
  resetBnFinish(): Promise<unknown>;
  /** Number of batches of epoch `epoch`, continued at batch `batch` (a resumed fit: its start-of-epoch step ran before the checkpoint). */
  resumeEpoch(epoch: number, batch: number): Promise<number>;
  /** Saves the training state to `checkpointUrl` with the position a resumed fit continues at. */
  checkpoint(position: FitPosition): Promise<unknown>;
}

/** Re-estimation batches done before a stop is honoured in that phase. */
const MIN_BN_BATCHES_BEFORE_STOP = 2;

export const yieldToEventLoop = () => new Promise<void>((r) => setTimeout(r, 0));

/** The fit options the loop reads, checked: `INVALID_CONFIG` names the bad one. */
export function loopOptions(opts: FitOptions): { epochs: number; yieldEvery: number; logEvery: number; resetBn: number | undefined; checkpointEvery: number } {
  const epochs = opts.epochs ?? 1;
  if (!Number.isInteger(epochs) || epochs < 1) throw new ShiftAddAugError('INVALID_CONFIG', `epochs = ${epochs}; must be an integer >= 1`);
  const logEvery = opts.logEvery ?? 1;
  if (!Number.isInteger(logEvery) || logEvery < 1) throw new ShiftAddAugError('INVALID_CONFIG', `logEvery = ${logEvery}; must be an integer >= 1`);
  // Absent: the wasm module's default (Rust `BN_RESET_IMAGES`), so that it is defined once.
  const resetBn = opts.resetBn;
  if (resetBn !== undefined && (!Number.isInteger(resetBn) || resetBn < 0)) throw new ShiftAddAugError('INVALID_CONFIG', `resetBn = ${resetBn}; must be an integer >= 0`);
  const checkpointEvery = opts.checkpointEvery ?? 0;
  if (opts.checkpointEvery !== undefined && (!Number.isInteger(checkpointEvery) || checkpointEvery < 1)) {
    throw new ShiftAddAugError('INVALID_CONFIG', `checkpointEvery = ${opts.checkpointEvery}; must be an integer >= 1 (batches)`);
  }
  if ((opts.checkpointEvery === undefined) !== (opts.checkpointUrl === undefined)) {
    throw new ShiftAddAugError('INVALID_CONFIG', 'checkpointEvery and checkpointUrl go together: how often, and where to (e.g. indexeddb://my-run)');
  }
  if (opts.checkpointUrl !== undefined) parseUrl(opts.checkpointUrl);
  if (opts.fallback !== undefined && opts.fallback !== 'wasm') throw new ShiftAddAugError('INVALID_CONFIG', `fallback = ${JSON.stringify(opts.fallback)}; the one fallback is 'wasm'`);
  if (opts.resume !== undefined && typeof opts.resume !== 'boolean') throw new ShiftAddAugError('INVALID_CONFIG', `resume = ${JSON.stringify(opts.resume)}; must be a boolean`);
  return { epochs, yieldEvery: opts.yieldEvery ?? 50, logEvery, resetBn, checkpointEvery };
}

/**
 * Trains `target` for `opts.epochs` epochs, from `start` (a resumed fit) or epoch 0; `isAborted`
 * is polled between batches. A stop ends training, still re-estimates the BN statistics (at
 * most the module's after-stop count of images), and rejects with `ABORTED` carrying the history; the model stays
 * usable. With `checkpointEvery`, the state is saved every that many batches.
 */
export async function runFit(
  target: FitTarget, opts: FitOptions, hasValidation: boolean, emit: Emit, isAborted: () => boolean, start: FitPosition | null = null,
): Promise<History> {
  const { epochs, yieldEvery, logEvery, resetBn, checkpointEvery } = loopOptions(opts);
  const first = start ?? { epoch: 0, batch: 0 };
  let sinceSave = 0;
  const history: History = { epoch: [], history: { loss: [], acc: [], valLoss: [], valAcc: [] } };
  await emit('trainBegin', 0);
  let last = Date.now();
  const breathe = async () => { if (Date.now() - last >= yieldEvery) { await yieldToEventLoop(); last = Date.now(); } };
  let stoppedAt: string | null = null;
  for (let epoch = first.epoch; epoch < epochs && !stoppedAt; epoch++) {
    await emit('epochBegin', epoch);
    const b0 = epoch === first.epoch ? first.batch : 0;
    const n = b0 > 0 ? await target.resumeEpoch(epoch, b0) : await target.beginEpoch(epoch);
    await emit('phase', epoch, { phase: 'training', epoch, done: b0, total: n });
    let lossSum = 0, accSum = 0, reads = 0;
    for (let b = b0; b < n; b++) {
      if (isAborted()) { stoppedAt = `epoch ${epoch + 1}, batch ${b}/${n}`; break; }
      // Metrics cost a device readback: only every `logEvery` batches and on the last one.
      const m = await target.trainNext((b + 1) % logEvery === 0 || b === n - 1);
      if (m) {
        lossSum += m.loss; accSum += m.accuracy; reads++;
        await emit('batchEnd', b, { loss: m.loss, acc: m.accuracy });
      }
      await emit('phase', epoch, { phase: 'training', epoch, done: b + 1, total: n });
      if (checkpointEvery > 0 && ++sinceSave >= checkpointEvery) {
        sinceSave = 0;
        const at = b + 1 < n ? { epoch, batch: b + 1 } : { epoch: epoch + 1, batch: 0 };
        await target.checkpoint(at);
        await emit('checkpoint', epoch, at);
      }
      await breathe();
    }
    if (stoppedAt) break;
    const logs: Logs = { loss: lossSum / Math.max(reads, 1), acc: accSum / Math.max(reads, 1) };
    if (hasValidation && !isAborted()) {
      await emit('phase', epoch, { phase: 'validation', epoch, done: 0, total: 1 });
      const v = await target.validate();
      await emit('phase', epoch, { phase: 'validation', epoch, done: 1, total: 1 });
      logs.valLoss = v.loss; logs.valAcc = v.accuracy;
      history.history.valLoss.push(v.loss); history.history.valAcc.push(v.accuracy);
    }
    history.epoch.push(epoch);
    history.history.loss.push(logs.loss); history.history.acc.push(logs.acc);
    await emit('epochEnd', epoch, logs);
    await yieldToEventLoop(); last = Date.now();
  }
  if (resetBn !== 0) {
    const total = await target.resetBnBegin(resetBn, stoppedAt !== null);
    await emit('phase', 0, { phase: 'bnReestimation', done: 0, total });
    for (let k = 0; k < total; k++) {
      if (k >= MIN_BN_BATCHES_BEFORE_STOP && isAborted()) { stoppedAt ??= `BatchNorm re-estimation, batch ${k}/${total}`; break; }
      await target.resetBnStep();
      await emit('phase', 0, { phase: 'bnReestimation', done: k + 1, total });
      await breathe();
    }
    await target.resetBnFinish();
  }
  if (!stoppedAt && isAborted()) stoppedAt = 'the end of training';
  if (stoppedAt) {
    throw new ShiftAddAugError('ABORTED', `training was stopped at ${stoppedAt}; the model keeps what it learned (history attached)`, history);
  }
  await emit('trainEnd', epochs);
  return history;
}
