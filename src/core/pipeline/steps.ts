/**
 * The pipeline steps as plain functions over an LlmClient, for scripts and the extension: each
 * renders a built-in template (or the `template` override), calls the model and returns every
 * choice's text (`n` in params gives n of them). Pipelines run the same templates through the
 * engine; these are the one-off, in-process versions.
 */
import type { ChatMessage, LlmClient, ModelParams, ModelResponse, RequestOptions, RewardScores } from '../llm/types';
import { builtinTemplates } from './builtins';
import { ListConversionError, checkList, parseListLocally, parseYamlList, type ListCheckOptions } from './listParse';
import { renderMessages, type PromptTemplate } from './templates';

/** A template override: a PromptTemplate, or the text of the user prompt with {{placeholders}}. */
export type TemplateOverride = PromptTemplate | string;

/**
 * How requests are sent. Direct by default; the pipeline runner passes the engine's item context
 * so the same code gets rate limits, retries and token accounting.
 */
export interface ModelCaller {
  query(client: LlmClient, messages: ChatMessage[], params?: ModelParams, options?: RequestOptions): Promise<ModelResponse>;
  queryReward(client: LlmClient, messages: ChatMessage[], options?: RequestOptions): Promise<RewardScores>;
}

export const directCaller: ModelCaller = {
  query: (client, messages, params, options) => client.queryModel(messages, params, options),
  queryReward: (client, messages, options) => client.queryRewardModel(messages, options),
};

export interface StepOptions {
  params?: ModelParams;
  template?: TemplateOverride;
  request?: RequestOptions;
  caller?: ModelCaller;
}

export function resolveTemplate(name: string, override?: TemplateOverride): PromptTemplate {
  if (override === undefined) return builtinTemplates().get(name);
  if (typeof override === 'string') return { name: `${name} (override)`, prompt: override };
  return override;
}

/** Render a template and return the text of every choice. */
export async function callTemplate(client: LlmClient, template: PromptTemplate, values: Record<string, unknown>, opts: StepOptions = {}): Promise<string[]> {
  const res = await (opts.caller ?? directCaller).query(client, renderMessages(template, values), opts.params, opts.request);
  return res.choices.map((c) => c.text);
}

function step(name: string, client: LlmClient, values: Record<string, unknown>, opts: StepOptions): Promise<string[]> {
  return callTemplate(client, resolveTemplate(name, opts.template), values, opts);
}

// --- Open Q&A ------------------------------------------------------------------------------

export const generateMacroTopics = (client: LlmClient, a: { count: number } & StepOptions) =>
  step('open_qa/macro_topics', client, { count: a.count }, a);
export const generateSubtopics = (client: LlmClient, a: { topic: string; count: number } & StepOptions) =>
  step('open_qa/subtopics', client, { topic: a.topic, count: a.count }, a);
export const generateOpenQaFromTopic = (client: LlmClient, a: { topic: string; count: number } & StepOptions) =>
  step('open_qa/questions', client, { topic: a.topic, count: a.count }, a);
export const reviseOpenQa = (client: LlmClient, a: { question: string; count: number } & StepOptions) =>
  step('open_qa/revise', client, { question: a.question, count: a.count }, a);

// --- Writing -------------------------------------------------------------------------------

export const generateWritingTasks = (client: LlmClient, a: { topic: string; materialType: string; count: number } & StepOptions) =>
  step('writing/tasks', client, { topic: a.topic, material_type: a.materialType, count: a.count }, a);
export const reviseWritingTasks = (client: LlmClient, a: { task: string; count: number } & StepOptions) =>
  step('writing/revise', client, { task: a.task, count: a.count }, a);

// --- Closed Q&A ----------------------------------------------------------------------------

export const generateClosedQa = (client: LlmClient, a: { document: string; count: number } & StepOptions) =>
  step('closed_qa/questions', client, { document: a.document, count: a.count }, a);

// --- Math ----------------------------------------------------------------------------------

export const generateMathMacroTopics = (client: LlmClient, a: { schoolLevel: string; count: number } & StepOptions) =>
  step('math/macro_topics', client, { school_level: a.schoolLevel, count: a.count }, a);
export const generateMathSubtopics = (client: LlmClient, a: { topic: string; count: number } & StepOptions) =>
  step('math/subtopics', client, { topic: a.topic, count: a.count }, a);
export const generateMathProblems = (client: LlmClient, a: { topic: string; count: number; level?: 'beginner' | 'general' } & StepOptions) =>
  step(`math/problems_${a.level ?? 'general'}`, client, { topic: a.topic, count: a.count }, a);

// --- Coding --------------------------------------------------------------------------------

export const generateCodingMacroTopics = (client: LlmClient, a: { language?: string; count: number } & StepOptions) =>
  step('coding/macro_topics', client, { language: a.language ?? 'Python', count: a.count }, a);
export const generateCodingSubtopics = (client: LlmClient, a: { language?: string; topic: string; count: number } & StepOptions) =>
  step('coding/subtopics', client, { language: a.language ?? 'Python', topic: a.topic, count: a.count }, a);
export const generateCodingProblems = (
  client: LlmClient,
  a: { language?: string; topic: string; count: number; level?: 'beginner' | 'intermediate' | 'advanced' } & StepOptions,
) => step(`coding/problems_${a.level ?? 'intermediate'}`, client, { language: a.language ?? 'Python', topic: a.topic, count: a.count }, a);

// --- Entity classification -----------------------------------------------------------------

/** "yes" / "no" from a classification answer, or undefined when the answer is neither. */
export function parseYesNo(text: string): 'yes' | 'no' | undefined {
  const m = /\b(yes|no)\b/i.exec(text.replace(/[*_`"']/g, ''));
  return m ? (m[1]!.toLowerCase() as 'yes' | 'no') : undefined;
}

async function classify(name: string, client: LlmClient, values: Record<string, unknown>, opts: StepOptions): Promise<boolean> {
  const [text = ''] = await step(name, client, values, { ...opts, params: { temperature: 0, max_tokens: 16, ...opts.params, n: 1 } });
  const answer = parseYesNo(text);
  if (!answer) throw new Error(`classification answer is neither yes nor no: ${JSON.stringify(text.slice(0, 200))}`);
  return answer === 'yes';
}

export const classifyMathEntity = (client: LlmClient, a: { entity: string } & StepOptions) =>
  classify('classify/math_entity', client, { entity: a.entity }, a);
export const classifyCodeEntity = (client: LlmClient, a: { entity: string; language?: string } & StepOptions) =>
  classify('classify/code_entity', client, { entity: a.entity, language: a.language ?? 'Python' }, a);
export const classifyPythonEntity = (client: LlmClient, a: { entity: string } & StepOptions) => classifyCodeEntity(client, { ...a, language: 'Python' });

// --- Document rewriting (pretraining data) ---------------------------------------------------

export type RewriteStyle = 'wikipedia' | 'diverse_qa' | 'distill' | 'extract_knowledge' | 'knowledge_list';
export const rewriteDocument = (client: LlmClient, a: { document: string; style: RewriteStyle } & StepOptions) =>
  step(`rewrite/${a.style}`, client, { document: a.document }, a);

// --- Dialogue ------------------------------------------------------------------------------

export type Persona = 'normal' | 'complex' | 'concise';

/** A transcript the user simulator reads: "User: ...\n\nAssistant: ...". */
export function transcript(conversation: ChatMessage[]): string {
  return conversation.map((m) => `${m.role === 'user' ? 'User' : m.role === 'assistant' ? 'Assistant' : 'System'}: ${m.content}`).join('\n\n');
}

export interface DialogueOptions {
  opening: string;
  /** User turns, the opening included. */
  turns: number;
  endWith?: 'assistant' | 'user';
  persona?: Persona;
  userTemplate?: TemplateOverride;
  /** Optional system prompt template for the assistant (rendered with `values`). */
  assistantTemplate?: TemplateOverride;
  values?: Record<string, unknown>;
  userParams?: ModelParams;
  assistantParams?: ModelParams;
  request?: RequestOptions;
  caller?: ModelCaller;
}

/**
 * Alternate the assistant model and a user simulator, starting from the opening line. The user
 * simulator sees the transcript rendered into its template and answers as the user would.
 */
export async function generateDialogue(userClient: LlmClient, assistantClient: LlmClient, o: DialogueOptions): Promise<ChatMessage[]> {
  const userT = resolveTemplate(`dialogue/user_${o.persona ?? 'normal'}`, o.userTemplate);
  const sys = o.assistantTemplate !== undefined ? resolveTemplate('dialogue/assistant', o.assistantTemplate) : undefined;
  const values = { ...(o.values ?? {}), opening: o.opening };
  const caller = o.caller ?? directCaller;
  const conversation: ChatMessage[] = [{ role: 'user', content: o.opening }];
  const endWith = o.endWith ?? 'assistant';
  // The assistant template's prompt is the assistant's system message.
  const systemText = sys ? renderMessages(sys, values).at(-1)!.content : undefined;
  for (let turn = 1; ; turn++) {
    if (turn === o.turns && endWith === 'user') break;
    const msgs: ChatMessage[] = systemText ? [{ role: 'system', content: systemText }, ...conversation] : [...conversation];
    const reply = await caller.query(assistantClient, msgs, { ...o.assistantParams, n: 1 }, o.request);
    conversation.push({ role: 'assistant', content: (reply.choices[0]?.text ?? '').trim() });
    if (turn >= o.turns) break;
    const userMsgs = renderMessages(userT, { ...values, conversation: transcript(conversation), turn: turn + 1 });
    const next = await caller.query(userClient, userMsgs, { ...o.userParams, n: 1 }, o.request);
    conversation.push({ role: 'user', content: cleanUserTurn(next.choices[0]?.text ?? '') });
  }
  return conversation;
}

/** Drop a "User:" label a simulator may put in front of its turn. */
export function cleanUserTurn(text: string): string {
  return text.trim().replace(/^(\*\*)?user(\*\*)?\s*:\s*/i, '').trim();
}

/** User prompt -> assistant answer -> a follow-up user turn (preference-data prompts). */
export function generateTwoTurnPrompt(userClient: LlmClient, assistantClient: LlmClient, o: Omit<DialogueOptions, 'turns' | 'endWith'>): Promise<ChatMessage[]> {
  return generateDialogue(userClient, assistantClient, { ...o, turns: 2, endWith: 'user' });
}

// --- List conversion -----------------------------------------------------------------------

export interface ConvertListOptions extends ListCheckOptions, StepOptions {
  /** Skip the local parser and always ask the model (default false). */
  alwaysAskModel?: boolean;
}

/** Outcome of a conversion, with how it was done (for provenance and stats). */
export interface ListConversion {
  items: string[];
  method: 'local' | 'model';
}

/**
 * A response as a list of strings: local parser first, else the model rewrites it as a YAML list.
 * Throws ListConversionError (unparseable, hallucination, count_mismatch, empty).
 */
export async function convertResponseToList(client: LlmClient | undefined, response: string, o: ConvertListOptions = {}): Promise<ListConversion> {
  const local = o.alwaysAskModel ? undefined : parseListLocally(response);
  if (local && local.length > 0) return { items: checkList(local, response, o), method: 'local' };
  if (!client) throw new ListConversionError('unparseable', 'the response is not a numbered, bulleted or YAML list', response, o.expectedCount);
  const [rewrite = ''] = await step('list/to_yaml', client, { response }, { ...o, params: { temperature: 0, ...o.params, n: 1 } });
  const list = parseYamlList(rewrite);
  if (!list) throw new ListConversionError('unparseable', 'the model did not rewrite the response as a YAML list of strings', response, o.expectedCount);
  return { items: checkList(list, response, o), method: 'model' };
}

export const convertResponseToYamlList = convertResponseToList;
