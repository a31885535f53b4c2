/**
 * The one message protocol between the extension host and every webview (no `vscode` import:
 * the same file is bundled into both sides). Shape, as in vscode-hexeditor's shared/protocol.ts
 * and GitLens' ipc models:
 *   - requests carry an id and get exactly one reply (result or error);
 *   - notifications are one-way;
 *   - the webview sends `ready` once it listens; the host queues notifications until then.
 * Each webview declares its own maps (`src/protocol/*.ts`):
 *   Requests: { [method]: { params: P; result: R } }   (webview -> host)
 *   Notifications: { [method]: P }                      (either direction)
 */

export type RequestMap = Record<string, { params: unknown; result: unknown }>;
export type NotificationMap = Record<string, unknown>;

export interface RequestMessage { kind: 'request'; id: number; method: string; params: unknown }
export interface ReplyMessage { kind: 'reply'; id: number; ok: boolean; result?: unknown; error?: string }
export interface NotificationMessage { kind: 'notify'; method: string; params: unknown }
export interface ReadyMessage { kind: 'ready' }
export type WireMessage = RequestMessage | ReplyMessage | NotificationMessage | ReadyMessage;

/** Structural check of anything that arrives over postMessage; content is validated per method. */
export function parseWireMessage(data: unknown): WireMessage | undefined {
  if (!data || typeof data !== 'object') return undefined;
  const m = data as Record<string, unknown>;
  switch (m.kind) {
    case 'ready':
      return { kind: 'ready' };
    case 'request':
      return Number.isSafeInteger(m.id) && typeof m.method === 'string' ? (m as unknown as RequestMessage) : undefined;
    case 'reply':
      return Number.isSafeInteger(m.id) && typeof m.ok === 'boolean' ? (m as unknown as ReplyMessage) : undefined;
    case 'notify':
      return typeof m.method === 'string' ? (m as unknown as NotificationMessage) : undefined;
    default:
      return undefined;
  }
}

type Handler<Req extends RequestMap, K extends keyof Req> = (params: Req[K]['params']) => Promise<Req[K]['result']> | Req[K]['result'];

/**
 * One side of a connection. `In*` are what this side receives, `Out*` what it sends.
 * The host side uses it with `webview.postMessage` / `onDidReceiveMessage`; the webview side
 * with `acquireVsCodeApi().postMessage` / `window.addEventListener('message')`.
 */
export class MessageChannel<
  InReq extends RequestMap,
  OutReq extends RequestMap,
  InNote extends NotificationMap,
  OutNote extends NotificationMap,
> {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  private readonly requestHandlers = new Map<string, (params: unknown) => unknown>();
  private readonly noteHandlers = new Map<string, Set<(params: unknown) => void>>();
  private peerReady: boolean;
  private readonly queue: WireMessage[] = [];
  private readyListeners: Array<() => void> = [];

  /** `waitForReady`: queue outgoing messages until the peer says `ready` (host side). */
  constructor(private readonly post: (msg: WireMessage) => void, options: { waitForReady?: boolean } = {}) {
    this.peerReady = !options.waitForReady;
  }

  /** Webview side: tell the host we listen. */
  sendReady(): void {
    this.post({ kind: 'ready' });
  }

  onReady(listener: () => void): void {
    if (this.peerReady) listener();
    else this.readyListeners.push(listener);
  }

  handle<K extends keyof InReq & string>(method: K, handler: Handler<InReq, K>): void {
    this.requestHandlers.set(method, handler as (params: unknown) => unknown);
  }

  on<K extends keyof InNote & string>(method: K, listener: (params: InNote[K]) => void): () => void {
    let set = this.noteHandlers.get(method);
    if (!set) this.noteHandlers.set(method, (set = new Set()));
    set.add(listener as (params: unknown) => void);
    return () => set!.delete(listener as (params: unknown) => void);
  }

  request<K extends keyof OutReq & string>(method: K, params: OutReq[K]['params']): Promise<OutReq[K]['result']> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.send({ kind: 'request', id, method, params });
    });
  }

  notify<K extends keyof OutNote & string>(method: K, params: OutNote[K]): void {
    this.send({ kind: 'notify', method, params });
  }

  /** Feed every incoming message here. Unknown or malformed messages are dropped. */
  async receive(data: unknown): Promise<void> {
    const msg = parseWireMessage(data);
    if (!msg) return;
    switch (msg.kind) {
      case 'ready': {
        this.peerReady = true;
        for (const m of this.queue.splice(0)) this.post(m);
        for (const l of this.readyListeners.splice(0)) l();
        return;
      }
      case 'reply': {
        const p = this.pending.get(msg.id);
        if (!p) return;
        this.pending.delete(msg.id);
        if (msg.ok) p.resolve(msg.result);
        else p.reject(new Error(msg.error ?? 'request failed'));
        return;
      }
      case 'notify': {
        for (const l of this.noteHandlers.get(msg.method) ?? []) l(msg.params);
        return;
      }
      case 'request': {
        const handler = this.requestHandlers.get(msg.method);
        if (!handler) {
          this.post({ kind: 'reply', id: msg.id, ok: false, error: `unknown request ${msg.method}` });
          return;
        }
        try {
          const result = await handler(msg.params);
          this.post({ kind: 'reply', id: msg.id, ok: true, result });
        } catch (e) {
          this.post({ kind: 'reply', id: msg.id, ok: false, error: e instanceof Error ? e.message : String(e) });
        }
        return;
      }
    }
  }

  /** Reject every pending request (the panel was closed). */
  dispose(reason = 'channel closed'): void {
    for (const p of this.pending.values()) p.reject(new Error(reason));
    this.pending.clear();
  }

  private send(msg: WireMessage): void {
    if (this.peerReady || msg.kind === 'reply') this.post(msg);
    else this.queue.push(msg);
  }
}
