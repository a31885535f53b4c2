/**
 * A throwaway copy of the sample workspace (sample/: a GSM8K slice, a pipeline copy), with an
 * endpoint preconfigured in .vscode/settings.json. Shared by the e2e tests and `npm start`.
 */
import { cpSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from './setup';

export const SAMPLE_DIR = join(REPO_ROOT, 'sample');

/**
 * The name says it plainly: this model's weights are random, its text is gibberish. (Endpoint
 * names allow letters, digits, '.', '_', '-' and spaces: src/extension/endpoints/profiles.ts.)
 */
export const LOCAL_TINY_ENDPOINT_NAME = 'local-tiny - random weights';

export interface EndpointSetting {
  name: string;
  baseUrl: string;
  model: string;
  apiKind?: 'chat' | 'completions';
  preset?: string;
  maxConcurrency?: number;
}

export function localTinyEndpoint(baseUrl: string, model: string, parallel: number): EndpointSetting {
  return { name: LOCAL_TINY_ENDPOINT_NAME, baseUrl, model, apiKind: 'chat', preset: 'llamacpp', maxConcurrency: parallel };
}

/** Copies sample/ into `dest` (existing files are kept: a user's edits survive a restart). */
export function copySample(dest: string): void {
  mkdirSync(dest, { recursive: true });
  cpSync(SAMPLE_DIR, dest, { recursive: true, force: false, errorOnExist: false });
}

function readSettings(dir: string): Record<string, unknown> {
  const file = join(dir, '.vscode', 'settings.json');
  if (!existsSync(file)) return {};
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  } catch (e) {
    throw new Error(`${file} is not plain JSON (${(e as Error).message}); fix or remove it`);
  }
}

export function configuredEndpoints(dir: string): EndpointSetting[] {
  const eps = readSettings(dir)['sdg.endpoints'];
  return Array.isArray(eps) ? (eps as EndpointSetting[]) : [];
}

/** Sets `sdg.endpoints` to exactly `endpoints`, keeping the other settings. */
export function setEndpoints(dir: string, endpoints: EndpointSetting[]): void {
  const settings = readSettings(dir);
  settings['sdg.endpoints'] = endpoints;
  mkdirSync(join(dir, '.vscode'), { recursive: true });
  writeFileSync(join(dir, '.vscode', 'settings.json'), JSON.stringify(settings, null, 2) + '\n');
}

/** Adds or replaces `endpoints` (by name), keeping every other endpoint configured there. */
export function writeEndpoints(dir: string, endpoints: EndpointSetting[]): void {
  const names = new Set(endpoints.map((e) => e.name));
  setEndpoints(dir, [...endpoints, ...configuredEndpoints(dir).filter((e) => !names.has(e.name))]);
}
