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

/**
 * Big packages the code loads on first use (`require` inside a function: grading, HTTP clients,
 * chat templates, tokenizers) get bundles of their own in dist/vendor/. In the main bundles their
 * `require` points there: V8 compiles a whole file when it is loaded, so keeping 1.8 MB of them
 * out of dist/extension.js is what keeps activation fast. From source (tsx), they load as usual.
 */
const VENDOR = { mathjs: 'mathjs', undici: 'undici', openai: 'openai', '@huggingface/jinja': 'huggingface-jinja', '@huggingface/tokenizers': 'huggingface-tokenizers' };
const vendorFilter = new RegExp(`^(${Object.keys(VENDOR).map((n) => n.replace(/[/@]/g, '\\$&')).join('|')})$`);
/** In a main bundle: `require('mathjs')` -> `require('./vendor/mathjs.js')`, next to it in dist/. */
const vendorExternal = {
  name: 'vendor-external',
  setup(b) {
    b.onResolve({ filter: vendorFilter }, (a) => ({ path: `./vendor/${VENDOR[a.path]}.js`, external: true }));
  },
};
/** The vendor bundles' entries: each re-exports its package. */
const vendorEntries = {
  name: 'vendor-entries',
  setup(b) {
    b.onResolve({ filter: /^vendor-entry:/ }, (a) => ({ path: a.path.slice('vendor-entry:'.length), namespace: 'vendor-entry' }));
    b.onLoad({ filter: /.*/, namespace: 'vendor-entry' }, (a) => ({ contents: `module.exports = require(${JSON.stringify(a.path)});`, resolveDir: process.cwd(), loader: 'js' }));
  },
};

/** Node targets: the extension host (VS Code's Node) and the CLI (Node >= 20). */
const nodeTargets = [
  { entryPoints: ['src/extension/extension.ts'], outfile: 'dist/extension.js', external: ['vscode'], plugins: [vendorExternal] },
  { entryPoints: ['src/cli/index.ts'], outfile: 'dist/cli.js', banner: { js: '#!/usr/bin/env node' }, plugins: [vendorExternal] },
  {
    entryPoints: Object.fromEntries(Object.entries(VENDOR).map(([pkg, file]) => [file, `vendor-entry:${pkg}`])),
    outdir: 'dist/vendor',
    plugins: [vendorEntries],
  },
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

const targets = [...nodeTargets, ...webviewTargets].filter((t) => Object.values(t.entryPoints).every((e) => e.startsWith('vendor-entry:') || existsSync(e)));

if (watch) {
  for (const t of targets) (await esbuild.context(t)).watch();
} else {
  await Promise.all(targets.map((t) => esbuild.build(t)));
}
