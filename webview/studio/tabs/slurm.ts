/** The Slurm tab: a cluster profile and a labeling job as an sbatch job array. */
import { html, nothing, type TemplateResult } from 'lit';
import { customElement } from 'lit/decorators.js';
import { StudioView } from '../parts/base.js';
import '../parts/datasetPicker.js';
import { targetValue } from '../store.js';
import type { SlurmPreview } from '../../../src/protocol/studio.js';
import { clusterFormOf, clusterRequest, slurmJobRequest, taskCount, type ClusterForm, type SlurmJobForm } from '../logic/slurm.js';

@customElement('sdg-slurm-tab')
export class SdgSlurmTab extends StudioView {
  override render(): TemplateResult {
    const s = this.state;
    const info = this.store.slurmInfo;
    const form = s.persisted.slurm;
    const c = form.cluster;
    const j = form.job;
    const setC = (patch: Partial<ClusterForm>) => this.dispatch({ type: 'slurmCluster', patch });
    const setJ = (patch: Partial<SlurmJobForm>) => this.dispatch({ type: 'slurmJob', patch });
    const saved = info?.clusters.find((x) => x.name === c.name.trim());
    const configs = this.store.allTemplates.filter((t) => t.field[0] === 'user');
    const { problems, params } = slurmJobRequest(form);
    const cluster = clusterRequest(c);
    const busy = this.busy.has('slurm');
    const ctext = (label: string, key: 'partition' | 'account' | 'qos' | 'time' | 'mem' | 'containerImage', placeholder = '') =>
      html`<vscode-form-group variant="vertical"><vscode-label>${label}</vscode-label><vscode-textfield aria-label=${label} placeholder=${placeholder} .value=${c[key]} @input=${(e: Event) => setC({ [key]: targetValue(e) })}></vscode-textfield></vscode-form-group>`;
    const cnum = (label: string, key: 'gpusPerNode' | 'nodesPerTask' | 'cpusPerTask' | 'serverTimeout' | 'maxParallel' | 'continuations', placeholder = '') =>
      html`<vscode-form-group variant="vertical"><vscode-label>${label}</vscode-label><vscode-textfield aria-label=${label} type="number" min="0" placeholder=${placeholder} .value=${c[key]} @input=${(e: Event) => setC({ [key]: targetValue(e) })}></vscode-textfield></vscode-form-group>`;
    const jnum = (label: string, key: 'numSeeds' | 'numSamples' | 'seedsPerTask' | 'numChunks' | 'limit' | 'temperature' | 'maxTokens', placeholder = '') =>
      html`<vscode-form-group variant="vertical"><vscode-label>${label}</vscode-label><vscode-textfield aria-label=${label} type=${key === 'temperature' ? 'text' : 'number'} placeholder=${placeholder} .value=${j[key]} @input=${(e: Event) => setJ({ [key]: targetValue(e) })}></vscode-textfield></vscode-form-group>`;
    const tasks = params ? taskCount(params.numSeeds, params.seedsPerTask, params.numChunks) : null;
    return html`
      ${s.trusted ? nothing : html`<div class="banner slurm-untrusted" role="status">Slurm jobs are disabled in an untrusted workspace.</div>`}
      ${info && !info.sbatch ? html`<div class="banner sbatch-missing" role="status">sbatch is not on the PATH of the VS Code extension host, so jobs cannot be submitted from this window. Open the folder in VS Code running on a Slurm login node (for example with Remote - SSH); <i>Preview scripts</i> works anyway and shows the equivalent <span class="mono">sdg slurm generate</span> command.</div>` : nothing}
      <div class="card">
        <div class="row">
          <h3 class="grow">Cluster profile</h3>
          ${info?.clusters.length
            ? html`<vscode-single-select aria-label="Saved cluster profiles" .value=${saved?.name ?? ''} @change=${(e: Event) => {
                const pick = info.clusters.find((x) => x.name === targetValue(e));
                if (pick?.settings) setC(clusterFormOf(pick.name, pick.settings));
                else if (pick) setC({ name: pick.name });
              }}>
                <vscode-option value="">(new)</vscode-option>
                ${info.clusters.map((x) => html`<vscode-option value=${x.name} ?selected=${x.name === saved?.name}>${x.name}${x.error ? ' (invalid)' : ''}</vscode-option>`)}
              </vscode-single-select>`
            : nothing}
        </div>
        ${saved?.error ? html`<div class="error cluster-error mono">${saved.error}</div>` : nothing}
        <div class="form-grid">
          <vscode-form-group variant="vertical"><vscode-label required>Name</vscode-label><vscode-textfield aria-label="Cluster name" .value=${c.name} @input=${(e: Event) => setC({ name: targetValue(e) })}></vscode-textfield><vscode-form-helper class="mono">.sdg/clusters/${c.name.trim() || '…'}.yaml</vscode-form-helper></vscode-form-group>
          ${ctext('Partition', 'partition', 'gpu')}
          ${ctext('Account', 'account')}
          ${ctext('QOS', 'qos')}
          ${ctext('Time limit per task', 'time', '04:00:00')}
          ${cnum('GPUs per node', 'gpusPerNode', '8')}
          ${cnum('Nodes per task', 'nodesPerTask', '1')}
          ${cnum('CPUs per task', 'cpusPerTask')}
          ${ctext('Memory', 'mem', '0 (all)')}
          ${cnum('Tasks at once', 'maxParallel', 'all')}
          ${cnum('Continuations', 'continuations', '0')}
          ${cnum('Server time-out (s)', 'serverTimeout', '1800')}
          ${ctext('Container image', 'containerImage', 'nvcr.io#nvidia/vllm:24.10')}
        </div>
        <vscode-form-group variant="vertical"><vscode-label>Setup lines (shell, one per line)</vscode-label><vscode-textarea class="wide" rows="3" aria-label="Setup lines" placeholder="module load cuda/12.4 nodejs/20" .value=${c.setup} @input=${(e: Event) => setC({ setup: targetValue(e) })}></vscode-textarea><vscode-form-helper>Run first in every job: modules, a virtualenv…</vscode-form-helper></vscode-form-group>
        <vscode-form-group variant="vertical"><vscode-label>Server command</vscode-label><vscode-textfield class="wide" aria-label="Server command" .value=${c.serverCommand} @input=${(e: Event) => setC({ serverCommand: targetValue(e) })}></vscode-textfield><vscode-form-helper>Starts a model server per array task; <span class="mono">{model}</span>, <span class="mono">{port}</span>, <span class="mono">{gpus}</span> are filled in. Leave empty to use the servers of an endpoint instead.</vscode-form-helper></vscode-form-group>
        <vscode-form-group variant="vertical"><vscode-label>Extra sbatch options (one per line)</vscode-label><vscode-textarea class="wide" rows="2" aria-label="Extra sbatch options" placeholder="--exclusive" .value=${c.sbatchArgs} @input=${(e: Event) => setC({ sbatchArgs: targetValue(e) })}></vscode-textarea></vscode-form-group>
        <vscode-checkbox aria-label="Requeue" ?checked=${c.requeue} @change=${(e: Event) => setC({ requeue: (e.target as HTMLInputElement).checked })}>Requeue preempted tasks</vscode-checkbox>
        <div class="row">
          <vscode-button secondary ?disabled=${!s.trusted || !cluster.settings || busy || !s.hasWorkspace} @click=${() => void this.saveCluster()}>Save profile</vscode-button>
          ${cluster.problems.length ? html`<ul class="issues cluster-issues">${cluster.problems.map((x) => html`<li>${x}</li>`)}</ul>` : nothing}
        </div>
      </div>
      <div class="card">
        <h3>Labeling job</h3>
        <div class="row">
          <vscode-label>Prompt config</vscode-label>
          <vscode-single-select aria-label="Slurm prompt config" .value=${j.prompt} @change=${(e: Event) => setJ({ prompt: targetValue(e) })}>
            <vscode-option value="">(choose)</vscode-option>
            ${configs.map((x) => html`<vscode-option value=${x.file} ?selected=${x.file === j.prompt}>${x.label.replace(/ \(prompt config\)$/, '')}${x.file.startsWith('builtin:') ? '' : ' (workspace)'}</vscode-option>`)}
          </vscode-single-select>
          <vscode-label>Dataset</vscode-label>
          <sdg-dataset-picker .store=${this.store} label="Slurm dataset" .value=${j.input} @pick=${(e: CustomEvent<string>) => setJ({ input: e.detail })}></sdg-dataset-picker>
        </div>
        <div class="form-grid">
          <vscode-form-group variant="vertical"><vscode-label>Model</vscode-label><vscode-textfield aria-label="Slurm model" placeholder=${c.serverCommand.trim() ? 'Qwen/Qwen2.5-72B-Instruct' : "(the endpoint's)"} .value=${j.model} @input=${(e: Event) => setJ({ model: targetValue(e) })}></vscode-textfield></vscode-form-group>
          <vscode-form-group variant="vertical"><vscode-label>Endpoint</vscode-label>
            <vscode-single-select aria-label="Slurm endpoint" .value=${j.endpoint} ?disabled=${!!c.serverCommand.trim()} @change=${(e: Event) => setJ({ endpoint: targetValue(e) })}>
              <vscode-option value="">${c.serverCommand.trim() ? '(a server per task)' : '(choose)'}</vscode-option>
              ${s.endpoints.map((x) => html`<vscode-option value=${x.profile.name} ?selected=${x.profile.name === j.endpoint}>${x.profile.name}${x.profile.servers?.length ? ` (${x.profile.servers.length} servers)` : ''}</vscode-option>`)}
            </vscode-single-select></vscode-form-group>
          ${jnum('Seeds', 'numSeeds', '8')}
          ${jnum('Samples per request', 'numSamples', '4')}
          ${jnum('Seeds per task', 'seedsPerTask', 'all')}
          ${jnum('Chunks', 'numChunks', '4')}
          ${jnum('First rows only', 'limit', 'all')}
          ${jnum('Temperature', 'temperature', 'config')}
          ${jnum('Max tokens', 'maxTokens', 'config')}
        </div>
        <vscode-form-group variant="vertical"><vscode-label>sdg on the nodes</vscode-label><vscode-textfield class="wide" aria-label="sdg on the nodes" placeholder=${info?.defaultSdgCommand ?? 'sdg'} .value=${j.sdgCommand} @input=${(e: Event) => setJ({ sdgCommand: targetValue(e) })}></vscode-textfield><vscode-form-helper>How the jobs start sdg (default: this extension's CLI with node; the path must exist on the compute nodes).</vscode-form-helper></vscode-form-group>
        <div class="row">
          <vscode-button secondary ?disabled=${!params || !s.trusted || busy} @click=${() => void this.slurmAction('preview')}>Preview scripts</vscode-button>
          <vscode-button ?disabled=${!params || !s.trusted || busy || !info?.sbatch} @click=${() => void this.slurmAction('submit')}>Submit</vscode-button>
          ${tasks !== null ? html`<span class="muted task-count">${tasks} array task${tasks === 1 ? '' : 's'} (seed ranges x chunks) + merge job</span>` : nothing}
        </div>
        ${problems.length ? html`<ul class="issues slurm-issues">${problems.map((x) => html`<li>${x}</li>`)}</ul>` : nothing}
      </div>
      ${this.store.ui.slurmSubmitted ? html`<div class="banner info slurm-submitted" role="status">Submitted: array <b class="mono">${this.store.ui.slurmSubmitted.arrayJobId}</b>${this.store.ui.slurmSubmitted.continuationJobIds.map((id) => html`, continuation <b class="mono">${id}</b>`)}, merge <b class="mono">${this.store.ui.slurmSubmitted.mergeJobId}</b>. Output: <span class="mono">${this.store.ui.slurmSubmitted.output}</span>; scripts and logs in <span class="mono">${this.store.ui.slurmSubmitted.scriptDir}</span>.</div>` : nothing}
      ${this.store.ui.slurmPreview ? this.renderSlurmPreview(this.store.ui.slurmPreview) : nothing}
    `;
  }

  private renderSlurmPreview(p: SlurmPreview): TemplateResult {
    return html`<div class="card slurm-preview">
      <h3>Scripts</h3>
      ${p.notes.map((n) => html`<p class="warning slurm-note">${n}</p>`)}
      <p>${p.tasks} array task${p.tasks === 1 ? '' : 's'}${p.continuations ? `, ${p.continuations} continuation array${p.continuations === 1 ? '' : 's'}` : ''}, then a merge job into <span class="mono">${p.output}</span>.</p>
      <vscode-label>From a terminal</vscode-label>
      <pre class="script cli-command">${p.cliCommand}</pre>
      <vscode-label class="mono">${p.arrayScriptPath}</vscode-label>
      <pre class="script array-script">${p.arrayScript}</pre>
      <vscode-label class="mono">${p.mergeScriptPath}</vscode-label>
      <pre class="script merge-script">${p.mergeScript}</pre>
    </div>`;
  }

  private async saveCluster(): Promise<boolean> {
    const { name, settings, problems } = clusterRequest(this.state.persisted.slurm.cluster);
    if (!settings) {
      this.store.error(problems.join('; '));
      return false;
    }
    const info = await this.call('slurm', () => this.host.request('slurm.saveCluster', { name, settings }));
    if (!info) return false;
    this.store.slurmInfo = info;
    const saved = info.clusters.find((x) => x.name === name);
    if (saved?.error) {
      this.store.error(saved.error);
      return false;
    }
    return true;
  }

  /** Saves the profile (preview and submit read it from its file, as the CLI would), then previews or submits. */
  private async slurmAction(kind: 'preview' | 'submit'): Promise<void> {
    const { params } = slurmJobRequest(this.state.persisted.slurm);
    if (!params || !(await this.saveCluster())) return;
    if (kind === 'preview') {
      const r = await this.call('slurm', () => this.host.request('slurm.preview', params));
      if (r) this.store.ui.slurmPreview = r;
    } else {
      const r = await this.call('slurm', () => this.host.request('slurm.submit', params));
      if (r) {
        this.store.ui.slurmSubmitted = r;
        this.info(`Submitted Slurm job ${r.arrayJobId} (merge ${r.mergeJobId}).`);
      }
    }
    this.store.changed();
  }

}
