#!/usr/bin/env node
// `npm start`: build, then open SDG Studio in a real VS Code with the sample workspace.
//  - `code` on PATH: VS Code desktop with this folder as the extension under development.
//  - otherwise: code-server (VS Code in the browser, installed by scripts/setup-real-parts.sh)
//    on 127.0.0.1 with the packaged extension; the URL is printed.
// The sample workspace is copied to ./.sdg-sample (kept between starts: your runs stay).
// When it has no endpoint of yours, a local llama-server is started and configured as
// "local-tiny - random weights": a tiny model with RANDOM weights. It shows the flow (runs,
// progress, resume, the viewer) but its text is gibberish: add your own endpoint for real data.
// Runs until Ctrl+C, then stops the servers it started.
// Options: --code-server (even if `code` exists), --no-llm, --port N, --workspace DIR (instead
// of ./.sdg-sample); env SDG_CACHE_DIR.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { delimiter, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const require = createRequire(import.meta.url);
// The real-part harnesses are TypeScript (shared with the tests): load them through tsx.
require('tsx/cjs');
const { startLlamaServer } = require('./real-parts/llamaServer.ts');
const { ensureRealPart } = require('./real-parts/setup.ts');
const { installVsix, makeDirs, removeDirs, startCodeServer } = require('./real-parts/codeServer.ts');
const { configuredEndpoints, copySample, LOCAL_TINY_ENDPOINT_NAME, localTinyEndpoint, setEndpoints, writeEndpoints } = require('./real-parts/workspace.ts');

const args = process.argv.slice(2);
const flag = (name) => args.includes(name);
const valueOf = (name) => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);
const portArg = valueOf('--port') !== undefined ? Number(valueOf('--port')) : undefined;
if (portArg !== undefined && !(Number.isInteger(portArg) && portArg > 0 && portArg < 65536)) {
  console.error('npm start: --port needs a port number, e.g. --port 8443');
  process.exit(1);
}

/** A build step: one line on the console with its time; its output only when it fails. */
function step(cmd, cmdArgs, what) {
  const started = Date.now();
  const r = spawnSync(cmd, cmdArgs, { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  if (r.status !== 0) {
    console.error(`${r.stdout ?? ''}${r.stderr ?? ''}`.trim());
    console.error(`npm start: ${what} failed (exit ${r.status ?? r.signal})`);
    process.exit(1);
  }
  console.log(`[start] ${what}: done in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

function onPath(bin) {
  return (process.env.PATH ?? '').split(delimiter).some((d) => d && existsSync(join(d, bin)));
}

const stops = [];
let stopping = false;
async function shutdown(code) {
  if (stopping) return;
  stopping = true;
  console.log('\nStopping...');
  for (const stop of stops.reverse()) {
    try {
      await stop();
    } catch (e) {
      console.error(String(e));
    }
  }
  process.exit(code);
}
process.on('SIGINT', () => void shutdown(0));
process.on('SIGTERM', () => void shutdown(0));

async function main() {
  const useDesktop = onPath('code') && !flag('--code-server');

  // 1. The sample workspace, self-ignored by git.
  const workspace = resolve(valueOf('--workspace') ?? join(ROOT, '.sdg-sample'));
  copySample(workspace);
  writeFileSync(join(workspace, '.gitignore'), '# npm start\'s copy of sample/: never committed\n*\n');

  // 2. An endpoint: the user's own, or a local llama-server with the tiny random model.
  const own = configuredEndpoints(workspace).filter((e) => e.name !== LOCAL_TINY_ENDPOINT_NAME);
  if (own.length) {
    console.log(`Endpoints configured in ${join(workspace, '.vscode', 'settings.json')}: ${own.map((e) => e.name).join(', ')}`);
    setEndpoints(workspace, own); // drops a local-tiny entry left by an earlier start
  } else if (!flag('--no-llm')) {
    // The setup prints one line per part (and says when it builds, the first time only).
    const llama = await startLlamaServer({ parallel: 4, ctx: 4096 });
    stops.push(() => llama.stop());
    writeEndpoints(workspace, [localTinyEndpoint(llama.baseUrl, llama.model, 4)]);
    console.log(`[start] llama-server ${llama.baseUrl} (pid ${llama.pid}) configured as endpoint "${LOCAL_TINY_ENDPOINT_NAME}".`);
    console.log('        Its weights are RANDOM: it shows the flow, not real data. Add your own endpoint for real generation.');
  }

  // 3. Build and open.
  if (useDesktop) {
    step('node', ['esbuild.mjs'], 'build');
    step('code', ['--new-window', `--extensionDevelopmentPath=${ROOT}`, workspace], 'open VS Code (code --extensionDevelopmentPath)');
    console.log('\nVS Code is open with SDG Studio loaded from this folder. Run "SDG: Open Studio" from the palette.');
  } else {
    step('npm', ['run', '-s', 'package'], 'build and package the extension (dist/sdg-studio.vsix)');
    ensureRealPart('code-server');
    const profile = mkdtempSync(join(tmpdir(), 'sdg-start-'));
    const dirs = makeDirs(profile);
    stops.push(async () => rmSync(profile, { recursive: true, force: true }));
    installVsix(join(ROOT, 'dist', 'sdg-studio.vsix'), dirs);
    const cs = await startCodeServer(dirs, { port: portArg });
    stops.push(() => cs.stop());
    console.log(`\nSDG Studio in VS Code (code-server ${cs.pid}):\n\n    ${cs.url(workspace)}\n`);
    console.log('Open it in a browser on this machine (or forward the port), then run "SDG: Open Studio" from the palette (F1).');
  }
  console.log('Press Ctrl+C to stop.');
  // Keep the servers up until Ctrl+C.
  setInterval(() => undefined, 1 << 30);
}

main().catch((e) => {
  console.error(`npm start: ${e instanceof Error ? e.message : String(e)}`);
  void shutdown(1);
});
