/**
 * `wiremesh-wireguard-hygiene` (resource policy): the WireGuard settings of agent configurations and
 * mesh specs.
 *
 * - Allowed IPs never make a default route (0.0.0.0/0, ::/0, or any set whose union covers a whole
 *   family, such as the split 0.0.0.0/1 + 128.0.0.0/1) unless the tunnel is a declared full tunnel (a peer's
 *   `fullTunnel: true` in an agent configuration; a site's `fullTunnel: true` in a mesh spec, whose
 *   CIDRs become its peers' allowed IPs). `allowFullTunnel: false` refuses declared ones too.
 * - Persistent keepalive, where set (> 0), is within `minKeepaliveSeconds`..`maxKeepaliveSeconds`
 *   (default 15..30: often enough for NAT mappings and the AWS NLB's 120 s UDP idle timeout, rare
 *   enough not to waste traffic); a mesh spec with a site behind NAT needs one in that range
 *   (`defaults.persistentKeepalive`, default 25).
 * - The tunnel MTU (`interface.mtu`; a spec's `defaults.mtu`, default 1420) is at most
 *   `underlayMtu - encapsulationOverhead` (default 1500 - 80 = 1420: IPv6 outer header 40, UDP 8,
 *   WireGuard 32). Set `underlayMtu: 1460` for GCP's default VPC MTU.
 *
 * Where the documents are found:
 * - agent configuration documents stored in the secret stores: the text of
 *   `aws.secretsmanager.SecretVersion.secretString` and `gcp.secretmanager.SecretVersion.secretData`
 *   (JSON, as `agentConfigDocument` writes it, or YAML), recognised by their `interface` and `peers`;
 * - on-premises hosts: the scripts of `@pulumi/command` commands (`create`, `update`, `delete`),
 *   where `RemoteHostAgent` carries the host's configuration as base64 text;
 * - the inputs of our components (`wiremesh:*` types, e.g. the mesh component): any object in them
 *   shaped like an agent configuration (`interface` + `peers`) or a mesh spec (`sites` + `topology`).
 *
 * Secrets: the analyzer hands policies secret inputs unwrapped, so a configuration stored in a
 * secret is read like a plain one. At preview a document computed from other resources' outputs is
 * unknown; it is skipped then and checked during the update, when it is known.
 */
import type { ReportViolation, ResourceValidationArgs, ResourceValidationPolicy } from '@pulumi/policy';
import { parse as parseYaml } from 'yaml';
import { familiesCovered, isAnywhere } from './cidr';
import { arrayOf, configWithDefaults, decodeBase64Text, get, keysOf, TYPES } from './common';

export interface HygieneConfig {
  minKeepaliveSeconds: number;
  maxKeepaliveSeconds: number;
  underlayMtu: number;
  encapsulationOverhead: number;
  allowFullTunnel: boolean;
}

export const HYGIENE_DEFAULTS: HygieneConfig = {
  minKeepaliveSeconds: 15,
  maxKeepaliveSeconds: 30,
  underlayMtu: 1500,
  encapsulationOverhead: 80,
  allowFullTunnel: true,
};

/** The mesh spec's defaults (mesh/planner.ts). */
const SPEC_DEFAULT_MTU = 1420;
const SPEC_DEFAULT_KEEPALIVE = 25;

type Report = (message: string) => void;

/**
 * The prefixes of `cidrs` that make a default route, described: `0.0.0.0/0`, or a split one
 * (`0.0.0.0/1, 128.0.0.0/1, which together cover all of IPv4`); `undefined` when there is none.
 */
export function defaultRouteIn(cidrs: unknown[]): string | undefined {
  const families = familiesCovered(cidrs);
  if (families.length === 0) return undefined;
  const strings = cidrs.filter((c): c is string => typeof c === 'string');
  const ofFamily = (f: 4 | 6) => strings.filter((c) => c.includes(':') === (f === 6));
  const explicit = families.every((f) => ofFamily(f).some(isAnywhere));
  if (explicit) return strings.filter(isAnywhere).join(', ');
  return `${families.flatMap(ofFamily).join(', ')}, which together cover all of ${families.map((f) => `IPv${f}`).join(' and ')}`;
}

function isAgentConfig(value: unknown): boolean {
  return (
    typeof get(value, 'interface') === 'object' &&
    get(value, 'interface') !== null &&
    Array.isArray(get(value, 'peers'))
  );
}

function isMeshSpec(value: unknown): boolean {
  return Array.isArray(get(value, 'sites')) && typeof get(value, 'topology') === 'object';
}

/** Checks one agent configuration; `where` names it in messages. */
export function checkAgentConfig(doc: unknown, where: string, config: HygieneConfig, report: Report): void {
  const limit = config.underlayMtu - config.encapsulationOverhead;
  const mtu = get(get(doc, 'interface'), 'mtu');
  if (typeof mtu === 'number' && mtu > limit) {
    report(
      `${where}: interface.mtu ${mtu} exceeds the underlay MTU ${config.underlayMtu} minus the WireGuard overhead ${config.encapsulationOverhead}: ` +
        `set interface.mtu to at most ${limit} (larger packets are fragmented or dropped on the underlay).`,
    );
  }
  arrayOf(get(doc, 'peers')).forEach((peer, i) => {
    const name = typeof get(peer, 'name') === 'string' ? `peer "${get(peer, 'name')}"` : `peers[${i}]`;
    const open = defaultRouteIn(arrayOf(get(peer, 'allowedIps')));
    if (open !== undefined && (get(peer, 'fullTunnel') !== true || !config.allowFullTunnel)) {
      report(
        `${where}: ${name} has allowedIps ${open}: that routes all traffic to one peer and accepts any source from it; ` +
          (config.allowFullTunnel
            ? "list the peer site's prefixes instead, or, for a deliberate full-tunnel egress hub, declare it with fullTunnel: true."
            : "list the peer site's prefixes instead (full tunnels are not allowed by this policy's config)."),
      );
    }
    const keepalive = get(peer, 'persistentKeepalive');
    if (
      typeof keepalive === 'number' &&
      keepalive > 0 &&
      (keepalive < config.minKeepaliveSeconds || keepalive > config.maxKeepaliveSeconds)
    ) {
      report(
        `${where}: ${name} has persistentKeepalive ${keepalive}: set it from ${config.minKeepaliveSeconds} to ${config.maxKeepaliveSeconds} seconds ` +
          '(25 is usual): shorter wastes traffic, longer lets NAT and load balancer UDP mappings expire.',
      );
    }
  });
}

/** Checks one mesh spec (mesh/spec.ts). */
export function checkMeshSpec(spec: unknown, where: string, config: HygieneConfig, report: Report): void {
  const limit = config.underlayMtu - config.encapsulationOverhead;
  const defaults = get(spec, 'defaults');
  const mtu = get(defaults, 'mtu');
  const effectiveMtu = typeof mtu === 'number' ? mtu : SPEC_DEFAULT_MTU;
  if (effectiveMtu > limit) {
    report(
      `${where}: the mesh MTU ${effectiveMtu}${typeof mtu === 'number' ? '' : ' (the default)'} exceeds the underlay MTU ${config.underlayMtu} minus ` +
        `the WireGuard overhead ${config.encapsulationOverhead}: set defaults.mtu to at most ${limit}.`,
    );
  }
  const sites = arrayOf(get(spec, 'sites'));
  for (const site of sites) {
    const name = String(get(site, 'name') ?? '?');
    const open = defaultRouteIn(arrayOf(get(site, 'cidrs')));
    if (open !== undefined && (get(site, 'fullTunnel') !== true || !config.allowFullTunnel)) {
      report(
        `${where}: site "${name}" has cidrs ${open}; they become its peers' allowed IPs: list the site's own prefixes` +
          (config.allowFullTunnel
            ? ', or declare a full-tunnel egress hub with fullTunnel: true (its peers then route everything to it).'
            : '.'),
      );
    }
    if (get(site, 'fullTunnel') === true && !config.allowFullTunnel) {
      report(
        `${where}: site "${name}" is declared fullTunnel, which gives its peers allowed IPs 0.0.0.0/0 and ::/0: full tunnels are not allowed by this policy's config.`,
      );
    }
  }
  const natSites = sites.filter((s) => get(s, 'behindNat') === true).map((s) => String(get(s, 'name')));
  if (natSites.length > 0) {
    const keepalive = get(defaults, 'persistentKeepalive');
    const effective = typeof keepalive === 'number' ? keepalive : SPEC_DEFAULT_KEEPALIVE;
    if (effective < config.minKeepaliveSeconds || effective > config.maxKeepaliveSeconds) {
      report(
        `${where}: sites behind NAT (${natSites.join(', ')}) keep their tunnels open with defaults.persistentKeepalive ${effective}: ` +
          `set it from ${config.minKeepaliveSeconds} to ${config.maxKeepaliveSeconds} seconds (25 is usual).`,
      );
    }
  }
}

/** Parses a configuration document's text (JSON or YAML); `undefined` when it is neither. */
function parseDocument(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    try {
      return parseYaml(text);
    } catch {
      return undefined;
    }
  }
}

/** A base64 literal in a script, long enough to hold a document. */
const BASE64_LITERAL = /[A-Za-z0-9+/]{24,}={0,2}/g;

/**
 * Agent configurations carried inside a command script as base64 text, which is how
 * `RemoteHostAgent` writes an on-premises host's configuration (`printf %s '<base64>' | base64 -d`).
 */
function documentsInScript(
  script: string,
  path: string,
  out: Array<{ kind: 'agent' | 'mesh'; path: string; doc: unknown }>,
): void {
  // The same text may appear more than once (RemoteHostAgent's root-or-sudo wrapper repeats it).
  for (const literal of new Set(Array.from(script.matchAll(BASE64_LITERAL), (m) => m[0]))) {
    const text = decodeBase64Text(literal);
    const doc = text === undefined ? undefined : parseDocument(text);
    if (isAgentConfig(doc)) out.push({ kind: 'agent', path, doc });
  }
}

/** The script props of `@pulumi/command` commands (remote and local). */
const COMMAND_TYPES = ['command:remote:Command', 'command:local:Command'];
const SCRIPT_PROPS = ['create', 'update', 'delete'];

/** Agent configurations and mesh specs anywhere in a value, with their paths. */
function findDocuments(
  value: unknown,
  path: string,
  out: Array<{ kind: 'agent' | 'mesh'; path: string; doc: unknown }>,
  depth = 0,
): void {
  if (depth > 12 || typeof value !== 'object' || value === null) return;
  if (isAgentConfig(value)) {
    out.push({ kind: 'agent', path, doc: value });
    return;
  }
  if (isMeshSpec(value)) {
    out.push({ kind: 'mesh', path, doc: value });
    return;
  }
  if (Array.isArray(value)) {
    arrayOf(value).forEach((v, i) => findDocuments(v, `${path}[${i}]`, out, depth + 1));
    return;
  }
  for (const key of keysOf(value)) findDocuments(get(value, key), path === '' ? key : `${path}.${key}`, out, depth + 1);
}

export const wireguardHygiene: ResourceValidationPolicy = {
  name: 'wiremesh-wireguard-hygiene',
  description:
    'WireGuard settings are sound: no 0.0.0.0/0 or ::/0 allowed IPs outside declared full tunnels, keepalive 15-30 s, MTU within the underlay.',
  enforcementLevel: 'mandatory',
  severity: 'medium',
  configSchema: {
    properties: {
      minKeepaliveSeconds: {
        type: 'integer',
        minimum: 1,
        default: HYGIENE_DEFAULTS.minKeepaliveSeconds,
        description: 'Smallest persistent keepalive, seconds.',
      },
      maxKeepaliveSeconds: {
        type: 'integer',
        minimum: 1,
        default: HYGIENE_DEFAULTS.maxKeepaliveSeconds,
        description: 'Largest persistent keepalive, seconds.',
      },
      underlayMtu: {
        type: 'integer',
        minimum: 576,
        default: HYGIENE_DEFAULTS.underlayMtu,
        description: 'MTU of the network the tunnels run over (1460 on GCP by default).',
      },
      encapsulationOverhead: {
        type: 'integer',
        minimum: 0,
        default: HYGIENE_DEFAULTS.encapsulationOverhead,
        description: 'Bytes WireGuard adds per packet (80 over IPv6, 60 over IPv4).',
      },
      allowFullTunnel: {
        type: 'boolean',
        default: true,
        description: 'Accept 0.0.0.0/0 and ::/0 for declared full tunnels (fullTunnel: true).',
      },
    },
  },
  validateResource: (args: ResourceValidationArgs, reportViolation: ReportViolation) => {
    const config = configWithDefaults(HYGIENE_DEFAULTS, args.getConfig<Record<string, unknown>>());
    const docs: Array<{ kind: 'agent' | 'mesh'; path: string; doc: unknown }> = [];
    const field =
      args.type === TYPES.awsSecretVersion
        ? 'secretString'
        : args.type === TYPES.gcpSecretVersion
          ? 'secretData'
          : undefined;
    if (field !== undefined) {
      const text = get(args.props, field);
      if (typeof text === 'string') {
        const doc = parseDocument(text);
        if (isAgentConfig(doc)) docs.push({ kind: 'agent', path: field, doc });
      }
    } else if (args.type.startsWith('wiremesh:')) {
      findDocuments(args.props, '', docs);
    } else if (COMMAND_TYPES.includes(args.type)) {
      for (const prop of SCRIPT_PROPS) {
        const script = get(args.props, prop);
        if (typeof script === 'string') documentsInScript(script, prop, docs);
      }
    } else {
      args.notApplicable('only secret versions, commands (agent configuration documents) and wiremesh components');
    }
    const label = `${args.type.split(':').pop()} "${args.name}"`;
    for (const { kind, path, doc } of docs) {
      const where = `${label}${path ? ` ${path}` : ''}${kind === 'agent' ? ' (agent configuration)' : ' (mesh spec)'}`;
      if (kind === 'agent') checkAgentConfig(doc, where, config, reportViolation);
      else checkMeshSpec(doc, where, config, reportViolation);
    }
  },
};
