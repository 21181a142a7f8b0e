// Saved training state (`Model.save`, `loadModel`, `listModels`, `removeModel`, `fit`'s
// checkpoints): the checkpoint bytes of the wasm module (model, optimiser state, step, configs)
// and a JSON description beside them, in IndexedDB (`indexeddb://name`: browser pages and
// workers, one object store shared by both) or in one file (a path or `file://` URL: Node).
// File layout: `SAAMODEL`, the description's length (u32 LE), its JSON, the checkpoint bytes.
import { isNode } from './files.js';
import { FitPosition, ModelConfig, SavedModelInfo, ShiftAddAugError, TrainOptions } from './types.js';

/** What is stored beside the checkpoint bytes. */
export interface SavedMeta {
  format: 'shiftaddaug-model';
  version: 1;
  config: ModelConfig;
  options: TrainOptions;
  position: FitPosition | null;
  step: number;
  savedAt: string;
  bytes: number;
}

type Where = { kind: 'idb'; name: string } | { kind: 'file'; path: string | URL };

const IDB_PREFIX = 'indexeddb://';
const DB_NAME = 'shiftaddaug';
const STORE = 'models';
const MAGIC = 'SAAMODEL';

const bad = (msg: string) => new ShiftAddAugError('INVALID_CONFIG', msg);

/** Where `url` points; `INVALID_CONFIG` for a URL this context cannot store to. */
export function parseUrl(url: unknown): Where {
  if (typeof url !== 'string' || url.length === 0) throw bad(`a model URL must be a non-empty string, got ${JSON.stringify(url)}`);
  if (url.startsWith(IDB_PREFIX)) {
    const name = url.slice(IDB_PREFIX.length);
    if (!name) throw bad(`${url}: indexeddb:// needs a name, e.g. 'indexeddb://my-model'`);
    if (typeof indexedDB === 'undefined') throw bad(`${url}: IndexedDB is not available here (it is in browser pages and workers); in Node, save to a file path`);
    return { kind: 'idb', name };
  }
  if (!isNode) throw bad(`${url}: in a browser, models are saved to 'indexeddb://name'`);
  if (url.startsWith('file://')) return { kind: 'file', path: new URL(url) };
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(url)) throw bad(`${url}: unknown scheme; use a file path or file:// URL (Node), or indexeddb://name (browser)`);
  return { kind: 'file', path: url };
}

function ioError(where: string, e: unknown): ShiftAddAugError {
  if (e instanceof ShiftAddAugError) return e;
  return new ShiftAddAugError('IO_ERROR', `${where}: ${(e as Error)?.message ?? String(e)}`);
}

function request<T>(r: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => { r.onsuccess = () => resolve(r.result); r.onerror = () => reject(r.error); });
}

function openDb(): Promise<IDBDatabase> {
  const open = indexedDB.open(DB_NAME, 1);
  open.onupgradeneeded = () => { open.result.createObjectStore(STORE); };
  return request(open);
}

/** Runs `f` on the object store in one transaction and resolves when it has committed. */
async function withStore<T>(mode: IDBTransactionMode, f: (s: IDBObjectStore) => IDBRequest<T>): Promise<T> {
  const db = await openDb();
  try {
    const tx = db.transaction(STORE, mode);
    const done = new Promise<void>((resolve, reject) => { tx.oncomplete = () => resolve(); tx.onerror = () => reject(tx.error); tx.onabort = () => reject(tx.error); });
    const value = await request(f(tx.objectStore(STORE)));
    await done;
    return value;
  } finally {
    db.close();
  }
}

type Fs = {
  readFile(p: string | URL): Promise<Uint8Array>;
  writeFile(p: string | URL, d: Uint8Array): Promise<void>;
  rename(a: string | URL, b: string | URL): Promise<void>;
  unlink(p: string | URL): Promise<void>;
};
async function fs(): Promise<Fs> {
  const name = 'node:fs/promises';
  return (await import(/* @vite-ignore */ name)) as Fs;
}

function checkMeta(m: unknown, url: string): SavedMeta {
  const meta = m as SavedMeta | null;
  if (!meta || meta.format !== 'shiftaddaug-model') throw bad(`${url}: not a saved shiftaddaug model`);
  if (meta.version !== 1) throw bad(`${url}: saved by a newer version (format ${JSON.stringify(meta.version)}; this SDK reads 1)`);
  return meta;
}

/** Stores `bytes` with `meta` at `url`, replacing what was there only once the write is complete. */
export async function writeSaved(url: string, meta: SavedMeta, bytes: Uint8Array): Promise<void> {
  const where = parseUrl(url);
  try {
    if (where.kind === 'idb') {
      await withStore('readwrite', (s) => s.put({ meta, bytes }, where.name));
      return;
    }
    const json = new TextEncoder().encode(JSON.stringify(meta));
    const out = new Uint8Array(12 + json.length + bytes.length);
    out.set(new TextEncoder().encode(MAGIC), 0);
    new DataView(out.buffer).setUint32(8, json.length, true);
    out.set(json, 12);
    out.set(bytes, 12 + json.length);
    const f = await fs();
    const tmp = `${where.path instanceof URL ? where.path.pathname : where.path}.tmp`;
    await f.writeFile(tmp, out);
    await f.rename(tmp, where.path);
  } catch (e) {
    throw ioError(`saving ${url}`, e);
  }
}

/** The description and the checkpoint bytes at `url`; `IO_ERROR` when nothing is saved there. */
export async function readSaved(url: string): Promise<{ meta: SavedMeta; bytes: Uint8Array }> {
  const where = parseUrl(url);
  if (where.kind === 'idb') {
    let v: { meta?: unknown; bytes?: unknown } | undefined;
    try { v = await withStore('readonly', (s) => s.get(where.name)); } catch (e) { throw ioError(`loading ${url}`, e); }
    if (v === undefined) throw new ShiftAddAugError('IO_ERROR', `no saved model at ${url}`);
    if (!(v.bytes instanceof Uint8Array)) throw bad(`${url}: not a saved shiftaddaug model`);
    return { meta: checkMeta(v.meta, url), bytes: v.bytes };
  }
  let b: Uint8Array;
  try { b = await (await fs()).readFile(where.path); } catch (e) { throw ioError(`loading ${url}`, e); }
  const head = new TextDecoder().decode(b.subarray(0, 8));
  if (b.length < 12 || head !== MAGIC) throw bad(`${url}: not a saved shiftaddaug model (bad magic)`);
  const n = new DataView(b.buffer, b.byteOffset, b.byteLength).getUint32(8, true);
  if (12 + n > b.length) throw bad(`${url}: truncated (its description claims ${n} bytes)`);
  let meta: unknown;
  try { meta = JSON.parse(new TextDecoder().decode(b.subarray(12, 12 + n))); } catch { throw bad(`${url}: damaged description`); }
  return { meta: checkMeta(meta, url), bytes: b.subarray(12 + n) };
}

/** Every model saved in IndexedDB (`INVALID_CONFIG` where there is none: Node keeps files). */
export async function listSaved(): Promise<SavedModelInfo[]> {
  if (typeof indexedDB === 'undefined') throw bad('listModels lists IndexedDB (browser pages and workers); in Node, saved models are files');
  try {
    // Keys and values in one transaction, both in key order.
    const db = await openDb();
    let keys: IDBValidKey[], values: ({ meta?: SavedMeta } | undefined)[];
    try {
      const st = db.transaction(STORE, 'readonly').objectStore(STORE);
      [keys, values] = await Promise.all([request(st.getAllKeys()), request(st.getAll())]);
    } finally {
      db.close();
    }
    const out: SavedModelInfo[] = [];
    for (const [i, k] of keys.entries()) {
      const m = values[i]?.meta;
      if (m?.format !== 'shiftaddaug-model') continue;
      out.push({ url: IDB_PREFIX + String(k), savedAt: m.savedAt, bytes: m.bytes, step: m.step, config: m.config, position: m.position });
    }
    return out;
  } catch (e) {
    throw ioError('listing IndexedDB models', e);
  }
}

/** Deletes the model saved at `url`; `IO_ERROR` when there is none. */
export async function removeSaved(url: string): Promise<void> {
  const where = parseUrl(url);
  try {
    if (where.kind === 'idb') {
      const n = await withStore('readonly', (s) => s.count(where.name));
      if (n === 0) throw new ShiftAddAugError('IO_ERROR', `no saved model at ${url}`);
      await withStore('readwrite', (s) => s.delete(where.name));
      return;
    }
    await (await fs()).unlink(where.path);
  } catch (e) {
    throw ioError(`removing ${url}`, e);
  }
}
