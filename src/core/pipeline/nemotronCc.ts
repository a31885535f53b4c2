/**
 * Nemotron-CC document rewriting, pre- and post-processing as NeMo Curator does it (the modifiers
 * MarkdownRemover, QuotationRemover, LineRemover, Slicer; the filters SubstringFilter and
 * TokenCountFilter; DocumentSplitter + DocumentJoiner; NemotronCCDiverseQAPostprocessor and
 * NemotronCCKnowledgeListPostprocessor). Each function reproduces the reference's behaviour on the
 * same input; the tests hold cases taken from the reference's own tests and code.
 */
import { seededRandom } from './rows';
import type { TokenCounter } from './tokens';

/** MarkdownRemover: per line, **bold**, *italic*, _underline_ and [text](url) (which keeps the url). */
export function removeMarkdown(text: string): string {
  return text
    .split('\n')
    .map((line) => line
      .replace(/\*\*(.*?)\*\*/g, '$1')
      .replace(/\*(.*?)\*/g, '$1')
      .replace(/_(.*?)_/g, '$1')
      .replace(/\[.*?\]\((.*?)\)/g, '$1'))
    .join('\n');
}

/**
 * QuotationRemover: a text wrapped in double quotes loses them, unless it has several lines and its
 * first line itself ends with a quote (then the quotes belong to a quoted first line).
 */
export function removeQuotes(text: string): string {
  if (text.trim().length > 2 && text[0] === '"' && text[text.length - 1] === '"') {
    const first = text.split('\n')[0]!;
    if (!text.trim().includes('\n') || first[first.length - 1] !== '"') return text.slice(1, -1);
  }
  return text;
}

/** LineRemover: drops the lines equal to one of `patterns` ("Passage 1:"...). */
export function removeLines(text: string, patterns: readonly string[]): string {
  return text.split('\n').filter((line) => !patterns.includes(line)).join('\n');
}

/** The passage labels the reference drops from extract_knowledge answers. */
export const PASSAGE_LINES = ['Passage:', 'Passage 1:', 'Passage 2:', 'Passage 3:'];

/**
 * SubstringFilter(position "prefix") then Slicer(left = prefix, include_left false, strip): the text
 * after the prefix, trimmed; undefined when the text does not start with the prefix (the row is dropped).
 */
export function afterPrefix(text: string, prefix: string): string | undefined {
  if (!text.startsWith(prefix)) return undefined;
  return pyStrip(text.slice(prefix.length));
}

/** Python's str.strip(): white space at both ends. */
function pyStrip(s: string): string {
  return s.replace(/^[\s\u001c-\u001f\u0085]+|[\s\u001c-\u001f\u0085]+$/g, '');
}

/** Randomness of the diverse-QA choice: Python's random.shuffle and random.randint (inclusive). */
export interface QaRandom {
  shuffle<T>(items: T[]): void;
  randint(lo: number, hi: number): number;
}

/** A seeded QaRandom (same seed, same choice), so a rerun gives the same rows. */
export function seededQaRandom(seed: number): QaRandom {
  const rand = seededRandom(seed);
  return {
    shuffle(items) {
      for (let i = items.length - 1; i > 0; i--) {
        const j = Math.floor(rand() * (i + 1));
        [items[i], items[j]] = [items[j]!, items[i]!];
      }
    },
    randint: (lo, hi) => lo + Math.floor(rand() * (hi - lo + 1)),
  };
}

export const DIVERSE_QA_PREFIX = 'Here are the questions and answers based on the provided text:';

export interface DiverseQaOptions {
  /** The answer's first line that is dropped when present. */
  prefix?: string;
  /** Most pairs kept (the reference's max_num_pairs); with a tokenizer, per 150 document tokens. */
  maxPairs: number;
  /** With a tokenizer the number of pairs grows with the document's length. */
  tokenizer?: TokenCounter;
  random: QaRandom;
}

/**
 * NemotronCCDiverseQAPostprocessor: the answer's non-empty lines, a leading "- " removed; the
 * prefix line dropped; pairs start at lines beginning "Question:" and take the following lines
 * ("- Question: ...\nAnswer: ..." and "Question: ...\n- Answer: ..." both parse). A line before the
 * first question, or no question at all, gives "" (the row is dropped). The pairs are shuffled and
 * 1..max of them kept (max = max_pairs, or max(1, floor(max_pairs * tokens(document) / 150)) with a
 * tokenizer), then written after the document: `${document}\n\n${pairs joined by blank lines}`.
 */
export function diverseQaPostprocess(document: string, answer: string, o: DiverseQaOptions): string {
  let lines = answer.split('\n').filter((l) => l.trim()).map((l) => pyStrip(l));
  if (lines.length === 0) return '';
  lines = lines.map((l) => (l.startsWith('- ') ? pyStrip(l.slice(2)) : l));
  if (lines[0] === (o.prefix ?? DIVERSE_QA_PREFIX)) lines = lines.slice(1);
  const pairs: string[] = [];
  for (const line of lines) {
    if (line.startsWith('Question:')) pairs.push(line);
    else if (pairs.length) pairs[pairs.length - 1] += '\n' + line;
    else return '';
  }
  if (pairs.length === 0) return '';
  o.random.shuffle(pairs);
  const hi = o.tokenizer
    ? Math.max(1, Math.trunc((o.maxPairs * o.tokenizer.countPlain(document)) / 150))
    : o.maxPairs;
  const kept = pairs.slice(0, o.random.randint(1, hi));
  return `${document}\n\n${kept.join('\n\n')}`;
}

/**
 * NemotronCCKnowledgeListPostprocessor: a first line that is not a bullet is a preamble ("Here are
 * the key facts:") and is dropped; lines starting with "- " or two spaces lose those two characters
 * and are trimmed; other lines stay as they are.
 */
export function knowledgeListPostprocess(text: string): string {
  const out: string[] = [];
  text.split('\n').forEach((line, idx) => {
    if (idx === 0 && !line.startsWith('-')) return;
    out.push(line.startsWith('  ') || line.startsWith('- ') ? pyStrip(line.slice(2)) : line);
  });
  return out.join('\n');
}

export interface SegmentOptions {
  tokenizer: TokenCounter;
  separator: string;
  /** Documents with fewer tokens are dropped. */
  minDocumentTokens: number;
  /** Longest segment (in tokens) sent to the model; longer single pieces are dropped. */
  maxSegmentTokens: number;
  /** Joined segments with fewer tokens are dropped. */
  minSegmentTokens: number;
}

export interface Segment {
  text: string;
  /** Its token count as the reference keeps it (sum of the pieces + 1 per join). */
  tokens: number;
}

/**
 * The reference's preprocessing of a document before a rewrite: drop it when it has fewer than
 * `minDocumentTokens` tokens; split it at `separator`; drop pieces longer than `maxSegmentTokens`;
 * join neighbouring pieces while the total (pieces + 1 per join) stays within `maxSegmentTokens`;
 * drop joined segments shorter than `minSegmentTokens`.
 */
export function segmentDocument(document: string, o: SegmentOptions): Segment[] {
  if (o.tokenizer.count(document) < o.minDocumentTokens) return [];
  const pieces = document.split(o.separator)
    .map((text) => ({ text, tokens: o.tokenizer.count(text) }))
    .filter((p) => p.tokens <= o.maxSegmentTokens);
  const joined: Segment[] = [];
  let acc: Segment | undefined;
  for (const p of pieces) {
    if (!acc) { acc = { ...p }; continue; }
    const proposed = acc.tokens + p.tokens + 1;
    if (proposed <= o.maxSegmentTokens) acc = { text: acc.text + o.separator + p.text, tokens: proposed };
    else { joined.push(acc); acc = { ...p }; }
  }
  if (acc) joined.push(acc);
  return joined.filter((s) => s.tokens >= o.minSegmentTokens);
}
