/**
 * The Studio's labeling form (the job of `sdg generate`, code mode included) as typed, and its
 * check into the `runs.label` request. Pure: unit-tested without a browser.
 */
import type { LabelParams } from '../../../src/protocol/studio';

/** The labeling form as typed (numbers as text until launch). */
export interface LabelForm {
  prompt: string;
  input: string;
  numSeeds: string;
  numSamples: string;
  contextType: '' | 'empty' | 'reference_solution' | 'masked_solution';
  fewShotCount: string;
  limit: string;
  temperature: string;
  maxTokens: string;
  /** Code mode (prompt configs `*_with_code`): where the Python blocks run and their limits. */
  codeSandbox?: 'local' | 'remote';
  sandboxUrl?: string;
  maxExecutions?: string;
  codeTimeout?: string;
  memoryMb?: string;
}

/** A prompt config with Python code blocks executed in a sandbox (the built-in `*_with_code` ones). */
export function isCodePrompt(prompt: string): boolean {
  return /with_code/i.test(prompt);
}

export const defaultLabelForm: LabelForm = {
  prompt: '',
  input: '',
  numSeeds: '4',
  numSamples: '1',
  contextType: '',
  fewShotCount: '',
  limit: '',
  temperature: '',
  maxTokens: '',
};

/** Checks the labeling form; returns problems, or the request params when it is complete. */
export function labelRequest(form: LabelForm, endpoint: string | null, concurrency: number | null): { problems: string[]; params?: LabelParams } {
  const problems: string[] = [];
  const int = (name: string, text: string, min: number, required: boolean): number | undefined => {
    if (!text.trim()) {
      if (required) problems.push(`${name}: required`);
      return undefined;
    }
    const n = Number(text);
    if (!Number.isInteger(n) || n < min) problems.push(`${name}: a whole number >= ${min}`);
    return n;
  };
  if (!form.prompt) problems.push('prompt config: choose one');
  if (!form.input) problems.push('dataset: choose a JSONL file');
  if (!endpoint) problems.push('endpoint: add or choose one');
  const numSeeds = int('seeds', form.numSeeds, 1, true);
  const numSamples = int('samples per request', form.numSamples, 1, true);
  const fewShotCount = int('few-shot examples', form.fewShotCount, 0, false);
  const limit = int('first rows only', form.limit, 1, false);
  const maxTokens = int('max tokens', form.maxTokens, 1, false);
  let temperature: number | undefined;
  if (form.temperature.trim()) {
    temperature = Number(form.temperature);
    if (!Number.isFinite(temperature) || temperature < 0) problems.push('temperature: a number >= 0');
  }
  if (problems.length) return { problems };
  const params: LabelParams = { prompt: form.prompt, input: form.input, endpoint: endpoint!, numSeeds: numSeeds!, numSamples: numSamples! };
  if (form.contextType) params.contextType = form.contextType;
  if (fewShotCount !== undefined) params.fewShotCount = fewShotCount;
  if (limit !== undefined) params.limit = limit;
  if (temperature !== undefined) params.temperature = temperature;
  if (maxTokens !== undefined) params.maxTokens = maxTokens;
  if (concurrency) params.concurrency = concurrency;
  if (isCodePrompt(form.prompt)) {
    const code: NonNullable<LabelParams['code']> = {};
    if (form.codeSandbox === 'remote') {
      const url = (form.sandboxUrl ?? '').trim();
      if (!/^https?:\/\/\S+$/.test(url)) problems.push('sandbox URL: an http(s) URL of a NeMo-Skills-compatible sandbox server');
      else code.sandboxUrl = url;
    }
    const maxExecutions = int('max executions per solution', form.maxExecutions ?? '', 0, false);
    if (maxExecutions !== undefined) code.maxExecutions = maxExecutions;
    const memoryMb = form.codeSandbox === 'remote' ? undefined : int('memory limit (MiB)', form.memoryMb ?? '', 0, false);
    if (memoryMb !== undefined) code.memoryMb = memoryMb;
    if ((form.codeTimeout ?? '').trim()) {
      const t = Number(form.codeTimeout);
      if (!Number.isFinite(t) || t <= 0) problems.push('time-out per block: a number of seconds > 0');
      else code.timeoutSeconds = t;
    }
    if (problems.length) return { problems };
    if (Object.keys(code).length) params.code = code;
  }
  return { problems, params };
}
