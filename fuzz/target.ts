/** What a fuzz target is, and the contract checks the targets share. */
import { wireguardKeysIn } from '../common/keys';
import { ConfigError } from '../agent/gateway/config';

export interface FuzzTarget {
  name: string;
  /** Compiled files (suffixes of their URL) whose block coverage a run reports. */
  modules: readonly string[];
  /** Tokens of the input language, for the dictionary mutator. */
  dictionary: readonly string[];
  maxLength: number;
  /** Runs one input. Throws only when the code under test broke its contract (a finding). */
  run(input: Buffer): void;
  /** Generated seeds (binary formats); text targets keep hand-written ones in fuzz/corpus/. */
  seeds?(): Buffer[];
}

/** A broken contract: the input did something the parser's documentation says it cannot. */
export class ContractViolation extends Error {
  override name = 'ContractViolation';
}

/**
 * Runs a configuration parser: it must return, or throw a ConfigError whose every problem has a
 * location and a message, and no message may repeat a WireGuard key that the input holds.
 */
export function expectConfigOutcome(text: string, parse: (text: string) => unknown, locationPattern: RegExp): void {
  try {
    parse(text);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    if (error.problems.length === 0) throw new ContractViolation('ConfigError without problems');
    for (const problem of error.problems) {
      if (!locationPattern.test(problem.path)) throw new ContractViolation(`problem path ${JSON.stringify(problem.path)} is not a location`);
      if (problem.message.trim() === '') throw new ContractViolation(`problem at ${problem.path} has no message`);
    }
    for (const [key] of wireguardKeysIn(text)) {
      if (error.message.includes(key)) throw new ContractViolation('the error message repeats a key from the input');
    }
  }
}
