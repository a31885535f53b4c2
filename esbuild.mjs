// One build for everything: the extension host bundle, the `sdg` CLI and the webview bundles.
// Usage: node esbuild.mjs [--production] [--watch]
import * as esbuild from 'esbuild';
import { existsSync } from 'node:fs';

const production = process.argv.includes('--production');
const watch = process.argv.includes('--watch');

const common = {
  bundle: true,
  sourcemap: production ? false : 'linked',
  minify: production,
  logLevel: 'info',
  legalComments: 'none',
};

/** Node targets: the extension host (VS Code's Node) and the CLI (Node >= 20). */
const nodeTargets = [
  { entryPoints: ['src/extension/extension.ts'], outfile: 'dist/extension.js', external: ['vscode'] },
  { entryPoints: ['src/cli/index.ts'], outfile: 'dist/cli.js', banner: { js: '#!/usr/bin/env node' } },
  // The viewer's query worker thread (src/core/viewer/workerQuery.ts starts it from dist/).
  { entryPoints: ['src/core/viewer/queryWorker.ts'], outfile: 'dist/viewerQueryWorker.js' },
].map((t) => ({ ...common, ...t, platform: 'node', format: 'cjs', target: 'node20' }));

/** Browser targets: one bundle per webview, loaded under a strict CSP (no eval, no inline). */
const webviewTargets = ['studio', 'viewer'].map((name) => ({
  ...common,
  entryPoints: { [name]: `webview/${name}/main.ts` },
  outdir: 'dist/webview',
  // What a view loads on demand (the viewer's Markdown/LaTeX renderer) is a chunk of its own:
  // imported from the nonce'd module, it inherits the nonce, so the strict CSP holds.
  splitting: true,
  chunkNames: 'chunks/[name]-[hash]',
  platform: 'browser',
  format: 'esm',
  target: 'es2022',
  // KaTeX's CSS (viewer): ship only the woff2 fonts (every current browser picks woff2 first).
  loader: { '.woff2': 'file' },
  external: ['*.woff', '*.ttf'],
}));

const targets = [...nodeTargets, ...webviewTargets].filter((t) => Object.values(t.entryPoints).every((e) => existsSync(e)));

if (watch) {
  for (const t of targets) (await esbuild.context(t)).watch();
} else {
  await Promise.all(targets.map((t) => esbuild.build(t)));
}
