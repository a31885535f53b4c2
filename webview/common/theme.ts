/**
 * Shared styles for SDG webviews: only VS Code theme variables (--vscode-*), so every colour
 * theme, high contrast included, works. Lit adopts these as constructable stylesheets, which the
 * strict CSP (style-src with a nonce, no unsafe-inline) allows.
 */
import { css } from 'lit';

export const baseStyles = css`
  :host {
    display: block;
    color: var(--vscode-foreground);
    font-family: var(--vscode-font-family);
    font-size: var(--vscode-font-size);
  }
  a { color: var(--vscode-textLink-foreground); text-decoration: none; }
  a:hover, a:active { color: var(--vscode-textLink-activeForeground, var(--vscode-textLink-foreground)); text-decoration: underline; }
  a:focus-visible { outline: 1px solid var(--vscode-focusBorder); outline-offset: 1px; }
  .muted { color: var(--vscode-descriptionForeground); }
  .error { color: var(--vscode-errorForeground); }
  .warning { color: var(--vscode-editorWarning-foreground); }
  .ok { color: var(--vscode-testing-iconPassed, var(--vscode-foreground)); }
  .mono, pre, code { font-family: var(--vscode-editor-font-family); font-size: var(--vscode-editor-font-size); }
  pre {
    white-space: pre-wrap;
    word-break: break-word;
    background: var(--vscode-textCodeBlock-background);
    padding: 8px;
    border-radius: 2px;
    margin: 4px 0;
  }
  .row { display: flex; gap: 8px; align-items: center; flex-wrap: wrap; }
  .col { display: flex; flex-direction: column; gap: 6px; }
  .card {
    border: 1px solid var(--vscode-panel-border, var(--vscode-widget-border, transparent));
    border-radius: 4px;
    padding: 8px 12px;
    margin: 6px 0;
  }
  .badge {
    display: inline-block;
    padding: 0 6px;
    border-radius: 8px;
    background: var(--vscode-badge-background);
    color: var(--vscode-badge-foreground);
    font-size: 11px;
  }
  .issues { margin: 4px 0; padding-left: 18px; color: var(--vscode-errorForeground); }
  h2 { font-size: 1.2em; font-weight: 600; margin: 12px 0 6px; }
  h3 { font-size: 1.05em; font-weight: 600; margin: 10px 0 4px; }
  .grow { flex: 1 1 auto; }
  .bar {
    height: 6px;
    background: var(--vscode-progressBar-background);
    border-radius: 3px;
  }
  .bar-track {
    height: 6px;
    background: var(--vscode-editorWidget-background, rgba(128, 128, 128, 0.2));
    border-radius: 3px;
    overflow: hidden;
    min-width: 120px;
  }
  .bar-failed { background: var(--vscode-errorForeground); height: 6px; }
`;

/** 1234567 -> "1.23M", for counters in narrow places. */
export function compactNumber(n: number): string {
  if (!Number.isFinite(n)) return '-';
  const abs = Math.abs(n);
  if (abs >= 1e9) return `${(n / 1e9).toFixed(2)}G`;
  if (abs >= 1e6) return `${(n / 1e6).toFixed(2)}M`;
  if (abs >= 1e4) return `${(n / 1e3).toFixed(1)}k`;
  return Number.isInteger(n) ? String(n) : n.toFixed(1);
}

/** Seconds -> "1h 02m", "3m 05s", "12s". */
export function formatDuration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds) || seconds < 0) return '-';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  if (h) return `${h}h ${String(m).padStart(2, '0')}m`;
  if (m) return `${m}m ${String(sec).padStart(2, '0')}s`;
  return `${sec}s`;
}
