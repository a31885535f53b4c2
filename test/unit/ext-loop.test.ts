/**
 * Extension-side pieces of the edit -> try -> estimate -> launch -> grade loop (issue 17), in
 * plain Node against real files in a temporary workspace.
 */
import { strict as assert } from 'node:assert';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { listFewShotSets } from '../../src/extension/studio/files';
import { REPO_ROOT } from '../../scripts/real-parts/setup';

describe('extension: the Studio loop (ext)', () => {
  let ws: string;
  before(() => {
    ws = mkdtempSync(join(tmpdir(), 'sdg-ext-loop-'));
  });
  after(() => rmSync(ws, { recursive: true, force: true }));

  it('lists every few-shot set: the workspace\'s first, then built-ins it does not replace', () => {
    mkdirSync(join(ws, 'prompts', 'few_shot'), { recursive: true });
    writeFileSync(join(ws, 'prompts', 'few_shot', 'mine.yaml'), 'examples: []\n');
    writeFileSync(join(ws, 'prompts', 'few_shot', 'gsm8k_text.yaml'), 'examples: []\n');
    const sets = listFewShotSets({ roots: [ws], builtinDir: join(REPO_ROOT, 'prompts') });
    assert.deepEqual(sets.slice(0, 2), [
      { file: 'prompts/few_shot/gsm8k_text.yaml', name: 'gsm8k_text', source: 'workspace' },
      { file: 'prompts/few_shot/mine.yaml', name: 'mine', source: 'workspace' },
    ]);
    const builtins = sets.filter((s) => s.source === 'builtin').map((s) => s.file);
    assert.ok(builtins.includes('builtin:few_shot/math_text.yaml'), builtins.join(', '));
    assert.ok(!builtins.includes('builtin:few_shot/gsm8k_text.yaml'), 'the workspace copy replaces the built-in of the same name');
  });
});
