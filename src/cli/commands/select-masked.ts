import type { Command } from 'commander';
import { selectMasked } from '../../core/math/masked';
import { DATASET_FORMATS, parseFieldMapping, type DatasetFormat } from '../../core/datasets';

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

export function register(program: Command): void {
  program
    .command('select-masked')
    .description('Pick the best generated masked solution per problem and write the dataset with a masked_solution field')
    .option('--input <file>', 'masked-solution generations from `sdg generate` (repeat for several runs)', collect, [])
    .option('--inputs <files...>', 'the same, several files after one flag (e.g. a shell glob)')
    .requiredOption('--dataset <file>', 'the original dataset the generations were made from')
    .requiredOption('--output <file>', 'dataset JSONL to write (original fields + masked_solution, masked_solution_fallback)')
    .option('--dataset-format <format>', `format of --dataset: ${DATASET_FORMATS.join(', ')} (default: detected)`)
    .option('--field <name=key>', 'map a canonical field to a dataset key (jsonl format), e.g. reference_solution=rationale', collect, [])
    .option('--length-tolerance <x>', 'allowed relative length difference to the reference solution', '0.5')
    .option('--generation-field <name>', 'field with the masked solution text', 'generation')
    .action(async (opts: { input: string[]; inputs?: string[]; dataset: string; output: string; datasetFormat?: string; field: string[]; lengthTolerance: string; generationField: string }) => {
      const inputs = [...opts.input, ...(opts.inputs ?? [])];
      if (inputs.length === 0) throw new Error('select-masked: give at least one --input file');
      if (opts.datasetFormat && !DATASET_FORMATS.includes(opts.datasetFormat as DatasetFormat)) {
        throw new Error(`--dataset-format must be one of ${DATASET_FORMATS.join(', ')} (got ${JSON.stringify(opts.datasetFormat)})`);
      }
      const tolerance = Number(opts.lengthTolerance);
      if (!Number.isFinite(tolerance) || tolerance < 0) throw new Error(`--length-tolerance must be a number >= 0 (got ${JSON.stringify(opts.lengthTolerance)})`);
      const s = await selectMasked({
        inputs,
        dataset: opts.dataset,
        output: opts.output,
        datasetFormat: opts.datasetFormat as DatasetFormat | undefined,
        fields: parseFieldMapping(opts.field),
        lengthTolerance: tolerance,
        generationField: opts.generationField,
        onWarning: (m) => console.error(`warning: ${m}`),
      });
      console.log(`${s.problems} problems: ${s.selected} masked solutions selected, ${s.fallback} fell back to the reference solution (flagged), ${s.missing} without any`);
      console.log(`${s.candidates} candidates: rejected ${s.rejected.failed} failed, ${s.rejected.truncated} truncated, ${s.rejected.revealsAnswer} revealing the answer, ${s.rejected.length} outside the length range${s.unmatched ? `; ${s.unmatched} rows did not match the dataset` : ''}`);
      console.log(`-> ${opts.output}`);
    });
}
