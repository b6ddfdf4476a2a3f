/**
 * Argument checks shared by the AWS components. The Pulumi mocks accept anything and the AWS APIs
 * reject late (or, worse, accept something that routes wrongly), so every component validates what
 * it can while the program runs and throws with a message naming the component and the argument.
 *
 * Values that are still `Output`s when the constructor runs are checked once they resolve, through
 * {@link checkedInput}: the failure then surfaces as the deployment error of the resource they feed.
 */
import * as pulumi from '@pulumi/pulumi';
import { formatPrefix, parsePrefix, prefixesOverlap, type IpPrefix } from '../../common/ip';

/** Thrown for an invalid component argument; the message says which component, which argument, why. */
export class ComponentArgumentError extends Error {
  override readonly name = 'ComponentArgumentError';
}

/** `AwsGateway "site-a"` — the prefix of every message, so a stack with many components stays readable. */
export function componentLabel(kind: string, name: string): string {
  return `${kind} "${name}"`;
}

/** A CIDR block that was checked: its canonical text and its parsed form. */
export interface CheckedCidr {
  text: string;
  prefix: IpPrefix;
}

/**
 * Parses a CIDR block strictly: an explicit prefix length and no host bits set (AWS rejects or
 * silently rewrites such blocks, which hides typos such as 10.1.0.0/8 for 10.1.0.0/16).
 * `what` names the argument in the message, e.g. `remoteCidrs[2]`.
 */
export function checkCidr(label: string, what: string, value: unknown): CheckedCidr {
  if (typeof value !== 'string') throw new ComponentArgumentError(`${label}: ${what} must be a CIDR block string, got ${describe(value)}`);
  if (!value.includes('/')) throw new ComponentArgumentError(`${label}: ${what} "${value}" is not a CIDR block (it has no prefix length)`);
  let prefix: IpPrefix;
  try {
    prefix = parsePrefix(value);
  } catch {
    throw new ComponentArgumentError(`${label}: ${what} "${value}" is not a CIDR block`);
  }
  const unmasked = parsePrefix(`${value.slice(0, value.indexOf('/'))}/${prefix.family === 4 ? 32 : 128}`);
  if (!sameBytes(unmasked.address, prefix.address)) {
    throw new ComponentArgumentError(`${label}: ${what} "${value}" has host bits set (did you mean ${formatPrefix(prefix)}?)`);
  }
  return { text: formatPrefix(prefix), prefix };
}

/** Throws for the first pair of overlapping (or equal) blocks, naming both. */
export function checkNoOverlap(label: string, what: string, cidrs: CheckedCidr[]): void {
  for (let i = 0; i < cidrs.length; i++) {
    for (let j = i + 1; j < cidrs.length; j++) {
      if (prefixesOverlap(cidrs[i]!.prefix, cidrs[j]!.prefix)) {
        const kind = cidrs[i]!.text === cidrs[j]!.text ? 'repeat' : 'overlap';
        throw new ComponentArgumentError(
          `${label}: ${what} ${kind}: ${what}[${i}] ${cidrs[i]!.text} and ${what}[${j}] ${cidrs[j]!.text}`,
        );
      }
    }
  }
}

/** A TCP/UDP port: a whole number from 1 to 65535. */
export function checkPort(label: string, what: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > 65535) {
    throw new ComponentArgumentError(`${label}: ${what} must be a whole number from 1 to 65535, got ${describe(value)}`);
  }
  return value;
}

/** True for 0.0.0.0/0 and ::/0. */
export function isAnywhere(cidr: CheckedCidr): boolean {
  return cidr.prefix.bits === 0;
}

/**
 * Checks a late value when it resolves: `check` runs on the value (and throws a
 * ComponentArgumentError), a plain value is checked at once. The result carries the value on, so
 * the resource it feeds fails to register with the check's message instead of being sent to AWS.
 */
export function checkedInput<T>(value: pulumi.Input<T>, check: (resolved: pulumi.Unwrap<T>) => void): pulumi.Output<pulumi.Unwrap<T>> {
  if (!pulumi.Output.isInstance(value) && !isPromiseLike(value)) check(value as pulumi.Unwrap<T>);
  return pulumi.output(value).apply((resolved) => {
    check(resolved);
    return resolved;
  });
}

/** A short description of a value for a message; never the value of a string longer than 64. */
export function describe(value: unknown): string {
  if (typeof value === 'string') return value.length > 64 ? `a string of ${value.length} characters` : JSON.stringify(value);
  if (value === undefined || value === null || typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (Array.isArray(value)) return 'an array';
  return `a ${typeof value}`;
}

function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return typeof value === 'object' && value !== null && typeof (value as { then?: unknown }).then === 'function';
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((byte, i) => byte === b[i]);
}
