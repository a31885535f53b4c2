/**
 * Everything the commands, views and the Studio panel share, created on first use so that
 * activation stays cheap: the endpoint store, the RunManager, the runs listing, and the
 * StudioBackend the panel's handlers run against.
 */
import * as vscode from 'vscode';
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { basename, join, relative, resolve, sep } from 'node:path';
import type { EndpointProfile } from '../core/llm/types';
import type { LaunchEstimate, PipelineInfo, PostprocessAction, PostprocessResult, RunView } from '../protocol/studio';
import { confirmThreshold, datasetGlob, defaultConcurrency, endpointPrices, requireTrust, runsFolder, workspaceRoots } from './config';
import { EndpointStore } from './endpoints/store';
import type { Logger } from './log';
import { RunManager } from './run/manager';
import { confineRunFolder, mergeRuns, viewFromManifest } from './run/views';
import { measuredRate, withDetails, writeRunLabel } from './run/details';
import { estimateLabelRun, type LabelRunRequest } from './labeling';
import type { StudioBackend } from './studio/handlers';
import { errorMessage } from './util/redact';
import { checkProfile } from './endpoints/profiles';
import { testEndpointProfile, type EndpointTestResult } from './endpoints/probe';
import { estimatePipelineRun, PipelineCatalog, PipelineLauncher } from './pipelines';
import { LabelingLauncher } from './labeling';
import { StudioLauncher, type RunRequest } from './launcher';
import { markStep } from './walkthrough';

export type { EndpointTestResult } from './endpoints/probe';

export class Services implements vscode.Disposable {
  readonly endpoints: EndpointStore;
  private readonly runsChanged = new vscode.EventEmitter<RunView[]>();
  readonly onRunsChanged = this.runsChanged.event;
  private readonly pipelinesChanged = new vscode.EventEmitter<PipelineInfo[]>();
  readonly onPipelinesChanged = this.pipelinesChanged.event;
  private readonly disposables: vscode.Disposable[] = [this.runsChanged, this.pipelinesChanged];
  private manager: RunManager<RunRequest> | undefined;
  private catalogInstance: PipelineCatalog | undefined;
  private runsTimer: ReturnType<typeof setTimeout> | undefined;
  private watcher: vscode.FileSystemWatcher | undefined;

  constructor(readonly context: vscode.ExtensionContext, readonly log: Logger) {
    this.endpoints = new EndpointStore(context.secrets, log);
    this.disposables.push(this.endpoints);
    this.disposables.push(
      vscode.workspace.onDidChangeConfiguration((e) => {
        if (e.affectsConfiguration('sdg.runsFolder')) {
          this.watchRuns();
          this.fireRunsChanged();
        }
      }),
    );
  }

  /** The built-in prompts/ folder shipped with the extension. */
  builtinPromptsDir(): string {
    return join(this.context.extensionUri.fsPath, 'prompts');
  }

  get catalog(): PipelineCatalog {
    if (!this.catalogInstance) {
      this.catalogInstance = new PipelineCatalog(this.builtinPromptsDir(), () => workspaceRoots());
      const w = vscode.workspace.createFileSystemWatcher('**/prompts/{pipelines,templates}/**/*.{yaml,yml}');
      const changed = () => void this.catalogInstance!.list().then((p) => this.pipelinesChanged.fire(p), () => undefined);
      w.onDidChange(changed);
      w.onDidCreate(changed);
      w.onDidDelete(changed);
      this.disposables.push(w);
    }
    return this.catalogInstance;
  }

  get runs(): RunManager<RunRequest> {
    if (!this.manager) {
      const deps = {
        runsFolder: () => {
          const f = runsFolder();
          if (!f) throw new Error('open a folder first: runs are written under the setting sdg.runsFolder of the workspace');
          return f;
        },
        resolveEndpoint: (name: string) => this.resolveEndpoint(name),
        defaultConcurrency: () => defaultConcurrency(),
        log: this.log,
      };
      const launcher = new StudioLauncher(new PipelineLauncher({ ...deps, catalog: this.catalog }), new LabelingLauncher(deps));
      this.manager = new RunManager(launcher, { log: (m) => this.log.info(m) });
      // Live progress needs no disk read: the manager's numbers are fresher than the manifests.
      this.manager.onDidChange((runs) => {
        this.fireRunsChanged(false);
        this.updateStatusBar(runs);
      });
      this.watchRuns();
    }
    return this.manager;
  }

  /** A profile and its key, ready for the core client. Never logs the key. */
  async resolveEndpoint(name: string): Promise<{ profile: EndpointProfile; apiKey: string | undefined }> {
    const profile = this.endpoints.get(name);
    if (!profile) {
      const { issues } = this.endpoints.profiles();
      const bad = issues.filter((i) => i.name === name).map((i) => i.message);
      throw new Error(bad.length ? `endpoint "${name}" is invalid: ${bad.join('; ')}` : `no endpoint named "${name}" (setting sdg.endpoints)`);
    }
    // The preset fills what the profile leaves out (time-out, concurrency, rate limits); explicit fields win.
    const { resolveEndpoint } = require('../core/llm/presets') as typeof import('../core/llm/presets.js');
    const resolved = resolveEndpoint(profile);
    // A relative chat template path in the settings means the workspace's file (the extension
    // host's working directory is VS Code's, not the workspace).
    const root = workspaceRoots()[0];
    if (resolved.chatTemplateFile && root) resolved.chatTemplateFile = resolve(root, resolved.chatTemplateFile);
    return { profile: resolved, apiKey: await this.endpoints.getKey(name) };
  }

  private diskRuns: RunView[] | undefined;
  private statusItem: vscode.StatusBarItem | undefined;

  /** "SDG: 2 runs 45%" while runs of this window are active; click opens the Studio's Run tab. */
  private updateStatusBar(runs: RunView[]): void {
    const active = runs.filter((r) => r.status === 'running' || r.status === 'starting' || r.status === 'cancelling');
    if (!active.length) {
      this.statusItem?.hide();
      return;
    }
    if (!this.statusItem) {
      this.statusItem = vscode.window.createStatusBarItem('sdg.runs', vscode.StatusBarAlignment.Left, 10);
      this.statusItem.name = 'SDG Studio runs';
      this.statusItem.command = { command: 'sdg.openStudio', title: 'Open Studio', arguments: ['runs'] };
      this.disposables.push(this.statusItem);
    }
    const total = active.reduce((a, r) => a + (r.counts.total ?? 0), 0);
    const done = active.reduce((a, r) => a + r.counts.done + r.counts.failed, 0);
    const pct = total ? ` ${Math.floor((done / total) * 100)}%` : '';
    const rps = active.reduce((a, r) => a + r.throughput.requestsPerSec, 0);
    this.statusItem.text = `$(sync~spin) SDG: ${active.length === 1 ? active[0].name : `${active.length} runs`}${pct}`;
    this.statusItem.tooltip = `${active.map((r) => `${r.name}: ${r.status}, ${r.counts.done}${r.counts.total !== null ? `/${r.counts.total}` : ''}${r.currentStage ? ` (${r.currentStage})` : ''}`).join('\n')}\n${rps.toFixed(1)} requests/s`;
    this.statusItem.show();
  }

  /** Runs on disk (manifest.json under the runs folder) merged with live runs. */
  async listRuns(fresh = true): Promise<RunView[]> {
    const folder = runsFolder();
    const live = this.manager?.list() ?? [];
    if (!folder) return withDetails(live);
    if (fresh || !this.diskRuns) {
      const { listRuns } = require('../core/run/manifest') as typeof import('../core/run/manifest.js');
      try {
        this.diskRuns = (await listRuns(folder)).map((r) => viewFromManifest(r.dir, r.manifest));
      } catch (e) {
        this.log.warn(`Cannot list runs in ${folder}: ${errorMessage(e)}`);
        this.diskRuns = [];
      }
    }
    return withDetails(mergeRuns(this.diskRuns, live));
  }

  /** Run folders must be inside the runs folder (or a live run of this window). */
  confineRunDir(dir: string): string {
    const abs = resolve(dir);
    if (this.manager?.get(abs)) return abs;
    return confineRunFolder(runsFolder(), dir);
  }

  private watchRuns(): void {
    this.watcher?.dispose();
    const folder = runsFolder();
    if (!folder) return;
    this.watcher = vscode.workspace.createFileSystemWatcher(new vscode.RelativePattern(vscode.Uri.file(folder), '*/manifest.json'));
    const fire = () => this.fireRunsChanged();
    this.watcher.onDidChange(fire);
    this.watcher.onDidCreate(fire);
    this.watcher.onDidDelete(fire);
  }

  /** Start watching the runs folder (the Runs view is visible or a run started). */
  ensureRunsWatched(): void {
    if (!this.watcher) this.watchRuns();
  }

  private refreshDisk = false;

  /** Coalesces bursts (progress every 250 ms, manifest rewrites every second) into one refresh. */
  fireRunsChanged(readDisk = true): void {
    this.refreshDisk ||= readDisk;
    if (this.runsTimer) return;
    this.runsTimer = setTimeout(() => {
      this.runsTimer = undefined;
      const fresh = this.refreshDisk;
      this.refreshDisk = false;
      void this.listRuns(fresh).then((runs) => this.runsChanged.fire(runs));
    }, 300);
  }

  async testEndpoint(name: string): Promise<EndpointTestResult> {
    const { profile, apiKey } = await this.resolveEndpoint(name);
    const result = await testEndpointProfile(profile, apiKey);
    if (result.ok) this.log.info(`Endpoint "${name}" answered /models in ${result.latencyMs} ms (${result.models.length} model(s)${result.servers ? `, ${result.servers.length} servers` : ''})`);
    else this.log.warn(`Endpoint "${name}" test failed: ${result.error}`);
    return result;
  }

  /**
   * Workspace JSONL files that are datasets: run outputs (the runs folder, `*.jsonl.run/`) and
   * stage files (`stages/`) are listed apart (listRunFiles), so they never crowd the datasets out.
   */
  async listDatasets(): Promise<string[]> {
    const { glob, max } = datasetGlob();
    const runsRel = this.runsFolderGlob();
    const exclude = `{**/node_modules/**,**/.git/**,**/*.jsonl.run/**,**/stages/**${runsRel ? `,${runsRel}/**` : ''}}`;
    return this.relativeFiles(await vscode.workspace.findFiles(glob, exclude, max));
  }

  /** Run outputs and stage files: JSONL under the runs folder. */
  async listRunFiles(): Promise<string[]> {
    const folder = runsFolder();
    const root = workspaceRoots()[0];
    if (!folder || !root || relative(root, folder).startsWith('..')) return [];
    const { max } = datasetGlob();
    const uris = await vscode.workspace.findFiles(new vscode.RelativePattern(vscode.Uri.file(folder), '**/*.jsonl'), '{**/node_modules/**,**/.git/**}', max);
    return this.relativeFiles(uris);
  }

  /** VS Code's open dialog for a JSONL file. */
  async browseDataset(): Promise<string | undefined> {
    const root = workspaceRoots()[0];
    const picked = await vscode.window.showOpenDialog({
      canSelectMany: false,
      canSelectFolders: false,
      openLabel: 'Use as dataset',
      filters: { 'JSON Lines': ['jsonl'], 'All files': ['*'] },
      defaultUri: root ? vscode.Uri.file(root) : undefined,
    });
    const file = picked?.[0];
    if (!file || file.scheme !== 'file') return undefined;
    return this.relativeFiles([file])[0];
  }

  /** The runs folder as a glob relative to the first workspace folder, if it is inside it. */
  private runsFolderGlob(): string | undefined {
    const folder = runsFolder();
    const root = workspaceRoots()[0];
    if (!folder || !root) return undefined;
    const rel = relative(root, folder);
    return rel && !rel.startsWith('..') ? rel.split(sep).join('/') : undefined;
  }

  private relativeFiles(uris: readonly vscode.Uri[]): string[] {
    const roots = workspaceRoots();
    return uris
      .filter((u) => u.scheme === 'file')
      .map((u) => (roots[0] && !relative(roots[0], u.fsPath).startsWith('..') ? relative(roots[0], u.fsPath).split(sep).join('/') : u.fsPath))
      .sort();
  }

  async openRunOutput(dir: string): Promise<void> {
    const runs = await this.listRuns();
    const run = runs.find((r) => r.dir === dir);
    if (!run?.output) throw new Error(`run ${dir} has no output file yet`);
    if (!existsSync(run.output)) {
      throw new Error(`${basename(run.output)} of run "${run.name}" does not exist yet (the run is ${run.status}); the rows of each stage are in ${join(dir, 'stages')}`);
    }
    const uri = vscode.Uri.file(run.output);
    // The JSONL viewer (custom editor) opens it when installed; otherwise the text editor.
    const hasViewer = (await vscode.commands.getCommands(true)).includes('sdg.openJsonlViewer');
    if (hasViewer) await vscode.commands.executeCommand('sdg.openJsonlViewer', uri);
    else await vscode.commands.executeCommand('vscode.open', uri);
    markStep('outputOpened');
  }

  async deleteRun(dir: string): Promise<void> {
    const abs = this.confineRunDir(dir);
    if (this.manager?.isActive(abs)) throw new Error('cancel the run before deleting it');
    const run = (await this.listRuns()).find((r) => r.dir === abs);
    await rm(abs, { recursive: true, force: true });
    // A labeling run's output sits beside its folder (`<output>.run`): it goes with it.
    if (run?.kind === 'generate' && run.output && abs.endsWith('.run') && resolve(run.output) === abs.slice(0, -4)) await rm(run.output, { force: true });
    this.manager?.forget(abs);
    this.log.info(`Deleted run folder ${abs}`);
    this.fireRunsChanged();
  }

  studioBackend(): StudioBackend {
    const self = this;
    return {
      get roots() {
        return workspaceRoots();
      },
      get builtinDir() {
        return self.builtinPromptsDir();
      },
      trusted: () => vscode.workspace.isTrusted,
      defaultConcurrency: () => defaultConcurrency(),
      listDatasets: () => this.listDatasets(),
      listRunFiles: () => this.listRunFiles(),
      resolveEndpoint: (name) => this.resolveEndpoint(name),
      browseDataset: () => this.browseDataset(),
      openFile: async (abs, readonly, line) => {
        const doc = await vscode.workspace.openTextDocument(vscode.Uri.file(abs));
        const editor = await vscode.window.showTextDocument(doc, { preview: true, viewColumn: vscode.ViewColumn.Beside });
        if (line) {
          const pos = new vscode.Position(Math.max(0, line - 1), 0);
          editor.selection = new vscode.Selection(pos, pos);
          editor.revealRange(new vscode.Range(pos, pos), vscode.TextEditorRevealType.InCenter);
        }
        if (readonly) void vscode.window.setStatusBarMessage('SDG: built-in file: copy the pipeline to the workspace to edit it', 5000);
      },
      endpoints: {
        list: async () => (await this.endpoints.list()).map((i) => ({ profile: i.profile, hasKey: i.hasKey })),
        save: async (raw, previousName, apiKey) => {
          const { profile, problems } = checkProfile(raw, workspaceRoots()[0]);
          if (!profile) throw new Error(problems.join('\n'));
          await this.endpoints.save(profile, previousName);
          if (apiKey) await this.endpoints.setKey(profile.name, apiKey);
        },
        remove: (name) => this.endpoints.remove(name),
        test: (name) => this.testEndpoint(name),
      },
      pipelines: {
        available: () => this.catalog.available(),
        list: () => this.catalog.list(),
        listTemplates: () => this.catalog.listTemplates(),
        copyToWorkspace: (id) => this.copyPipelineToWorkspace(id),
      },
      runs: {
        available: () => this.catalog.available(),
        list: () => this.listRuns(),
        start: async (pipelineId, endpoint, params, concurrency) => (await this.runs.start({ kind: 'pipeline', pipelineId, endpoint, params, concurrency })).dir,
        label: async (request) => (await this.runs.start({ kind: 'label', ...request })).dir,
        estimate: (request) => this.estimateLabeling(request),
        estimatePipeline: (pipelineId, params) => estimatePipelineRun(this.catalog, pipelineId, params, confirmThreshold()),
        postprocess: (dir, action) => this.postprocessRun(dir, action),
        compare: async (a, b) => {
          const runs = await this.listRuns();
          const find = (d: string) => {
            const abs = this.confineRunDir(d);
            const r = runs.find((x) => x.dir === abs);
            if (!r) throw new Error(`no run ${d}`);
            return r;
          };
          const { compareRuns } = require('./run/compare') as typeof import('./run/compare.js');
          return compareRuns(find(a), find(b));
        },
        openFile: async (dir, file) => this.openPostprocessFile(dir, file),
        setLabel: async (dir, label) => {
          writeRunLabel(this.confineRunDir(dir), label);
          this.fireRunsChanged();
        },
        cancel: async (dir) => {
          if (!this.runs.cancel(resolve(dir))) throw new Error('that run is not running in this window');
        },
        resume: async (dir) => {
          await this.runs.resume(this.confineRunDir(dir));
        },
        openOutput: (dir) => this.openRunOutput(this.confineRunDir(dir)),
      },
      slurm: {
        runsFolder: () => {
          const f = runsFolder();
          if (!f) throw new Error('open a folder first: Slurm job outputs and scripts go under the setting sdg.runsFolder');
          return f;
        },
        resolveEndpoint: (name) => this.resolveEndpoint(name),
        extensionPath: this.context.extensionUri.fsPath,
      },
    };
  }

  /** Grade / Metrics / Vote / Export SFT on a run's output (src/extension/run/postprocess.ts). */
  async postprocessRun(dir: string, action: PostprocessAction): Promise<PostprocessResult> {
    const abs = this.confineRunDir(dir);
    const run = (await this.listRuns()).find((r) => r.dir === abs);
    if (!run?.output) throw new Error(`run ${basename(abs)} has no output file yet`);
    const { postprocessRun } = require('./run/postprocess') as typeof import('./run/postprocess.js');
    const r = await postprocessRun(abs, run.output, action, (m) => this.log.warn(m));
    this.log.info(`${action} ${basename(run.output)}: ${r.lines.join(' | ')}`);
    this.fireRunsChanged();
    return r;
  }

  /** Opens a file a post-processing step wrote next to a run's output. */
  async openPostprocessFile(dir: string, file: string): Promise<void> {
    const abs = this.confineRunDir(dir);
    const run = (await this.listRuns()).find((r) => r.dir === abs);
    const { postprocessFiles, METRICS_FILE } = require('./run/postprocess') as typeof import('./run/postprocess.js');
    const allowed = run?.output ? [...Object.values(postprocessFiles(run.output)), join(abs, METRICS_FILE)] : [];
    if (!allowed.includes(file)) throw new Error(`${file} is not a file of run ${basename(abs)}`);
    const uri = vscode.Uri.file(file);
    if (file.endsWith('.jsonl') && (await vscode.commands.getCommands(true)).includes('sdg.openJsonlViewer')) await vscode.commands.executeCommand('sdg.openJsonlViewer', uri);
    else await vscode.commands.executeCommand('vscode.open', uri);
  }

  /** The launch estimate of a labeling run (src/core/estimate) with this window's settings. */
  async estimateLabeling(r: LabelRunRequest): Promise<LaunchEstimate> {
    return estimateLabelRun(r, { measuredRequestsPerSec: measuredRate(await this.listRuns(), r.endpoint), prices: endpointPrices(r.endpoint), threshold: confirmThreshold() });
  }

  async copyPipelineToWorkspace(id: string): Promise<string> {
    const root = workspaceRoots()[0];
    if (!root) throw new Error('open a folder first: the pipeline is copied into the workspace');
    const written = await this.catalog.copyToWorkspace(id, root);
    this.log.info(`Copied pipeline ${id} to the workspace: ${written.join(', ')}`);
    void this.catalog.list().then((p) => this.pipelinesChanged.fire(p));
    return relative(root, written[0]).split(sep).join('/');
  }

  /** Guard for commands that start work against endpoints. */
  requireTrust(action: string): boolean {
    return requireTrust(action);
  }

  async dispose(): Promise<void> {
    if (this.runsTimer) clearTimeout(this.runsTimer);
    this.watcher?.dispose();
    for (const d of this.disposables.splice(0)) d.dispose();
    await this.manager?.dispose();
  }
}
