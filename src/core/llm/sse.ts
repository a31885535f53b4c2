/**
 * Reassembles a streamed (server-sent events) chat or completions answer into the shape of the
 * non-streamed answer, so the client parses both the same way. Bytes may arrive split anywhere:
 * inside a UTF-8 character, a line, or an event.
 */

export class SseError extends Error {
  override readonly name = 'SseError';
  constructor(
    /**
     * 'error_event': the server sent an error object; 'bad_json': a data line is not JSON;
     * 'incomplete': ended early; 'too_large': the answer outgrew the size limit.
     */
    readonly reason: 'error_event' | 'bad_json' | 'incomplete' | 'too_large',
    message: string,
    /** HTTP-like status an error event carried (`code: 500`), if any. */
    readonly status?: number,
  ) {
    super(message);
  }
}

interface ChoiceAcc {
  index: number;
  content: string;
  reasoning: string;
  finishReason: string | null;
}

export class SseAggregator {
  private readonly decoder = new TextDecoder();
  private pending = '';
  private data: string[] = [];
  private readonly choices = new Map<number, ChoiceAcc>();
  private usage: unknown;
  private model: string | undefined;
  private done = false;
  private events = 0;
  /** Characters of answer text kept so far (all choices). */
  private kept = 0;

  /**
   * `maxSize`: the most characters held at once (answer text kept plus the line being read);
   * beyond it `too_large` is thrown, so a runaway stream cannot take the process's memory.
   */
  constructor(private readonly maxSize = Infinity) {}

  pushBytes(chunk: Uint8Array): void {
    this.pushText(this.decoder.decode(chunk, { stream: true }));
  }

  pushText(text: string): void {
    if (this.done) return;
    let buf = this.pending + text;
    let start = 0;
    for (let i = 0; i < buf.length; i++) {
      const ch = buf.charCodeAt(i);
      if (ch !== 10 && ch !== 13) continue;
      // A CR at the very end may be the first half of CRLF: wait for the next piece.
      if (ch === 13 && i === buf.length - 1) break;
      this.line(buf.slice(start, i));
      if (this.done) {
        this.pending = '';
        return;
      }
      if (ch === 13 && buf.charCodeAt(i + 1) === 10) i++;
      start = i + 1;
    }
    buf = buf.slice(start);
    this.pending = buf;
    if (buf.length + this.kept > this.maxSize) this.tooLarge();
  }

  private tooLarge(): never {
    this.pending = '';
    this.data = [];
    this.choices.clear();
    throw new SseError('too_large', `the streamed answer is over the ${this.maxSize} limit`);
  }

  /** The answer in non-streamed shape. Throws SseError if the stream did not complete. */
  finish(kind: 'chat' | 'completions'): { model?: string; choices: unknown[]; usage?: unknown } {
    if (!this.done) {
      // A last event without its closing blank line still counts.
      this.pushText(this.decoder.decode());
      if (this.pending) { this.line(this.pending); this.pending = ''; }
      if (this.data.length) this.dispatch();
    }
    const list = [...this.choices.values()].sort((a, b) => a.index - b.index);
    if (!this.done && (list.length === 0 || list.some((c) => c.finishReason === null))) {
      throw new SseError('incomplete', `the stream ended before the answer was complete (${this.events} events, no [DONE])`);
    }
    const choices = list.map((c) => kind === 'chat'
      ? { index: c.index, message: { role: 'assistant', content: c.content, ...(c.reasoning ? { reasoning_content: c.reasoning } : {}) }, finish_reason: c.finishReason }
      : { index: c.index, text: c.content, finish_reason: c.finishReason });
    return { model: this.model, choices, usage: this.usage };
  }

  private line(line: string): void {
    if (line === '') {
      if (this.data.length) this.dispatch();
      return;
    }
    if (line.charCodeAt(0) === 58) return; // ':' comment / keep-alive
    if (line.startsWith('data:')) this.data.push(line.charCodeAt(5) === 32 ? line.slice(6) : line.slice(5));
    // `event:`, `id:`, `retry:` carry nothing we need.
  }

  private dispatch(): void {
    const payload = this.data.join('\n');
    this.data = [];
    this.events++;
    if (payload.trim() === '[DONE]') {
      this.done = true;
      return;
    }
    let obj: any;
    try {
      obj = JSON.parse(payload);
    } catch {
      throw new SseError('bad_json', `a stream event is not JSON: ${payload.slice(0, 80)}`);
    }
    if (obj?.error !== undefined || obj?.object === 'error') {
      const err = obj.error ?? obj;
      const message = typeof err === 'string' ? err : typeof err?.message === 'string' ? err.message : JSON.stringify(err).slice(0, 300);
      const code = Number(err?.code ?? err?.status);
      throw new SseError('error_event', message, Number.isInteger(code) && code >= 400 && code < 600 ? code : undefined);
    }
    if (typeof obj?.model === 'string' && obj.model) this.model = obj.model;
    if (obj?.usage) this.usage = obj.usage;
    if (!Array.isArray(obj?.choices)) return;
    for (const c of obj.choices) {
      const index = typeof c?.index === 'number' ? c.index : 0;
      let acc = this.choices.get(index);
      if (!acc) {
        acc = { index, content: '', reasoning: '', finishReason: null };
        this.choices.set(index, acc);
      }
      const delta = c.delta;
      if (delta) {
        if (typeof delta.content === 'string') { acc.content += delta.content; this.kept += delta.content.length; }
        const r = delta.reasoning_content ?? delta.reasoning;
        if (typeof r === 'string') { acc.reasoning += r; this.kept += r.length; }
      } else if (typeof c.text === 'string') { acc.content += c.text; this.kept += c.text.length; }
      if (typeof c.finish_reason === 'string') acc.finishReason = c.finish_reason;
    }
    if (this.kept > this.maxSize) this.tooLarge();
  }
}
