/**
 * Loading and validating agent configuration: YAML or JSON checked against the JSON Schema (ajv),
 * then the rules a schema cannot say (prefixes that parse, keys that decode, names and prefixes
 * that appear once, no default route without a declared full tunnel). Every problem is reported,
 * each with the JSON path of the field. A wg-quick `.conf` is accepted too (see wg-quick.ts).
 */
import Ajv, { type ErrorObject } from 'ajv';
import { parse as parseYaml } from 'yaml';
import { parsePrefix, type IpPrefix } from '../core/allowedips';
import { withoutKeys } from '../../common/keys';
import { keyFromBase64 } from '../crypto/keys';
import { agentConfigSchema } from './config-schema';
import type { AgentConfig } from './config-types';

export interface ConfigProblem {
  /** JSON path of the offending field, e.g. $.peers[1].allowedIps[0]. */
  path: string;
  message: string;
}

export class ConfigError extends Error {
  readonly problems: ConfigProblem[];

  /** Keys in paths and messages are replaced: both quote input, which may hold one where it should not. */
  constructor(problems: ConfigProblem[], what = 'configuration') {
    const redacted = problems.map((p) => ({ path: withoutKeys(p.path), message: withoutKeys(p.message) }));
    super(`invalid ${what}:\n${redacted.map((p) => `  ${p.path}: ${p.message}`).join('\n')}`);
    this.problems = redacted;
  }
}

const ajv = new Ajv({ allErrors: true, strict: true, allowUnionTypes: true });
const validateSchema = ajv.compile(agentConfigSchema);

/** One step of a JSON path: `[3]`, `.name`, or `["any other name"]` (quoted, so the path stays one readable line). */
export function pathStep(name: string): string {
  if (/^\d+$/.test(name)) return `[${name}]`;
  if (/^[A-Za-z_$][\w$-]*$/.test(name)) return `.${name}`;
  return `[${JSON.stringify(name)}]`;
}

/** `/peers/0/allowedIps/1` -> `$.peers[0].allowedIps[1]`. */
export function jsonPath(pointer: string): string {
  if (pointer === '') return '$';
  return `$${pointer
    .split('/')
    .slice(1)
    .map((part) => pathStep(part.replace(/~1/g, '/').replace(/~0/g, '~')))
    .join('')}`;
}

const SOURCE_BRANCHES = ['file', 'aws-secrets-manager', 'gcp-secret-manager'];

function valueAt(document: unknown, pointer: string): unknown {
  let value = document;
  for (const part of pointer.split('/').slice(1)) {
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Record<string, unknown>)[part];
  }
  return value;
}

/**
 * Narrows ajv's errors under a failed `oneOf` (the source forms) to the branch the document chose
 * by its `source` field, or to one line saying which sources exist.
 */
function narrowOneOf(errors: ErrorObject[], document: unknown): ErrorObject[] {
  const failed = errors.filter((e) => e.keyword === 'oneOf');
  let kept = errors;
  for (const oneOf of failed) {
    const source = (valueAt(document, oneOf.instancePath) as { source?: unknown } | undefined)?.source;
    const branch = SOURCE_BRANCHES.indexOf(source as string);
    const inside = (e: ErrorObject): boolean => e.schemaPath.startsWith(oneOf.schemaPath.replace(/oneOf$/, 'oneOf/'));
    kept = kept.filter((e) => {
      if (e === oneOf) return branch === -1;
      if (!inside(e)) return true;
      return branch !== -1 && e.schemaPath.startsWith(`${oneOf.schemaPath}/${branch}/`);
    });
  }
  return kept;
}

/** One readable line per schema problem. */
export function schemaProblems(errors: ErrorObject[] | null | undefined, document: unknown): ConfigProblem[] {
  const problems = new Map<string, ConfigProblem>();
  for (const error of narrowOneOf(errors ?? [], document)) {
    const path = jsonPath(error.instancePath);
    let message: string;
    switch (error.keyword) {
      case 'required': {
        const field = `${path}${pathStep(error.params.missingProperty as string)}`;
        problems.set(field, { path: field, message: 'is required' });
        continue;
      }
      case 'additionalProperties': {
        const field = `${path}${pathStep(error.params.additionalProperty as string)}`;
        problems.set(field, { path: field, message: 'is not a known field' });
        continue;
      }
      case 'oneOf':
        message = `needs "source": one of ${SOURCE_BRANCHES.join(', ')}`;
        break;
      case 'enum':
        message = `must be one of: ${(error.params.allowedValues as unknown[]).join(', ')}`;
        break;
      case 'pattern':
        message = patternMessage(path);
        break;
      default:
        message = error.message ?? 'is invalid';
    }
    if (!problems.has(path)) problems.set(path, { path, message });
  }
  return [...problems.values()];
}

function patternMessage(path: string): string {
  if (/publicKey|nextPublicKey/.test(path)) return 'must be a base64 WireGuard key (44 characters ending in "=")';
  if (path.endsWith('.endpoint')) return 'must be host:port or [IPv6]:port';
  if (path.endsWith('.listen')) return 'must be host:port';
  if (path === '$.interface.name') return 'must be 1 to 15 letters, digits or _=+.-';
  if (/^\$\.peers\[\d+\]\.name$/.test(path)) return 'must be 1 to 63 letters, digits or _.:-';
  if (path.endsWith('.name')) return 'must be projects/PROJECT/secrets/SECRET or projects/PROJECT/secrets/SECRET/versions/VERSION';
  return 'has the wrong format';
}

/** Parsed prefixes at their indexes in `values`; an invalid one leaves a hole (which forEach skips). */
function prefixProblems(values: string[] | undefined, base: string, problems: ConfigProblem[]): IpPrefix[] {
  const prefixes: IpPrefix[] = [];
  (values ?? []).forEach((value, i) => {
    try {
      prefixes[i] = parsePrefix(value);
    } catch (error) {
      problems.push({ path: `${base}[${i}]`, message: (error as Error).message });
    }
  });
  return prefixes;
}

function prefixKey(prefix: IpPrefix): string {
  return `${prefix.family}:${Buffer.from(prefix.address).toString('hex')}/${prefix.bits}`;
}

/** The schema's host:port patterns allow five digits; the port must also fit in 16 bits. */
function portProblem(value: string | undefined, path: string, min: number, problems: ConfigProblem[]): void {
  if (value === undefined) return;
  const port = Number(value.slice(value.lastIndexOf(':') + 1));
  if (port < min || port > 65535) problems.push({ path, message: `port ${port} is out of range (${min} to 65535)` });
}

/** The checks beyond the schema. */
function semanticProblems(config: AgentConfig): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  portProblem(config.metrics?.listen, '$.metrics.listen', 0, problems);
  portProblem(config.health?.listen, '$.health.listen', 0, problems);
  prefixProblems(config.interface.addresses, '$.interface.addresses', problems);
  prefixProblems(config.routes, '$.routes', problems);
  const names = new Map<string, number>();
  const keys = new Map<string, number>();
  const owners = new Map<string, number>();
  config.peers.forEach((peer, i) => {
    const base = `$.peers[${i}]`;
    if (names.has(peer.name)) problems.push({ path: `${base}.name`, message: `duplicates $.peers[${names.get(peer.name)}].name` });
    names.set(peer.name, i);
    portProblem(peer.endpoint, `${base}.endpoint`, 1, problems);
    for (const field of ['publicKey', 'nextPublicKey'] as const) {
      const key = peer[field];
      if (key === undefined) continue;
      try {
        keyFromBase64(key);
      } catch (error) {
        problems.push({ path: `${base}.${field}`, message: (error as Error).message });
        continue;
      }
      if (keys.has(key)) problems.push({ path: `${base}.${field}`, message: `the same key is already used by $.peers[${keys.get(key)}]` });
      keys.set(key, i);
    }
    const prefixes = prefixProblems(peer.allowedIps, `${base}.allowedIps`, problems);
    prefixes.forEach((prefix, j) => {
      if (prefix.bits === 0 && !peer.fullTunnel) {
        problems.push({
          path: `${base}.allowedIps[${j}]`,
          message: 'a default route (0.0.0.0/0 or ::/0) needs "fullTunnel": true; list the remote prefixes instead',
        });
      }
      const owner = owners.get(prefixKey(prefix));
      if (owner !== undefined && owner !== i) {
        problems.push({ path: `${base}.allowedIps[${j}]`, message: `is also an allowed IP of $.peers[${owner}]; a prefix belongs to one peer` });
      }
      owners.set(prefixKey(prefix), i);
    });
  });
  for (const [j, name] of (config.health?.requiredPeers ?? []).entries()) {
    if (!names.has(name)) problems.push({ path: `$.health.requiredPeers[${j}]`, message: `no peer is named "${name}"` });
  }
  return problems;
}

/** Validates a parsed document; returns the typed config or throws ConfigError listing every problem. */
export function validateAgentConfig(document: unknown): AgentConfig {
  if (!validateSchema(document)) throw new ConfigError(schemaProblems(validateSchema.errors, document));
  const config = document as unknown as AgentConfig;
  const problems = semanticProblems(config);
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}

/** Parses YAML (a superset of JSON) and validates it. */
export function parseAgentConfig(text: string): AgentConfig {
  let document: unknown;
  try {
    document = parseYaml(text);
  } catch (error) {
    // The first line names the problem and its line and column; the rest is a code frame.
    throw new ConfigError([{ path: '$', message: `is not valid YAML or JSON: ${(error as Error).message.split('\n')[0]!.replace(/:$/, '')}` }]);
  }
  if (document === null || document === undefined) throw new ConfigError([{ path: '$', message: 'is empty: expected an object with interface, privateKey and peers' }]);
  return validateAgentConfig(document);
}
