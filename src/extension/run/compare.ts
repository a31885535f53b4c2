/**
 * "Compare runs": two runs over the same inputs side by side per input (outputs, grades,
 * lengths), with the differences in their parameters. Rows are matched by `input_index` (labeling
 * runs and pipelines that keep it), else by position. Streams both files; keeps at most `limit`
 * inputs. No `vscode` import.
 */
import { existsSync } from 'node:fs';
import type { CompareResult, RunView } from '../../protocol/studio';
import { postprocessFiles } from './postprocess';

interface Side {
  texts: string[];
  correct: number;
  graded: number;
  chars: number;
  problem?: string;
}

const TEXT_FIELDS = ['generation', 'output', 'response', 'text', 'explanation'];

function textOf(row: Record<string, unknown>): string {
  for (const f of TEXT_FIELDS) if (typeof row[f] === 'string') return row[f] as string;
  // The last string field of a pipeline row is usually its product.
  const strings = Object.entries(row).filter(([, v]) => typeof v === 'string');
  return strings.length ? String(strings[strings.length - 1][1]) : JSON.stringify(row);
}

async function readSide(file: string, limit: number): Promise<Map<string, Side>> {
  const { readJsonl } = require('../../core/io/jsonl') as typeof import('../../core/io/jsonl.js');
  const out = new Map<string, Side>();
  let i = 0;
  for await (const rec of readJsonl<Record<string, unknown>>(file)) {
    if (rec.error || !rec.value || typeof rec.value !== 'object') continue;
    const row = rec.value as Record<string, unknown>;
    const key = row.input_index !== undefined ? String(row.input_index) : String(i);
    i++;
    let side = out.get(key);
    if (!side) {
      if (out.size >= limit) continue;
      out.set(key, (side = { texts: [], correct: 0, graded: 0, chars: 0, problem: typeof row.problem === 'string' ? row.problem : typeof row.question === 'string' ? row.question : undefined }));
    }
    const text = textOf(row);
    side.texts.push(text);
    side.chars += text.length;
    if (typeof row.is_correct === 'boolean') {
      side.graded++;
      if (row.is_correct) side.correct++;
    }
  }
  return out;
}

/** The file to compare for a run: its graded output when there is one. */
export function compareFileOf(run: RunView): string | null {
  if (!run.output) return null;
  const graded = postprocessFiles(run.output).graded;
  return existsSync(graded) ? graded : existsSync(run.output) ? run.output : null;
}

/** Parameters (and model / endpoint / source) that differ between the two runs. */
export function paramDifferences(a: RunView, b: RunView): CompareResult['differences'] {
  const flat = (r: RunView): Record<string, unknown> => ({ source: r.details?.source, model: r.details?.model, endpoint: r.details?.endpoint, ...(r.details?.params ?? {}) });
  const fa = flat(a);
  const fb = flat(b);
  const keys = [...new Set([...Object.keys(fa), ...Object.keys(fb)])];
  return keys.filter((k) => JSON.stringify(fa[k] ?? null) !== JSON.stringify(fb[k] ?? null)).map((k) => ({ name: k, a: fa[k] === undefined ? null : String(fa[k]), b: fb[k] === undefined ? null : String(fb[k]) }));
}

export async function compareRuns(a: RunView, b: RunView, limit = 50): Promise<CompareResult> {
  const fa = compareFileOf(a);
  const fb = compareFileOf(b);
  if (!fa) throw new Error(`run ${a.name} has no output to compare yet`);
  if (!fb) throw new Error(`run ${b.name} has no output to compare yet`);
  const notes: string[] = [];
  if (a.details?.input && b.details?.input && a.details.input !== b.details.input) notes.push(`the runs read different inputs (${a.details.input} and ${b.details.input}): rows are matched by input_index`);
  const [sa, sb] = await Promise.all([readSide(fa, limit), readSide(fb, limit)]);
  const keys = [...new Set([...sa.keys(), ...sb.keys()])].sort((x, y) => Number(x) - Number(y) || x.localeCompare(y)).slice(0, limit);
  const side = (s: Side | undefined) =>
    s ? { samples: s.texts.length, first: s.texts[0].slice(0, 2000), correct: s.graded ? s.correct : null, graded: s.graded, meanChars: Math.round(s.chars / Math.max(1, s.texts.length)) } : null;
  return {
    files: [fa, fb],
    differences: paramDifferences(a, b),
    notes,
    inputs: keys.map((k) => ({ key: k, problem: sa.get(k)?.problem ?? sb.get(k)?.problem ?? null, a: side(sa.get(k)), b: side(sb.get(k)) })),
  };
}
