/**
 * The webview end of the viewer protocol. Works in VS Code and in any page that defines a
 * stand-in `acquireVsCodeApi` and answers the protocol (test pages).
 */
import { MessageChannel, type WireMessage } from '../../src/protocol/ipc.js';
import type { ViewerHostNotifications, ViewerRequests, ViewerWebviewNotifications } from '../../src/protocol/viewer.js';

interface VsCodeApi {
  postMessage(msg: unknown): void;
  getState(): unknown;
  setState(state: unknown): void;
}

declare function acquireVsCodeApi(): VsCodeApi;

export const vscodeApi: VsCodeApi = acquireVsCodeApi();

export type ViewerChannel = MessageChannel<Record<string, never>, ViewerRequests, ViewerHostNotifications, ViewerWebviewNotifications>;

export function connect(): ViewerChannel {
  const channel: ViewerChannel = new MessageChannel((m: WireMessage) => vscodeApi.postMessage(m));
  window.addEventListener('message', (e: MessageEvent) => void channel.receive(e.data));
  return channel;
}
