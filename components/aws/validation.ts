/**
 * Argument checks of the AWS components (CIDR blocks, ports); the error type and the shared helpers
 * are in ../errors.ts.
 */
import { formatPrefix, parsePrefix, prefixesOverlap, type IpPrefix } from '../../common/ip';
import { ComponentArgumentError, describe } from '../errors';

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
  if (typeof value !== 'string')
    throw new ComponentArgumentError(`${label}: ${what} must be a CIDR block string, got ${describe(value)}`);
  if (!value.includes('/'))
    throw new ComponentArgumentError(`${label}: ${what} "${value}" is not a CIDR block (it has no prefix length)`);
  let prefix: IpPrefix;
  try {
    prefix = parsePrefix(value);
  } catch {
    throw new ComponentArgumentError(`${label}: ${what} "${value}" is not a CIDR block`);
  }
  const unmasked = parsePrefix(`${value.slice(0, value.indexOf('/'))}/${prefix.family === 4 ? 32 : 128}`);
  if (!sameBytes(unmasked.address, prefix.address)) {
    throw new ComponentArgumentError(
      `${label}: ${what} "${value}" has host bits set (did you mean ${formatPrefix(prefix)}?)`,
    );
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
    throw new ComponentArgumentError(
      `${label}: ${what} must be a whole number from 1 to 65535, got ${describe(value)}`,
    );
  }
  return value;
}

/** True for 0.0.0.0/0 and ::/0. */
export function isAnywhere(cidr: CheckedCidr): boolean {
  return cidr.prefix.bits === 0;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((byte, i) => byte === b[i]);
}
