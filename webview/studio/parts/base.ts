/**
 * Base of the Studio's tab components: each gets the one store (`.store`) from the root and
 * re-renders when it changes. Shadow DOM with the shared Studio styles.
 */
import { LitElement } from 'lit';
import { property } from 'lit/decorators.js';
import type { PipelineInfo } from '../../../src/protocol/studio.js';
import type { Action, StudioState } from '../logic/state.js';
import type { Host, StudioStore } from '../store.js';
import { studioStyles } from '../styles.js';

export abstract class StudioView extends LitElement {
  static override styles = studioStyles;
  @property({ attribute: false }) store!: StudioStore;
  private unsubscribe: (() => void) | undefined;

  override connectedCallback(): void {
    super.connectedCallback();
    this.unsubscribe = this.store?.subscribe(() => this.requestUpdate());
  }

  override updated(changed: Map<string, unknown>): void {
    if (changed.has('store') && !this.unsubscribe && this.store) this.unsubscribe = this.store.subscribe(() => this.requestUpdate());
  }

  // Short names for what every tab uses.
  protected get state(): StudioState {
    return this.store.state;
  }
  protected get host(): Host {
    return this.store.host;
  }
  protected get busy(): Set<string> {
    return this.store.busy;
  }
  protected get datasets(): string[] {
    return this.store.datasets;
  }
  protected dispatch(action: Action): void {
    this.store.dispatch(action);
  }
  protected call<T>(key: string, fn: () => Promise<T>): Promise<T | undefined> {
    return this.store.call(key, fn);
  }
  protected info(text: string): void {
    this.store.info(text);
  }
  protected selectedPipeline(): PipelineInfo | undefined {
    return this.store.selectedPipeline();
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    this.unsubscribe?.();
    this.unsubscribe = undefined;
  }
}
