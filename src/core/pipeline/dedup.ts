/**
 * Duplicate detection for `dedup` stages. Exact: a hash of the normalised text. Near-duplicate:
 * MinHash signatures over word shingles with LSH banding, so each new row is compared only with
 * rows that share a band bucket, then confirmed by the signature's estimated Jaccard similarity.
 * Memory is one signature per kept row (num_perm 32-bit numbers), never the texts themselves.
 */
import { createHash } from 'node:crypto';

export function normalizeForDedup(text: string): string {
  return text.toLowerCase().replace(/[^\p{L}\p{N}\s]/gu, ' ').replace(/\s+/g, ' ').trim();
}

export function exactKey(text: string): string {
  return createHash('sha1').update(normalizeForDedup(text)).digest('base64');
}

/** 32-bit FNV-1a of a string. */
function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** Word shingles of `size` words (a text shorter than that is one shingle). */
export function shingles(text: string, size: number): Set<string> {
  const words = normalizeForDedup(text).split(' ').filter(Boolean);
  const out = new Set<string>();
  if (words.length <= size) {
    out.add(words.join(' '));
    return out;
  }
  for (let i = 0; i + size <= words.length; i++) out.add(words.slice(i, i + size).join(' '));
  return out;
}

/** Exact Jaccard similarity of two shingle sets (for tests and small checks). */
export function jaccard(a: Set<string>, b: Set<string>): number {
  let inter = 0;
  for (const x of a) if (b.has(x)) inter++;
  const union = a.size + b.size - inter;
  return union === 0 ? 1 : inter / union;
}

// Universal hashing (a*x + b) mod p, with p = 2^31 - 1 so products fit exactly in a double.
const PRIME = 2147483647;

function mulMod(a: number, b: number): number {
  // a, b < 2^31: split b to keep every intermediate below 2^53.
  const hi = Math.floor(b / 65536);
  const lo = b % 65536;
  return (((a * hi) % PRIME) * 65536 + a * lo) % PRIME;
}

export interface MinHashOptions {
  numPerm?: number;
  shingleSize?: number;
  /** Estimated Jaccard similarity at or above which two texts are duplicates. */
  threshold?: number;
  seed?: number;
}

export class MinHashDeduper {
  readonly numPerm: number;
  readonly shingleSize: number;
  readonly threshold: number;
  private readonly a: number[] = [];
  private readonly b: number[] = [];
  private readonly bands: number;
  private readonly rows: number;
  private readonly buckets = new Map<string, number[]>();
  private readonly signatures: Uint32Array[] = [];

  constructor(opts: MinHashOptions = {}) {
    this.numPerm = opts.numPerm ?? 128;
    this.shingleSize = opts.shingleSize ?? 3;
    this.threshold = opts.threshold ?? 0.8;
    let state = (opts.seed ?? 1) >>> 0 || 1;
    const rand = () => {
      // xorshift32: deterministic permutations for a given seed.
      state ^= state << 13; state >>>= 0;
      state ^= state >>> 17;
      state ^= state << 5; state >>>= 0;
      return state;
    };
    for (let i = 0; i < this.numPerm; i++) {
      this.a.push((rand() % (PRIME - 1)) + 1);
      this.b.push(rand() % PRIME);
    }
    // Pick bands x rows = numPerm whose LSH threshold (1/b)^(1/r) is closest to the similarity threshold.
    let best = { b: this.numPerm, r: 1, d: Infinity };
    for (let r = 1; r <= this.numPerm; r++) {
      if (this.numPerm % r) continue;
      const b = this.numPerm / r;
      const d = Math.abs(Math.pow(1 / b, 1 / r) - this.threshold);
      if (d < best.d) best = { b, r, d };
    }
    this.bands = best.b;
    this.rows = best.r;
  }

  signature(text: string): Uint32Array {
    const sig = new Uint32Array(this.numPerm).fill(0xffffffff);
    for (const sh of shingles(text, this.shingleSize)) {
      const x = fnv1a(sh) % PRIME;
      for (let i = 0; i < this.numPerm; i++) {
        const h = (mulMod(this.a[i]!, x) + this.b[i]!) % PRIME;
        if (h < sig[i]!) sig[i] = h;
      }
    }
    return sig;
  }

  static similarity(a: Uint32Array, b: Uint32Array): number {
    let same = 0;
    for (let i = 0; i < a.length; i++) if (a[i] === b[i]) same++;
    return same / a.length;
  }

  /** True if `text` is a near-duplicate of a text seen before; otherwise remembers it. */
  isDuplicate(text: string): boolean {
    const sig = this.signature(text);
    const keys: string[] = [];
    const candidates = new Set<number>();
    for (let band = 0; band < this.bands; band++) {
      const key = `${band}:${Array.from(sig.subarray(band * this.rows, (band + 1) * this.rows)).join(',')}`;
      keys.push(key);
      for (const idx of this.buckets.get(key) ?? []) candidates.add(idx);
    }
    for (const idx of candidates) {
      if (MinHashDeduper.similarity(sig, this.signatures[idx]!) >= this.threshold) return true;
    }
    const idx = this.signatures.push(sig) - 1;
    for (const key of keys) {
      const list = this.buckets.get(key);
      if (list) list.push(idx);
      else this.buckets.set(key, [idx]);
    }
    return false;
  }
}
