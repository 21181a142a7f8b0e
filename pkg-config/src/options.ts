// Option-object checks shared by the SDK's entry points (internal: not exported by the package).
import { ShiftAddAugError, type AugOptions, type Callbacks, type FitOptions, type InitOptions, type SearchCallbacks, type SearchOptions, type TrainOptions } from './types.js';

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

/**
 * `keys` itself, checked at compile time to list every key of `T` (a key added to an options
 * type without being added here is a type error, not an option the SDK then refuses).
 */
function allKeysOf<T>() {
  return <const K extends readonly (keyof T & string)[]>(
    keys: K & ([Exclude<keyof T, K[number]>] extends [never] ? unknown : { missing: Exclude<keyof T, K[number]> }),
  ): K => keys;
}

/** Keys of `InitOptions`. */
export const INIT_OPTION_KEYS = allKeysOf<InitOptions>()(['backend', 'worker', 'wasmUrl', 'cpuWasmUrl', 'simd', 'allowSoftwareWebGPU', 'threads']);
/** Keys of `TrainOptions`. */
export const TRAIN_OPTION_KEYS = allKeysOf<TrainOptions>()(['batchSize', 'learningRate', 'optimizer', 'labelSmoothing', 'seed', 'momentum',
  'weightDecay', 'warmupSteps', 'cropPadding', 'horizontalFlip', 'totalSteps', 'evalBnImages', 'microBatches', 'logEvery']);
/** Keys of `FitOptions`. */
export const FIT_OPTION_KEYS = allKeysOf<FitOptions>()([...TRAIN_OPTION_KEYS, 'epochs', 'validationData', 'callbacks', 'signal', 'yieldEvery', 'aug', 'resetBn',
  'checkpointEvery', 'checkpointUrl', 'resume', 'fallback']);
/** Keys of `Callbacks`. */
export const CALLBACK_KEYS = allKeysOf<Callbacks>()(['onPhase', 'onTrainBegin', 'onEpochBegin', 'onBatchEnd', 'onEpochEnd', 'onTrainEnd',
  'onCheckpoint', 'onFallback']);
/** Keys of `AugOptions`. */
export const AUG_OPTION_KEYS = allKeysOf<AugOptions>()(['enabled', 'widthList', 'expandList', 'mode', 'remap', 'remapForShift', 'remapFcGrad', 'alpha',
  'stopWidthAug', 'sortChannels', 'seed', 'subnets', 'subnetShrink', 'subnetAlpha', 'subnetDepth', 'subnetKernels', 'subnetOps', 'subnetOpBn']);
/** Keys of `SearchOptions`. */
export const SEARCH_OPTION_KEYS = allKeysOf<SearchOptions>()(['bnData', 'evalData', 'maxMacs', 'maxParams', 'maxEnergyUj', 'maxPeakActivation', 'maxLatencyMs', 'latencyEngine',
  'population', 'generations', 'parentRatio', 'mutationRatio', 'mutationProb', 'seed', 'shrink', 'depth', 'callbacks', 'signal']);
/** Keys of `SearchCallbacks`. */
export const SEARCH_CALLBACK_KEYS = allKeysOf<SearchCallbacks>()(['onGeneration', 'onCandidate']);
