/**
 * `sdg`: the headless CLI over the same engine as the extension (src/core).
 * Each command lives in src/cli/commands/<name>.ts and exports `register(program)`.
 */
import { Command } from 'commander';
import { COMMANDS } from './commands';
import { redactSecrets } from '../core/redact';

export function buildProgram(): Command {
  const program = new Command();
  program
    .name('sdg')
    .description('SDG Studio: synthetic data generation for LLM training')
    .version(process.env.SDG_VERSION ?? '0.1.0')
    .showHelpAfterError();
  for (const register of COMMANDS) register(program);
  return program;
}

if (require.main === module) {
  buildProgram()
    .parseAsync(process.argv)
    .catch((e: unknown) => {
      // Errors reaching here are user-facing (bad flags, bad files): one line, no stack.
      // Redacted: a message may quote a URL with credentials (an invalid --base-url...).
      console.error(`sdg: ${redactSecrets(e instanceof Error ? e.message : String(e))}`);
      process.exitCode = process.exitCode || 1;
    });
}
