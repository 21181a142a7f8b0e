// Declarations of the wasm-bindgen glue (`shiftaddaug.js`, generated next to the compiled SDK
// by `wasm-bindgen --target web`). Only what the SDK uses; the generated .d.ts is the full one.
export default function init(options?: { module_or_path?: unknown }): Promise<unknown>;
export function parseIdx(bytes: Uint8Array): { dims: number[]; data: Uint8Array };
export function version(): string;
export function simdEnabled(): boolean;
export function webgpuEnabled(): boolean;
export class Session {
  static create(modelConfig: unknown, trainConfig: unknown, backend: string): Promise<Session>;
  readonly backend: string;
  numParams(): number;
  configure(trainConfig: unknown): void;
  configureAug(aug: unknown): void;
  resetBnBegin(images: number | undefined, afterStop: boolean): number;
  resetBnStep(): boolean;
  resetBnFinish(): void;
  exportModel(): Promise<{ json: string; safetensors: Uint8Array }>;
  setTrainingData(x: Float32Array, y: Int32Array): void;
  beginEpoch(epoch: number): number;
  trainNext(readMetrics: boolean): Promise<{ step: number; loss: number; accuracy: number } | null>;
  evaluate(x: Float32Array, y: Int32Array): Promise<{ loss: number; accuracy: number; count: number }>;
  validate(x: Float32Array, y: Int32Array): Promise<{ loss: number; accuracy: number; count: number }>;
  testTrap(): Promise<unknown>;
  predict(x: Float32Array, n: number): Promise<Float32Array>;
  gradientLength(): number;
  trainPart(part: number, parts: number, out?: Float32Array): Promise<unknown>;
  applyGradients(gradients: Float32Array, present: Uint8Array): void;
  searchBegin(options: unknown, bnX: Float32Array, bnY: Int32Array, evalX: Float32Array, evalY: Int32Array): Promise<{ genes: number; architectures: number }>;
  searchNext(stop: boolean): Promise<unknown>;
  checkpoint(): Promise<Uint8Array>;
  restore(bytes: Uint8Array): void;
  step(): number;
  resumeEpoch(epoch: number, batch: number): number;
  free(): void;
}
