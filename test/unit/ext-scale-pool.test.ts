/**
 * Endpoint pools in the extension: settings validation (through the core's validatePoolServers),
 * the endpoint form's server lines, the endpoint test per server (mock servers on loopback), and
 * per-server counters carried from a real labeling run through the RunManager's run view.
 */
import { strict as assert } from 'node:assert';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkProfile, parseProfiles, toSettingsEntry } from '../../src/extension/endpoints/profiles';
import { testEndpointProfile } from '../../src/extension/endpoints/probe';
import { LabelingLauncher } from '../../src/extension/labeling';
import type { Logger } from '../../src/extension/log';
import { RunManager, type LaunchedRun, type RunHooks, type RunLauncher } from '../../src/extension/run/manager';
import { paramSchemas } from '../../src/extension/studio/handlers';
import type { EndpointProfile, ServerStats } from '../../src/protocol/studio';
import { formatServerLines, parseServerLines } from '../../webview/studio/logic/servers';
import { formatServerList, parseServerList } from '../../src/core/llm/serverSpec';
import { startMockServer, type MockServer } from '../support/mockServer';

const quietLog: Logger = { trace() {}, debug() {}, info() {}, warn() {}, error() {}, show() {} };

describe('extension scale-out: endpoint pools', function () {
  this.timeout(60_000);

  describe('settings (checkProfile)', () => {
    it('accepts a pool, fills baseUrl from the first server and keeps the servers in settings', () => {
      const { profile, problems } = checkProfile({ name: 'teacher', model: 'm', apiKind: 'chat', servers: [{ baseUrl: 'http://gpu1:8000/v1' }, { baseUrl: 'http://gpu2:8000/v1', weight: 2, maxConcurrency: 64 }] });
      assert.deepEqual(problems, []);
      assert.equal(profile!.baseUrl, 'http://gpu1:8000/v1');
      assert.deepEqual(profile!.servers, [{ baseUrl: 'http://gpu1:8000/v1' }, { baseUrl: 'http://gpu2:8000/v1', weight: 2, maxConcurrency: 64 }]);
      assert.deepEqual(toSettingsEntry(profile!).servers, profile!.servers);
    });

    it('names the server and field of each problem', () => {
      const { profile, problems } = checkProfile({
        name: 'teacher', baseUrl: 'http://gpu1:8000/v1', model: 'm', apiKind: 'chat',
        servers: [{ baseUrl: 'http://gpu1:8000/v1' }, { baseUrl: 'http://gpu1:8000/v1/' }, { baseUrl: 'ftp://x', weight: 0 }, { baseUrl: 'http://g:1/v1', maxConcurrency: 1.5, port: 3 }],
      });
      assert.equal(profile, undefined);
      const text = problems.join('\n');
      assert.match(text, /servers\[1\]\.baseUrl: .*listed twice/);
      assert.match(text, /servers\[2\]\.baseUrl: must start with http/);
      assert.match(text, /servers\[2\]\.weight: must be a positive number/);
      assert.match(text, /servers\[3\]\.maxConcurrency: must be a whole number/);
      assert.match(text, /servers\[3\]: unknown field "port"/);
    });

    it('an empty server list is refused; the other profiles still load', () => {
      const { profiles, issues } = parseProfiles([
        { name: 'good', baseUrl: 'http://a:1/v1', model: 'm', apiKind: 'chat' },
        { name: 'empty', baseUrl: 'http://a:1/v1', model: 'm', apiKind: 'chat', servers: [] },
      ]);
      assert.deepEqual(profiles.map((p) => p.name), ['good']);
      assert.equal(issues[0].name, 'empty');
      assert.match(issues[0].message, /servers must be a non-empty list/);
    });

    it('the Studio message schema takes servers and refuses unknown server fields', () => {
      const check = paramSchemas['endpoints.save'];
      const ok = check({ profile: { name: 'p', baseUrl: 'http://a:1/v1', model: 'm', apiKind: 'chat', servers: [{ baseUrl: 'http://a:1/v1', weight: 2 }] } }, 'params');
      assert.deepEqual(ok.profile.servers, [{ baseUrl: 'http://a:1/v1', weight: 2 }]);
      assert.throws(() => check({ profile: { name: 'p', baseUrl: 'http://a:1/v1', model: 'm', apiKind: 'chat', servers: [{ baseUrl: 'http://a:1/v1', secret: 'x' }] } }, 'params'), /params\.profile\.servers\[0\]\.secret: unknown field/);
    });
  });

  describe('endpoint servers: one syntax for the Studio form and the Add Endpoint command', () => {
    it('one plain URL is a single server; several (lines or commas) or options make a pool', () => {
      assert.deepEqual(parseServerLines('http://a:8000/v1\n'), { baseUrl: 'http://a:8000/v1', servers: undefined, problems: [] });
      const pool = parseServerLines('http://a:8000/v1\n\nhttp://b:8000/v1#weight=2&max=64\nhttp://c:8000/v1#weight=0.5&max=8');
      assert.deepEqual(pool.servers, [{ baseUrl: 'http://a:8000/v1' }, { baseUrl: 'http://b:8000/v1', weight: 2, maxConcurrency: 64 }, { baseUrl: 'http://c:8000/v1', weight: 0.5, maxConcurrency: 8 }]);
      assert.deepEqual(parseServerLines('http://a:8000/v1#max=4').servers, [{ baseUrl: 'http://a:8000/v1', maxConcurrency: 4 }]);
      assert.deepEqual(parseServerLines(formatServerLines({ baseUrl: 'http://a:8000/v1', servers: pool.servers })).servers, pool.servers);
      // The command's input box text (commas) parses to the same servers as the form's lines.
      const commas = parseServerList(formatServerList({ baseUrl: 'http://a:8000/v1', servers: pool.servers }, ', '));
      assert.deepEqual(commas.servers, pool.servers);
      assert.equal(formatServerList({ baseUrl: 'http://a:8000/v1', servers: pool.servers }, ', '), 'http://a:8000/v1, http://b:8000/v1#weight=2&max=64, http://c:8000/v1#weight=0.5&max=8');
    });

    it('names the server of a bad option', () => {
      const r = parseServerLines('http://a:8000/v1\nhttp://b:8000/v1#weight=-1&speed=3\nhttp://c/v1#max=2.5');
      assert.deepEqual(r.problems, ['server 2: weight must be a positive number, got "-1"', 'server 2: unknown option "speed" after # (weight=W&max=M)', 'server 3: max must be a whole number >= 1, got "2.5"']);
      assert.match(parseServerLines('  \n').problems[0], /base URL: required/);
    });

    it('"not a url" is reported as not a URL (not as an unknown option)', () => {
      assert.deepEqual(parseServerLines('not a url').problems, ['base URL: "not a url" is not a URL (no spaces; e.g. http://127.0.0.1:8000/v1)']);
      assert.deepEqual(parseServerList('http://a/v1, ftp://b/v1').problems, ['server 2: "ftp://b/v1" must start with http:// or https://']);
      assert.deepEqual(parseServerList('gpu-box').problems, ['base URL: "gpu-box" is not a URL (e.g. http://127.0.0.1:8000/v1)']);
    });
  });

  describe('endpoint test (mock servers on loopback)', () => {
    let a: MockServer;
    let b: MockServer;
    before(async () => {
      a = await startMockServer({ models: ['teacher'] });
      b = await startMockServer({ models: ['teacher'] });
    });
    after(async () => {
      await a?.close();
      await b?.close();
    });

    it('checks every server of a pool', async () => {
      const profile: EndpointProfile = { name: 'pool', baseUrl: a.url, model: 'teacher', apiKind: 'chat', servers: [{ baseUrl: a.url }, { baseUrl: b.url, weight: 2 }] };
      const r = await testEndpointProfile(profile, undefined, 5000);
      assert.equal(r.ok, true, r.error ?? '');
      assert.deepEqual(r.servers!.map((s) => [s.baseUrl, s.ok]), [[a.url, true], [b.url, true]]);
      assert.ok(r.models.includes('teacher'), r.models.join(', '));
    });

    it('fails naming the server that does not answer, and reports the others', async () => {
      const dead = await startMockServer({});
      const deadUrl = dead.url;
      await dead.close();
      const profile: EndpointProfile = { name: 'pool', baseUrl: a.url, model: 'teacher', apiKind: 'chat', servers: [{ baseUrl: a.url }, { baseUrl: deadUrl }] };
      const r = await testEndpointProfile(profile, undefined, 5000);
      assert.equal(r.ok, false);
      assert.equal(r.servers![0].ok, true);
      assert.equal(r.servers![1].ok, false);
      assert.match(r.error!, new RegExp(`1 of 2 servers failed: ${deadUrl.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
    });

    it('a single server keeps the old result shape', async () => {
      const r = await testEndpointProfile({ name: 'one', baseUrl: a.url, model: 'other', apiKind: 'chat' }, undefined, 5000);
      assert.equal(r.servers, undefined);
      assert.equal(r.ok, false);
      assert.match(r.error!, /does not list the model "other"/);
    });
  });

  describe('per-server counters in the run view', () => {
    it('the RunManager copies servers from progress and clears outstanding when the run ends', async () => {
      let hooksOut: RunHooks | undefined;
      let finish!: () => void;
      const launcher: RunLauncher<null> = {
        start: async (_r, hooks): Promise<LaunchedRun> => {
          hooksOut = hooks;
          return { dir: '/runs/a', name: 'a', kind: 'generate', done: new Promise((res) => (finish = () => res({ status: 'completed' }))) };
        },
        resume: async () => { throw new Error('no'); },
      };
      const m = new RunManager(launcher, { throttleMs: 0 });
      await m.start(null);
      const stats: ServerStats[] = [
        { baseUrl: 'http://a/v1', weight: 1, maxConcurrency: null, outstanding: 3, done: 10, failed: 0, healthy: true, latencyMs: 120, lastError: null },
        { baseUrl: 'http://b/v1', weight: 2, maxConcurrency: 8, outstanding: 1, done: 4, failed: 2, healthy: false, latencyMs: null, lastError: 'ECONNREFUSED' },
      ];
      hooksOut!.onProgress({ servers: stats });
      stats[0].done = 999; // the view holds a copy
      assert.equal(m.get('/runs/a')!.servers![0].done, 10);
      assert.equal(m.get('/runs/a')!.servers![1].healthy, false);
      hooksOut!.onProgress({ counts: { total: 1, done: 1, failed: 0, pending: 0 } });
      assert.equal(m.get('/runs/a')!.servers!.length, 2, 'an update without servers keeps the last ones');
      finish();
      await m.whenIdle();
      assert.deepEqual(m.get('/runs/a')!.servers!.map((s) => s.outstanding), [0, 0]);
      await m.dispose();
    });

    it('a labeling run over a pool of two mock servers shows both servers with their done counts', async () => {
      const s1 = await startMockServer({ respond: () => 'So \\boxed{7}', latency: 5 });
      const s2 = await startMockServer({ respond: () => 'So \\boxed{7}', latency: 5 });
      const ws = mkdtempSync(join(tmpdir(), 'sdg-ext-pool-'));
      mkdirSync(join(ws, 'data'));
      writeFileSync(join(ws, 'data/p.jsonl'), Array.from({ length: 6 }, (_, i) => JSON.stringify({ question: `What is ${i}+7-${i}?`, answer: '#### 7' })).join('\n') + '\n');
      const profile: EndpointProfile = { name: 'pool', baseUrl: s1.url, model: 'mock', apiKind: 'chat', servers: [{ baseUrl: s1.url }, { baseUrl: s2.url }] };
      const deps = { runsFolder: () => join(ws, '.sdg', 'runs'), resolveEndpoint: async () => ({ profile, apiKey: undefined }), defaultConcurrency: () => 4, log: quietLog };
      const launcher = new LabelingLauncher(deps);
      const m = new RunManager<null>({ start: (_r, hooks) => launcher.start({ promptFile: join(__dirname, '../../prompts/generation/gsm8k_text.yaml'), input: join(ws, 'data/p.jsonl'), endpoint: 'pool', numSeeds: 2, numSamples: 1 }, hooks), resume: async () => { throw new Error('no'); } }, { throttleMs: 0 });
      try {
        const view = await m.start(null);
        await m.whenIdle();
        const end = m.get(view.dir)!;
        assert.equal(end.status, 'completed', end.error ?? '');
        assert.deepEqual(end.servers!.map((s) => s.baseUrl).sort(), [s1.url, s2.url].sort());
        assert.equal(end.servers!.reduce((n, s) => n + s.done, 0), 12, 'every request is counted on one server');
        assert.ok(end.servers!.every((s) => s.done > 0 && s.healthy), JSON.stringify(end.servers));
      } finally {
        await m.dispose();
        await s1.close();
        await s2.close();
      }
    });
  });
});
