/**
 * Messages between the extension host and the Studio webview (over `src/protocol/ipc.ts`).
 * Plain data only: the same file is bundled into both sides. The host validates every
 * request's params before use (src/extension/studio/handlers.ts); paths are workspace-relative
 * (or absolute inside a workspace folder) and confined by the host.
 */
import type { ApiKind, EndpointProfile, FormatterName, PoolServer, PresetName, ServerStats } from '../core/llm/types';
import type { ClusterProfile } from '../core/scale/slurm';
import type { Estimate } from '../core/estimate';

export type { Estimate };

/** The estimate shown before a launch, and whether it needs a confirmation (setting sdg.confirmLaunchAboveRequests). */
export interface LaunchEstimate {
  /** The labeling estimate (absent for pipelines, whose figures are in `lines`). */
  estimate?: Estimate;
  /** Requests the launch sends (for a pipeline: at least this many); null when unknown. */
  requests: number | null;
  /** The same figures as lines of text (as `sdg generate --dry-run` prints them). */
  lines: string[];
  confirm: boolean;
  threshold: number;
}

export type { ApiKind, EndpointProfile, FormatterName, PoolServer, PresetName, ServerStats };

// ---------------------------------------------------------------------------------------------
// Data shown by the panel

export type ParamType = 'string' | 'text' | 'number' | 'integer' | 'boolean' | 'enum' | 'file' | 'endpoint';

export interface ParamInfo {
  name: string;
  type: ParamType;
  description?: string;
  default?: unknown;
  required?: boolean;
  /** For `enum`. */
  options?: string[];
  min?: number;
  max?: number;
  /** A parameter that names input files (a `source` stage's `documents`): offered with a dataset picker. */
  dataset?: boolean;
}

/** A text field of a YAML file that holds a template (`user`, `system`, `stages[1].template`...). */
export interface TemplateRef {
  /** Path of the YAML file (workspace-relative, or `builtin:<relative>` for shipped files). */
  file: string;
  /** Where the text is inside the file; empty for a file that is one template. */
  field: Array<string | number>;
  label: string;
}

export interface PipelineInfo {
  id: string;
  name: string;
  description: string;
  source: 'builtin' | 'workspace';
  /** File it was loaded from (workspace-relative for workspace pipelines, `builtin:...` otherwise). */
  file: string;
  parameters: ParamInfo[];
  stages: Array<{ name: string; description?: string }>;
  templates: TemplateRef[];
  fewShotSets: string[];
  /** Load/validation problems (the pipeline is listed but cannot run). */
  errors: string[];
}

/** The endpoint test: `/models` of the server, or of each server of a pool (`servers`). */
export interface EndpointTestResult {
  ok: boolean;
  latencyMs: number | null;
  models: string[];
  error: string | null;
  servers?: Array<{ baseUrl: string; ok: boolean; latencyMs: number | null; models: string[]; error: string | null }>;
}

export interface EndpointView {
  profile: EndpointProfile;
  hasKey: boolean;
}

export interface Counts {
  total: number | null;
  done: number;
  failed: number;
  pending: number | null;
}

export type RunStatus = 'running' | 'completed' | 'failed' | 'cancelled' | 'interrupted' | 'cancelling' | 'starting';

export interface StageView {
  name: string;
  status: string;
  counts: Counts;
}

/** What tells runs apart (from the run folder's config.json and label.txt). */
export interface RunDetails {
  /** `pipeline <name>` or `prompt <config name>`. */
  source: string;
  /** Input file (labeling runs). */
  input: string | null;
  endpoint: string | null;
  model: string | null;
  /** Key parameters (short values). */
  params: Record<string, string | number | boolean | null>;
  label?: string;
}

/** Metrics of a graded run (src/core/math computeMetrics), kept in the run folder's metrics.json. */
export interface RunMetrics {
  /** The file they were computed from. */
  file: string;
  problems: number;
  samples: number;
  /** Accuracy of the first sample per problem. */
  accuracy: number;
  /** The largest k with pass@k / maj@k. */
  k: number;
  passAtK: number | null;
  majAtK: number | null;
  computedAt: string;
}

/** "Compare runs": two runs of the same inputs side by side per input. */
export interface CompareSide {
  samples: number;
  /** The first output of this input (truncated). */
  first: string;
  /** Correct samples when graded, else null. */
  correct: number | null;
  graded: number;
  meanChars: number;
}

export interface CompareResult {
  /** The two files compared (graded outputs when there are). */
  files: [string, string];
  /** Parameters (and source / model / endpoint) that differ. */
  differences: Array<{ name: string; a: string | null; b: string | null }>;
  notes: string[];
  inputs: Array<{ key: string; problem: string | null; a: CompareSide | null; b: CompareSide | null }>;
}

export type PostprocessAction = 'grade' | 'metrics' | 'vote' | 'exportSft';

export interface PostprocessResult {
  /** The file written. */
  file: string;
  /** What happened, in a few lines. */
  lines: string[];
  metrics?: RunMetrics;
}

export interface RunView {
  /** The run folder (absolute); the key of a run everywhere. */
  dir: string;
  name: string;
  kind: string;
  status: RunStatus;
  /** Run by this window's RunManager (can be cancelled here). */
  live: boolean;
  counts: Counts;
  tokens: { prompt: number; completion: number };
  throughput: { requestsPerSec: number; tokensPerSec: number };
  stages: StageView[];
  /** The most recent distinct error messages (newest last), from the engine. */
  recentErrors: string[];
  /** Name of the stage the numbers above belong to (pipelines), null otherwise. */
  currentStage: string | null;
  etaSeconds: number | null;
  startedAt: string | null;
  updatedAt: string | null;
  endedAt: string | null;
  output: string | null;
  error: string | null;
  /** Per-server counters while the run uses an endpoint pool (from ProgressEvent.servers). */
  servers?: ServerStats[];
  details?: RunDetails;
  /** Metrics of the graded output, once computed. */
  metrics?: RunMetrics;
  /** Once the run has ended: its duration and average rates over it. */
  finished?: { durationSeconds: number; requestsPerSec: number; tokensPerSec: number };
}

export interface ValidationIssue {
  message: string;
  line?: number;
  field?: string;
}

export interface DatasetFile {
  /** Workspace-relative path. */
  file: string;
  /** `run`: a run output or stage file (offered apart, in a collapsed group); absent: a dataset. */
  group?: 'dataset' | 'run';
}

/** One few-shot example: field name -> text (problem, solution, expected_answer, ...). */
export type FewShotExampleData = Record<string, string>;

export type ContextType = 'empty' | 'reference_solution' | 'masked_solution';

export interface LabelParams {
  /** Prompt config file reference (workspace-relative or `builtin:generation/NAME.yaml`). */
  prompt: string;
  /** Input dataset (workspace-relative JSONL). */
  input: string;
  endpoint: string;
  numSeeds: number;
  numSamples: number;
  contextType?: ContextType;
  fewShotCount?: number;
  limit?: number;
  temperature?: number;
  maxTokens?: number;
  concurrency?: number;
  /**
   * Code mode (prompt configs with `code_execution:`, e.g. gsm8k_text_with_code): where the
   * Python blocks run and their limits (docs/generate.md). Absent: the config's settings and
   * the local python3 sandbox.
   */
  code?: { sandboxUrl?: string; maxExecutions?: number; timeoutSeconds?: number; memoryMb?: number };
}

/**
 * Cluster settings as the Slurm dialog edits them: the core's ClusterProfile
 * (src/core/scale/slurm.ts), kept in `.sdg/clusters/<name>.yaml` with snake_case keys.
 */
export type ClusterSettings = ClusterProfile;

export interface ClusterInfo {
  name: string;
  /** Workspace-relative path of the YAML file. */
  file: string;
  /** The profile, when the file is valid. */
  settings?: ClusterSettings;
  /** Why the file cannot be used (`file:line: field: problem`). */
  error?: string;
}

export interface SlurmInfo {
  clusters: ClusterInfo[];
  /** Absolute path of `sbatch` on the extension host's PATH, null when it is not there. */
  sbatch: string | null;
  /** The default for "sdg on the nodes" (this extension's CLI bundle). */
  defaultSdgCommand: string;
}

/** A labeling job on Slurm (`sdg slurm generate`). */
export interface SlurmJobParams {
  /** Name of a saved cluster profile (`.sdg/clusters/<name>.yaml`). */
  cluster: string;
  /** Prompt config reference (workspace-relative or `builtin:generation/NAME.yaml`). */
  prompt: string;
  /** Input dataset (workspace-relative JSONL). */
  input: string;
  /** Model name: passed to the server command as {model} and to the requests. */
  model?: string;
  /** Servers that already run (used when the cluster profile has no server command). */
  endpoint?: string;
  numSeeds: number;
  startSeed?: number;
  numSamples: number;
  /** Seeds per array task (default: all seeds in each task). */
  seedsPerTask?: number;
  numChunks: number;
  limit?: number;
  temperature?: number;
  maxTokens?: number;
  concurrency?: number;
  /** How to start sdg on the nodes (default: `SlurmInfo.defaultSdgCommand`). */
  sdgCommand?: string;
}

export interface SlurmPreview {
  /** The merged output (absolute); chunk outputs go beside it. */
  output: string;
  scriptDir: string;
  tasks: number;
  continuations: number;
  arrayScriptPath: string;
  arrayScript: string;
  mergeScriptPath: string;
  mergeScript: string;
  /** The same job from a terminal. */
  cliCommand: string;
  /** Things to know before submitting (no sbatch on PATH, key handling...). */
  notes: string[];
}

export interface SlurmSubmitResult {
  output: string;
  scriptDir: string;
  arrayJobId: string;
  continuationJobIds: string[];
  mergeJobId: string;
}

// ---------------------------------------------------------------------------------------------
// Requests: webview -> host

export interface InitResult {
  trusted: boolean;
  hasWorkspace: boolean;
  defaultConcurrency: number;
  pipelines: PipelineInfo[];
  endpoints: EndpointView[];
  runs: RunView[];
  /** Why the pipeline list could not be loaded (the rest of the Studio still works). */
  pipelinesError?: string;
  /** Capabilities the core offers in this build (features appear as core parts land). */
  features: { pipelines: boolean; preview: boolean; endpointsTest: boolean; runs: boolean };
}

export interface TemplateDoc {
  ref: TemplateRef;
  text: string;
  placeholders: string[];
  readonly: boolean;
  /** The few-shot set the file refers to, if any (path usable with `fewshot.get`). */
  fewShotFile?: string;
}

/** "Try on N rows": the template as edited, on chosen dataset rows, sent to an endpoint. */
export interface TryParams {
  ref: TemplateRef;
  text: string;
  fewShot?: FewShotExampleData[];
  /** Dataset (workspace-relative JSONL) and the rows (0-based) to try. */
  file: string;
  indices: number[];
  endpoint: string;
  /** Overrides of the job's sampling parameters (a prompt config's own otherwise). */
  temperature?: number;
  maxTokens?: number;
}

export interface TryResult {
  index: number;
  /** The prompt exactly as sent. */
  messages: Array<{ role: string; content: string }>;
  text: string | null;
  promptTokens: number;
  completionTokens: number;
  latencyMs: number;
  finishReason: string | null;
  error: string | null;
  /** Labeling prompt configs: the answer graded against the row's reference answer. */
  grade?: { predicted: string | null; expected: string | null; correct: boolean };
}

export interface PreviewResult {
  messages: Array<{ role: string; content: string }>;
  placeholders: string[];
  errors: ValidationIssue[];
  /** Information about the preview itself (e.g. "no dataset row chosen: sample values"). */
  note?: string;
}

export type StudioRequests = {
  init: { params: Record<string, never>; result: InitResult };
  'pipelines.list': { params: Record<string, never>; result: PipelineInfo[] };
  'pipelines.copyToWorkspace': { params: { id: string }; result: { file: string } };
  /** Every template and prompt config (built-in and workspace). */
  'templates.list': { params: Record<string, never>; result: TemplateRef[] };
  'template.get': { params: { ref: TemplateRef }; result: TemplateDoc };
  'template.preview': {
    params: { ref: TemplateRef; text: string; row?: Record<string, unknown>; fewShot?: FewShotExampleData[] };
    result: PreviewResult;
  };
  /** Render for the chosen rows and send to the endpoint (needs a trusted workspace). */
  'template.try': { params: TryParams; result: TryResult[] };
  'template.save': { params: { ref: TemplateRef; text: string }; result: { errors: ValidationIssue[] } };
  /** Open a workspace or built-in file in an editor (built-ins read-only). */
  'files.open': { params: { file: string; line?: number }; result: null };
  'datasets.list': { params: Record<string, never>; result: DatasetFile[] };
  /** A file chosen in VS Code's open dialog (workspace-relative when inside the workspace); null when cancelled. */
  'datasets.browse': { params: Record<string, never>; result: { file: string | null } };
  'datasets.row': { params: { file: string; index: number }; result: { row: Record<string, unknown> | null; count: number } };
  /** Every few-shot set (workspace first, then built-in), for the Few-shot tab's list. */
  'fewshot.list': { params: Record<string, never>; result: Array<{ file: string; name: string; source: 'workspace' | 'builtin' }> };
  'fewshot.get': { params: { file: string }; result: { file: string; examples: FewShotExampleData[]; readonly: boolean } };
  'fewshot.save': { params: { file: string; examples: FewShotExampleData[] }; result: { errors: ValidationIssue[] } };
  'fewshot.import': { params: { file: string; limit: number }; result: { examples: FewShotExampleData[]; skipped: number } };
  'endpoints.save': { params: { profile: EndpointProfile; previousName?: string; apiKey?: string }; result: EndpointView[] };
  'endpoints.remove': { params: { name: string }; result: EndpointView[] };
  'endpoints.test': { params: { name: string }; result: EndpointTestResult };
  'runs.start': { params: { pipelineId: string; endpoint: string; params: Record<string, unknown>; concurrency?: number }; result: { dir: string } };
  /** A labeling run (`sdg generate`): solutions per problem of a dataset with a prompt config. */
  'runs.label': { params: LabelParams; result: { dir: string } };
  /** The estimate of a labeling run before it is launched. */
  'runs.estimate': { params: LabelParams; result: LaunchEstimate };
  /** The estimate of a pipeline run before it is launched (a lower bound of requests). */
  'runs.estimatePipeline': { params: { pipelineId: string; params: Record<string, unknown> }; result: LaunchEstimate };
  /** Set (empty: clear) a run's label. */
  'runs.setLabel': { params: { dir: string; label: string }; result: null };
  /** Grade, Metrics, Vote or Export SFT on a run's output (core math / sft). */
  'runs.postprocess': { params: { dir: string; action: PostprocessAction }; result: PostprocessResult };
  /** Two runs side by side per input (first 50 inputs). */
  'runs.compare': { params: { a: string; b: string }; result: CompareResult };
  /** Open a file a post-processing step wrote (in the JSONL viewer for .jsonl). */
  'runs.openFile': { params: { dir: string; file: string }; result: null };
  'runs.cancel': { params: { dir: string }; result: null };
  'runs.resume': { params: { dir: string; endpoint?: string }; result: null };
  'runs.openOutput': { params: { dir: string }; result: null };
  'runs.list': { params: Record<string, never>; result: RunView[] };
  /** Cluster profiles of the workspace and whether sbatch is available. */
  'slurm.info': { params: Record<string, never>; result: SlurmInfo };
  /** Write `.sdg/clusters/<name>.yaml` (comments kept) and check it with the core's loader. */
  'slurm.saveCluster': { params: { name: string; settings: ClusterSettings }; result: SlurmInfo };
  /** The sbatch scripts the job would submit (nothing written or submitted). */
  'slurm.preview': { params: SlurmJobParams; result: SlurmPreview };
  /** Write the scripts and submit them with sbatch. */
  'slurm.submit': { params: SlurmJobParams; result: SlurmSubmitResult };
};

// ---------------------------------------------------------------------------------------------
// Notifications

export type StudioHostNotifications = {
  /** Full list of runs (live ones with fresh numbers); sent at most a few times a second. */
  'runs.changed': RunView[];
  'endpoints.changed': EndpointView[];
  'pipelines.changed': PipelineInfo[];
  'trust.changed': { trusted: boolean };
  /** The template preview beside an editor: the field's text as the editor holds it now (unsaved included). */
  'preview.text': { ref: TemplateRef; text: string };
  /** Ask the panel to show a tab (commands that open the Studio at a place). */
  focus: { tab: StudioTab; pipelineId?: string; ref?: TemplateRef };
};

export type StudioTab = 'pipelines' | 'templates' | 'fewshot' | 'endpoints' | 'runs' | 'slurm';

// The webview sends no notifications to the host today.
export type StudioWebviewNotifications = Record<string, never>;
