/**
 * The webview side of the host connection: `acquireVsCodeApi()` once, a MessageChannel over it,
 * and typed getState/setState (VS Code keeps that state while the panel is hidden or moved,
 * so we never need retainContextWhenHidden). In a plain test page, the page supplies
 * `acquireVsCodeApi` itself.
 */
import { MessageChannel, type NotificationMap, type RequestMap } from '../../src/protocol/ipc.js';

export interface VsCodeApi<S> {
  postMessage(message: unknown): void;
  getState(): S | undefined;
  setState(state: S): void;
}

declare global {
  // Provided by VS Code inside webviews (and by test pages).
  function acquireVsCodeApi<S = unknown>(): VsCodeApi<S>;
}

let api: VsCodeApi<unknown> | undefined;

/** The one VS Code API object (it may only be acquired once per page). */
export function vscodeApi<S>(): VsCodeApi<S> {
  if (!api) {
    if (typeof acquireVsCodeApi !== 'function') throw new Error('acquireVsCodeApi is not available: not running inside a VS Code webview');
    api = acquireVsCodeApi<unknown>();
  }
  return api as VsCodeApi<S>;
}

/**
 * Connect to the host: listens for messages, then says `ready` (the host queues its
 * notifications until then). `InReq`/`InNote` are what the webview receives.
 */
export function connectToHost<OutReq extends RequestMap, InNote extends NotificationMap, OutNote extends NotificationMap = Record<string, never>>(): MessageChannel<Record<string, never>, OutReq, InNote, OutNote> {
  const vscode = vscodeApi();
  const channel = new MessageChannel<Record<string, never>, OutReq, InNote, OutNote>((m) => vscode.postMessage(m));
  window.addEventListener('message', (e: MessageEvent) => void channel.receive(e.data));
  channel.sendReady();
  return channel;
}

/** Persisted UI state: merged updates, so separate views can own separate keys. */
export class PersistedState<S extends object> {
  private state: S;
  constructor(defaults: S) {
    const saved = vscodeApi<S>().getState();
    this.state = { ...defaults, ...(saved && typeof saved === 'object' ? saved : {}) };
  }
  get value(): Readonly<S> {
    return this.state;
  }
  update(patch: Partial<S>): void {
    this.state = { ...this.state, ...patch };
    vscodeApi<S>().setState(this.state);
  }
}
