/**
 * N-gram contamination check: does a training problem share a word n-gram with any problem of
 * a test set? Words are lower-cased runs of letters and digits, so spacing, punctuation and
 * LaTeX markup differences do not hide an overlap. Texts shorter than n words are compared as
 * one whole gram, so a short problem copied verbatim is still caught.
 *
 * The index keeps 52-bit hashes of the test set's n-grams (a test set is small: MATH-500 has
 * ~40k 13-grams), never the training data.
 */
import { createHash } from 'node:crypto';
import { readJsonl } from '../math/jsonl';

export function words(text: string): string[] {
  return text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? [];
}

function hashGram(gram: string): number {
  const d = createHash('sha1').update(gram).digest();
  // 52 bits: exact as a JS number, collisions negligible at these sizes.
  return (d.readUInt32BE(0) & 0xfffff) * 0x100000000 + d.readUInt32BE(4);
}

/** Hashes of the n-grams of a text (the whole text when it has fewer than n words). */
export function ngramHashes(text: string, n: number): number[] {
  const w = words(text);
  if (w.length === 0) return [];
  if (w.length < n) return [hashGram(w.join(' '))];
  const out: number[] = [];
  for (let i = 0; i + n <= w.length; i++) out.push(hashGram(w.slice(i, i + n).join(' ')));
  return out;
}

export interface ContaminationSource {
  file: string;
  /** Field holding the test problem; default: the first of problem, question present. */
  field?: string;
}

export class ContaminationIndex {
  private readonly grams = new Set<number>();
  /** Test-set texts shorter than n words, hashed whole: matched against whole short texts. */
  private readonly shortTexts = new Set<number>();
  testProblems = 0;

  constructor(readonly n: number) {
    if (!Number.isInteger(n) || n < 1) throw new Error(`n-gram size must be a positive integer (got ${n})`);
  }

  add(text: string): void {
    this.testProblems++;
    const w = words(text);
    if (w.length === 0) return;
    if (w.length < this.n) this.shortTexts.add(hashGram(w.join(' ')));
    for (const h of ngramHashes(text, this.n)) this.grams.add(h);
  }

  async addFile(source: ContaminationSource): Promise<void> {
    for await (const { row, line } of readJsonl(source.file)) {
      const field = source.field ?? ['problem', 'question'].find((k) => typeof row[k] === 'string');
      const text = field === undefined ? undefined : row[field];
      if (typeof text !== 'string') {
        throw new Error(`${source.file}:${line}: no string field ${source.field ? JSON.stringify(source.field) : '"problem" or "question"'} to check contamination against (use --contamination-field)`);
      }
      this.add(text);
    }
  }

  /** True when the text shares an n-gram with the test set (or equals a short test problem). */
  contains(text: string): boolean {
    const w = words(text);
    if (w.length === 0) return false;
    if (w.length < this.n) {
      const whole = hashGram(w.join(' '));
      return this.shortTexts.has(whole) || this.grams.has(whole);
    }
    for (let i = 0; i + this.n <= w.length; i++) if (this.grams.has(hashGram(w.slice(i, i + this.n).join(' ')))) return true;
    return false;
  }
}
