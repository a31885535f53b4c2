/**
 * code-server (VS Code 1.139 in the browser, from npm) on a free loopback port, with every
 * directory it writes (user data, extensions, XDG config/data/cache, TMPDIR) inside one run
 * folder, so tests never touch the home directory. It runs on Node 24 (its requirement), which
 * scripts/setup-real-parts.sh installs next to it.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { ensureRealPart } from './setup';
import { freePort, spawnTracked, stopTracked, waitForHttpOk, type Tracked } from './processes';

export interface CodeServerDirs {
  root: string;
  userData: string;
  extensions: string;
  config: string;
}

export interface CodeServer {
  origin: string;
  port: number;
  pid: number;
  dirs: CodeServerDirs;
  /** URL that opens `folder`, optionally with a smoke-test payload (see runHostTests). */
  url(folder: string, payload?: Array<[string, string]>): string;
  tail(): string;
  stop(): Promise<void>;
}

function codeServerEnv(root: string): NodeJS.ProcessEnv {
  const { NODE24_HOME } = ensureRealPart('code-server');
  const env: NodeJS.ProcessEnv = { ...process.env };
  // Our own test runner's variables must not leak into the extension host.
  delete env.SDG_SUMMARY_FILE;
  delete env.NODE_OPTIONS;
  for (const k of Object.keys(env)) if (k.startsWith('npm_')) delete env[k];
  for (const d of ['config', 'data', 'cache', 'tmp']) mkdirSync(join(root, 'xdg', d), { recursive: true });
  return {
    ...env,
    PATH: `${join(NODE24_HOME, 'bin')}${delimiter}${env.PATH ?? ''}`,
    XDG_CONFIG_HOME: join(root, 'xdg', 'config'),
    XDG_DATA_HOME: join(root, 'xdg', 'data'),
    XDG_CACHE_HOME: join(root, 'xdg', 'cache'),
    TMPDIR: join(root, 'xdg', 'tmp'),
  };
}

export function makeDirs(root = mkdtempSync(join(tmpdir(), 'sdg-code-server-'))): CodeServerDirs {
  const dirs = { root, userData: join(root, 'user-data'), extensions: join(root, 'extensions'), config: join(root, 'config.yaml') };
  mkdirSync(dirs.userData, { recursive: true });
  mkdirSync(dirs.extensions, { recursive: true });
  writeFileSync(dirs.config, 'auth: none\n');
  // No welcome page, no trust prompt, no tips in the way of screenshots.
  mkdirSync(join(dirs.userData, 'User'), { recursive: true });
  writeFileSync(
    join(dirs.userData, 'User', 'settings.json'),
    JSON.stringify(
      {
        'workbench.startupEditor': 'none',
        'workbench.tips.enabled': false,
        'security.workspace.trust.enabled': false,
        'telemetry.telemetryLevel': 'off',
        'extensions.autoUpdate': false,
        'extensions.autoCheckUpdates': false,
        'update.mode': 'none',
        'workbench.colorTheme': 'Default Dark Modern',
        'chat.disableAIFeatures': true,
        'workbench.secondarySideBar.defaultVisibility': 'hidden',
      },
      null,
      2,
    ),
  );
  return dirs;
}

export function installVsix(vsix: string, dirs: CodeServerDirs): void {
  const { CODE_SERVER } = ensureRealPart('code-server');
  const r = spawnSync(CODE_SERVER, ['--install-extension', vsix, '--extensions-dir', dirs.extensions, '--user-data-dir', dirs.userData, '--force'], {
    env: codeServerEnv(dirs.root),
    encoding: 'utf8',
    timeout: 180_000,
  });
  if (r.status !== 0) throw new Error(`installing ${vsix} failed (${r.status ?? r.signal}):\n${r.stdout}\n${r.stderr}`);
}

/** `port`: a fixed port (default: a free one). */
export async function startCodeServer(dirs: CodeServerDirs, options: { port?: number; extraArgs?: string[] } = {}): Promise<CodeServer> {
  const { CODE_SERVER } = ensureRealPart('code-server');
  for (let attempt = 1; ; attempt++) {
    const port = options.port ?? (await freePort());
    const args = [
      '--bind-addr', `127.0.0.1:${port}`,
      '--auth', 'none',
      '--disable-telemetry',
      '--disable-update-check',
      '--disable-workspace-trust',
      '--disable-getting-started-override',
      '--user-data-dir', dirs.userData,
      '--extensions-dir', dirs.extensions,
      '--config', dirs.config,
      // Lets a page's `payload` start extension tests (extensionTestsPath) in the host.
      '--vscode-option', 'enable-smoke-test-driver',
      ...(options.extraArgs ?? []),
    ];
    const proc: Tracked = spawnTracked(CODE_SERVER, args, { env: codeServerEnv(dirs.root) }, 400);
    const origin = `http://127.0.0.1:${port}`;
    try {
      await waitForHttpOk(`${origin}/healthz`, proc, 60_000);
    } catch (e) {
      await stopTracked(proc);
      if (attempt < 3 && !options.port && /EADDRINUSE/.test(proc.tail())) continue;
      throw e;
    }
    return {
      origin,
      port,
      pid: proc.pid,
      dirs,
      url(folder, payload) {
        let u = `${origin}/?folder=${encodeURIComponent(folder)}`;
        if (payload) u += `&payload=${encodeURIComponent(JSON.stringify(payload))}`;
        return u;
      },
      tail: proc.tail,
      stop: () => stopTracked(proc, 8000, true),
    };
  }
}

export function removeDirs(dirs: CodeServerDirs): void {
  rmSync(dirs.root, { recursive: true, force: true });
}
