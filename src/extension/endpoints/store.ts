/**
 * Endpoints: profiles in the `sdg.endpoints` setting, keys in SecretStorage under
 * `sdg.apiKey.<name>`. Nothing here writes a key anywhere else.
 */
import * as vscode from 'vscode';
import type { EndpointProfile } from '../../core/llm/types';
import { workspaceRoots } from '../config';
import type { Logger } from '../log';
import { registerSecret } from '../util/redact';
import { parseProfiles, removeEntry, secretKeyFor, upsertEntry, type ProfileIssue } from './profiles';

export interface EndpointInfo {
  profile: EndpointProfile;
  hasKey: boolean;
}

export class EndpointStore implements vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<void>();
  readonly onDidChange = this.changed.event;
  private readonly disposables: vscode.Disposable[] = [this.changed];
  private lastIssues = '';

  constructor(private readonly secrets: vscode.SecretStorage, private readonly log: Logger) {
    this.disposables.push(
      vscode.workspace.onDidChangeConfiguration((e) => e.affectsConfiguration('sdg.endpoints') && this.changed.fire()),
      secrets.onDidChange((e) => e.key.startsWith('sdg.apiKey.') && this.changed.fire()),
    );
  }

  /** Valid profiles; problems with the others go to the log once per change. */
  profiles(): { profiles: EndpointProfile[]; issues: ProfileIssue[] } {
    const parsed = parseProfiles(vscode.workspace.getConfiguration('sdg').get<unknown[]>('endpoints', []), workspaceRoots()[0]);
    const text = parsed.issues.map((i) => `sdg.endpoints[${i.index}]${i.name ? ` (${i.name})` : ''}: ${i.message}`).join('\n');
    if (text && text !== this.lastIssues) this.log.warn(`Problems in the sdg.endpoints setting:\n${text}`);
    this.lastIssues = text;
    return parsed;
  }

  get(name: string): EndpointProfile | undefined {
    return this.profiles().profiles.find((p) => p.name === name);
  }

  async list(): Promise<EndpointInfo[]> {
    const { profiles } = this.profiles();
    return Promise.all(profiles.map(async (profile) => ({ profile, hasKey: !!(await this.secrets.get(secretKeyFor(profile.name))) })));
  }

  async getKey(name: string): Promise<string | undefined> {
    const key = await this.secrets.get(secretKeyFor(name));
    registerSecret(key);
    return key;
  }

  async setKey(name: string, key: string | undefined): Promise<void> {
    if (key) {
      registerSecret(key);
      await this.secrets.store(secretKeyFor(name), key);
    } else await this.secrets.delete(secretKeyFor(name));
    this.log.info(`API key of endpoint "${name}" ${key ? 'stored in' : 'removed from'} secret storage`);
  }

  /** Writes where the setting already lives (workspace or user); new ones go to user settings. */
  private target(): vscode.ConfigurationTarget {
    const inspected = vscode.workspace.getConfiguration('sdg').inspect<unknown[]>('endpoints');
    if (inspected?.workspaceFolderValue !== undefined) return vscode.ConfigurationTarget.WorkspaceFolder;
    if (inspected?.workspaceValue !== undefined) return vscode.ConfigurationTarget.Workspace;
    return vscode.ConfigurationTarget.Global;
  }

  private rawEntries(): unknown[] {
    const raw = vscode.workspace.getConfiguration('sdg').get<unknown>('endpoints', []);
    return Array.isArray(raw) ? raw : [];
  }

  async save(profile: EndpointProfile, previousName?: string): Promise<void> {
    const entries = upsertEntry(this.rawEntries(), profile, previousName);
    await vscode.workspace.getConfiguration('sdg').update('endpoints', entries, this.target());
    if (previousName && previousName !== profile.name) {
      // Move the key with the endpoint on rename.
      const key = await this.secrets.get(secretKeyFor(previousName));
      if (key) {
        await this.secrets.store(secretKeyFor(profile.name), key);
        await this.secrets.delete(secretKeyFor(previousName));
      }
    }
    this.log.info(`Endpoint "${profile.name}" saved (${profile.baseUrl}, model ${profile.model})`);
  }

  async remove(name: string): Promise<void> {
    await vscode.workspace.getConfiguration('sdg').update('endpoints', removeEntry(this.rawEntries(), name), this.target());
    await this.secrets.delete(secretKeyFor(name));
    this.log.info(`Endpoint "${name}" removed`);
  }

  dispose(): void {
    for (const d of this.disposables) d.dispose();
  }
}
