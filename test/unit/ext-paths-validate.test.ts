import { strict as assert } from 'node:assert';
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { confinePath, PathError, workspaceRelative } from '../../src/extension/util/paths';
import { MessageValidationError, v } from '../../src/extension/util/validate';
import { paramSchemas } from '../../src/extension/studio/handlers';

describe('extension: path confinement', () => {
  const base = mkdtempSync(join(tmpdir(), 'sdg-ext-paths-'));
  const root = join(base, 'ws');
  const outside = join(base, 'outside');
  mkdirSync(join(root, 'data'), { recursive: true });
  mkdirSync(outside, { recursive: true });
  writeFileSync(join(root, 'data', 'a.jsonl'), '{}\n');
  writeFileSync(join(outside, 'secret.txt'), 'x');
  symlinkSync(outside, join(root, 'link-out'));

  it('accepts relative and absolute paths inside the workspace', () => {
    assert.equal(confinePath([root], 'data/a.jsonl'), join(root, 'data', 'a.jsonl'));
    assert.equal(confinePath([root], join(root, 'data', 'a.jsonl')), join(root, 'data', 'a.jsonl'));
    assert.equal(confinePath([root], 'data/new/file.yaml'), join(root, 'data', 'new', 'file.yaml'));
  });

  it('rejects .. segments, absolute paths outside, NUL bytes and non-strings', () => {
    assert.throws(() => confinePath([root], '../outside/secret.txt'), PathError);
    assert.throws(() => confinePath([root], 'data/../../outside/secret.txt'), /\.\." segment/);
    assert.throws(() => confinePath([root], 'data/../data/a.jsonl'), PathError);
    assert.throws(() => confinePath([root], join(outside, 'secret.txt')), /outside the workspace/);
    assert.throws(() => confinePath([root], '/etc/passwd'), /outside the workspace/);
    assert.throws(() => confinePath([root], 'data/a\0.jsonl'), /NUL/);
    assert.throws(() => confinePath([root], 42 as unknown), /non-empty string/);
    assert.throws(() => confinePath([root], ''), /non-empty string/);
    assert.throws(() => confinePath([], 'a'), /no workspace folder/);
  });

  it('rejects symlinks that lead out of the workspace', () => {
    assert.throws(() => confinePath([root], 'link-out/secret.txt'), /outside the workspace/);
    assert.throws(() => confinePath([root], 'link-out/new.txt'), /outside the workspace/);
  });

  it('accepts paths in any of several roots and renders them back', () => {
    assert.equal(confinePath([root, outside], join(outside, 'secret.txt')), join(outside, 'secret.txt'));
    assert.equal(workspaceRelative([root, outside], join(root, 'data', 'a.jsonl')), 'data/a.jsonl');
    assert.equal(workspaceRelative([root, outside], join(outside, 'secret.txt')), join(outside, 'secret.txt'));
  });

  it('a root-relative string that looks like a sibling prefix is not inside', () => {
    mkdirSync(join(base, 'ws-evil'), { recursive: true });
    assert.throws(() => confinePath([root], join(base, 'ws-evil', 'x')), /outside/);
  });
});

describe('extension: message validation', () => {
  it('names the field at fault', () => {
    const check = v.object({ a: v.object({ b: v.int({ min: 0 }) }) });
    assert.throws(() => check({ a: { b: -1 } }, 'params'), (e: Error) => e instanceof MessageValidationError && e.message === 'params.a.b: must be at least 0');
    assert.throws(() => check({ a: { b: 1 }, c: 1 }, 'params'), /params\.c: unknown field/);
    assert.throws(() => check('x', 'params'), /params: expected an object, got a string/);
  });

  it('refuses prototype keys in records', () => {
    const check = v.record(v.string());
    assert.throws(() => check(JSON.parse('{"__proto__": "x"}'), 'p'), /reserved key/);
  });

  it('every Studio request has a schema that rejects junk', () => {
    for (const [method, check] of Object.entries(paramSchemas)) {
      assert.throws(() => (check as (v: unknown, w: string) => unknown)(42, 'params'), MessageValidationError, method);
    }
  });

  it('accepts well-formed Studio requests and strips nothing needed', () => {
    const p = paramSchemas['template.preview']({ ref: { file: 'prompts/x.yaml', field: ['user'], label: 'x' }, text: 'hi {{problem}}', row: { problem: 'p', n: 1 } }, 'params');
    assert.deepEqual(p.ref.field, ['user']);
    assert.deepEqual(p.row, { problem: 'p', n: 1 });
    assert.throws(() => paramSchemas['endpoints.save']({ profile: { name: '../x', baseUrl: 'http://a', model: 'm', apiKind: 'chat' } }, 'params'), /params\.profile\.name/);
    assert.throws(() => paramSchemas['runs.start']({ pipelineId: 'p', endpoint: 'e', params: {}, concurrency: 0 }, 'params'), /concurrency: must be at least 1/);
    assert.throws(() => paramSchemas['datasets.row']({ file: 'a.jsonl', index: 1.5 }, 'params'), /index: expected an integer/);
  });
});
