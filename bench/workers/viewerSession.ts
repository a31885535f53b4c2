/**
 * The JSONL viewer as the user waits for it: a ViewerSession (the extension host side, queries in
 * worker threads) over a LiveJsonlFile, talking to a webview end through the product's message
 * channel with every message cloned as postMessage does. Times each request from the moment the
 * webview sends it to the moment its result is on the webview side (for a query: its `done`
 * progress and the first page of result rows).
 *   --file F                 all figures (prints one JSON line)
 *   --group-only FIELD       only group-by FIELD (for a peak-RSS measurement from outside)
 */
import { basename } from 'node:path';
import { MessageChannel, type WireMessage } from '../../src/protocol/ipc';
import type { QueryParams, ViewerHostNotifications, ViewerRequests } from '../../src/protocol/viewer';
import { LiveJsonlFile } from '../../src/core/viewer/liveFile';
import { ViewerSession } from '../../src/extension/viewer/session';
import { QueryRun } from '../../src/core/viewer/query';
import { parseFlags } from '../lib';

const flags = parseFlags(process.argv.slice(2));
const file = String(flags.file);
const COLUMNS = ['input_index', 'seed', 'expected_answer', 'predicted_answer', 'is_correct', 'generation'];

type Webview = MessageChannel<Record<string, never>, ViewerRequests, ViewerHostNotifications, Record<string, never>>;

async function openSession(): Promise<{ live: LiveJsonlFile; session: ViewerSession; webview: Webview; firstRowsMs: number; progress: Map<number, ViewerHostNotifications['queryProgress']> }> {
  const t0 = performance.now();
  const live = await LiveJsonlFile.open(file, { watch: false });
  // Both directions cloned, as VS Code's postMessage does (JSON-like structured clone).
  let webview!: Webview;
  const session = new ViewerSession(live, basename(file), (m: WireMessage) => void webview.receive(structuredClone(m)));
  webview = new MessageChannel((m) => void session.receive(structuredClone(m)));
  const progress = new Map<number, ViewerHostNotifications['queryProgress']>();
  webview.on('queryProgress', (p) => progress.set(p.queryId, p));
  webview.sendReady();
  const first = await webview.request('rows', { view: { kind: 'all' }, start: 0, count: 100, columns: COLUMNS });
  if (first.rows.length !== 100) throw new Error(`first page has ${first.rows.length} rows`);
  return { live, session, webview, firstRowsMs: performance.now() - t0, progress };
}

/** One query as the user runs it: send, wait for done, fetch the first page of results. */
async function timeQuery(s: Awaited<ReturnType<typeof openSession>>, params: QueryParams): Promise<{ ms: number; matches: number; groups: number }> {
  const t0 = performance.now();
  const r = await s.webview.request('query', params);
  if (!r.ok) throw new Error(`query ${JSON.stringify(params)}: ${r.message}`);
  const id = r.queryId;
  for (;;) {
    const p = s.progress.get(id);
    if (p?.error) throw new Error(p.error);
    if (p?.done) break;
    await new Promise((res) => setTimeout(res, 2));
  }
  const p = s.progress.get(id)!;
  if (params.groupBy) await s.webview.request('groups', { queryId: id, start: 0, count: 100 });
  else await s.webview.request('rows', { view: { kind: 'query', queryId: id }, start: 0, count: 100, columns: COLUMNS });
  return { ms: performance.now() - t0, matches: p.matches, groups: p.groups };
}

export const QUERIES: Record<string, QueryParams> = {
  'plain search': { search: { text: 'boxed{1234}', regex: false, caseSensitive: false } },
  'regex search': { search: { text: 'boxed\\{1[0-9]{3}\\}', regex: true, caseSensitive: true } },
  // Text JSON may escape: found on the raw bytes (UTF-8 or a \\uXXXX escape), confirmed on the parsed line.
  'non-ASCII search': { search: { text: 'café', regex: false, caseSensitive: false } },
  filter: { filter: 'seed == 4 && is_correct == false' },
  'group-by input_index': { groupBy: 'input_index' },
};

async function main(): Promise<void> {
  const s = await openSession();
  if (typeof flags['group-only'] === 'string') {
    await s.live.ready;
    const r = await timeQuery(s, { groupBy: flags['group-only'] });
    console.log(JSON.stringify({ groupMs: r.ms, groups: r.groups, matches: r.matches }));
    s.session.dispose();
    await s.live.dispose();
    return;
  }
  const t0 = performance.now();
  await s.live.ready; // the background index + analysis pass (stats bar), before the queries
  const readyMs = performance.now() - t0 + s.firstRowsMs;
  const out: Record<string, unknown> = { firstRowsMs: s.firstRowsMs, readyMs, lines: s.live.file.lineCount, sizeBytes: s.live.file.index.fileSize };
  const queries: Record<string, unknown> = {};
  for (const [name, q] of Object.entries(QUERIES)) queries[name] = await timeQuery(s, q);
  // The same group-by again (the tab shown again): the kept result.
  queries['group-by again (kept result)'] = await timeQuery(s, QUERIES['group-by input_index']);
  // The impatient user: the file opened afresh and grouped at once, while the stats bar's pass
  // (which lets the key scan be trusted) is still running; lines it has not reached are parsed.
  const fresh = await openSession();
  queries['group-by right after opening'] = await timeQuery(fresh, QUERIES['group-by input_index']);
  fresh.session.dispose();
  await fresh.live.dispose();
  out.queries = queries;
  if (flags['compare-parse']) {
    // One thread, the same filter and group-by: the key scan against JSON.parse of every line.
    const single: Record<string, { keyScanMs: number; parseMs: number }> = {};
    for (const name of ['filter', 'group-by input_index']) {
      const t: number[] = [];
      for (const keyScan of [true, false]) {
        const t0 = performance.now();
        await new QueryRun(s.live.file, QUERIES[name], { keyScan }).advance();
        t.push(performance.now() - t0);
      }
      single[name] = { keyScanMs: t[0], parseMs: t[1] };
    }
    out.single = single;
  }
  console.log(JSON.stringify(out));
  s.session.dispose();
  await s.live.dispose();
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
