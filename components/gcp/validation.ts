/**
 * Argument checks shared by the GCP components. Mocks accept anything; the Compute Engine and
 * Secret Manager APIs do not, so every plain argument is checked here, before any child exists,
 * and every message names the component, its name and the offending argument (../errors.ts).
 */
import { fail } from '../errors';

/** Google's health-check probe ranges for internal passthrough NLBs (and most other LBs). */
export const GOOGLE_HEALTH_CHECK_RANGES: readonly string[] = Object.freeze(['35.191.0.0/16', '130.211.0.0/22']);

/**
 * The probe ranges of *external passthrough* Network Load Balancers (backend-service and
 * target-pool based), which differ: 35.191.0.0/16 plus 209.85.152.0/22 and 209.85.204.0/22
 * (the `networks` list of `gcp.compute.getLBIPRanges`).
 */
export const NETWORK_LB_HEALTH_CHECK_RANGES: readonly string[] = Object.freeze([
  '35.191.0.0/16',
  '209.85.152.0/22',
  '209.85.204.0/22',
]);

/** RFC 1035 names, as Compute Engine requires for instances, firewalls, routes, ... */
const RFC1035 = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;

/**
 * The component name is the prefix of every child's logical name, and Pulumi auto-names GCP
 * resources `<logical name>-<7 hex>`: it must be RFC 1035 and short enough (`maxLength`) for the
 * longest child name to stay within the 63-character limit.
 */
export function checkComponentName(component: string, name: string, maxLength: number): void {
  if (!RFC1035.test(name) || name.length > maxLength) {
    fail(
      component,
      name,
      `the name must be 1 to ${maxLength} characters of lowercase letters, digits and hyphens, ` +
        'starting with a letter and not ending with a hyphen (it prefixes the names of GCP resources)',
    );
  }
}

/** An integer port, 1 to 65535. */
export function checkPort(component: string, name: string, arg: string, value: number): void {
  if (!Number.isInteger(value) || value < 1 || value > 65535) {
    fail(component, name, `${arg} must be an integer from 1 to 65535, got ${String(value)}`);
  }
}

/** A parsed IPv4 prefix. */
export interface Ipv4Cidr {
  /** The network address as a 32-bit unsigned integer. */
  address: number;
  prefixLength: number;
}

/** Parses `a.b.c.d/n`, or returns undefined when it is not a canonical IPv4 CIDR (host bits zero). */
export function parseIpv4Cidr(cidr: string): Ipv4Cidr | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(cidr);
  if (!m) return undefined;
  const octets = m.slice(1, 5).map(Number);
  const prefixLength = Number(m[5]);
  if (octets.some((o, i) => o > 255 || String(o) !== m[i + 1]) || prefixLength > 32) return undefined;
  const address = ((octets[0]! << 24) | (octets[1]! << 16) | (octets[2]! << 8) | octets[3]!) >>> 0;
  const mask = prefixLength === 0 ? 0 : (0xffffffff << (32 - prefixLength)) >>> 0;
  if ((address & mask) >>> 0 !== address) return undefined;
  return { address, prefixLength };
}

/**
 * A list of canonical, distinct IPv4 CIDRs. `0.0.0.0/0` is refused unless `allowDefault` (callers
 * use a dedicated, explicit flag for "anywhere").
 */
export function checkCidrList(
  component: string,
  name: string,
  arg: string,
  cidrs: readonly string[],
  options: { allowDefault?: boolean; allowEmpty?: boolean; defaultHint?: string } = {},
): void {
  if (!Array.isArray(cidrs)) fail(component, name, `${arg} must be an array of IPv4 CIDRs`);
  if (cidrs.length === 0 && !options.allowEmpty) fail(component, name, `${arg} must not be empty`);
  const seen = new Set<string>();
  for (const cidr of cidrs) {
    const parsed = typeof cidr === 'string' ? parseIpv4Cidr(cidr) : undefined;
    if (!parsed) {
      fail(
        component,
        name,
        `${arg}: "${String(cidr)}" is not an IPv4 CIDR with its host bits zero (e.g. 10.20.0.0/16)`,
      );
    }
    if (parsed.prefixLength === 0 && !options.allowDefault) {
      fail(component, name, `${arg}: 0.0.0.0/0 is not allowed${options.defaultHint ? `; ${options.defaultHint}` : ''}`);
    }
    if (seen.has(cidr)) fail(component, name, `${arg}: "${cidr}" is listed twice`);
    seen.add(cidr);
  }
}

/** `us-central1-a` → `us-central1`; undefined when it is not a zone name. */
export function regionOfZone(zone: string): string | undefined {
  const m = /^([a-z]+-[a-z]+[0-9]+)-[a-z]$/.exec(zone);
  return m ? m[1] : undefined;
}

/** A Secret Manager location (region) name such as `europe-west1`. */
export function isRegionName(location: string): boolean {
  return /^[a-z]+-[a-z]+[0-9]+$/.test(location);
}

/** GCP label keys (ASCII subset): lowercase letter first, then lowercase, digits, `_`, `-`; ≤ 63. */
export function isLabelKey(key: string): boolean {
  return /^[a-z][a-z0-9_-]{0,62}$/.test(key);
}

/** GCP label values (ASCII subset): lowercase, digits, `_`, `-`; ≤ 63, may be empty. */
export function isLabelValue(value: string): boolean {
  return /^[a-z0-9_-]{0,63}$/.test(value);
}

/** Checks user labels (plain values only: they are merged with the component's own labels). */
export function checkLabels(component: string, name: string, labels: Record<string, string> | undefined): void {
  if (labels === undefined) return;
  for (const [key, value] of Object.entries(labels)) {
    if (!isLabelKey(key)) {
      fail(
        component,
        name,
        `label key "${key}" must be 1 to 63 lowercase letters, digits, "_" or "-", starting with a letter`,
      );
    }
    if (typeof value !== 'string' || !isLabelValue(value)) {
      fail(
        component,
        name,
        `label "${key}": value "${String(value)}" must be at most 63 lowercase letters, digits, "_" or "-"`,
      );
    }
    if (key.startsWith('wiremesh-')) {
      fail(component, name, `label "${key}": the "wiremesh-" prefix is reserved for labels the component sets`);
    }
  }
}

/** A network tag: RFC 1035, at most 63 characters. */
export function checkNetworkTags(
  component: string,
  name: string,
  arg: string,
  tags: readonly string[] | undefined,
): void {
  if (tags === undefined) return;
  for (const tag of tags) {
    if (typeof tag !== 'string' || !RFC1035.test(tag) || tag.length > 63) {
      fail(
        component,
        name,
        `${arg}: "${String(tag)}" is not a valid network tag (1 to 63 lowercase letters, digits and hyphens, starting with a letter)`,
      );
    }
  }
}
