/**
 * One flag vocabulary across the CLI (issue 17): `sdg generate` and `sdg run` take the same
 * endpoint flags with the same meaning, and both take `--no-progress` and `--quiet`.
 */
import { strict as assert } from 'node:assert';
import type { Command } from 'commander';
import { buildProgram } from '../../src/cli';
import { showProgress } from '../../src/cli/endpointFlags';

function command(name: string): Command {
  const cmd = buildProgram().commands.find((c) => c.name() === name);
  assert.ok(cmd, `no command ${name}`);
  return cmd;
}
const flagsOf = (cmd: Command) => new Map(cmd.options.map((o) => [o.long ?? '', o]));

describe('cli: one flag vocabulary for generate and run', () => {
  const ENDPOINT = ['--base-url', '--model', '--api-key-env', '--api-kind', '--formatter', '--chat-template', '--preset', '--rpm', '--tpm'];

  it('both commands declare every endpoint flag, with the same value syntax', () => {
    const gen = flagsOf(command('generate'));
    const run = flagsOf(command('run'));
    for (const f of ENDPOINT) {
      assert.ok(gen.has(f), `generate lacks ${f}`);
      assert.ok(run.has(f), `run lacks ${f}`);
      assert.equal(gen.get(f)!.flags, run.get(f)!.flags, `${f} differs`);
    }
  });

  it('both commands take --no-progress and its synonym --quiet', () => {
    for (const name of ['generate', 'run']) {
      const flags = flagsOf(command(name));
      assert.ok(flags.has('--no-progress'), `${name} lacks --no-progress`);
      assert.ok(flags.has('--quiet'), `${name} lacks --quiet`);
    }
    assert.equal(showProgress({}), true);
    assert.equal(showProgress({ progress: false }), false);
    assert.equal(showProgress({ progress: true, quiet: true }), false);
  });

  it('the parsed values land where the commands read them', () => {
    const cmd = command('run');
    cmd.exitOverride();
    cmd.action(() => undefined);
    cmd.parse(['node', 'run', 'open_qa', '--quiet', '--base-url', 'http://a/v1', '--base-url', 'http://b/v1', '--rpm', '60'], { from: 'node' });
    const o = cmd.opts() as { quiet?: boolean; baseUrl?: string[]; rpm?: string };
    assert.equal(o.quiet, true);
    assert.deepEqual(o.baseUrl, ['http://a/v1', 'http://b/v1']);
    assert.equal(o.rpm, '60');
  });
});
