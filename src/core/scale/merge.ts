/**
 * `sdg merge`: joins the outputs of a sharded labeling job (chunks x seed ranges) into one JSONL,
 * streaming, and checks that every item (input_index x seed, with num_samples rows) is there
 * exactly once, against the input dataset and the seeds in the chunks' frozen configs
 * (`<chunk>.jsonl.run/config.json`). What is missing is reported per chunk, with the exact command
 * that resumes (or starts) that chunk: rerunning a chunk's command is a resume.
 *
 * Memory: one bit per expected item (1M problems x 64 seeds = 8 MB), plus the failed item indexes.
 */
import { readdirSync, existsSync, statSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, resolve } from 'node:path';
import { countJsonlLines, JsonlWriter, parseLine, readLineBatches } from '../io/jsonl';
import { renameReplacing } from '../io/fsUtil';
import { diffConfigs, readFrozenConfig } from '../run/config';
import { RESUME_IGNORED_FIELDS } from '../generate';
import { readCommandRecord, formatCommand, type CommandRecord } from './command';
import { chunkOutputPath, chunkSize } from './shard';
import { shellQuote } from './shell';

export interface MergeOptions {
  /** Chunk outputs (JSONL files written by `sdg generate --num-chunks`). */
  files: string[];
  output: string;
  /** The input dataset, when it is no longer where the chunks' configs say. */
  input?: string;
  /** Expected seeds (default: the union of the chunks' seed ranges). */
  startSeed?: number;
  numSeeds?: number;
  /** Expected number of chunks (default: from the configs). */
  numChunks?: number;
  /** Write the merged file even when items are missing. */
  allowMissing?: boolean;
  signal?: AbortSignal;
}

export interface ShardReport {
  /** Output file of the chunk (absolute). */
  output: string;
  /** False when no output or run folder of this chunk was found. */
  found: boolean;
  chunkId: number;
  numChunks: number;
  startSeed: number;
  numSeeds: number;
  /** Items the chunk should have. */
  expected: number;
  /** Items of the chunk present and complete (merged). */
  merged: number;
  /** expected - merged. */
  missing: number;
  /** Items whose only rows are error rows (a rerun retries them). */
  failed: number;
  /** The command that resumes (or starts) this chunk, when it can be told. */
  command: string | null;
  /** Slurm array task of this chunk, when it ran (or would run) from `sdg slurm` scripts. */
  slurm?: { script: string; arrayTaskId: number };
}

export interface MergeReport {
  output: string;
  /** Every expected item present exactly once. */
  complete: boolean;
  /** Whether the merged file was written (complete, or allowMissing). */
  written: boolean;
  input: string;
  problems: number;
  startSeed: number;
  numSeeds: number;
  numChunks: number;
  numSamples: number;
  expectedItems: number;
  mergedItems: number;
  rows: number;
  missingItems: number;
  failedItems: number;
  /** Groups with fewer rows than num_samples (a torn write a resume repairs). */
  incompleteItems: number;
  /** Items found more than once (kept once). */
  duplicateItems: number;
  /** Items outside the expected problems x seeds (another input, other seeds). */
  unexpectedItems: number;
  /** Lines that are not JSON objects with input_index and seed. */
  badLines: number;
  shards: ShardReport[];
  /** Seeds no chunk file covers at all (only with startSeed/numSeeds). */
  uncoveredSeeds: Array<{ from: number; to: number }>;
  /** A few missing items as "input_index:seed". */
  missingExamples: string[];
  /** Commands that finish the job: one per chunk with something missing. */
  rerun: string[];
}

export class MergeError extends Error {
  override readonly name = 'MergeError';
}

interface FrozenGenerate {
  kind?: string;
  input?: string;
  dataset?: { limit?: number | null };
  start_seed?: number;
  num_seeds?: number;
  num_samples?: number;
  chunk?: { num_chunks: number; chunk_id: number };
}

interface Shard extends ShardReport {
  record: CommandRecord | null;
  /** Merged items credited to this chunk and seed range. */
  mergedCount: number;
  failedKeys: Set<number>;
}

/** Files matching a pattern with `*` and `?` in its last part (e.g. `labels/out-chunk*.jsonl`). */
export function expandPattern(pattern: string): string[] {
  const dir = dirname(pattern);
  const base = basename(pattern);
  if (!/[*?]/.test(base)) return existsSync(pattern) ? [pattern] : [];
  const re = new RegExp('^' + base.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.') + '$');
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  // Run folders and temp files are never chunk outputs.
  return names.filter((n) => re.test(n) && !n.endsWith('.run') && !n.includes('.merge-tmp-')).sort(naturalCompare).map((n) => join(dir, n))
    .filter((p) => statSync(p).isFile());
}

function naturalCompare(a: string, b: string): number {
  return a.localeCompare(b, undefined, { numeric: true });
}

/** The generation settings that must agree between chunks (all but seeds, chunk and throughput). */
const MERGE_IGNORED = [...RESUME_IGNORED_FIELDS.filter((f) => f !== 'dataset.limit'), 'chunk'];

export async function mergeChunks(options: MergeOptions): Promise<MergeReport> {
  if (!options.files.length) throw new MergeError('no chunk outputs given (list the files or use --pattern)');
  const output = resolve(options.output);

  // 1. Configs of the chunks found, checked against each other.
  const shards: Shard[] = [];
  let first: { file: string; config: FrozenGenerate } | null = null;
  const seenOutputs = new Set<string>();
  const notStarted: string[] = [];
  for (const f of options.files) {
    const file = resolve(f);
    if (file === output) throw new MergeError(`${f}: is the merge output; pick another --output`);
    if (seenOutputs.has(file)) throw new MergeError(`${f}: given twice`);
    seenOutputs.add(file);
    const config = await readFrozenConfig<FrozenGenerate>(`${file}.run`).catch((e) => {
      throw new MergeError(`${f}.run/config.json: ${(e as Error).message}`);
    });
    if (!config) {
      // A chunk that never started has neither: it is reported as missing (from its siblings).
      if (!existsSync(file)) {
        notStarted.push(file);
        continue;
      }
      throw new MergeError(`${f}: no ${basename(f)}.run/config.json beside it: is it an output of sdg generate?`);
    }
    if (config.kind !== 'generate') throw new MergeError(`${f}: its run is a "${config.kind}" run; sdg merge joins sdg generate chunks`);
    if (first) {
      const diffs = diffConfigs(first.config, config, { ignore: MERGE_IGNORED });
      if (diffs.length) {
        throw new MergeError(`${f}: generated with other settings than ${first.file}: ` +
          diffs.map((d) => `${d.path} (${JSON.stringify(d.was)} vs ${JSON.stringify(d.now)})`).join(', '));
      }
    } else {
      first = { file: f, config };
    }
    const chunk = config.chunk ?? { num_chunks: 1, chunk_id: 0 };
    if (shards.length && shards[0].numChunks !== chunk.num_chunks) {
      throw new MergeError(`the chunk outputs disagree on the number of chunks (${shards[0].output}: ${shards[0].numChunks}, ${f}: ${chunk.num_chunks}): they are from different splits`);
    }
    const startSeed = config.start_seed ?? 0;
    const numSeeds = config.num_seeds ?? 1;
    for (const s of shards) {
      if (s.chunkId === chunk.chunk_id && startSeed < s.startSeed + s.numSeeds && s.startSeed < startSeed + numSeeds) {
        throw new MergeError(`${f} and ${s.output} both hold chunk ${chunk.chunk_id} for seeds ${Math.max(startSeed, s.startSeed)}..${Math.min(startSeed + numSeeds, s.startSeed + s.numSeeds) - 1}`);
      }
    }
    shards.push({
      output: file, found: true, chunkId: chunk.chunk_id, numChunks: chunk.num_chunks, startSeed, numSeeds,
      expected: 0, merged: 0, missing: 0, failed: 0, command: null, record: await readCommandRecord(`${file}.run`),
      mergedCount: 0, failedKeys: new Set(),
    });
  }
  if (!first) throw new MergeError(`none of the ${options.files.length} chunk outputs exists yet (${options.files[0]}, ...)`);
  const base = first.config;
  const numSamples = base.num_samples ?? 1;
  const chunkCounts = new Set(shards.map((s) => s.numChunks));
  if (chunkCounts.size > 1) throw new MergeError(`the chunk outputs disagree on the number of chunks (${[...chunkCounts].join(', ')}): they are from different splits`);
  const numChunks = shards[0].numChunks;
  if (options.numChunks !== undefined && options.numChunks !== numChunks) {
    throw new MergeError(`--num-chunks ${options.numChunks}, but the chunk outputs were split into ${numChunks}`);
  }

  // 2. Expected seeds and chunks; chunks with no file get a shard derived from a sibling.
  const startSeed = options.startSeed ?? Math.min(...shards.map((s) => s.startSeed));
  const endSeed = options.numSeeds !== undefined ? startSeed + options.numSeeds : Math.max(...shards.map((s) => s.startSeed + s.numSeeds));
  const numSeeds = endSeed - startSeed;
  if (numSeeds < 1) throw new MergeError(`no seeds to expect (start ${startSeed}, ${numSeeds} seeds)`);
  const groups = new Map<string, Shard[]>();
  for (const s of shards) {
    const k = `${s.startSeed}:${s.numSeeds}`;
    if (!groups.has(k)) groups.set(k, []);
    groups.get(k)!.push(s);
  }
  for (const members of [...groups.values()]) {
    const have = new Set(members.map((m) => m.chunkId));
    const sibling = members.find((m) => m.record) ?? members[0];
    for (let c = 0; c < numChunks; c++) {
      if (have.has(c)) continue;
      shards.push({
        output: siblingOutput(sibling, c), found: false, chunkId: c, numChunks, startSeed: sibling.startSeed, numSeeds: sibling.numSeeds,
        expected: 0, merged: 0, missing: 0, failed: 0, command: null, record: null, mergedCount: 0, failedKeys: new Set(),
      });
    }
  }
  shards.sort((a, b) => a.startSeed - b.startSeed || a.chunkId - b.chunkId);

  // Seed offset -> shard group start (which seed range holds it); -1 where no chunk file covers it.
  const seedGroup = new Int32Array(numSeeds).fill(-1);
  for (const s of shards) {
    for (let x = Math.max(s.startSeed, startSeed); x < Math.min(s.startSeed + s.numSeeds, endSeed); x++) seedGroup[x - startSeed] = s.startSeed;
  }
  const uncoveredSeeds: MergeReport['uncoveredSeeds'] = [];
  for (let x = 0; x < numSeeds; x++) {
    if (seedGroup[x] !== -1) continue;
    const last = uncoveredSeeds.at(-1);
    if (last && last.to === startSeed + x - 1) last.to++;
    else uncoveredSeeds.push({ from: startSeed + x, to: startSeed + x });
  }
  const shardOf = new Map(shards.map((s) => [`${s.startSeed}:${s.chunkId}`, s]));

  // 3. Expected problems from the input.
  const input = options.input ? resolve(options.input) : base.input;
  if (!input) throw new MergeError(`${first!.file}: its config names no input; pass --input`);
  let lines: number;
  try {
    lines = await countJsonlLines(input, options.signal);
  } catch (e) {
    throw new MergeError(`cannot read the input ${input} (from ${first!.file}.run/config.json): ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}; pass --input if it moved`);
  }
  const limit = base.dataset?.limit ?? null;
  const problems = limit === null ? lines : Math.min(lines, limit);
  for (const s of shards) s.expected = chunkSize(problems, { numChunks, chunkId: s.chunkId }) * Math.max(0, Math.min(s.startSeed + s.numSeeds, endSeed) - Math.max(s.startSeed, startSeed));
  const expectedItems = problems * numSeeds;
  const seen = new Uint8Array(Math.ceil(expectedItems / 8));

  // 4. Stream every chunk once, writing complete items the first time they are seen.
  const tmp = `${output}.merge-tmp-${process.pid}`;
  const writer = await JsonlWriter.open(tmp, { truncate: true });
  let mergedItems = 0, rows = 0, incompleteItems = 0, duplicateItems = 0, unexpectedItems = 0, badLines = 0;
  let written = false;
  try {
    for (const shard of shards) {
      if (!shard.found || !existsSync(shard.output)) continue;
      // A group: consecutive rows of one item (the run store writes an item's rows in one write).
      let key = '';
      let groupRows: Array<{ text: string; row: Record<string, unknown> }> = [];
      const flush = async () => {
        if (!groupRows.length) return;
        const firstRow = groupRows[0].row;
        const idx = firstRow.input_index as number;
        const seed = firstRow.seed as number;
        const want = typeof firstRow.num_samples === 'number' ? firstRow.num_samples : numSamples;
        const failed = groupRows.some((g) => g.row.error !== null && g.row.error !== undefined);
        const inGrid = idx >= 0 && idx < problems && seed >= startSeed && seed < endSeed;
        const cellIndex = inGrid ? idx * numSeeds + (seed - startSeed) : -1;
        const cell = inGrid ? shardOf.get(`${seedGroup[seed - startSeed]}:${idx % numChunks}`) : undefined;
        const group = groupRows;
        groupRows = [];
        if (!inGrid) return void unexpectedItems++;
        if (failed) return void (cell ?? shard).failedKeys.add(cellIndex);
        if (group.length < want) return void incompleteItems++;
        // More rows than n under one key: an item written twice in a row.
        for (let startAt = 0; startAt + want <= group.length; startAt += want) {
          if (seen[cellIndex >> 3] & (1 << (cellIndex & 7))) {
            duplicateItems++;
            continue;
          }
          seen[cellIndex >> 3] |= 1 << (cellIndex & 7);
          mergedItems++;
          if (cell) cell.mergedCount++;
          rows += want;
          let text = '';
          for (let r = startAt; r < startAt + want; r++) text += group[r].text + '\n';
          await writer.writeRaw(text);
          if (writer.needsDrain) await writer.drain();
        }
        if (group.length % want) incompleteItems++;
      };
      for await (const batch of readLineBatches(shard.output, { signal: options.signal })) {
        for (const raw of batch) {
          if (!raw.terminated) continue; // a torn last line: the chunk's resume repairs it
          const rec = parseLine<Record<string, unknown>>(raw);
          if (!rec) continue;
          const v = rec.value;
          if (!v || typeof v !== 'object' || Array.isArray(v) || typeof v.input_index !== 'number' || typeof v.seed !== 'number') {
            badLines++;
            continue;
          }
          const k = `${v.input_index}:${v.seed}`;
          if (k !== key) {
            await flush();
            key = k;
          }
          groupRows.push({ text: raw.bytes.toString('utf8'), row: v });
        }
      }
      await flush();
    }
    await writer.close();

    // 5. What is missing, per chunk.
    const missingItems = expectedItems - mergedItems;
    let failedItems = 0;
    for (const s of shards) {
      s.merged = s.mergedCount;
      s.missing = s.expected - s.mergedCount;
      for (const k of s.failedKeys) if (!(seen[k >> 3] & (1 << (k & 7)))) s.failed++;
      failedItems += s.failed;
    }
    const missingExamples: string[] = [];
    for (let i = 0; i < expectedItems && missingExamples.length < 5; i++) {
      if (seen[i >> 3] === 0xff) {
        i += 7 - (i & 7);
        continue;
      }
      if (!(seen[i >> 3] & (1 << (i & 7)))) missingExamples.push(`${Math.floor(i / numSeeds)}:${startSeed + (i % numSeeds)}`);
    }
    const complete = missingItems === 0;
    describeReruns(shards);
    const rerun = rerunCommands(shards, uncoveredSeeds);
    if (complete || options.allowMissing) {
      await renameReplacing(tmp, output);
      written = true;
    }
    return {
      output, complete, written, input, problems, startSeed, numSeeds, numChunks, numSamples,
      expectedItems, mergedItems, rows, missingItems, failedItems, incompleteItems, duplicateItems, unexpectedItems, badLines,
      shards: shards.map(({ record: _r, mergedCount: _m, failedKeys: _f, ...rest }) => rest),
      uncoveredSeeds, missingExamples, rerun,
    };
  } finally {
    if (!written) {
      await writer.close().catch(() => undefined);
      await rm(tmp, { force: true });
    }
  }
}

/** The output a chunk with no file would have, named like its sibling's. */
function siblingOutput(sibling: Shard, chunkId: number): string {
  const outFlag = sibling.record ? flagValue(sibling.record.argv, '--output') : undefined;
  if (sibling.record && outFlag) {
    const p = chunkOutputPath(outFlag, chunkId);
    return isAbsolute(p) ? p : resolve(sibling.record.cwd, p);
  }
  const name = basename(sibling.output).replace(new RegExp(`-chunk${sibling.chunkId}(?=\\.[^.]*$|$)`), `-chunk${chunkId}`);
  return join(dirname(sibling.output), name === basename(sibling.output) ? `chunk${chunkId}-of-${sibling.numChunks}.jsonl` : name);
}

function flagValue(argv: readonly string[], flag: string): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === flag) return argv[i + 1];
    if (argv[i].startsWith(flag + '=')) return argv[i].slice(flag.length + 1);
  }
  return undefined;
}

/** Fills each incomplete shard's command (its own, or a sibling's with the chunk id changed). */
function describeReruns(shards: Shard[]): void {
  for (const s of shards) {
    const own = s.record;
    const sibling = own ?? shards.find((o) => o.record && o.startSeed === s.startSeed && o.numSeeds === s.numSeeds)?.record
      ?? shards.find((o) => o.record)?.record;
    if (!sibling) continue;
    const set: Record<string, string> = { '--chunk-id': String(s.chunkId) };
    if (!own) {
      set['--start-seed'] = String(s.startSeed);
      set['--num-seeds'] = String(s.numSeeds);
    }
    s.command = formatCommand(sibling, set);
    const src = own?.slurm ?? shards.find((o) => o.record?.slurm && o.startSeed === s.startSeed)?.record?.slurm;
    if (src) {
      // `sdg slurm` numbers array tasks seedRange * numChunks + chunk, so a sibling's task id gives this one's.
      const siblingShard = own ? s : shards.find((o) => o.record?.slurm === src)!;
      s.slurm = { script: src.script, arrayTaskId: src.arrayTaskId - siblingShard.chunkId + s.chunkId };
    }
  }
}

function rerunCommands(shards: Shard[], uncovered: MergeReport['uncoveredSeeds']): string[] {
  const out: string[] = [];
  const todo = shards.filter((s) => s.missing > 0);
  const bySlurm = new Map<string, number[]>();
  for (const s of todo) {
    if (s.slurm) {
      if (!bySlurm.has(s.slurm.script)) bySlurm.set(s.slurm.script, []);
      bySlurm.get(s.slurm.script)!.push(s.slurm.arrayTaskId);
    }
  }
  for (const [script, ids] of bySlurm) out.push(`sbatch --array=${ids.sort((a, b) => a - b).join(',')} ${shellQuote(script)}`);
  for (const s of todo) {
    // A Slurm task's own command points at the server its task started (a port long gone): resubmit it instead.
    if (s.slurm) continue;
    if (s.command) out.push(s.command);
    else out.push(`# chunk ${s.chunkId} (seeds ${s.startSeed}..${s.startSeed + s.numSeeds - 1}): run sdg generate with --num-chunks ${s.numChunks} --chunk-id ${s.chunkId} and the chunks' other flags`);
  }
  for (const u of uncovered) out.push(`# seeds ${u.from}..${u.to}: no chunk output covers them; run the chunks with --start-seed ${u.from} --num-seeds ${u.to - u.from + 1}`);
  return out;
}
