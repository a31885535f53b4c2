/**
 * Security checks of the extension's pure parts (no VS Code needed): the webview HTML and its CSP,
 * validation of every message a webview can send (fuzzed), confinement of the paths it sends,
 * the workspace-trust guard in front of runs and endpoint calls, and pipeline output paths.
 */
import { strict as assert } from 'node:assert';
import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { isAbsolute, join, relative, resolve } from 'node:path';
import fc from 'fast-check';
import { validatePipelineText } from '../../src/core/pipeline';
import { redactSecrets } from '../../src/core/llm/presets';
import { createHandlers, paramSchemas, registerHandlers, type StudioBackend } from '../../src/extension/studio/handlers';
import { MessageChannel, type WireMessage } from '../../src/protocol/ipc';
import { webviewHtml, makeNonce } from '../../src/extension/studio/html';
import { viewerHtml } from '../../src/extension/viewer/html';
import { PathError, confinePath } from '../../src/extension/util/paths';
import { MessageValidationError } from '../../src/extension/util/validate';
import { redact, registerSecret } from '../../src/extension/util/redact';
import * as viewerProtocol from '../../src/protocol/viewer';
import { describeSection, record } from './report';

const SECTION = 'Webviews, messages, paths, trust';
const RUNS = 2000;

describe('reliability: security of the extension surface', function () {
  this.timeout(120_000);
  let dir: string;
  let root: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'sdg-rel-sec-'));
    root = join(dir, 'ws');
    mkdirSync(join(root, 'data'), { recursive: true });
    mkdirSync(join(dir, 'outside'));
    writeFileSync(join(dir, 'outside', 'secret.txt'), 'x');
    symlinkSync(join(dir, 'outside'), join(root, 'escape'));
    describeSection(SECTION, 'The HTML of both webviews (Studio, JSONL viewer) is parsed and its CSP checked; every request ' +
      `schema of the Studio protocol and every viewer request validator is fed ${RUNS} random values (fast-check) and must ` +
      'either accept or throw its validation error; `confinePath` gets hand-written escapes and random paths; the Studio ' +
      'handlers are called with an untrusted workspace and a backend that fails the test if touched.');
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('webview HTML: strict CSP with a per-load nonce, no unsafe-inline / unsafe-eval, every script carries the nonce', () => {
    const pages = [
      webviewHtml({ cspSource: 'vscode-resource:', nonce: makeNonce(), scriptUri: 'vscode-resource:/dist/webview/studio.js', title: 'SDG Studio', rootElement: 'sdg-studio' }),
      viewerHtml({ cspSource: 'vscode-resource:', scriptUri: 'vscode-resource:/dist/webview/viewer.js', styleUri: 'vscode-resource:/dist/webview/viewer.css' }),
    ];
    const nonces = new Set<string>();
    for (const html of pages) {
      const csp = /<meta http-equiv="Content-Security-Policy" content="([^"]+)">/.exec(html)?.[1].replace(/&#39;|&apos;/g, "'") ?? '';
      const directives = new Map(csp.split(';').map((d) => d.trim().split(/\s+/)).map(([k, ...vs]) => [k, vs] as const));
      assert.deepEqual(directives.get('default-src'), ["'none'"]);
      const script = directives.get('script-src') ?? [];
      assert.equal(script.length, 1);
      const nonce = /^'nonce-([A-Za-z0-9]+)'$/.exec(script[0])?.[1];
      assert.ok(nonce && nonce.length >= 16, `nonce ${nonce}`);
      nonces.add(nonce);
      assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval|\*/);
      assert.deepEqual(directives.get('connect-src'), ["'none'"]);
      const scripts = html.match(/<script\b[^>]*>/g) ?? [];
      assert.ok(scripts.length >= 1);
      for (const s of scripts) assert.match(s, new RegExp(`nonce="${nonce}"`));
      assert.doesNotMatch(html, /\son[a-z]+=|style="/i, 'inline handlers or styles');
    }
    assert.equal(nonces.size, pages.length, 'nonces repeat');
    // A hostile title or URI cannot break out of its attribute.
    const hostile = webviewHtml({ cspSource: 'x', nonce: 'abc123', scriptUri: '"><script>alert(1)</script>', title: '</title><script>alert(2)</script>', rootElement: 'sdg-studio' });
    assert.equal((hostile.match(/<script\b/g) ?? []).length, 1);
    record(SECTION, 'CSP (both webviews)', "default-src 'none'; script-src 'nonce-…' only; connect/frame/worker-src 'none'; no unsafe-inline, no unsafe-eval");
  });

  it('every Studio request schema and viewer validator accepts or rejects random input cleanly', () => {
    const checks: Array<[string, (x: unknown) => unknown, (e: unknown) => boolean]> = [];
    for (const [name, check] of Object.entries(paramSchemas)) checks.push([name, (x) => (check as (v: unknown, w: string) => unknown)(x, 'params'), (e) => e instanceof MessageValidationError]);
    for (const [name, fn] of Object.entries(viewerProtocol)) {
      if (typeof fn === 'function' && /^validate/.test(name)) checks.push([`viewer.${name}`, fn as (x: unknown) => unknown, (e) => e instanceof Error && !(e instanceof TypeError) && !(e instanceof RangeError)]);
    }
    let tried = 0;
    for (const [name, check, isClean] of checks) {
      fc.assert(fc.property(fc.oneof(fc.anything({ withNullPrototype: true, withBigInt: true, withDate: true, withTypedArray: true, withSparseArray: true }), fc.object(), fc.record({ file: fc.string(), dir: fc.string(), line: fc.integer(), name: fc.string() })), (x) => {
        tried++;
        try { check(x); } catch (e) {
          if (!isClean(e)) throw new Error(`${name} threw ${(e as Error)?.name}: ${(e as Error)?.message}`);
        }
      }), { numRuns: RUNS, seed: 7 });
    }
    record(SECTION, 'message validators fuzzed / random messages', `${checks.length} / ${tried}`);
    assert.ok(checks.length >= 20);
  });

  it('paths from a webview stay in the workspace (.., absolute, symlinks, NUL, random)', () => {
    const escapes = ['../outside/secret.txt', 'data/../../outside/secret.txt', join(dir, 'outside', 'secret.txt'), '/etc/passwd',
      'escape/secret.txt', 'data\\..\\..\\outside', 'data/\u0000x', '', '..', `${root}/../outside`, 'a/'.repeat(3000)];
    for (const p of escapes) assert.throws(() => confinePath([root], p), PathError, JSON.stringify(p));
    const rootReal = realpathSync(root);
    let accepted = 0;
    fc.assert(fc.property(fc.array(fc.oneof(fc.constantFrom('..', '.', 'data', 'escape', '', '/', '\\', 'x'), fc.string()), { maxLength: 8 }), fc.boolean(), (parts, absolute) => {
      const input = (absolute ? root + '/' : '') + parts.join('/');
      let out: string;
      try { out = confinePath([root], input); } catch (e) {
        if (!(e instanceof PathError)) throw e;
        return;
      }
      accepted++;
      const rel = relative(rootReal, realpathOfExisting(out));
      assert.ok(rel === '' || (!rel.startsWith('..') && !isAbsolute(rel)), `${JSON.stringify(input)} -> ${out}`);
    }), { numRuns: RUNS * 2, seed: 11 });
    record(SECTION, 'path escapes tried (hand-written / random)', `${escapes.length} / ${RUNS * 2} (${accepted} random ones accepted, all inside)`);
  });

  it('untrusted workspace: runs, resumes and endpoint calls are refused before anything is touched', async () => {
    const touched: string[] = [];
    const trap = (path: string): unknown => new Proxy(() => undefined, {
      get: (_t, k) => (k === 'then' ? undefined : trap(`${path}.${String(k)}`)),
      apply: () => { touched.push(path); throw new Error(`backend used: ${path}`); },
    });
    const backend = new Proxy({}, {
      get: (_t, k) => (k === 'trusted' ? () => false : k === 'roots' ? [root] : trap(String(k))),
    }) as unknown as StudioBackend;
    const h = createHandlers(backend) as unknown as Record<string, (p: unknown) => Promise<unknown>>;
    const guarded: Array<[string, unknown]> = [
      ['runs.start', { pipelineId: 'open_qa', endpoint: 'local', params: {} }],
      ['runs.label', { prompt: 'p.yaml', input: 'in.jsonl', endpoint: 'local', numSeeds: 1, numSamples: 1 }],
      ['runs.resume', { dir: 'runs/x' }],
      ['endpoints.test', { name: 'local' }],
    ];
    for (const [method, params] of guarded) {
      await assert.rejects(h[method](paramSchemas[method as keyof typeof paramSchemas](params, 'params')), /untrusted workspace/, method);
    }
    assert.deepEqual(touched, []);
    record(SECTION, 'untrusted workspace: guarded requests refused', guarded.map(([m]) => m).join(', '));
  });

  it('hostile messages on the Studio channel get an error reply and never reach the backend', async () => {
    const touched: string[] = [];
    const trap = (path: string): unknown => new Proxy(() => undefined, {
      get: (_t, k) => (k === 'then' ? undefined : trap(`${path}.${String(k)}`)),
      apply: () => { touched.push(path); throw new Error(`backend used: ${path}`); },
    });
    const backend = new Proxy({}, { get: (_t, k) => (k === 'trusted' ? () => true : k === 'roots' ? [root] : trap(String(k))) }) as unknown as StudioBackend;
    const replies: WireMessage[] = [];
    const channel = new MessageChannel((m) => replies.push(m));
    registerHandlers(channel as never, createHandlers(backend), () => undefined);
    await channel.receive({ kind: 'ready' });
    const hostile: Array<[string, unknown]> = [
      ['files.open', { file: 123 }],
      ['files.open', { file: 'x', line: -1 }],
      ['runs.start', { pipelineId: 'open_qa', endpoint: '../../etc', params: {} }],
      ['runs.label', { prompt: 'p', input: 'i', endpoint: 'e', numSeeds: 1e12, numSamples: 1 }],
      ['endpoints.save', { profile: { name: 'x', baseUrl: 'http://h', model: 'm', apiKind: 'exec' } }],
      ['fewshot.save', { file: 'f.yaml', examples: Array(501).fill({}) }],
      ['template.save', { ref: { file: 'a', field: [{}], label: '' }, text: '' }],
      ['datasets.row', { file: 'a.jsonl', index: 'all' }],
      ['runs.cancel', null],
      ['__proto__', {}],
      ['constructor', {}],
    ];
    let id = 1;
    for (const [method, params] of hostile) await channel.receive({ kind: 'request', id: id++, method, params });
    await new Promise((r) => setTimeout(r, 50));
    const errors = replies.filter((m): m is Extract<WireMessage, { kind: 'reply' }> => m.kind === 'reply' && !m.ok);
    assert.equal(errors.length, hostile.length, JSON.stringify(replies));
    assert.deepEqual(touched, []);
    record(SECTION, 'hostile messages on the Studio channel: error replies / backend calls', `${errors.length} of ${hostile.length} / ${touched.length}`);
  });

  it('pipeline stage names (which become stages/<name>.jsonl) cannot leave the run folder', () => {
    const names = ['../../evil', '/etc/cron.d/x', 'a/b', '..', 'x\u0000', 'C:\\evil', 'con.jsonl/../x'];
    for (const name of names) {
      const text = `name: p\nstages:\n  - name: ${JSON.stringify(name)}\n    kind: generate\n    template: closed_qa/questions\n`;
      const errors = validatePipelineText(text, join(dir, 'p.yaml'));
      assert.ok(errors.some((e) => e.line === 3 && /name/.test(String(e.field))), `${name}: ${JSON.stringify(errors)}`);
    }
    record(SECTION, 'hostile stage names refused', names.length);
  });

  it('Authorization headers and keys are redacted from error text', () => {
    const key = 'sk-abcdefghijklmnop0123456789';
    const text = `POST /v1/chat failed: {"headers":{"Authorization":"Bearer ${key}"}} authorization: Bearer ${key} key=${key}`;
    const out = redactSecrets(text, [key]);
    assert.ok(!out.includes(key), out);
    assert.ok(!redactSecrets(`Authorization: Bearer nvapi-XYZ0123456789abcdefghij`).includes('nvapi-XYZ0123456789abcdefghij'));
    // The extension's log channel: headers, key-shaped values, and any key loaded from SecretStorage.
    const stored = 'custom-secret-without-known-shape-42';
    registerSecret(stored);
    const logged = redact(`request failed {"Authorization": "Bearer ${key}", "x-api-key": "${stored}"} retry with ${stored}`);
    assert.ok(!logged.includes(key) && !logged.includes(stored), logged);
    record(SECTION, 'redaction (core errors, extension log)', 'Authorization headers, bearer tokens, key shapes and stored keys removed');
  });
});

function realpathOfExisting(p: string): string {
  let cur = resolve(p);
  const rest: string[] = [];
  for (;;) {
    try { return join(realpathSync(cur), ...rest); } catch {
      rest.unshift(cur.slice(resolve(cur, '..').length + 1));
      cur = resolve(cur, '..');
    }
  }
}
