/**
 * docs/benchmarks.md from the figures of one bench run:
 *   npm run bench -- --markdown docs/benchmarks.md          (during the run)
 *   npx tsx bench/markdown.ts results.json > docs/benchmarks.md   (from saved --json output)
 */
import { readFileSync } from 'node:fs';
import { fmt, type Figure } from './lib';

export interface BenchResult {
  date: string;
  quick: boolean;
  node: string;
  cpus: number;
  cpuModel?: string;
  loadAverage?: number[];
  command?: string;
  figures: Figure[];
  failures: string[];
}

const TARGETS = `| # | figure | target |
| --- | --- | --- |
| 1 | scheduling efficiency: achieved req/s over the limit C / mean latency, lognormal latency (median 200 ms, sigma 0.8), C = 16, 64, 256, 20,000 requests | >= 0.95 |
| 2 | client CPU per request at C = 256 | <= 0.3 ms |
| 3 | peak RSS over 1,000,000 requests (tiny prompts, zero latency), every row written | < 250 MB, flat |
| 4 | JSONL viewer on 1 GB / ~1M lines: first page; full index; index memory; page of 100 rows; regex search | < 200 ms; >= 1.5 GB/s; <= 8 B/line; < 20 ms; >= 0.5 GB/s |
| 5 | extension activation (no eager work); bundle sizes | < 50 ms; reported |
| 6 | the loopback server's own ceiling, so server-bound figures are recognised | reported |
| 7 | product path: whole-process CPU per request of \`sdg generate\` (and \`sdg run\`, reported) at C = 256, lognormal 200 ms latency, 3,000 requests, beside the client alone and the undici floor; per-phase split | <= 0.3 ms |
| 8 | the window at C = 1024 and 2048: achieved req/s over a perfect sliding window simulated on the latencies drawn in the same run; connections and event-loop delay reported | >= 0.97 |`;

export function toMarkdown(r: BenchResult): string {
  const rows = r.figures.map((f) => `| ${f.group} | ${f.name} | ${fmt(f.value)} ${f.unit} | ${f.reference ? `${f.reference.name}: ${fmt(f.reference.value)}` : ''} | ${f.ratio !== undefined ? fmt(f.ratio) : ''} | ${f.target ?? ''} | ${f.pass === undefined ? '' : f.pass ? 'met' : '**missed**'} |`);
  const notes = r.figures.filter((f) => f.note).map((f) => `- ${f.name}: ${f.note}`);
  return `# Benchmarks

Produced by \`${r.command ?? 'npm run bench'}\` on ${r.date.slice(0, 10)} (${r.date}).
Machine: ${r.cpus} x ${r.cpuModel ?? 'CPU'}, Node ${r.node}${r.loadAverage ? `, load average at start ${r.loadAverage.map((x) => x.toFixed(2)).join(' / ')} (the machine is shared: other work ran alongside)` : ''}.
Every figure is measured in the same run as the limit or peer it is compared with; the mock
model server runs in its own process on loopback, and each client in a process of its own.

## Targets

${TARGETS}

## Results

| group | figure | measured | peer / limit (same run) | ratio | target | |
| --- | --- | --- | --- | --- | --- | --- |
${rows.join('\n')}

${notes.length ? `Notes:\n${notes.join('\n')}\n` : ''}${r.failures.length ? `\nErrors in this run:\n${r.failures.map((f) => `- ${f}`).join('\n')}\n` : ''}
## How to read and rerun

- \`npm run bench\` runs everything (about 15-20 minutes on 2 cores); \`-- --only scheduling,client,memory,viewer,extension,server\` picks groups; \`-- --json\` prints the figures as JSON; \`-- --quick\` is the smoke run CI does (small sizes, nothing judged); \`-- --markdown docs/benchmarks.md\` rewrites this page.
- Scheduling: the limit is C divided by the lognormal mean latency (median x e^(sigma^2/2) = 275 ms). "Fixed batches" starts C requests and waits for all of them before the next batch (what the reference Python library's async generator does); "openai SDK + semaphore" is the plain SDK (default fetch, default retries) limited to C in flight.
- Client cost: CPU time (user + system) of the client process divided by the requests, against a zero-latency server in another process; undici's \`Pool.request\` with a prebuilt body is the floor.
- Memory: peak RSS of the process running 1,000,000 requests through the engine into a real JSONL output; "RSS at 25% / 100%" shows whether memory grows with the run.
- Viewer: the plain read-and-scan peer reads 1 MiB chunks and counts newlines with \`indexOf\`; GNU \`grep -c -E\` is the search peer and must find the same number of lines.
- Product path (\`--only product\`): \`sdg generate\` (gsm8k_text, few-shot prompt of ~2 KB, 1,000 problems x 3 seeds) and \`sdg run open_qa\` (list stages, ~2,900 requests) from the bundled CLI under \`/usr/bin/time\` (user + sys of the whole process, start-up included), against the mock in its own process; the phase split comes from a V8 profile of the unminified bundle (\`bench/profileSplit.ts\`), scaled to the measured CPU. Window (\`--only window\`): the engine alone (in-process model on timers, real run output) and the product over loopback HTTP, each against a perfect sliding window simulated on the latencies drawn in that run (the mock records them: \`recordLatencies\`, \`GET /mock/stats\`).
- Extension activation is measured by loading the production bundle with a stand-in \`vscode\` module (require + \`activate()\`); code-server's own log line "SDG Studio activated in N ms" gives the in-VS Code figure.
`;
}

if (require.main === module) {
  const file = process.argv[2];
  if (!file) {
    console.error('usage: tsx bench/markdown.ts RESULTS.json');
    process.exit(2);
  }
  process.stdout.write(toMarkdown(JSON.parse(readFileSync(file, 'utf8'))));
}
