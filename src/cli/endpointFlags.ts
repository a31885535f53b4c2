/**
 * The flags `sdg generate` and `sdg run` share, declared once so both commands speak one
 * vocabulary: the endpoint (server, model, key, API kind, prompt format, preset, rate limits)
 * and the progress switch (`--no-progress`, with `--quiet` as its synonym on both commands).
 */
import type { Command } from 'commander';
import { FORMATTER_NAMES } from '../core/llm/formatters';
import { PRESET_NAMES } from '../core/llm/presets';

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/** Adds the endpoint flags. `what` names the endpoint they describe in the help text. */
export function addEndpointFlags(cmd: Command, what = 'the endpoint'): Command {
  return cmd
    .option('--base-url <url>', `OpenAI-compatible API root of ${what}, e.g. http://127.0.0.1:8000/v1; repeat it (or separate with commas) for a pool of servers serving the same model; URL#weight=2&max=64 sets a server's share and limit`, collect, [])
    .option('--model <name>', `model name as ${what}'s server serves it`)
    .option('--api-key-env <VAR>', 'environment variable holding the API key')
    .option('--api-kind <kind>', 'chat (default), completions (raw prompt built by --formatter) or triton (Triton /v2/models/<model>/generate; --base-url is the server root)')
    .option('--formatter <name>', `conversation formatter for --api-kind completions or triton: ${FORMATTER_NAMES.join(', ')}`)
    .option('--chat-template <file>', 'the model\'s own chat template for --api-kind completions or triton: its tokenizer_config.json or a .jinja file')
    .option('--preset <name>', `server preset: ${PRESET_NAMES.join(', ')}`)
    .option('--rpm <n>', 'requests per minute limit')
    .option('--tpm <n>', 'tokens per minute limit');
}

/** Adds `--no-progress` and its synonym `--quiet`. */
export function addProgressFlags(cmd: Command): Command {
  return cmd
    .option('--no-progress', 'no progress bar or progress lines')
    .option('--quiet', 'the same as --no-progress');
}

/** Whether progress is shown, from the flags `addProgressFlags` declared. */
export function showProgress(flags: { progress?: boolean; quiet?: boolean }): boolean {
  return flags.progress !== false && !flags.quiet;
}
