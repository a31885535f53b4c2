/**
 * Entry of the in-host test run (extensionTestsPath): VS Code's extension host loads this module
 * and calls `run()`. It runs every compiled test/vscode suite next to it with mocha, and prints
 * one `SDG_HOST_TEST {json}` line per test so the runner outside (test/e2e) can count results;
 * the host's console reaches the browser console, where the runner reads it.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import Mocha from 'mocha';

const { EVENT_TEST_PASS, EVENT_TEST_FAIL, EVENT_TEST_PENDING, EVENT_RUN_END } = Mocha.Runner.constants;

class HostReporter extends Mocha.reporters.Spec {
  constructor(runner: Mocha.Runner, options?: Mocha.MochaOptions) {
    super(runner, options);
    const emit = (state: string, test: Mocha.Test, err?: Error) =>
      console.log(
        'SDG_HOST_TEST ' +
          JSON.stringify({ title: test.fullTitle(), file: test.file ? test.file.split('/').pop() : undefined, state, error: err ? `${err.message}\n${err.stack ?? ''}` : undefined, ms: test.duration }),
      );
    runner.on(EVENT_TEST_PASS, (t) => emit('passed', t));
    runner.on(EVENT_TEST_FAIL, (t, err) => emit('failed', t, err));
    runner.on(EVENT_TEST_PENDING, (t) => emit('skipped', t));
    runner.once(EVENT_RUN_END, () => console.log('SDG_HOST_END ' + JSON.stringify(runner.stats ?? {})));
  }
}

export function run(): Promise<void> {
  const mocha = new Mocha({ ui: 'bdd', color: false, timeout: 60_000, reporter: HostReporter as unknown as typeof Mocha.reporters.Base });
  const files = readdirSync(__dirname).filter((f) => f.endsWith('.test.js')).sort();
  for (const f of files) mocha.addFile(join(__dirname, f));
  return new Promise((resolve, reject) => {
    try {
      mocha.run((failures) => (failures > 0 ? reject(new Error(`${failures} in-host test(s) failed`)) : resolve()));
    } catch (e) {
      reject(e);
    }
  });
}
