/**
 * Extension activation cost without VS Code: load dist/extension.js with a stand-in `vscode`
 * module (every API a no-op that returns a stub) and time require + activate(). Plain Node, no
 * tsx: a loader hook would add its own cost to the figure. Prints one JSON line. The in-VS Code
 * figure is the log line "SDG Studio activated in N ms" of the code-server suite.
 */
'use strict';
const Module = require('node:module');
const { join } = require('node:path');

const ROOT = join(__dirname, '..', '..');

/** Where a stub would mislead the extension, the plain value VS Code gives with no workspace. */
const OVERRIDES = {
  'vscode.workspace.workspaceFolders': undefined,
  'vscode.workspace.isTrusted': true,
  'vscode.env.remoteName': undefined,
  // Settings read at activation get their defaults.
  'vscode.workspace.getConfiguration().get': (_key, fallback) => fallback,
};

/** A bottomless object: any property is another stub, any call returns a stub. */
function stub(name) {
  if (name in OVERRIDES) return OVERRIDES[name];
  const fn = function () {
    return stub(`${name}()`);
  };
  return new Proxy(fn, {
    get(_t, prop) {
      if (prop === 'then') return undefined; // not a thenable
      if (prop === Symbol.toPrimitive) return () => name;
      if (prop === Symbol.iterator) return function* () {};
      if (prop === 'dispose') return () => undefined;
      return stub(`${name}.${String(prop)}`);
    },
    construct() {
      return stub(`new ${name}`);
    },
    // esbuild's ESM interop copies a module into an object whose prototype is the module's
    // prototype: answering with a stub keeps `vscode.Anything` reachable through it.
    getPrototypeOf() {
      return protoStub;
    },
  });
}
const protoStub = new Proxy({}, { get: (_t, prop) => (typeof prop === 'symbol' ? undefined : stub(`vscode.${String(prop)}`)) });

const vscodeStub = stub('vscode');
const originalLoad = Module._load;
Module._load = function (request, ...rest) {
  if (request === 'vscode') return vscodeStub;
  return originalLoad.call(this, request, ...rest);
};

const pkg = require(join(ROOT, 'package.json'));

async function main() {
  const context = {
    subscriptions: [],
    extensionPath: ROOT,
    extensionUri: stub('extensionUri'),
    globalState: stub('globalState'),
    workspaceState: stub('workspaceState'),
    secrets: stub('secrets'),
    globalStorageUri: stub('globalStorageUri'),
    storageUri: stub('storageUri'),
    logUri: stub('logUri'),
    extensionMode: 1,
    asAbsolutePath: (p) => join(ROOT, p),
    // VS Code always gives the extension's own description (the walkthrough uses its id).
    extension: { id: `${pkg.publisher}.${pkg.name}`, extensionPath: ROOT, packageJSON: pkg, isActive: true },
  };
  const t0 = performance.now();
  const ext = require(join(ROOT, 'dist/extension.js'));
  const t1 = performance.now();
  await ext.activate(context);
  const t2 = performance.now();
  console.log(JSON.stringify({ requireMs: t1 - t0, activateMs: t2 - t1, totalMs: t2 - t0, subscriptions: context.subscriptions.length }));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
