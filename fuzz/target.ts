/** What a fuzz target is, and what it throws when the code under test breaks its contract. */

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
