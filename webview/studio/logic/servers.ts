/**
 * The "Base URL(s)" field of the endpoint form: one server per line, optionally with its share
 * of the traffic and its own limit, as `http://gpu2:8000/v1 weight=2 max=64` (the CLI's
 * `URL#weight=2&max=64` works too). One plain line is an ordinary endpoint; several lines, or
 * one with options, make a pool (`servers`). The host checks the result with the core's
 * validatePoolServers; this only turns text into fields and names the line of a typo.
 */
import type { PoolServer } from '../../../src/shared/protocol/studio';

export interface ParsedServers {
  baseUrl: string;
  /** Set for a pool. */
  servers?: PoolServer[];
  problems: string[];
}

export function parseServerLines(text: string): ParsedServers {
  const problems: string[] = [];
  const servers: PoolServer[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (!line || line.startsWith('#')) return;
    const [first, ...rest] = line.split(/\s+/);
    const hash = first.indexOf('#');
    const server: PoolServer = { baseUrl: hash < 0 ? first : first.slice(0, hash) };
    const options = [...(hash < 0 ? [] : first.slice(hash + 1).split('&')), ...rest].filter(Boolean);
    for (const opt of options) {
      const [k, v = ''] = opt.split('=');
      const n = Number(v);
      if (k === 'weight') {
        if (v && Number.isFinite(n) && n > 0) server.weight = n;
        else problems.push(`line ${i + 1}: weight must be a positive number, got "${v}"`);
      } else if (k === 'max' || k === 'maxConcurrency') {
        if (v && Number.isInteger(n) && n > 0) server.maxConcurrency = n;
        else problems.push(`line ${i + 1}: max must be a whole number >= 1, got "${v}"`);
      } else {
        problems.push(`line ${i + 1}: unknown option "${opt}" (weight=W, max=M)`);
      }
    }
    servers.push(server);
  });
  if (!servers.length) return { baseUrl: '', problems: ['base URL: required (e.g. http://127.0.0.1:8000/v1)'] };
  const pool = servers.length > 1 || servers.some((s) => s.weight !== undefined || s.maxConcurrency !== undefined);
  return { baseUrl: servers[0].baseUrl, servers: pool ? servers : undefined, problems };
}

/** The field's text for a profile (the inverse of parseServerLines). */
export function formatServerLines(profile: { baseUrl: string; servers?: PoolServer[] }): string {
  if (!profile.servers?.length) return profile.baseUrl;
  return profile.servers
    .map((s) => [s.baseUrl, s.weight !== undefined ? `weight=${s.weight}` : '', s.maxConcurrency !== undefined ? `max=${s.maxConcurrency}` : ''].filter(Boolean).join(' '))
    .join('\n');
}
