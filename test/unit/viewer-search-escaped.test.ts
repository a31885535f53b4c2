/**
 * "All fields" search for text JSON may escape (non-ASCII, quotes, backslashes): candidates are
 * found in the raw bytes, then confirmed on the parsed value. The prefilter must be sound: no
 * line that matches after parsing is ever skipped, whether the file writes the characters as
 * UTF-8 or as \uXXXX / short escapes.
 */
import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { JsonlFile } from '../../src/core/viewer/jsonlFile';
import { QueryRun, escapedTextPrefilter } from '../../src/core/viewer/query';

/** Deterministic PRNG (mulberry32). */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A JSON string literal for `s`, each character written raw or escaped at random (\uXXXX in either hex case, or a short escape). */
function writeString(s: string, r: () => number): string {
  let out = '"';
  for (const ch of s) {
    const short: Record<string, string> = { '"': '\\"', '\\': '\\\\', '/': '\\/', '\n': '\\n', '\t': '\\t' };
    const mustEscape = ch === '"' || ch === '\\' || ch.charCodeAt(0) < 0x20;
    const pick = r();
    if (!mustEscape && pick < 0.5) out += ch;
    else if (short[ch] !== undefined && pick < 0.75) out += short[ch];
    else {
      for (let k = 0; k < ch.length; k++) {
        const hex = ch.charCodeAt(k).toString(16).padStart(4, '0');
        out += '\\u' + (r() < 0.5 ? hex.toUpperCase() : hex);
      }
    }
  }
  return out + '"';
}

/**
 * What the search promises (docs/viewer.md), the slow way: the raw line contains the text, or,
 * for text JSON would escape (not printable ASCII without quotes and backslashes), any decoded
 * string value does.
 */
function expectedMatches(lines: string[], text: string, caseSensitive: boolean): number[] {
  const rawOnly = /^[\x20-\x7e]*$/.test(text) && !/["\\]/.test(text);
  const norm = (x: string): string => (caseSensitive ? x : x.toLowerCase());
  const t = norm(text);
  const anyString = (v: unknown): boolean =>
    typeof v === 'string' ? norm(v).includes(t) : v !== null && typeof v === 'object' && Object.values(v).some(anyString);
  const out: number[] = [];
  lines.forEach((l, i) => {
    let value: unknown;
    try {
      value = JSON.parse(l);
    } catch {
      value = undefined;
    }
    if (norm(l).includes(t) || (!rawOnly && anyString(value))) out.push(i);
  });
  return out;
}

describe('viewer "All fields" search of escaped and non-ASCII text on raw bytes', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'sdg-viewer-search-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  async function search(lines: string[], text: string, caseSensitive: boolean): Promise<number[]> {
    const path = join(dir, `f${Math.random().toString(36).slice(2)}.jsonl`);
    writeFileSync(path, lines.join('\n') + '\n');
    const f = await JsonlFile.open(path, { chunkBytes: 512 });
    try {
      const run = new QueryRun(f, { search: { text, regex: false, caseSensitive } });
      await run.advance();
      return run.matches.slice(0, run.matches.length);
    } finally {
      await f.close();
    }
  }

  it('finds a non-ASCII text written as UTF-8 and as \\uXXXX in either hex case, and skips other lines in the raw bytes', async () => {
    const lines = [
      '{"a":"café au lait"}',
      '{"a":"caf\\u00e9 noir"}',
      '{"a":"caf\\u00E9 cr\\u00e8me"}',
      '{"a":"cafe"}',
      '{"a":"CAFÉ"}',
      '{"a":"CAF\\u00c9"}',
      '{"b":["x",{"c":"\\u0063af\\u00e9"}]}',
      '{"a":"nothing here \\n with an escape"}',
    ];
    assert.deepEqual(await search(lines, 'café', true), [0, 1, 2, 6]);
    assert.deepEqual(await search(lines, 'café', false), [0, 1, 2, 4, 5, 6]);
    assert.deepEqual(await search(lines, 'CAFÉ', false), [0, 1, 2, 4, 5, 6]);
    // The raw-byte prefilter is used (no parse of every line) and rejects the lines without the character.
    for (const cs of [true, false]) {
      const p = escapedTextPrefilter('café', cs);
      assert.equal(p.kind, 'anyBytes');
      const { needles, escapes } = p as { needles: Buffer[]; escapes: Set<string> };
      const passes = (l: string): boolean =>
        needles.some((n) => Buffer.from(l, 'utf8').includes(n)) || [...l.matchAll(/\\u([0-9a-fA-F]{4})/g)].some((m) => escapes.has(m[1].toLowerCase()));
      const hits = lines.filter(passes);
      assert.ok(!hits.includes(lines[3]) && !hits.includes(lines[7]), `prefilter (case-sensitive ${cs}) let through lines without é: ${hits.join(' ')}`);
      assert.ok(hits.includes(lines[0]) && hits.includes(lines[1]) && hits.includes(lines[2]), `prefilter (case-sensitive ${cs}) dropped a match: ${hits.join(' ')}`);
    }
  });

  it('emoji (surrogate pairs escaped), CJK, quotes and backslashes: escaped and unescaped forms are all found', async () => {
    const lines = [
      '{"t":"ok 😀 yes"}',
      '{"t":"ok \\ud83d\\ude00 yes"}',
      '{"t":"ok \\uD83D\\uDE00 yes"}',
      '{"t":"日本語のテキスト"}',
      '{"t":"\\u65e5\\u672c\\u8a9e"}',
      '{"t":"he said \\"hi\\" twice"}',
      '{"t":"he said \\u0022hi\\u0022"}',
      '{"t":"C:\\\\temp"}',
      '{"t":"C:\\u005ctemp"}',
      '{"t":"plain"}',
    ];
    assert.deepEqual(await search(lines, '😀', true), [0, 1, 2]);
    assert.deepEqual(await search(lines, '😀', false), [0, 1, 2]);
    assert.deepEqual(await search(lines, '日本語', true), [3, 4]);
    assert.deepEqual(await search(lines, '"hi"', true), [5, 6]);
    assert.deepEqual(await search(lines, 'C:\\temp', true), [7, 8]);
    assert.deepEqual(await search(lines, 'c:\\TEMP', false), [7, 8]);
  });

  it('special lower-case mappings: İ (lower-cases to i + U+0307), a final Σ (to ς), the Kelvin sign', async () => {
    const lines = ['{"w":"İstanbul"}', '{"w":"\\u0130stanbul"}', '{"w":"ΟΔΟΣ"}', '{"w":"οδος"}', '{"w":"\\u212a"}', '{"w":"istanbul"}'];
    assert.deepEqual(await search(lines, 'i̇stanbul', false), [0, 1]);
    assert.deepEqual(await search(lines, 'οδος', false), [2, 3]);
    assert.deepEqual(await search(lines, 'ς', false), [2, 3]);
    // An ASCII text, case-insensitive: the raw Kelvin sign and İ lower-case to k and i.
    const raw = ['{"w":"\\u212a"}', '{"w":"K"}', '{"w":"x"}'];
    assert.deepEqual(await search(raw, 'k', false), [1]); // escaped: the raw line has no k, and k is printable ASCII (raw only)
    assert.deepEqual(await search(['{"w":"\u212a"}', '{"w":"K"}', '{"w":"x"}'], 'k', false), [0, 1]); // the Kelvin sign as UTF-8
    assert.deepEqual(await search(['{"w":"\u0130"}', '{"w":"I"}', '{"w":"x"}'], 'i', false), [0, 1]); // İ as UTF-8
  });

  it('is sound on random files: every line matching after parsing is found, case-sensitive or not', async function () {
    this.timeout(60_000);
    const alphabet = ['a', 'b', 'K', 'k', 'i', 'I', 'é', 'É', 'ß', 'ς', 'Σ', 'σ', 'İ', '\u0307', '\u212a', '日', '本', '😀', '"', '\\', '/', ' ', '\n', 'Ω', 'ω', 'ﬀ'];
    const r = rng(19);
    const word = (n: number): string => Array.from({ length: n }, () => alphabet[Math.floor(r() * alphabet.length)]).join('');
    const values: string[] = [];
    const lines: string[] = [];
    for (let i = 0; i < 400; i++) {
      const v1 = word(3 + Math.floor(r() * 10));
      const v2 = word(2 + Math.floor(r() * 6));
      values.push(v1, v2);
      const line = `{"id":${i},"text":${writeString(v1, r)},"nested":{"list":[${writeString(v2, r)},1,null]}}`;
      assert.deepEqual(JSON.parse(line), { id: i, text: v1, nested: { list: [v2, 1, null] } });
      lines.push(line);
    }
    let checked = 0;
    for (let q = 0; q < 60; q++) {
      const v = values[Math.floor(r() * values.length)];
      const start = Math.floor(r() * v.length);
      let needle = v.slice(start, start + 1 + Math.floor(r() * 3));
      if (/[\ud800-\udfff]/.test(needle) && !/[\ud800-\udbff][\udc00-\udfff]/.test(needle)) continue; // half an emoji
      if (r() < 0.3) needle = needle.toUpperCase();
      for (const cs of [true, false]) {
        const want = expectedMatches(lines, needle, cs);
        const got = await search(lines, needle, cs);
        const diff = [...got.filter((x) => !want.includes(x)), ...want.filter((x) => !got.includes(x))][0];
        assert.deepEqual(got, want, `search ${JSON.stringify(needle)} case-sensitive ${cs}: line ${diff} differs: ${lines[diff ?? 0]}`);
        if (want.length > 0) checked++;
      }
    }
    assert.ok(checked >= 40, `only ${checked} searches had matches`);
  });
});
