// Reading a module's own files in Node, whose fetch cannot read file: URLs (shared by the
// training and the inference entries; imports no wasm glue).
const proc = (globalThis as { process?: { versions?: { node?: string } } }).process;

/** Whether this runs in Node. */
export const isNode = !!proc?.versions?.node;

/** The bytes at `url` when it is a file: URL in Node, else `null` (fetch it instead). */
export async function readFileUrl(url: URL): Promise<Uint8Array | null> {
  if (!isNode || url.protocol !== 'file:') return null;
  const fsName = 'node:fs/promises';
  const fs = (await import(/* @vite-ignore */ fsName)) as { readFile(u: URL): Promise<Uint8Array> };
  return new Uint8Array(await fs.readFile(url));
}
