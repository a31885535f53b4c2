/**
 * Renders engine progress events for the CLI: a one-line bar redrawn in place on a TTY, plain
 * periodic lines otherwise (CI logs, `| tee`), so logs stay readable and small.
 */
import { redactSecrets } from '../core/redact';
import type { ProgressEvent } from '../core/engine/progress';

export interface ProgressOutput {
  write(text: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export interface ProgressRendererOptions {
  /** Default process.stderr (stdout may carry data). */
  stream?: ProgressOutput;
  /** Prefix, e.g. the job or stage name. */
  label?: string;
  /** Non-TTY: at most one line per this many ms (the final line always prints). Default 10 000. */
  plainIntervalMs?: number;
  /** TTY: at most one redraw per this many ms. Default 100. */
  ttyIntervalMs?: number;
  /** Force TTY or plain mode. Default: stream.isTTY. */
  tty?: boolean;
  now?: () => number;
}

export class ProgressRenderer {
  private readonly stream: ProgressOutput;
  private readonly tty: boolean;
  private readonly label: string;
  private readonly plainIntervalMs: number;
  private readonly ttyIntervalMs: number;
  private readonly now: () => number;
  private lastDraw = -Infinity;
  private drawn = false;
  private finished = false;
  private last: ProgressEvent | null = null;

  constructor(options: ProgressRendererOptions = {}) {
    this.stream = options.stream ?? process.stderr;
    this.tty = options.tty ?? Boolean(this.stream.isTTY);
    this.label = options.label ?? '';
    this.plainIntervalMs = options.plainIntervalMs ?? 10_000;
    this.ttyIntervalMs = options.ttyIntervalMs ?? 100;
    this.now = options.now ?? Date.now;
  }

  /** Feed every progress event here (e.g. `onProgress: (e) => renderer.update(e)`). */
  update(event: ProgressEvent): void {
    if (this.finished) return;
    this.last = event;
    if (event.final) return this.finish(event);
    const now = this.now();
    if (now - this.lastDraw < (this.tty ? this.ttyIntervalMs : this.plainIntervalMs)) return;
    this.lastDraw = now;
    this.draw(event);
  }

  /** Prints a message without garbling the bar (the bar is redrawn below it). */
  log(message: string): void {
    if (this.tty && this.drawn) this.stream.write('\r\x1b[K');
    this.stream.write(message.endsWith('\n') ? message : message + '\n');
    if (this.tty && this.last && !this.finished) this.draw(this.last);
  }

  /** Draws the last state and ends the line. Safe to call twice. */
  finish(event?: ProgressEvent): void {
    if (this.finished) return;
    const e = event ?? this.last;
    if (e) this.draw(e);
    if (this.tty && this.drawn) this.stream.write('\n');
    this.finished = true;
  }

  private draw(e: ProgressEvent): void {
    if (this.tty) {
      const width = Math.max(40, (this.stream.columns ?? 100) - 1);
      this.stream.write('\r\x1b[K' + formatProgressLine(e, width, this.label));
      this.drawn = true;
    } else {
      this.stream.write(formatPlainLine(e, this.label) + '\n');
    }
  }
}

export function createProgressRenderer(options: ProgressRendererOptions = {}): ProgressRenderer {
  return new ProgressRenderer(options);
}

/** "1,234", "99,999", "123k", "4.5M" */
export function formatCount(n: number): string {
  if (n < 100_000) return Math.round(n).toLocaleString('en-US');
  if (n < 1_000_000) return `${(n / 1000).toFixed(0)}k`;
  return `${(n / 1_000_000).toFixed(n < 100_000_000 ? 1 : 0)}M`;
}

/** "45s", "3m12s", "2h05m", "3d04h" */
export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(s % 60).padStart(2, '0')}s`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h${String(m % 60).padStart(2, '0')}m`;
  return `${Math.floor(h / 24)}d${String(h % 24).padStart(2, '0')}h`;
}

function rate(n: number): string {
  return n >= 100 ? formatCount(n) : n >= 10 ? n.toFixed(1) : n.toFixed(2);
}

function percent(e: ProgressEvent): number | null {
  if (e.total === null || e.total <= 0) return null;
  return Math.min(100, ((e.done + e.failed) / e.total) * 100);
}

/** The TTY line, fitted to `width` columns by dropping the least important parts first. */
export function formatProgressLine(e: ProgressEvent, width: number, label = ''): string {
  const pct = percent(e);
  const counts = e.total === null ? `${formatCount(e.done + e.failed)} items` : `${formatCount(e.done + e.failed)}/${formatCount(e.total)}`;
  const failed = e.failed > 0 ? ` ✗${formatCount(e.failed)}` : '';
  const conc = e.concurrency < e.maxConcurrency ? `${e.inFlight} running (limit ${e.concurrency}/${e.maxConcurrency})` : `${e.inFlight} running`;
  const speed = `${rate(e.requestsPerSec)} req/s ${rate(e.tokensPerSec)} tok/s`;
  const eta = e.final ? `in ${formatDuration(e.elapsedMs)}` : e.etaMs === null ? '' : `ETA ${formatDuration(e.etaMs)}`;
  const waiting = e.rateLimited > 0 ? `${e.rateLimited} waiting for rate limit` : '';
  const lastError = e.lastErrors.length > 0 ? `last error: ${redactSecrets(e.lastErrors[e.lastErrors.length - 1]).replace(/\s+/g, ' ')}` : '';
  const head = (label ? `${label} ` : '') + (pct === null ? '' : `${pct.toFixed(1).padStart(5)}% `) + counts + failed;
  // Optional parts in order of importance; each is kept only if it still fits.
  const optional = [eta, speed, conc, waiting, lastError].filter(Boolean);
  let line = head;
  const barWidth = pct === null ? 0 : Math.min(30, Math.max(10, Math.floor(width / 5)));
  const withBar = (s: string) => {
    if (barWidth === 0) return s;
    const filled = Math.round(((pct ?? 0) / 100) * barWidth);
    return `${s.slice(0, label ? label.length + 1 : 0)}[${'█'.repeat(filled)}${'░'.repeat(barWidth - filled)}] ${s.slice(label ? label.length + 1 : 0)}`;
  };
  for (const part of optional) {
    const candidate = `${line} | ${part}`;
    if (withBar(candidate).length <= width) line = candidate;
    else if (part === lastError) {
      const room = width - withBar(`${line} | `).length - 1;
      if (room > 20) line = `${line} | ${part.slice(0, room)}…`;
    }
  }
  const out = withBar(line);
  return out.length <= width ? out : out.slice(0, width - 1) + '…';
}

/** One plain log line (non-TTY). */
export function formatPlainLine(e: ProgressEvent, label = ''): string {
  const pct = percent(e);
  const parts = [
    `${formatCount(e.done)} done` + (e.total !== null ? ` of ${formatCount(e.total)}` : '') + (pct !== null ? ` (${pct.toFixed(1)}%)` : ''),
    `${formatCount(e.failed)} failed`,
    `${e.inFlight} running` + (e.concurrency < e.maxConcurrency ? ` (limit ${e.concurrency}/${e.maxConcurrency})` : ''),
    `${rate(e.requestsPerSec)} req/s, ${rate(e.tokensPerSec)} tok/s`,
  ];
  if (e.final) parts.push(`finished in ${formatDuration(e.elapsedMs)}`);
  else if (e.etaMs !== null) parts.push(`ETA ${formatDuration(e.etaMs)}`);
  if (e.retries > 0) parts.push(`${formatCount(e.retries)} retries`);
  if (e.lastErrors.length > 0) parts.push(`last error: ${redactSecrets(e.lastErrors[e.lastErrors.length - 1]).replace(/\s+/g, ' ').slice(0, 200)}`);
  return (label ? `${label}: ` : '') + parts.join(', ');
}
