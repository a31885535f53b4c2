/**
 * The one text syntax for an endpoint's servers, shared by the Studio's endpoint form and the
 * "SDG: Add Endpoint..." command (the CLI's `--base-url` values use the same form): servers
 * separated by commas or new lines, each `URL` optionally followed by `#weight=2&max=64` (its
 * share of the traffic and its own limit of requests in flight; a URL fragment is never sent,
 * so it is free for options). Pure: also bundled into the Studio webview.
 */
import type { PoolServer } from './types';

export interface ParsedServerList {
  /** The first server's URL ('' when there is none). */
  baseUrl: string;
  /** Every server, in order. */
  servers: PoolServer[];
  /** True when the list makes a pool (several servers, or one with options). */
  pool: boolean;
  /** Problems, each naming the server by its position (and its text). */
  problems: string[];
}

function checkUrl(url: string): string | null {
  if (/\s/.test(url)) return `"${url}" is not a URL (no spaces; e.g. http://127.0.0.1:8000/v1)`;
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return `"${url}" is not a URL (e.g. http://127.0.0.1:8000/v1)`;
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return `"${url}" must start with http:// or https://`;
  return null;
}

/** Parses a server list; never throws. */
export function parseServerList(text: string): ParsedServerList {
  const problems: string[] = [];
  const servers: PoolServer[] = [];
  const items = text
    .split(/[,\r\n]+/)
    .map((x) => x.trim())
    .filter((x) => x && !x.startsWith('//'));
  items.forEach((spec, i) => {
    const at = items.length > 1 ? `server ${i + 1}` : 'base URL';
    const hash = spec.indexOf('#');
    const url = (hash < 0 ? spec : spec.slice(0, hash)).trim();
    const server: PoolServer = { baseUrl: url };
    const bad = checkUrl(url);
    if (bad) problems.push(`${at}: ${bad}`);
    if (hash >= 0) {
      for (const opt of spec.slice(hash + 1).split('&').map((x) => x.trim()).filter(Boolean)) {
        const eq = opt.indexOf('=');
        const k = eq < 0 ? opt : opt.slice(0, eq).trim();
        const v = eq < 0 ? '' : opt.slice(eq + 1).trim();
        const n = Number(v);
        if (k === 'weight') {
          if (v && Number.isFinite(n) && n > 0) server.weight = n;
          else problems.push(`${at}: weight must be a positive number, got "${v}"`);
        } else if (k === 'max' || k === 'maxConcurrency') {
          if (v && Number.isInteger(n) && n > 0) server.maxConcurrency = n;
          else problems.push(`${at}: max must be a whole number >= 1, got "${v}"`);
        } else {
          problems.push(`${at}: unknown option "${k}" after # (weight=W&max=M)`);
        }
      }
    }
    servers.push(server);
  });
  if (!servers.length) problems.push('base URL: required (e.g. http://127.0.0.1:8000/v1)');
  const pool = servers.length > 1 || servers.some((s) => s.weight !== undefined || s.maxConcurrency !== undefined);
  return { baseUrl: servers[0]?.baseUrl ?? '', servers, pool, problems };
}

/** One server as text: `URL` or `URL#weight=2&max=64`. */
export function formatServer(s: PoolServer): string {
  const opts = [s.weight !== undefined ? `weight=${s.weight}` : '', s.maxConcurrency !== undefined ? `max=${s.maxConcurrency}` : ''].filter(Boolean);
  return opts.length ? `${s.baseUrl}#${opts.join('&')}` : s.baseUrl;
}

/** A profile's servers as text, joined by `sep` (", " for an input box, "\n" for a text area). */
export function formatServerList(profile: { baseUrl: string; servers?: PoolServer[] }, sep: string): string {
  if (!profile.servers?.length) return profile.baseUrl;
  return profile.servers.map(formatServer).join(sep);
}
