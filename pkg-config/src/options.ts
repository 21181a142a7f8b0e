// Option-object checks shared by the SDK's entry points (internal: not exported by the package).
import { ShiftAddAugError } from './types.js';

/**
 * Throws `INVALID_CONFIG` naming the first key of `o` that is not in `allowed`: a misspelt
 * option is an error, never silently ignored. `undefined` passes.
 */
export function checkOptions(o: unknown, allowed: readonly string[], what: string): void {
  if (o === undefined) return;
  if (o === null || typeof o !== 'object' || Array.isArray(o)) {
    throw new ShiftAddAugError('INVALID_CONFIG', `${what} must be an object, got ${o === null ? 'null' : Array.isArray(o) ? 'an array' : typeof o}`);
  }
  for (const k of Object.keys(o)) {
    if (!allowed.includes(k)) throw new ShiftAddAugError('INVALID_CONFIG', `unknown option ${JSON.stringify(k)} in ${what}; valid: ${allowed.join(', ')}`);
  }
}

/** Keys of `InitOptions`. */
export const INIT_OPTION_KEYS = ['backend', 'worker', 'wasmUrl', 'allowSoftwareWebGPU', 'threads'] as const;
/** Keys of `TrainOptions`. */
export const TRAIN_OPTION_KEYS = ['batchSize', 'learningRate', 'optimizer', 'labelSmoothing', 'seed', 'momentum', 'weightDecay', 'warmupSteps',
  'cropPadding', 'horizontalFlip', 'totalSteps', 'evalBnImages', 'microBatches', 'logEvery'] as const;
/** Keys of `FitOptions`. */
export const FIT_OPTION_KEYS = [...TRAIN_OPTION_KEYS, 'epochs', 'validationData', 'callbacks', 'signal', 'yieldEvery', 'aug', 'resetBn'] as const;
/** Keys of `Callbacks`. */
export const CALLBACK_KEYS = ['onPhase', 'onTrainBegin', 'onEpochBegin', 'onBatchEnd', 'onEpochEnd', 'onTrainEnd'] as const;
/** Keys of `AugOptions`. */
export const AUG_OPTION_KEYS = ['enabled', 'widthList', 'expandList', 'mode', 'remap', 'remapForShift', 'remapFcGrad', 'alpha', 'stopWidthAug', 'sortChannels', 'seed'] as const;
