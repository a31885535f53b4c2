import type { Command } from 'commander';

/** Every `sdg` sub-command. Add a line when you add src/cli/commands/<name>.ts. */
export const COMMANDS: Array<(program: Command) => void> = [];
