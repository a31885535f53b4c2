/**
 * The "Base URL(s)" field of the endpoint form, in the one syntax the "SDG: Add Endpoint..."
 * command and the CLI's `--base-url` also use (src/core/llm/serverSpec.ts): servers separated
 * by new lines or commas, each `URL` optionally with `#weight=2&max=64`. One plain URL is an
 * ordinary endpoint; several, or one with options, make a pool (`servers`). The host checks the
 * result again with the core's validatePoolServers.
 */
import { formatServerList, parseServerList } from '../../../src/core/llm/serverSpec';
import type { PoolServer } from '../../../src/protocol/studio';

export interface ParsedServers {
  baseUrl: string;
  /** Set for a pool. */
  servers?: PoolServer[];
  problems: string[];
}

export function parseServerLines(text: string): ParsedServers {
  const r = parseServerList(text);
  return { baseUrl: r.baseUrl, servers: r.pool ? r.servers : undefined, problems: r.problems };
}

/** The field's text for a profile (the inverse of parseServerLines): one server per line. */
export function formatServerLines(profile: { baseUrl: string; servers?: PoolServer[] }): string {
  return formatServerList(profile, '\n');
}
