/**
 * The "SDG" commands. Each works from the command palette (asking with quick picks and input
 * boxes) and from the views (taking the tree item); tests and other extensions may pass plain
 * arguments instead (validated like webview messages).
 */
import * as vscode from 'vscode';
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import type { EndpointProfile } from '../core/llm/types';
import { formatServerList, parseServerList } from '../core/llm/serverSpec';
import type { RunView, TemplateRef } from '../protocol/studio';
import { workspaceRoots } from './config';
import { EndpointItem } from './endpoints/tree';
import { checkProfile, ENDPOINT_NAME_RE, FORMATTERS } from './endpoints/profiles';
import { RunItem } from './run/tree';
import { isActive, isResumable } from './run/views';
import type { Services } from './services';
import { fileRefOf } from './studio/fileRefs';
import { StudioPanel } from './studio/panel';
import { errorMessage } from './util/redact';

type Handler = (...args: unknown[]) => unknown;

function endpointNameOf(arg: unknown): string | undefined {
  if (arg instanceof EndpointItem) return arg.info.profile.name;
  if (typeof arg === 'string' && ENDPOINT_NAME_RE.test(arg)) return arg;
  return undefined;
}

function runDirOf(arg: unknown): string | undefined {
  if (arg instanceof RunItem) return arg.run.dir;
  if (typeof arg === 'string') return arg;
  if (arg instanceof vscode.Uri && arg.scheme === 'file') return arg.fsPath;
  return undefined;
}

async function pickEndpoint(services: Services, placeHolder: string): Promise<string | undefined> {
  const list = await services.endpoints.list();
  if (!list.length) {
    const add = await vscode.window.showInformationMessage('No SDG endpoints yet.', 'Add Endpoint');
    if (add) await vscode.commands.executeCommand('sdg.addEndpoint');
    return undefined;
  }
  const pick = await vscode.window.showQuickPick(
    list.map((i) => ({ label: i.profile.name, description: `${i.profile.model} · ${i.profile.baseUrl}`, detail: i.hasKey ? '$(key) key stored' : undefined, name: i.profile.name })),
    { placeHolder },
  );
  return pick?.name;
}

async function pickRun(services: Services, filter: (r: RunView) => boolean, placeHolder: string, none: string): Promise<string | undefined> {
  const runs = (await services.listRuns()).filter(filter);
  if (!runs.length) {
    void vscode.window.showInformationMessage(none);
    return undefined;
  }
  const pick = await vscode.window.showQuickPick(
    runs.map((r) => ({ label: r.name, description: `${r.status} · ${r.counts.done}${r.counts.total !== null ? `/${r.counts.total}` : ''}`, detail: r.dir, dir: r.dir })),
    { placeHolder },
  );
  return pick?.dir;
}

/** Input boxes for a profile (new, or prefilled to edit). Returns undefined when cancelled. */
async function askProfile(existing?: EndpointProfile): Promise<EndpointProfile | undefined> {
  const name = await vscode.window.showInputBox({
    title: existing ? `Edit endpoint ${existing.name}` : 'Add SDG endpoint (1/4)',
    prompt: 'A name for this endpoint',
    value: existing?.name ?? '',
    validateInput: (v) => (ENDPOINT_NAME_RE.test(v) ? undefined : 'Letters, digits, ".", "_", "-" or spaces; at most 64 characters'),
  });
  if (name === undefined) return undefined;
  // Several servers (a pool) in the one syntax the Studio form and the CLI's --base-url use:
  // separated by commas, each URL optionally with #weight=2&max=64 (src/core/llm/serverSpec.ts).
  const { validatePoolServers } = require('../core/llm/pool') as typeof import('../core/llm/pool.js');
  const baseUrlText = await vscode.window.showInputBox({
    title: 'Base URL (2/4)',
    prompt: 'OpenAI-compatible API root, e.g. http://gpu-box:8000/v1. A pool of servers serving the same model: separate them with commas (URL#weight=2&max=64 sets a server\'s share and limit).',
    value: existing ? formatServerList(existing, ', ') : 'http://127.0.0.1:8000/v1',
    validateInput: (v) => {
      const r = parseServerList(v);
      return r.problems[0] ?? validatePoolServers(r.servers, 'base URL')[0]?.replace(/^base URL: /, '');
    },
  });
  if (baseUrlText === undefined) return undefined;
  const parsed = parseServerList(baseUrlText);
  const baseUrl = parsed.baseUrl;
  const model = await vscode.window.showInputBox({ title: 'Model (3/4)', prompt: 'Model id the server serves (see its /v1/models)', value: existing?.model ?? '', validateInput: (v) => (v.trim() ? undefined : 'Required') });
  if (model === undefined) return undefined;
  const kind = await vscode.window.showQuickPick(
    [
      { label: 'chat', description: 'Chat completions (most servers)', apiKind: 'chat' as const },
      { label: 'completions', description: 'Raw prompt built by a conversation formatter', apiKind: 'completions' as const },
      { label: 'triton', description: "Triton / TensorRT-LLM / NeMo Deploy generate endpoint (/v2/models/<model>/generate); prompt built by a conversation formatter", apiKind: 'triton' as const },
    ],
    { title: 'API (4/4)', placeHolder: existing?.apiKind ?? 'chat' },
  );
  if (!kind) return undefined;
  const profile: EndpointProfile = { ...(existing ?? {}), name, baseUrl: baseUrl.trim(), model: model.trim(), apiKind: kind.apiKind, servers: parsed.pool ? parsed.servers : undefined };
  if (!profile.servers) delete profile.servers;
  if (kind.apiKind === 'chat') {
    delete profile.formatter;
    return profile;
  }
  const f = await vscode.window.showQuickPick(
    [
      ...FORMATTERS.map((x) => ({ label: x, description: x === 'none' ? 'the messages joined as they are' : undefined })),
      { label: 'chat-template', description: "the model's own Jinja chat template, from its tokenizer_config.json or a .jinja file" },
    ],
    { title: 'Conversation formatter', placeHolder: existing?.formatter },
  );
  if (!f) return undefined;
  profile.formatter = f.label as EndpointProfile['formatter'];
  if (profile.formatter !== 'chat-template') return profile;
  const picked = await vscode.window.showOpenDialog({
    title: "The model's tokenizer_config.json or a Jinja chat template file",
    canSelectMany: false,
    filters: { 'Chat template': ['json', 'jinja', 'j2', 'txt'] },
    defaultUri: existing?.chatTemplateFile ? vscode.Uri.file(existing.chatTemplateFile) : vscode.workspace.workspaceFolders?.[0]?.uri,
  });
  if (!picked?.[0]) return undefined;
  const file = picked[0].fsPath;
  // Checked now (the template is read and parsed) rather than at the first request.
  const { readChatTemplateFile } = require('../core/llm/chatTemplate') as typeof import('../core/llm/chatTemplate.js');
  readChatTemplateFile(file);
  profile.chatTemplateFile = file;
  delete profile.chatTemplate;
  return profile;
}

export function registerCommands(context: vscode.ExtensionContext, services: Services): void {
  const log = services.log;
  const register = (id: string, fn: Handler) =>
    context.subscriptions.push(
      vscode.commands.registerCommand(id, async (...args: unknown[]) => {
        try {
          return await fn(...args);
        } catch (e) {
          const msg = errorMessage(e);
          log.error(`${id}: ${msg}`);
          void vscode.window.showErrorMessage(`SDG: ${msg}`);
          return undefined;
        }
      }),
    );

  register('sdg.openStudio', (tab?: unknown) => {
    const tabs = ['pipelines', 'templates', 'fewshot', 'endpoints', 'runs', 'slurm'] as const;
    StudioPanel.show(services, typeof tab === 'string' && (tabs as readonly string[]).includes(tab) ? { tab: tab as (typeof tabs)[number] } : undefined);
    return true;
  });

  // The Slurm dialog lives in the Studio (cluster profile form, preview, submit).
  register('sdg.launchOnSlurm', () => {
    if (!services.requireTrust('Launching Slurm jobs')) return false;
    StudioPanel.show(services, { tab: 'slurm' });
    return true;
  });

  // ------------------------------------------------------------------ endpoints
  register('sdg.addEndpoint', async (arg?: unknown, key?: unknown) => {
    let profile: EndpointProfile | undefined;
    if (arg && typeof arg === 'object' && !(arg instanceof EndpointItem)) {
      const r = checkProfile(arg, workspaceRoots()[0]);
      if (!r.profile) throw new Error(`invalid endpoint: ${r.problems.join('; ')}`);
      profile = r.profile;
    } else profile = await askProfile();
    if (!profile) return undefined;
    await services.endpoints.save(profile);
    let apiKey = typeof key === 'string' ? key : undefined;
    if (!arg) {
      apiKey = await vscode.window.showInputBox({ title: `API key for ${profile.name}`, prompt: 'Leave empty for servers without a key. Kept in secret storage.', password: true, ignoreFocusOut: true });
    }
    if (apiKey) await services.endpoints.setKey(profile.name, apiKey);
    if (!arg) {
      const test = await vscode.window.showInformationMessage(`Endpoint "${profile.name}" added.`, 'Test Endpoint');
      if (test) await vscode.commands.executeCommand('sdg.testEndpoint', profile.name);
    }
    return profile.name;
  });

  register('sdg.editEndpoint', async (arg?: unknown) => {
    const name = endpointNameOf(arg) ?? (await pickEndpoint(services, 'Endpoint to edit'));
    if (!name) return;
    const existing = services.endpoints.get(name);
    if (!existing) throw new Error(`no endpoint named "${name}"`);
    const profile = await askProfile(existing);
    if (profile) await services.endpoints.save(profile, name);
  });

  register('sdg.removeEndpoint', async (arg?: unknown) => {
    const name = endpointNameOf(arg) ?? (await pickEndpoint(services, 'Endpoint to remove'));
    if (!name) return;
    const ok = await vscode.window.showWarningMessage(`Remove endpoint "${name}" and its stored API key?`, { modal: true }, 'Remove');
    if (ok === 'Remove') await services.endpoints.remove(name);
  });

  register('sdg.setApiKey', async (arg?: unknown, key?: unknown) => {
    const name = endpointNameOf(arg) ?? (await pickEndpoint(services, 'Endpoint whose API key to set'));
    if (!name) return;
    if (!services.endpoints.get(name)) throw new Error(`no endpoint named "${name}"`);
    const value =
      typeof key === 'string'
        ? key
        : await vscode.window.showInputBox({ title: `API key for ${name}`, prompt: 'Stored in VS Code secret storage. Leave empty to remove the key.', password: true, ignoreFocusOut: true });
    if (value === undefined) return;
    await services.endpoints.setKey(name, value || undefined);
    if (typeof key !== 'string') void vscode.window.showInformationMessage(value ? `API key of "${name}" stored.` : `API key of "${name}" removed.`);
    return true;
  });

  register('sdg.testEndpoint', async (arg?: unknown) => {
    if (!services.requireTrust('Testing endpoints')) return;
    const name = endpointNameOf(arg) ?? (await pickEndpoint(services, 'Endpoint to test'));
    if (!name) return;
    const result = await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: `Testing ${name}…` }, () => services.testEndpoint(name));
    if (result.ok) void vscode.window.showInformationMessage(`SDG: "${name}" answered in ${result.latencyMs} ms${result.servers ? ` (all ${result.servers.length} servers; slowest)` : ''}. Models: ${result.models.join(', ') || '(none listed)'}`);
    else void vscode.window.showErrorMessage(`SDG: "${name}": ${result.error}`);
    return result;
  });

  // ------------------------------------------------------------------ pipelines and runs
  register('sdg.runPipeline', async (arg?: unknown) => {
    if (!services.requireTrust('Running pipelines')) return;
    let request: { pipelineId: string; endpoint: string; params: Record<string, unknown>; concurrency?: number } | undefined;
    if (arg && typeof arg === 'object' && !(arg instanceof vscode.Uri)) {
      const a = arg as Record<string, unknown>;
      if (typeof a.pipelineId !== 'string' || typeof a.endpoint !== 'string') throw new Error('sdg.runPipeline expects { pipelineId, endpoint, params? }');
      const params = a.params && typeof a.params === 'object' && !Array.isArray(a.params) ? (a.params as Record<string, unknown>) : {};
      request = { pipelineId: a.pipelineId, endpoint: a.endpoint, params, concurrency: typeof a.concurrency === 'number' ? a.concurrency : undefined };
    } else {
      const pipelines = await services.catalog.list();
      if (!pipelines.length) throw new Error('no pipelines found (built-in, or prompts/pipelines/*.yaml in the workspace)');
      const pick = await vscode.window.showQuickPick(
        pipelines.map((p) => ({
          label: p.name,
          description: p.source === 'builtin' ? 'built-in' : p.file,
          detail: p.errors.length ? `$(error) ${p.errors[0]}` : p.description,
          id: p.id,
        })),
        { placeHolder: 'Pipeline to run (parameters at their defaults; edit them in the Studio)', matchOnDescription: true, matchOnDetail: true },
      );
      if (!pick) return;
      const chosen = pipelines.find((p) => p.id === pick.id)!;
      if (chosen.errors.length) throw new Error(`pipeline ${chosen.name} is invalid: ${chosen.errors.join('; ')}`);
      // Parameters without a default must be given now; the others keep their defaults.
      const params: Record<string, unknown> = {};
      for (const p of chosen.parameters.filter((x) => x.required && x.default === undefined)) {
        const value = await vscode.window.showInputBox({
          title: `${chosen.name}: ${p.name}`,
          prompt: `${p.description ?? p.name}${p.type === 'text' ? ' (several values: separate them with ";")' : ''}`,
          ignoreFocusOut: true,
          validateInput: (v) => (v.trim() ? undefined : 'Required'),
        });
        if (value === undefined) return;
        params[p.name] = p.type === 'text' ? value.split(';').map((x) => x.trim()).join('\n') : value;
      }
      const endpoint = await pickEndpoint(services, 'Endpoint to run against');
      if (!endpoint) return;
      request = { pipelineId: pick.id, endpoint, params };
    }
    const run = await services.runs.start({ kind: 'pipeline', ...request });
    log.info(`Started run ${run.name} in ${run.dir}`);
    void trackRun(services, run.dir, run.name);
    return run.dir;
  });

  register('sdg.cancelRun', async (arg?: unknown) => {
    const dir = runDirOf(arg) ?? (await pickRun(services, (r) => r.live && isActive(r), 'Run to cancel', 'No run of this window is running.'));
    if (!dir) return false;
    if (!services.runs.cancel(dir)) throw new Error('that run is not running in this window');
    return true;
  });

  register('sdg.resumeRun', async (arg?: unknown) => {
    if (!services.requireTrust('Resuming runs')) return;
    const dir = runDirOf(arg) ?? (await pickRun(services, isResumable, 'Run to resume', 'No run to resume (interrupted, cancelled, failed or with failed items).'));
    if (!dir) return;
    const run = await services.runs.resume(services.confineRunDir(dir));
    void trackRun(services, run.dir, run.name);
    return run.dir;
  });

  // Grade / Metrics / Vote / Export SFT on a labeling run's output (the run card offers the same).
  const postprocess = (id: string, action: 'grade' | 'metrics' | 'vote' | 'exportSft', title: string) =>
    register(id, async (arg?: unknown) => {
      const dir = runDirOf(arg) ?? (await pickRun(services, (r) => r.kind === 'generate' && !!r.output && !isActive(r), `Run to ${title.toLowerCase()}`, 'No finished labeling run has an output.'));
      if (!dir) return undefined;
      const result = await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: `SDG: ${title}…` }, () => services.postprocessRun(dir, action));
      void vscode.window.showInformationMessage(`SDG ${title}: ${result.lines.join(' ')}`, 'Open').then((pick) => pick && services.openPostprocessFile(dir, result.file));
      return result;
    });
  postprocess('sdg.gradeRun', 'grade', 'Grade');
  postprocess('sdg.runMetrics', 'metrics', 'Metrics');
  postprocess('sdg.voteRun', 'vote', 'Vote');
  postprocess('sdg.exportSft', 'exportSft', 'Export SFT');

  register('sdg.openRunOutput', async (arg?: unknown) => {
    const dir = runDirOf(arg) ?? (await pickRun(services, (r) => !!r.output, 'Run whose output to open', 'No run has an output yet.'));
    if (dir) await services.openRunOutput(dir);
  });

  register('sdg.revealRunFolder', async (arg?: unknown) => {
    const dir = runDirOf(arg) ?? (await pickRun(services, () => true, 'Run folder to reveal', 'No runs yet.'));
    if (dir) await vscode.commands.executeCommand('revealInExplorer', vscode.Uri.file(dir));
  });

  register('sdg.deleteRun', async (arg?: unknown) => {
    const dir = runDirOf(arg) ?? (await pickRun(services, (r) => !isActive(r), 'Run to delete', 'No finished runs.'));
    if (!dir) return;
    const beside = dir.endsWith('.run') ? ` and its output ${basename(dir.slice(0, -4))}` : '';
    const ok = await vscode.window.showWarningMessage(`Delete the run folder ${dir}${beside}, with all its data?`, { modal: true }, 'Delete');
    if (ok === 'Delete') await services.deleteRun(dir);
  });

  register('sdg.refreshRuns', () => services.fireRunsChanged());

  register('sdg.copyPipelineToWorkspace', async (arg?: unknown) => {
    let id = typeof arg === 'string' ? arg : undefined;
    if (!id) {
      const builtins = (await services.catalog.list()).filter((p) => p.source === 'builtin');
      const pick = await vscode.window.showQuickPick(builtins.map((p) => ({ label: p.name, detail: p.description, id: p.id })), { placeHolder: 'Built-in pipeline to copy into the workspace (with its templates)' });
      id = pick?.id;
    }
    if (!id) return;
    const file = await services.copyPipelineToWorkspace(id);
    if (typeof arg !== 'string') {
      const root = vscode.workspace.workspaceFolders?.[0]?.uri;
      if (root) await vscode.window.showTextDocument(vscode.Uri.joinPath(root, file));
    }
    return file;
  });

  register('sdg.previewTemplateToSide', async (arg?: unknown) => {
    const uri = arg instanceof vscode.Uri ? arg : vscode.window.activeTextEditor?.document.uri;
    if (!uri || !/\.ya?ml$/i.test(uri.path)) throw new Error('open a template or prompt config (.yaml) in the editor first');
    const doc = await vscode.workspace.openTextDocument(uri);
    const { TemplatePreviewPanel } = require('./studio/previewPanel') as typeof import('./studio/previewPanel.js');
    TemplatePreviewPanel.show(services, doc);
  });

  register('sdg.previewPrompt', async (arg?: unknown) => {
    const ref = await pickTemplateRef(services, arg);
    if (ref) StudioPanel.show(services, { tab: 'templates', ref });
  });
}

/** A template to preview: the argument, the YAML file in the editor, or a quick pick. */
async function pickTemplateRef(services: Services, arg: unknown): Promise<TemplateRef | undefined> {
  const ctx = services.studioBackend();
  const refFor = (abs: string): TemplateRef | undefined => {
    const text = readFileSync(abs, 'utf8');
    const field = /^user\s*:/m.test(text) ? ['user'] : /^prompt\s*:/m.test(text) ? ['prompt'] : undefined;
    return field ? { file: fileRefOf(ctx, abs), field, label: `${basename(abs)} › ${field[0]}` } : undefined;
  };
  const uri = arg instanceof vscode.Uri ? arg : vscode.window.activeTextEditor?.document.uri;
  if (uri?.scheme === 'file' && /\.ya?ml$/i.test(uri.fsPath)) {
    const ref = refFor(uri.fsPath);
    if (ref) return ref;
  }
  const templates = await services.catalog.listTemplates();
  const pick = await vscode.window.showQuickPick(
    templates.map((t) => ({ label: t.label, description: t.file, ref: t })),
    { placeHolder: 'Template to preview with a dataset row', matchOnDescription: true },
  );
  return pick?.ref;
}

/** A cancellable notification that follows a run until it ends (the run goes on if dismissed). */
async function trackRun(services: Services, dir: string, name: string): Promise<void> {
  await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: `SDG: ${name}`, cancellable: true }, (progress, token) => {
    return new Promise<void>((resolve) => {
      let last = 0;
      const cancel = token.onCancellationRequested(() => services.runs.cancel(dir));
      const sub = services.runs.onDidChange((runs) => {
        const r = runs.find((x) => x.dir === dir);
        if (!r) return;
        const pct = r.counts.total ? Math.floor(((r.counts.done + r.counts.failed) / r.counts.total) * 100) : 0;
        progress.report({
          increment: Math.max(0, pct - last),
          message: `${r.status} · ${r.counts.done}${r.counts.total !== null ? `/${r.counts.total}` : ''}${r.counts.failed ? `, ${r.counts.failed} failed` : ''} · ${r.throughput.requestsPerSec.toFixed(1)} req/s`,
        });
        last = Math.max(last, pct);
        if (!isActive(r)) {
          sub();
          cancel.dispose();
          resolve();
          const msg = `SDG: run "${r.name}" ${r.status}${r.error ? `: ${r.error}` : ''}`;
          const open = r.output ? ['Open Output'] : [];
          const show = r.status === 'completed' ? vscode.window.showInformationMessage(msg, ...open) : vscode.window.showWarningMessage(msg, ...open);
          void show.then((pick) => {
            if (pick) void services.openRunOutput(dir).catch((e) => services.log.warn(errorMessage(e)));
          });
        }
      });
    });
  });
}
