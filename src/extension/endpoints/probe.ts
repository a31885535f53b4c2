/**
 * The endpoint test ("SDG: Test Endpoint...", the Studio's Test button): `/models` of the server,
 * or of every server of a pool, in parallel. No `vscode` import (unit-tested against loopback
 * servers). A pool passes only when every server answers and lists the configured model.
 */
import type { EndpointProfile } from '../../core/llm/types';
import { errorMessage } from '../util/redact';

export interface ServerTestResult {
  baseUrl: string;
  ok: boolean;
  latencyMs: number | null;
  models: string[];
  error: string | null;
}

export interface EndpointTestResult {
  ok: boolean;
  /** The slowest server's latency (one server: its latency). */
  latencyMs: number | null;
  /** Every model any server lists. */
  models: string[];
  error: string | null;
  /** Per server, for pools (absent for a single server). */
  servers?: ServerTestResult[];
}

async function testOne(profile: EndpointProfile, apiKey: string | undefined, timeoutMs: number): Promise<ServerTestResult> {
  const { createClient } = require('../../core/llm/client') as typeof import('../../core/llm/client.js');
  const client = createClient({ ...profile, servers: undefined }, { apiKey, connections: 1, timeoutMs });
  const started = Date.now();
  try {
    const models = await client.listModels();
    const latencyMs = Date.now() - started;
    const error = models.length && !models.includes(profile.model) ? `Reachable, but the server does not list the model "${profile.model}"` : null;
    return { baseUrl: profile.baseUrl, ok: !error, latencyMs, models, error };
  } catch (e) {
    return { baseUrl: profile.baseUrl, ok: false, latencyMs: null, models: [], error: errorMessage(e) };
  } finally {
    await client.close().catch(() => undefined);
  }
}

export async function testEndpointProfile(profile: EndpointProfile, apiKey: string | undefined, timeoutMs = 15_000): Promise<EndpointTestResult> {
  if (!profile.servers?.length) {
    const { baseUrl: _b, ...one } = await testOne(profile, apiKey, timeoutMs);
    return one;
  }
  const servers = await Promise.all(profile.servers.map((s) => testOne({ ...profile, baseUrl: s.baseUrl }, apiKey, timeoutMs)));
  const bad = servers.filter((s) => !s.ok);
  const latencies = servers.map((s) => s.latencyMs).filter((x): x is number => x !== null);
  return {
    ok: bad.length === 0,
    latencyMs: latencies.length ? Math.max(...latencies) : null,
    models: [...new Set(servers.flatMap((s) => s.models))],
    error: bad.length ? `${bad.length} of ${servers.length} servers failed: ${bad.map((s) => `${s.baseUrl}: ${s.error}`).join('; ')}` : null,
    servers,
  };
}
