/** The Endpoints tab: list, add, edit, remove and test endpoint profiles (and pools). */
import { html, nothing, type TemplateResult } from 'lit';
import { customElement } from 'lit/decorators.js';
import { StudioView } from '../parts/base.js';
import { targetValue } from '../store.js';
import type { EndpointProfile } from '../../../src/protocol/studio.js';
import { formatServerLines, parseServerLines } from '../logic/servers.js';
import { errorText, type EndpointFormState } from '../store.js';

@customElement('sdg-endpoints-tab')
export class SdgEndpointsTab extends StudioView {
  override render(): TemplateResult {
    const s = this.state;
    const form = this.store.ui.endpointForm;
    return html`
      <div class="row">
        <vscode-button @click=${() => { this.store.ui.endpointForm = { name: '', baseUrl: 'http://127.0.0.1:8000/v1', model: '', apiKind: 'chat', serversText: 'http://127.0.0.1:8000/v1' }; this.store.changed(); }}>Add endpoint</vscode-button>
        <span class="muted">Endpoints are kept in the sdg.endpoints setting; API keys in VS Code's secret storage.</span>
      </div>
      ${form ? this.renderEndpointForm(form) : nothing}
      ${s.endpoints.length ? nothing : html`<p class="muted">No endpoints yet.</p>`}
      ${s.endpoints.map(({ profile, hasKey }) => {
        const test = this.store.ui.endpointTests.get(profile.name);
        return html`<div class="card endpoint" data-endpoint=${profile.name}>
          <div class="row"><b>${profile.name}</b> <span class="badge">${profile.apiKind}${profile.formatter ? ` / ${profile.formatter}` : ''}</span> ${profile.preset ? html`<span class="badge">${profile.preset}</span>` : nothing}
            <span class="grow"></span>
            <vscode-button secondary ?disabled=${!s.trusted || test === 'testing'} @click=${() => void this.testEndpoint(profile.name)}>Test</vscode-button>
            <vscode-button secondary @click=${() => { this.store.ui.endpointForm = { ...profile, previousName: profile.name, serversText: formatServerLines(profile) }; this.store.changed(); }}>Edit</vscode-button>
            <vscode-button secondary @click=${() => void this.removeEndpoint(profile.name)}>Remove</vscode-button>
          </div>
          <div class="mono muted">${profile.servers?.length ? `pool of ${profile.servers.length} servers` : profile.baseUrl} · ${profile.model} · ${hasKey ? 'key stored' : 'no key'}</div>
          ${profile.servers?.length ? html`<ul class="pool-servers">${profile.servers.map((srv) => {
            const st = test && test !== 'testing' ? test.servers?.find((x) => x.baseUrl === srv.baseUrl) : undefined;
            return html`<li class="mono" data-server=${srv.baseUrl}>${srv.baseUrl}${srv.weight !== undefined ? ` · weight ${srv.weight}` : ''}${srv.maxConcurrency !== undefined ? ` · max ${srv.maxConcurrency}` : ''}${st ? html` <span class=${st.ok ? 'ok' : 'error'}>${st.ok ? `${st.latencyMs} ms` : st.error}</span>` : nothing}</li>`;
          })}</ul>` : nothing}
          ${test === 'testing' ? html`<div class="row"><vscode-progress-ring></vscode-progress-ring> testing…</div>` : nothing}
          ${test && test !== 'testing'
            ? test.ok
              ? html`<div class="ok endpoint-test">Reachable in ${test.latencyMs} ms. Models: ${test.models.length ? test.models.join(', ') : '(the server lists none)'}</div>`
              : html`<div class="error endpoint-test">${test.error}</div>`
            : nothing}
        </div>`;
      })}
    `;
  }

  private renderEndpointForm(form: EndpointFormState): TemplateResult {
    const set = (patch: Partial<EndpointFormState>) => {
      this.store.ui.endpointForm = { ...form, ...patch };
      this.store.changed();
    };
    const num = (v: string) => (v.trim() ? Number(v) : undefined);
    return html`<div class="card">
      <h3>${form.previousName ? `Edit ${form.previousName}` : 'New endpoint'}</h3>
      <div class="col">
        <vscode-form-group variant="vertical"><vscode-label required>Name</vscode-label><vscode-textfield aria-label="Name" .value=${form.name} @input=${(e: Event) => set({ name: targetValue(e) })}></vscode-textfield></vscode-form-group>
        <vscode-form-group variant="vertical"><vscode-label required>Base URL(s)</vscode-label><vscode-textarea class="wide" rows="3" aria-label="Base URLs" .value=${form.serversText} @input=${(e: Event) => set({ serversText: targetValue(e) })}></vscode-textarea><vscode-form-helper>OpenAI-compatible API root, usually ending in /v1. Several servers serving the same model make a pool: one per line (or separated by commas), optionally followed by <span class="mono">#weight=2&amp;max=64</span> (share of the traffic, requests in flight on that server): the same syntax as <i>SDG: Add Endpoint...</i> and the CLI's <span class="mono">--base-url</span>.</vscode-form-helper></vscode-form-group>
        ${(() => {
          const parsed = parseServerLines(form.serversText);
          return parsed.problems.length ? html`<ul class="issues servers-issues">${parsed.problems.map((x) => html`<li>${x}</li>`)}</ul>` : parsed.servers ? html`<p class="muted servers-note">A pool of ${parsed.servers.length} server${parsed.servers.length === 1 ? '' : 's'}: each request goes to the least busy healthy one.</p>` : nothing;
        })()}
        <vscode-form-group variant="vertical"><vscode-label required>Model</vscode-label><vscode-textfield aria-label="Model" .value=${form.model} @input=${(e: Event) => set({ model: targetValue(e) })}></vscode-textfield></vscode-form-group>
        <vscode-form-group variant="vertical"><vscode-label>API</vscode-label>
          <vscode-single-select aria-label="API kind" .value=${form.apiKind} @change=${(e: Event) => set({ apiKind: targetValue(e) as EndpointProfile['apiKind'] })}>
            <vscode-option value="chat" ?selected=${form.apiKind === 'chat'}>chat (chat completions)</vscode-option>
            <vscode-option value="completions" ?selected=${form.apiKind === 'completions'}>completions (raw prompt + formatter)</vscode-option>
          </vscode-single-select></vscode-form-group>
        ${form.apiKind === 'completions'
          ? html`<vscode-form-group variant="vertical"><vscode-label>Conversation formatter</vscode-label>
              <vscode-single-select aria-label="Formatter" .value=${form.formatter ?? ''} @change=${(e: Event) => set({ formatter: (targetValue(e) || undefined) as EndpointProfile['formatter'] })}>
                ${['', 'llama3', 'chatml', 'mixtral', 'llama2', 'nemotron', 'none'].map((f) => html`<vscode-option value=${f} ?selected=${(form.formatter ?? '') === f}>${f || '(choose)'}</vscode-option>`)}
              </vscode-single-select></vscode-form-group>`
          : nothing}
        <vscode-form-group variant="vertical"><vscode-label>Server kind (preset)</vscode-label>
          <vscode-single-select aria-label="Preset" .value=${form.preset ?? ''} @change=${(e: Event) => set({ preset: (targetValue(e) || undefined) as EndpointProfile['preset'] })}>
            ${['', 'vllm', 'sglang', 'tensorrt-llm', 'nim', 'llamacpp', 'ollama', 'nvidia', 'openai', 'custom'].map((x) => html`<vscode-option value=${x} ?selected=${(form.preset ?? '') === x}>${x || '(none)'}</vscode-option>`)}
          </vscode-single-select><vscode-form-helper>Sets sensible defaults (time-out, concurrency, rate limits) for that kind of server.</vscode-form-helper></vscode-form-group>
        <div class="form-grid">
          <vscode-form-group variant="vertical"><vscode-label>Max concurrency</vscode-label><vscode-textfield aria-label="Max concurrency" type="number" min="1" .value=${form.maxConcurrency ? String(form.maxConcurrency) : ''} @input=${(e: Event) => set({ maxConcurrency: num(targetValue(e)) })}></vscode-textfield></vscode-form-group>
          <vscode-form-group variant="vertical"><vscode-label>Requests / minute</vscode-label><vscode-textfield aria-label="Requests per minute" type="number" min="1" .value=${form.requestsPerMinute ? String(form.requestsPerMinute) : ''} @input=${(e: Event) => set({ requestsPerMinute: num(targetValue(e)) })}></vscode-textfield></vscode-form-group>
          <vscode-form-group variant="vertical"><vscode-label>Tokens / minute</vscode-label><vscode-textfield aria-label="Tokens per minute" type="number" min="1" .value=${form.tokensPerMinute ? String(form.tokensPerMinute) : ''} @input=${(e: Event) => set({ tokensPerMinute: num(targetValue(e)) })}></vscode-textfield></vscode-form-group>
          <vscode-form-group variant="vertical"><vscode-label>Time-out (s)</vscode-label><vscode-textfield aria-label="Time-out in seconds" type="text" .value=${form.timeoutMs ? String(form.timeoutMs / 1000) : ''} @input=${(e: Event) => { const secs = num(targetValue(e)); set({ timeoutMs: secs === undefined ? undefined : Math.round(secs * 1000) }); }}></vscode-textfield></vscode-form-group>
        </div>
        <vscode-form-group variant="vertical"><vscode-label>API key</vscode-label><vscode-textfield aria-label="API key" type="password" placeholder=${form.previousName ? '(unchanged)' : '(none)'} .value=${form.apiKey ?? ''} @input=${(e: Event) => set({ apiKey: targetValue(e) })}></vscode-textfield><vscode-form-helper>Stored in VS Code's secret storage, never in settings.</vscode-form-helper></vscode-form-group>
      </div>
      <div class="row">
        <vscode-button ?disabled=${this.busy.has('epsave')} @click=${() => void this.saveEndpoint(form)}>Save</vscode-button>
        <vscode-button secondary @click=${() => { this.store.ui.endpointForm = null; this.store.changed(); }}>Cancel</vscode-button>
      </div>
    </div>`;
  }

  private async saveEndpoint(form: EndpointFormState): Promise<void> {
    const { apiKey, previousName, serversText, ...profile } = form;
    const parsed = parseServerLines(serversText);
    if (parsed.problems.length) {
      this.store.error(`Base URL(s): ${parsed.problems.join('; ')}`);
      return;
    }
    profile.baseUrl = parsed.baseUrl;
    profile.servers = parsed.servers;
    for (const k of Object.keys(profile) as Array<keyof EndpointProfile>) if (profile[k] === undefined || profile[k] === '') delete profile[k];
    const r = await this.call('epsave', () => this.host.request('endpoints.save', { profile, previousName, apiKey: apiKey || undefined }));
    if (r) {
      this.store.ui.endpointForm = null;
      this.dispatch({ type: 'endpoints', endpoints: r });
    }
  }

  private async removeEndpoint(name: string): Promise<void> {
    const r = await this.call('epremove', () => this.host.request('endpoints.remove', { name }));
    if (r) this.dispatch({ type: 'endpoints', endpoints: r });
  }

  private async testEndpoint(name: string): Promise<void> {
    this.store.ui.endpointTests.set(name, 'testing');
    this.store.changed();
    try {
      this.store.ui.endpointTests.set(name, await this.host.request('endpoints.test', { name }));
    } catch (e) {
      this.store.ui.endpointTests.set(name, { ok: false, latencyMs: null, models: [], error: errorText(e) });
    }
    this.store.changed();
  }
}
