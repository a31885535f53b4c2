/**
 * The Studio's UI state and the pure reducer that changes it (unit-tested without a browser).
 * `persisted` is the part saved with setState, so a hidden/moved/reloaded panel comes back as
 * the user left it (tab, selections, form values, unsaved drafts).
 */
import type {
  EndpointView,
  FewShotExampleData,
  InitResult,
  ParamInfo,
  PipelineInfo,
  PreviewResult,
  RunView,
  StudioTab,
  TemplateRef,
  ValidationIssue,
} from '../../../src/protocol/studio';
import { defaultClusterForm, defaultSlurmForm, defaultSlurmJobForm, type ClusterForm, type SlurmForm, type SlurmJobForm } from './slurm';

/** A saved Slurm form from an older panel state gets the fields it lacks. */
function restoreSlurmForm(saved: Partial<SlurmForm> | undefined): SlurmForm {
  return { cluster: { ...defaultClusterForm, ...(saved?.cluster ?? {}) }, job: { ...defaultSlurmJobForm, ...(saved?.job ?? {}) } };
}

export interface Persisted {
  tab: StudioTab;
  pipelineId: string | null;
  /** Per pipeline: parameter name -> value as typed. */
  paramValues: Record<string, Record<string, unknown>>;
  endpoint: string | null;
  concurrency: number | null;
  templateRef: TemplateRef | null;
  /** Unsaved template text, keyed by refKey(ref). */
  drafts: Record<string, string>;
  datasetFile: string | null;
  rowIndex: number;
  fewShotFile: string | null;
  /** Unsaved few-shot edits, keyed by file. */
  fewShotDrafts: Record<string, FewShotExampleData[]>;
  selectedRun: string | null;
  /** What the Run tab launches: a pipeline, or a labeling job (`sdg generate`). */
  runMode: 'pipeline' | 'label';
  label: LabelForm;
  /** The Slurm tab: cluster profile form and job form. */
  slurm: SlurmForm;
}

export { defaultLabelForm, isCodePrompt, labelRequest, type LabelForm } from './label';
import { defaultLabelForm, type LabelForm } from './label';

export interface StudioState {
  loaded: boolean;
  loadError: string | null;
  trusted: boolean;
  hasWorkspace: boolean;
  defaultConcurrency: number;
  features: InitResult['features'];
  pipelines: PipelineInfo[];
  pipelinesError: string | null;
  endpoints: EndpointView[];
  runs: RunView[];
  template: { text: string; saved: string; placeholders: string[]; readonly: boolean; errors: ValidationIssue[]; fewShotFile?: string } | null;
  preview: PreviewResult | null;
  row: Record<string, unknown> | null;
  rowCount: number;
  fewShot: { file: string; examples: FewShotExampleData[]; saved: FewShotExampleData[]; readonly: boolean; errors: ValidationIssue[] } | null;
  persisted: Persisted;
}

export const defaultPersisted: Persisted = {
  tab: 'pipelines',
  pipelineId: null,
  paramValues: {},
  endpoint: null,
  concurrency: null,
  templateRef: null,
  drafts: {},
  datasetFile: null,
  rowIndex: 0,
  fewShotFile: null,
  fewShotDrafts: {},
  selectedRun: null,
  runMode: 'pipeline',
  label: defaultLabelForm,
  slurm: defaultSlurmForm,
};

export function initialState(saved?: Partial<Persisted>): StudioState {
  return {
    loaded: false,
    loadError: null,
    trusted: true,
    hasWorkspace: true,
    defaultConcurrency: 32,
    features: { pipelines: false, preview: false, endpointsTest: false, runs: false },
    pipelines: [],
    pipelinesError: null,
    endpoints: [],
    runs: [],
    template: null,
    preview: null,
    row: null,
    rowCount: 0,
    fewShot: null,
    persisted: { ...defaultPersisted, ...(saved ?? {}), label: { ...defaultLabelForm, ...(saved?.label ?? {}) }, slurm: restoreSlurmForm(saved?.slurm) },
  };
}

export function refKey(ref: TemplateRef): string {
  return `${ref.file}#${ref.field.join('.')}`;
}

export type Action =
  | { type: 'init'; result: InitResult }
  | { type: 'loadFailed'; error: string }
  | { type: 'tab'; tab: StudioTab }
  | { type: 'pipelines'; pipelines: PipelineInfo[] }
  | { type: 'endpoints'; endpoints: EndpointView[] }
  | { type: 'runs'; runs: RunView[] }
  | { type: 'trust'; trusted: boolean }
  | { type: 'selectPipeline'; id: string }
  | { type: 'param'; pipelineId: string; name: string; value: unknown }
  | { type: 'resetParams'; pipelineId: string }
  | { type: 'endpoint'; name: string | null }
  | { type: 'concurrency'; value: number | null }
  | { type: 'openTemplate'; ref: TemplateRef }
  | { type: 'templateLoaded'; ref: TemplateRef; text: string; placeholders: string[]; readonly: boolean; fewShotFile?: string }
  | { type: 'templateEdit'; text: string }
  | { type: 'templateSaved'; errors: ValidationIssue[] }
  | { type: 'preview'; result: PreviewResult }
  | { type: 'dataset'; file: string | null }
  | { type: 'rowIndex'; index: number }
  | { type: 'row'; row: Record<string, unknown> | null; count: number }
  | { type: 'openFewShot'; file: string }
  | { type: 'fewShotLoaded'; file: string; examples: FewShotExampleData[]; readonly: boolean }
  | { type: 'fewShotEdit'; examples: FewShotExampleData[] }
  | { type: 'fewShotSaved'; errors: ValidationIssue[] }
  | { type: 'selectRun'; dir: string | null }
  | { type: 'runMode'; mode: 'pipeline' | 'label' }
  | { type: 'label'; patch: Partial<LabelForm> }
  | { type: 'slurmCluster'; patch: Partial<ClusterForm> }
  | { type: 'slurmJob'; patch: Partial<SlurmJobForm> };

/** Default values of a pipeline's parameters, overlaid with what the user typed. */
export function paramValues(state: StudioState, pipeline: PipelineInfo): Record<string, unknown> {
  const typed = state.persisted.paramValues[pipeline.id] ?? {};
  const out: Record<string, unknown> = {};
  for (const p of pipeline.parameters) out[p.name] = p.name in typed ? typed[p.name] : p.default;
  return out;
}

/** Problems with the values before launching: required ones missing, numbers out of range. */
export function paramProblems(params: ParamInfo[], values: Record<string, unknown>): string[] {
  const problems: string[] = [];
  for (const p of params) {
    const val = values[p.name];
    const empty = val === undefined || val === null || val === '';
    if (empty) {
      if (p.required) problems.push(`${p.name}: required`);
      continue;
    }
    if (p.type === 'number' || p.type === 'integer') {
      const n = typeof val === 'number' ? val : Number(val);
      if (!Number.isFinite(n)) problems.push(`${p.name}: not a number`);
      else if (p.type === 'integer' && !Number.isInteger(n)) problems.push(`${p.name}: must be a whole number`);
      else if (p.min !== undefined && n < p.min) problems.push(`${p.name}: must be at least ${p.min}`);
      else if (p.max !== undefined && n > p.max) problems.push(`${p.name}: must be at most ${p.max}`);
    }
    if (p.type === 'enum' && p.options && !p.options.includes(String(val))) problems.push(`${p.name}: must be one of ${p.options.join(', ')}`);
  }
  return problems;
}

/** Values as the host expects them: numbers as numbers, empty optional ones left out. */
export function coerceParams(params: ParamInfo[], values: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const p of params) {
    const val = values[p.name];
    if (val === undefined || val === null || val === '') continue;
    if (p.type === 'number' || p.type === 'integer') out[p.name] = typeof val === 'number' ? val : Number(val);
    else if (p.type === 'boolean') out[p.name] = val === true || val === 'true';
    else out[p.name] = val;
  }
  return out;
}

function withPersisted(state: StudioState, patch: Partial<Persisted>): StudioState {
  return { ...state, persisted: { ...state.persisted, ...patch } };
}

export function reduce(state: StudioState, action: Action): StudioState {
  switch (action.type) {
    case 'init': {
      const r = action.result;
      let next: StudioState = {
        ...state,
        loaded: true,
        loadError: null,
        trusted: r.trusted,
        hasWorkspace: r.hasWorkspace,
        defaultConcurrency: r.defaultConcurrency,
        features: r.features,
        pipelines: r.pipelines,
        pipelinesError: r.pipelinesError ?? null,
        endpoints: r.endpoints,
        runs: r.runs,
      };
      next = reduce(next, { type: 'pipelines', pipelines: r.pipelines });
      return reduce(next, { type: 'endpoints', endpoints: r.endpoints });
    }
    case 'loadFailed':
      return { ...state, loaded: true, loadError: action.error };
    case 'tab':
      return withPersisted(state, { tab: action.tab });
    case 'pipelines': {
      const keep = action.pipelines.some((p) => p.id === state.persisted.pipelineId);
      return withPersisted({ ...state, pipelines: action.pipelines }, { pipelineId: keep ? state.persisted.pipelineId : (action.pipelines[0]?.id ?? null) });
    }
    case 'endpoints': {
      const keep = action.endpoints.some((e) => e.profile.name === state.persisted.endpoint);
      return withPersisted({ ...state, endpoints: action.endpoints }, { endpoint: keep ? state.persisted.endpoint : (action.endpoints[0]?.profile.name ?? null) });
    }
    case 'runs':
      return { ...state, runs: action.runs };
    case 'trust':
      return { ...state, trusted: action.trusted };
    case 'selectPipeline':
      return withPersisted(state, { pipelineId: action.id });
    case 'param': {
      const current = state.persisted.paramValues[action.pipelineId] ?? {};
      return withPersisted(state, { paramValues: { ...state.persisted.paramValues, [action.pipelineId]: { ...current, [action.name]: action.value } } });
    }
    case 'resetParams': {
      const rest = { ...state.persisted.paramValues };
      delete rest[action.pipelineId];
      return withPersisted(state, { paramValues: rest });
    }
    case 'endpoint':
      return withPersisted(state, { endpoint: action.name });
    case 'concurrency':
      return withPersisted(state, { concurrency: action.value });
    case 'openTemplate':
      return withPersisted({ ...state, template: null, preview: null }, { templateRef: action.ref, tab: 'templates' });
    case 'templateLoaded': {
      if (!state.persisted.templateRef || refKey(state.persisted.templateRef) !== refKey(action.ref)) return state;
      const draft = state.persisted.drafts[refKey(action.ref)];
      return {
        ...state,
        template: { text: draft ?? action.text, saved: action.text, placeholders: action.placeholders, readonly: action.readonly, errors: [], fewShotFile: action.fewShotFile },
      };
    }
    case 'templateEdit': {
      if (!state.template || !state.persisted.templateRef) return state;
      const key = refKey(state.persisted.templateRef);
      const drafts = { ...state.persisted.drafts };
      if (action.text === state.template.saved) delete drafts[key];
      else drafts[key] = action.text;
      return withPersisted({ ...state, template: { ...state.template, text: action.text } }, { drafts });
    }
    case 'templateSaved': {
      if (!state.template || !state.persisted.templateRef) return state;
      const drafts = { ...state.persisted.drafts };
      delete drafts[refKey(state.persisted.templateRef)];
      return withPersisted({ ...state, template: { ...state.template, saved: state.template.text, errors: action.errors } }, { drafts });
    }
    case 'preview':
      return { ...state, preview: action.result, template: state.template && { ...state.template, placeholders: action.result.placeholders } };
    case 'dataset':
      return withPersisted({ ...state, row: null, rowCount: 0 }, { datasetFile: action.file, rowIndex: 0 });
    case 'rowIndex':
      return withPersisted(state, { rowIndex: Math.max(0, Math.floor(action.index)) });
    case 'row':
      return { ...state, row: action.row, rowCount: action.count };
    case 'openFewShot':
      return withPersisted({ ...state, fewShot: null }, { fewShotFile: action.file, tab: 'fewshot' });
    case 'fewShotLoaded': {
      if (state.persisted.fewShotFile !== action.file) return state;
      const draft = state.persisted.fewShotDrafts[action.file];
      return { ...state, fewShot: { file: action.file, examples: draft ?? action.examples, saved: action.examples, readonly: action.readonly, errors: [] } };
    }
    case 'fewShotEdit': {
      if (!state.fewShot) return state;
      const drafts = { ...state.persisted.fewShotDrafts, [state.fewShot.file]: action.examples };
      return withPersisted({ ...state, fewShot: { ...state.fewShot, examples: action.examples } }, { fewShotDrafts: drafts });
    }
    case 'fewShotSaved': {
      if (!state.fewShot) return state;
      const drafts = { ...state.persisted.fewShotDrafts };
      delete drafts[state.fewShot.file];
      return withPersisted({ ...state, fewShot: { ...state.fewShot, saved: state.fewShot.examples, errors: action.errors } }, { fewShotDrafts: drafts });
    }
    case 'selectRun':
      return withPersisted(state, { selectedRun: action.dir });
    case 'runMode':
      return withPersisted(state, { runMode: action.mode });
    case 'label':
      return withPersisted(state, { label: { ...state.persisted.label, ...action.patch } });
    case 'slurmCluster':
      return withPersisted(state, { slurm: { ...state.persisted.slurm, cluster: { ...state.persisted.slurm.cluster, ...action.patch } } });
    case 'slurmJob':
      return withPersisted(state, { slurm: { ...state.persisted.slurm, job: { ...state.persisted.slurm.job, ...action.patch } } });
  }
}

/** Few-shot list edits (pure helpers for the view and tests). */
export function moveItem<T>(list: readonly T[], from: number, to: number): T[] {
  if (from < 0 || from >= list.length || to < 0 || to >= list.length) return [...list];
  const out = [...list];
  const [item] = out.splice(from, 1);
  out.splice(to, 0, item);
  return out;
}
