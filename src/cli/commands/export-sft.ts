import type { Command } from 'commander';
import { exportSft, formatSftSummary, type DownsampleMethod, type LengthFilter, type LengthScope } from '../../core/sft/export';
import { SFT_FORMATS, type SftFormat } from '../../core/sft/format';
import { FORMATTER_NAMES } from '../../core/llm/formatters';

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

function positiveInt(flag: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${flag} must be a positive integer (got ${JSON.stringify(v)})`);
  return n;
}

interface Opts {
  input: string[]; output: string; format: string; system?: string; promptTemplate?: string; formatter?: string; keepFields?: string;
  includeIncorrect?: boolean; dedup: boolean; multipleBoxed?: boolean; lengthFilter: string; lengthScope: string; iqrFactor: string;
  percentiles: string; minGroup: string; contamination: string[]; contaminationField?: string; ngram: string; maxPerProblem?: string;
  seed: string; json?: boolean; codeErrors: boolean; incorrectOnly?: boolean; trimSolutions?: boolean; dropIncorrectArithmetic?: boolean;
  tokenizer?: string; minSolutionTokens?: string; maxSolutionTokens?: string; maxProblemTokens?: string; maxTotal?: string; downsample: string;
  metadata: string[];
}

/** `--metadata key=value` (repeatable): a constant field of every record; values that parse as JSON are JSON. */
function parseMetadata(pairs: string[]): Record<string, unknown> | undefined {
  if (pairs.length === 0) return undefined;
  const out: Record<string, unknown> = {};
  for (const pair of pairs) {
    const at = pair.indexOf('=');
    if (at <= 0) throw new Error(`--metadata must be key=value (got ${JSON.stringify(pair)})`);
    const value = pair.slice(at + 1);
    let parsed: unknown = value;
    try { parsed = JSON.parse(value); } catch { /* a plain string */ }
    out[pair.slice(0, at)] = parsed;
  }
  return out;
}

function nonNegativeInt(flag: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new Error(`${flag} must be an integer >= 0 (got ${JSON.stringify(v)})`);
  return n;
}

export function register(program: Command): void {
  program
    .command('export-sft')
    .description('Turn graded generations into SFT data: filter (code errors, correct, contamination, multi-boxed, arithmetic, dedup, tokens, length, caps) and format')
    .option('--input <file>', 'graded JSONL (from `sdg grade`); repeat for several files', collect, [])
    .requiredOption('--output <file>', 'SFT JSONL to write')
    .option('--format <format>', `record shape: ${SFT_FORMATS.join(', ')}`, 'messages')
    .option('--system <text>', 'system prompt added to every record')
    .option('--prompt-template <template>', 'user message template over row fields', '{{problem}}')
    .option('--formatter <name>', `conversation formatter for --format text (and prompt-completion): ${FORMATTER_NAMES.join(', ')}`)
    .option('--keep-fields <names>', 'comma-separated row fields copied into each record (e.g. input_index,expected_answer)')
    .option('--include-incorrect', 'also export incorrect solutions, flagged with is_correct: false')
    .option('--no-dedup', 'keep identical solutions of a problem')
    .option('--multiple-boxed', 'keep solutions that box several different answers')
    .option('--length-filter <kind>', 'length outlier filter: iqr, percentile or none', 'iqr')
    .option('--length-scope <scope>', 'compute length bounds per problem or global', 'problem')
    .option('--iqr-factor <k>', 'IQR fences: Q1 - k*IQR .. Q3 + k*IQR', '1.5')
    .option('--percentiles <lo,hi>', 'kept percentile window for --length-filter percentile', '1,99')
    .option('--min-group <n>', 'per-problem length filtering needs at least n solutions', '4')
    .option('--contamination <file>', 'test-set JSONL; problems sharing an n-gram with it are removed (repeatable)', collect, [])
    .option('--contamination-field <name>', 'field of the test set holding the problem (default: problem or question)')
    .option('--ngram <n>', 'n-gram size (words) for the contamination check', '13')
    .option('--max-per-problem <n>', 'keep at most n solutions per problem (seeded, deterministic downsampling)')
    .option('--seed <n>', 'seed of the downsampling', '0')
    .option('--no-code-errors', 'keep solutions whose code execution failed (Traceback, error output, code_execution_failed/timed_out flags)')
    .option('--incorrect-only', 'export only incorrect solutions (flagged is_correct: false)')
    .option('--trim-solutions', 'cut each solution after the line holding its final boxed answer')
    .option('--drop-incorrect-arithmetic', 'drop solutions with a wrong "a op b = c" statement')
    .option('--tokenizer <path>', 'tokenizer.json (or its folder) for the token limits')
    .option('--min-solution-tokens <n>', 'drop solutions with fewer tokens (needs --tokenizer)')
    .option('--max-solution-tokens <n>', 'drop solutions with more tokens (needs --tokenizer)')
    .option('--max-problem-tokens <n>', 'drop problems with more tokens (needs --tokenizer)')
    .option('--max-total <n>', 'keep at most n solutions in all (after every other filter)')
    .option('--downsample <method>', 'how --max-total picks: fair (round-robin over problems) or random', 'fair')
    .option('--metadata <key=value>', 'constant field added to every record, e.g. dataset=math (repeatable; JSON values allowed)', collect, [])
    .option('--json', 'print the filter summary as JSON')
    .action(async (opts: Opts) => {
      if (opts.input.length === 0) throw new Error('export-sft: give at least one --input file');
      if (!SFT_FORMATS.includes(opts.format as SftFormat)) throw new Error(`--format must be one of ${SFT_FORMATS.join(', ')} (got ${JSON.stringify(opts.format)})`);
      const pct = opts.percentiles.split(',').map(Number);
      if (pct.length !== 2 || pct.some((x) => !Number.isFinite(x))) throw new Error(`--percentiles must be two numbers "lo,hi" (got ${JSON.stringify(opts.percentiles)})`);
      const iqr = Number(opts.iqrFactor);
      if (!Number.isFinite(iqr) || iqr < 0) throw new Error(`--iqr-factor must be a number >= 0 (got ${JSON.stringify(opts.iqrFactor)})`);
      const seed = Number(opts.seed);
      if (!Number.isInteger(seed)) throw new Error(`--seed must be an integer (got ${JSON.stringify(opts.seed)})`);
      const summary = await exportSft({
        inputs: opts.input,
        output: opts.output,
        format: opts.format as SftFormat,
        systemPrompt: opts.system,
        promptTemplate: opts.promptTemplate,
        formatter: opts.formatter,
        keepFields: opts.keepFields ? opts.keepFields.split(',').map((s) => s.trim()).filter(Boolean) : undefined,
        includeIncorrect: opts.includeIncorrect === true,
        dedup: opts.dedup,
        dropMultipleBoxed: opts.multipleBoxed !== true,
        lengthFilter: opts.lengthFilter as LengthFilter,
        lengthScope: opts.lengthScope as LengthScope,
        iqrFactor: iqr,
        percentiles: [pct[0], pct[1]],
        minGroupForLength: positiveInt('--min-group', opts.minGroup),
        contamination: opts.contamination.map((file) => ({ file, field: opts.contaminationField })),
        ngram: positiveInt('--ngram', opts.ngram),
        maxPerProblem: positiveInt('--max-per-problem', opts.maxPerProblem),
        seed,
        dropCodeErrors: opts.codeErrors,
        incorrectOnly: opts.incorrectOnly === true,
        trimSolutions: opts.trimSolutions === true,
        dropIncorrectArithmetic: opts.dropIncorrectArithmetic === true,
        tokenizer: opts.tokenizer,
        minSolutionTokens: nonNegativeInt('--min-solution-tokens', opts.minSolutionTokens),
        maxSolutionTokens: positiveInt('--max-solution-tokens', opts.maxSolutionTokens),
        maxProblemTokens: positiveInt('--max-problem-tokens', opts.maxProblemTokens),
        maxTotal: positiveInt('--max-total', opts.maxTotal),
        downsample: opts.downsample as DownsampleMethod,
        metadata: parseMetadata(opts.metadata),
        onWarning: (m) => console.error(`warning: ${m}`),
      });
      console.log(opts.json ? JSON.stringify(summary, null, 2) : formatSftSummary(summary));
      if (!opts.json) console.log(`-> ${opts.output}`);
    });
}
