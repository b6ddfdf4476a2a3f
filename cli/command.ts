/**
 * What every `wiremesh` subcommand shares: its streams, and strict flag parsing with node:util
 * parseArgs (an unknown or misspelt flag is an error with the subcommand's usage, never ignored).
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';

export interface CliIo {
  stdin: AsyncIterable<Buffer | string>;
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown };
}

export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;

export type Flags = Record<string, string | boolean | undefined>;

export interface ParsedArguments {
  flags: Flags;
  positionals: string[];
}

export interface Subcommand {
  summary: string;
  /** The arguments after the subcommand name, e.g. `[SPEC] [--json]`. */
  usage: string;
  options?: NonNullable<ParseArgsConfig['options']>;
  /** How many positional arguments it takes (default: none). */
  positionals?: { min: number; max: number };
  /**
   * Arguments after `--` that go to `rest` unparsed; when there is no `--`, those after the first
   * `leadingPositionals` ones do (so `exec SITE ping -c 3` keeps working).
   */
  passThrough?: { leadingPositionals: number };
  /** Returns the process exit code. */
  run(args: ParsedArguments & { rest: string[] }, io: CliIo): Promise<number>;
}

/**
 * Parses a subcommand's arguments. Returns an exit code instead when there is nothing to run: 0
 * after `--help` (usage on stdout), 1 after an error (the error and the usage on stderr).
 */
export function parseSubcommand(
  name: string,
  command: Subcommand,
  argv: readonly string[],
  io: CliIo,
): (ParsedArguments & { rest: string[] }) | number {
  const usage = `Usage: wiremesh ${name} ${command.usage}`.trimEnd() + '\n';
  let own = [...argv];
  let rest: string[] = [];
  if (command.passThrough) {
    const separator = argv.indexOf('--');
    const split = separator >= 0 ? separator : Math.min(argv.length, command.passThrough.leadingPositionals);
    own = argv.slice(0, split);
    rest = argv.slice(separator >= 0 ? separator + 1 : split);
  }
  const { min, max } = command.positionals ?? { min: 0, max: 0 };
  try {
    const options = { ...command.options, help: { type: 'boolean', short: 'h' } } as const;
    const { values, positionals } = parseArgs({ args: own, options, strict: true, allowPositionals: max > 0 });
    if (values.help) {
      io.stdout.write(usage);
      return EXIT_OK;
    }
    if (positionals.length < min) throw new Error('missing argument');
    if (positionals.length > max) throw new Error(`unexpected argument '${positionals[max]}'`);
    return { flags: values as Flags, positionals, rest };
  } catch (error) {
    io.stderr.write(`error: ${(error as Error).message}\n${usage}`);
    return EXIT_FAILURE;
  }
}
