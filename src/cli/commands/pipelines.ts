/**
 * `sdg pipelines`: list the built-in (and workspace) pipelines with their parameters; with a name,
 * show one; `--copy NAME --to DIR` copies a built-in and its templates into a workspace's prompts
 * folder; `--validate FILE` prints every error of a pipeline file (file:line: field: message).
 */
import type { Command } from 'commander';
import { copyBuiltinPipeline, listPipelines, validatePipelineFile, type PipelineInfo } from '../../core/pipeline';

function formatParam(p: PipelineInfo['parameters'][number]): string {
  const def = p.default === undefined ? '(required)' : `= ${JSON.stringify(p.default)}`;
  const choices = p.choices ? ` [${p.choices.join('|')}]` : '';
  return `    ${p.name}: ${p.type}${choices} ${def}${p.description ? `  ${p.description}` : ''}`;
}

export function register(program: Command): void {
  program
    .command('pipelines [name]')
    .description('List the built-in and workspace pipelines with their parameters; copy or validate one')
    .option('--json', 'print JSON')
    .option('--workspace <promptsDir>', 'a workspace prompts folder (its pipelines/ and templates/ override the built-ins)')
    .option('--copy <name>', 'copy a built-in pipeline and its templates into --to')
    .option('--to <promptsDir>', 'destination prompts folder for --copy (pipelines/ and templates/ are created in it)')
    .option('--overwrite', 'with --copy: replace files that already exist')
    .option('--validate <file>', 'validate a pipeline file and print every error')
    .action((name: string | undefined, opts: { json?: boolean; workspace?: string; copy?: string; to?: string; overwrite?: boolean; validate?: string }) => {
      if (opts.validate) {
        const errors = validatePipelineFile(opts.validate, opts.workspace);
        if (opts.json) console.log(JSON.stringify(errors, null, 2));
        else if (errors.length === 0) console.log(`${opts.validate}: valid`);
        else for (const e of errors) console.log(`${e.file}${e.line ? `:${e.line}` : ''}: ${e.field ? `${e.field}: ` : ''}${e.message}`);
        if (errors.length) process.exitCode = 1;
        return;
      }
      if (opts.copy) {
        if (!opts.to) throw new Error('--copy needs --to <promptsDir>');
        const r = copyBuiltinPipeline(opts.copy, opts.to, { overwrite: opts.overwrite });
        if (opts.json) console.log(JSON.stringify(r, null, 2));
        else {
          for (const f of r.written) console.log(`wrote ${f}`);
          for (const f of r.skipped) console.log(`kept existing ${f} (use --overwrite to replace)`);
        }
        return;
      }
      const cat = listPipelines(opts.workspace);
      let list = cat.pipelines;
      if (name) {
        list = list.filter((p) => p.name === name);
        if (!list.length) throw new Error(`no pipeline named ${JSON.stringify(name)} (available: ${cat.pipelines.map((p) => p.name).join(', ')})`);
      }
      if (opts.json) {
        console.log(JSON.stringify(list, null, 2));
        return;
      }
      for (const p of list) {
        console.log(`${p.name}${p.source === 'workspace' ? ` (workspace${p.overridesBuiltin ? ', overrides built-in' : ''})` : ''}`);
        if (p.description) console.log(`  ${p.description}`);
        if (p.errors.length) for (const e of p.errors) console.log(`  ERROR ${e.file}${e.line ? `:${e.line}` : ''}: ${e.field ? `${e.field}: ` : ''}${e.message}`);
        if (p.parameters.length) {
          console.log('  parameters:');
          for (const param of p.parameters) console.log(formatParam(param));
        }
        if (Object.keys(p.endpoints).length) console.log(`  endpoint roles: ${Object.entries(p.endpoints).map(([k, v]) => `${k} (${v})`).join(', ')}`);
        if (name) {
          console.log(`  stages: ${p.stages.map((s) => `${s.name}[${s.kind}]`).join(' -> ')}`);
          console.log(`  templates: ${p.templates.join(', ')}`);
          console.log(`  file: ${p.file}`);
        }
        console.log('');
      }
    });
}
