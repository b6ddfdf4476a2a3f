/**
 * Loading and validating agent configuration: YAML or JSON checked against the JSON Schema (ajv),
 * then the rules a schema cannot say (prefixes that parse, keys that decode, names and prefixes
 * that appear once, no default route without a declared full tunnel). Every problem is reported,
 * each with the JSON path of the field. A wg-quick `.conf` is accepted too (see wg-quick.ts).
 */
import type { ValidateFunction } from 'ajv';
import { DEFAULT_MTU, METRICS_PORT } from '../../common/defaults';
import { HOST_PORT_MESSAGE } from '../../common/hostport';
import { parseAddress, parsePrefix, type IpPrefix } from '../../common/ip';
import { WIREGUARD_KEY_MESSAGE } from '../../common/keys';
import { ConfigError, parseDocument, portProblem, schemaProblems, type ConfigProblem } from '../../common/validation';
import { REKEY_AFTER_TIME } from '../core/constants';
import { keyFromBase64 } from '../crypto/keys';
import { DEFAULT_MAX_HANDSHAKE_AGE_SECONDS, MIN_MAX_HANDSHAKE_AGE_SECONDS } from '../observability/health';
import compiledValidator from './config-validator.generated';
import type { AgentConfig, FailoverConfig } from './config-types';

/** agentConfigSchema compiled ahead of time by `npm run schemas`: ajv's compiler is not loaded at run time. */
const validateSchema = compiledValidator as unknown as ValidateFunction;

/** Metrics stay on loopback unless the configuration says otherwise. */
export const DEFAULT_METRICS_LISTEN = `127.0.0.1:${METRICS_PORT}`;

/** The secret-source forms, told apart by their `source` field (the schema's oneOf branches, in order). */
const SOURCE_FORMS = { field: 'source', values: ['file', 'aws-secrets-manager', 'gcp-secret-manager'] } as const;

function patternMessage(path: string): string | undefined {
  if (/publicKey|nextPublicKey/.test(path)) return WIREGUARD_KEY_MESSAGE;
  if (path.endsWith('.endpoint')) return HOST_PORT_MESSAGE;
  if (path.endsWith('.switchAt')) return 'must be an instant in UTC, e.g. 2026-12-07T12:00:00Z';
  if (path.endsWith('.listen')) return 'must be host:port';
  if (path === '$.interface.name') return 'must be 1 to 15 letters, digits or _=+.-';
  if (path.endsWith('.networkInterfaceId')) return 'must be an ENI id (eni- and letters or digits)';
  if (path.startsWith('$.failover.routeTableIds')) return 'must be a route table id (rtb- and letters or digits)';
  if (/^\$\.peers\[\d+\]\.name$/.test(path)) return 'must be 1 to 63 letters, digits or _.:-';
  if (path.endsWith('.name'))
    return 'must be projects/PROJECT/secrets/SECRET or projects/PROJECT/secrets/SECRET/versions/VERSION';
  return undefined;
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

/** The checks beyond the schema. */
function semanticProblems(config: AgentConfig): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  portProblem(config.metrics?.listen, '$.metrics.listen', problems, 0);
  portProblem(config.health?.listen, '$.health.listen', problems, 0);
  prefixProblems(config.interface.addresses, '$.interface.addresses', problems);
  prefixProblems(config.routes, '$.routes', problems);
  switchAtProblem(config.switchAt, config.nextPrivateKey !== undefined, '$', 'nextPrivateKey', problems);
  const names = new Map<string, number>();
  const keys = new Map<string, number>();
  const owners = new Map<string, number>();
  config.peers.forEach((peer, i) => {
    const base = `$.peers[${i}]`;
    if (names.has(peer.name))
      problems.push({ path: `${base}.name`, message: `duplicates $.peers[${names.get(peer.name)}].name` });
    names.set(peer.name, i);
    portProblem(peer.endpoint, `${base}.endpoint`, problems);
    switchAtProblem(peer.switchAt, peer.nextPublicKey !== undefined, base, 'nextPublicKey', problems);
    for (const field of ['publicKey', 'nextPublicKey'] as const) {
      const key = peer[field];
      if (key === undefined) continue;
      try {
        keyFromBase64(key);
      } catch (error) {
        problems.push({ path: `${base}.${field}`, message: (error as Error).message });
        continue;
      }
      if (keys.has(key))
        problems.push({
          path: `${base}.${field}`,
          message: `the same key is already used by $.peers[${keys.get(key)}]`,
        });
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
        problems.push({
          path: `${base}.allowedIps[${j}]`,
          message: `is also an allowed IP of $.peers[${owner}]; a prefix belongs to one peer`,
        });
      }
      owners.set(prefixKey(prefix), i);
    });
  });
  const threshold = config.health?.maxHandshakeAgeSeconds;
  if (threshold !== undefined && threshold < MIN_MAX_HANDSHAKE_AGE_SECONDS) {
    problems.push({
      path: '$.health.maxHandshakeAgeSeconds',
      message:
        `${threshold} s would flap: a healthy peer's handshake is renewed every ${REKEY_AFTER_TIME / 1000} s (REKEY_AFTER_TIME), ` +
        `up to a keepalive interval and a retry later; use at least ${MIN_MAX_HANDSHAKE_AGE_SECONDS} s (default ${DEFAULT_MAX_HANDSHAKE_AGE_SECONDS})`,
    });
  }
  for (const [j, name] of (config.health?.requiredPeers ?? []).entries()) {
    if (!names.has(name))
      problems.push({ path: `$.health.requiredPeers[${j}]`, message: `no peer is named "${name}"` });
  }
  if (config.failover) failoverProblems(config, config.failover, problems);
  return problems;
}

/** A `switchAt` schedules the switch to a next key: without one, or not a real instant, it is refused. */
function switchAtProblem(
  switchAt: string | undefined,
  hasNextKey: boolean,
  base: string,
  nextKey: string,
  problems: ConfigProblem[],
): void {
  if (switchAt === undefined) return;
  if (!hasNextKey) {
    problems.push({ path: `${base}.switchAt`, message: `schedules a switch to ${nextKey}, which is absent` });
    return;
  }
  // Date.parse rolls a day past a month's end over (02-30 is 03-02): only a date it writes back is real.
  const ms = Date.parse(switchAt);
  if (!Number.isFinite(ms) || new Date(ms).toISOString().slice(0, 19) !== switchAt.slice(0, 19))
    problems.push({ path: `${base}.switchAt`, message: `${switchAt} is not a real instant` });
}

/** A failover section: members that probe each other on the health port, each listed once, and prefixes that parse. */
function failoverProblems(config: AgentConfig, failover: FailoverConfig, problems: ConfigProblem[]): void {
  if (!config.health)
    problems.push({ path: '$.failover', message: "needs $.health: the members probe each other's /healthz" });
  prefixProblems(failover.destinations, '$.failover.destinations', problems);
  const seen = { networkInterfaceId: new Map<string, number>(), address: new Map<string, number>() };
  failover.members.forEach((member, i) => {
    const base = `$.failover.members[${i}]`;
    try {
      parseAddress(member.address);
    } catch (error) {
      problems.push({ path: `${base}.address`, message: (error as Error).message });
    }
    for (const field of ['networkInterfaceId', 'address'] as const) {
      const first = seen[field].get(member[field]);
      if (first !== undefined)
        problems.push({ path: `${base}.${field}`, message: `duplicates $.failover.members[${first}].${field}` });
      else seen[field].set(member[field], i);
    }
  });
  const duplicateTable = failover.routeTableIds.findIndex((id, i) => failover.routeTableIds.indexOf(id) !== i);
  if (duplicateTable >= 0)
    problems.push({ path: `$.failover.routeTableIds[${duplicateTable}]`, message: 'is listed twice' });
}

/** Validates a parsed document; returns the typed config or throws ConfigError listing every problem. */
export function validateAgentConfig(document: unknown): AgentConfig {
  if (!validateSchema(document)) {
    throw new ConfigError(
      schemaProblems(validateSchema.errors, document, { oneOf: SOURCE_FORMS, pattern: patternMessage }),
    );
  }
  const config = document as unknown as AgentConfig;
  const problems = semanticProblems(config);
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}

/** Parses YAML (a superset of JSON) and validates it. */
export function parseAgentConfig(text: string): AgentConfig {
  return validateAgentConfig(parseDocument(text, 'configuration', 'an object with interface, privateKey and peers'));
}

/**
 * What a reload cannot apply (the interface, its addresses and MTU, the plane, forwarding, the
 * listeners, where the document comes from): each field that differs from the running
 * configuration, by effective value, so writing out a default is no change.
 */
export function restartOnlyChanges(running: AgentConfig, next: AgentConfig): ConfigProblem[] {
  const effective = (config: AgentConfig): Record<string, unknown> => ({
    '$.interface.name': config.interface.name,
    '$.interface.addresses': config.interface.addresses,
    '$.interface.mtu': config.interface.mtu ?? DEFAULT_MTU,
    '$.dataPlane': config.dataPlane ?? 'auto',
    '$.threads': config.threads,
    '$.forwarding': config.forwarding ?? true,
    '$.metrics': config.metrics && {
      listen: config.metrics.listen ?? DEFAULT_METRICS_LISTEN,
      allowedIpsLabel: config.metrics.allowedIpsLabel ?? false,
    },
    '$.health.listen': config.health?.listen,
    '$.configSource': config.configSource,
  });
  const before = effective(running);
  return Object.entries(effective(next))
    .filter(([path, value]) => JSON.stringify(value) !== JSON.stringify(before[path]))
    .map(([path]) => ({ path, message: 'cannot change while the agent runs; restart it' }));
}
