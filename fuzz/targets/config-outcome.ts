/** The contract of the configuration parsers (agent configuration, wg-quick files, mesh spec). */
import { wireguardKeysIn } from '../../common/keys';
import { ConfigError } from '../../common/validation';
import { ContractViolation } from '../target';

/** `$`, then `.name`, `[index]` or `["quoted name"]` steps. */
export const JSON_PATH = /^\$(\.[A-Za-z_$][\w$-]*|\[\d+\]|\["(?:[^"\\]|\\.)*"\])*$/;
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
      if (!locationPattern.test(problem.path))
        throw new ContractViolation(`problem path ${JSON.stringify(problem.path)} is not a location`);
      if (problem.message.trim() === '') throw new ContractViolation(`problem at ${problem.path} has no message`);
    }
    for (const [key] of wireguardKeysIn(text)) {
      if (error.message.includes(key)) throw new ContractViolation('the error message repeats a key from the input');
    }
  }
}
