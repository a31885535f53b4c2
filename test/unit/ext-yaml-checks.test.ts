import { strict as assert } from 'node:assert';
import { mkdirSync, mkdtempSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkSdgYaml, sdgYamlKind } from '../../src/extension/yamlChecks';

function* yamlFiles(dir: string): Generator<string> {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) yield* yamlFiles(p);
    else if (/\.ya?ml$/.test(name)) yield p;
  }
}

describe('extension: SDG YAML checks (Problems view)', () => {
  it('recognises the kind of file from its place under prompts/', () => {
    assert.deepEqual(sdgYamlKind('/ws/prompts/pipelines/a.yaml'), { kind: 'pipeline', promptsDir: '/ws/prompts' });
    assert.equal(sdgYamlKind('/ws/prompts/templates/open_qa/x.yml')?.kind, 'template');
    assert.equal(sdgYamlKind('/ws/prompts/generation/g.yaml')?.kind, 'prompt-config');
    assert.equal(sdgYamlKind('/ws/prompts/few_shot/f.yaml')?.kind, 'few-shot');
    assert.equal(sdgYamlKind('/ws/prompts/pipelines/sub/a.yaml'), undefined);
    assert.equal(sdgYamlKind('/ws/config/a.yaml'), undefined);
    assert.equal(sdgYamlKind('/ws/prompts/pipelines/a.json'), undefined);
  });

  it('finds no problem in any built-in file', () => {
    const root = join(__dirname, '../../prompts');
    let n = 0;
    for (const f of yamlFiles(root)) {
      if (!sdgYamlKind(f)) continue;
      n++;
      assert.deepEqual(checkSdgYaml(f), [], f);
    }
    assert.ok(n > 20, `checked ${n} built-in files`);
  });

  it('reports problems with their line and field', () => {
    const ws = mkdtempSync(join(tmpdir(), 'sdg-ext-yaml-'));
    for (const d of ['pipelines', 'templates/t', 'generation', 'few_shot']) mkdirSync(join(ws, 'prompts', d), { recursive: true });
    const pipeline = join(ws, 'prompts', 'pipelines', 'bad.yaml');
    writeFileSync(pipeline, 'name: bad\ndescription: x\nstages:\n  - name: a\n    kind: generate\n    template: t/missing\n');
    const p = checkSdgYaml(pipeline);
    assert.ok(p.length >= 1);
    assert.ok(p.some((x) => x.line === 6 && /missing/.test(x.message)), JSON.stringify(p));
    const template = join(ws, 'prompts', 'templates', 't', 'x.yaml');
    writeFileSync(template, 'prompt: hi\nextra: 1\n');
    assert.equal(checkSdgYaml(template)[0].line, 2);
    const config = join(ws, 'prompts', 'generation', 'c.yaml');
    writeFileSync(config, 'user: "{{nope}}"\n');
    assert.ok(checkSdgYaml(config).some((x) => /nope/.test(x.message) && x.field === 'user'));
    const fewShot = join(ws, 'prompts', 'few_shot', 'f.yaml');
    writeFileSync(fewShot, 'examples:\n  - solution: s\n');
    assert.ok(checkSdgYaml(fewShot).some((x) => x.field === 'examples[0].problem'));
    writeFileSync(fewShot, 'examples: [\n');
    assert.match(checkSdgYaml(fewShot)[0].message, /YAML syntax error/);
  });
});
