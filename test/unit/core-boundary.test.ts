import { strict as assert } from 'node:assert';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

// src/core is the engine shared by the CLI, the extension and tests: it must run in plain Node.
function* walk(dir: string): Generator<string> {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) yield* walk(p);
    else if (/\.(ts|js|mjs|cjs)$/.test(name)) yield p;
  }
}

describe('src/core boundary', () => {
  it('never imports vscode', () => {
    const offenders: string[] = [];
    for (const file of walk(join(__dirname, '../../src/core'))) {
      const text = readFileSync(file, 'utf8');
      if (/(from\s+['"]vscode['"])|(require\(\s*['"]vscode['"]\s*\))|(import\(\s*['"]vscode['"]\s*\))/.test(text)) offenders.push(file);
    }
    assert.deepEqual(offenders, [], `these core files import vscode: ${offenders.join(', ')}`);
  });
});
