/**
 * A compact set of string keys for "which items are already done".
 *
 * A JS `Set<string>` costs ~80-100 bytes per short key (string header + hash table entry); at
 * 1M items that alone eats a big share of the 250 MB budget. Here each key is stored as a 64-bit
 * hash (two independent 32-bit hashes) in an open-addressing table of Uint32 pairs: 16 bytes per
 * slot at load <= 0.5, i.e. ~16-32 MB for 1M keys. The chance that two of 1M distinct keys share
 * a 64-bit hash is ~3e-8, which we accept (a collision would skip one item).
 */
export interface KeyLookup {
  has(key: string): boolean;
  readonly size: number;
}

const INITIAL_SLOTS = 1024; // power of two

export class KeySet implements KeyLookup {
  private table: Uint32Array;
  private mask: number;
  private count = 0;

  constructor(expected = 0) {
    let slots = INITIAL_SLOTS;
    while (slots < expected * 2) slots *= 2;
    this.table = new Uint32Array(slots * 2);
    this.mask = slots - 1;
  }

  get size(): number {
    return this.count;
  }

  /** Bytes held by the table (for memory accounting and tests). */
  get byteLength(): number {
    return this.table.byteLength;
  }

  has(key: string): boolean {
    hashKey(key);
    return this.find(h1, h2) >= 0;
  }

  /** Adds a key; returns false if it was already present. */
  add(key: string): boolean {
    hashKey(key);
    if (this.find(h1, h2) >= 0) return false;
    if ((this.count + 1) * 2 > this.mask + 1) this.grow();
    this.insert(h1, h2);
    this.count++;
    return true;
  }

  private find(a: number, b: number): number {
    const t = this.table;
    let i = a & this.mask;
    for (;;) {
      const x = t[i * 2];
      const y = t[i * 2 + 1];
      if (x === 0 && y === 0) return -1;
      if (x === a && y === b) return i;
      i = (i + 1) & this.mask;
    }
  }

  private insert(a: number, b: number): void {
    const t = this.table;
    let i = a & this.mask;
    while (t[i * 2] !== 0 || t[i * 2 + 1] !== 0) i = (i + 1) & this.mask;
    t[i * 2] = a;
    t[i * 2 + 1] = b;
  }

  private grow(): void {
    const old = this.table;
    const slots = (this.mask + 1) * 2;
    this.table = new Uint32Array(slots * 2);
    this.mask = slots - 1;
    for (let i = 0; i < old.length; i += 2) {
      const a = old[i];
      const b = old[i + 1];
      if (a !== 0 || b !== 0) this.insert(a, b);
    }
  }
}

// Results of the last hashKey call: module-level to avoid allocating a tuple per lookup.
let h1 = 0;
let h2 = 0;

/** Two independent 32-bit hashes of the key's UTF-16 code units (FNV-1a and a murmur3-style mix). */
function hashKey(key: string): void {
  let a = 0x811c9dc5;
  let b = 0x9747b28c ^ key.length;
  for (let i = 0; i < key.length; i++) {
    const c = key.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    let k = Math.imul(c, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    b ^= Math.imul(k, 0x1b873593);
    b = (b << 13) | (b >>> 19);
    b = (Math.imul(b, 5) + 0xe6546b64) | 0;
  }
  // Final avalanche so that keys differing only in the last character spread over the table.
  a ^= a >>> 16; a = Math.imul(a, 0x85ebca6b); a ^= a >>> 13; a = Math.imul(a, 0xc2b2ae35); a ^= a >>> 16;
  b ^= b >>> 16; b = Math.imul(b, 0x85ebca6b); b ^= b >>> 13; b = Math.imul(b, 0xc2b2ae35); b ^= b >>> 16;
  h1 = a >>> 0;
  h2 = b >>> 0;
  if (h1 === 0 && h2 === 0) h2 = 1; // (0,0) marks an empty slot
}
