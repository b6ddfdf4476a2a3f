/**
 * The stack policies of key rotation through deploys (components/rotation.ts, docs/key-rotation.md):
 *
 * - `wiremesh-rotation-window` (mandatory): each phase of a rotated key (half its overlap window)
 *   holds one deploy (`deployIntervalHours`) plus `pollsPerPhase` polls of the slowest agent
 *   (the largest `configSource.pollSeconds` of the stack's agent documents, default 60): otherwise
 *   a phase can end before every agent has read it, and a peer meets a key it does not know.
 * - `wiremesh-revoked-keys` (mandatory): no agent document, mesh spec or generated key lists a
 *   revoked public key (WireGuardMesh `revokedKeys` / `revokedSites`, plus the policy's own
 *   `revokedKeys`).
 * - `wiremesh-external-key-expiry` (advisory): an external site's own key (WireGuardMesh
 *   `externalKeys`) within `warnDays` of its expiry, or past it.
 */
import type { PolicyResource, ReportViolation, StackValidationArgs, StackValidationPolicy } from '@pulumi/policy';
import {
  arrayOf,
  clockFrom,
  configWithDefaults,
  DAY_MS,
  get,
  isoDate,
  known,
  TYPES,
  WIREGUARD_KEY_PAIR_TYPE,
} from './common';

const MESH_TYPE = 'wiremesh:mesh:WireGuardMesh';
/** The agent's poll interval when a document does not say (agent/gateway/agent.ts). */
const DEFAULT_POLL_SECONDS = 60;

/** The agent documents of the stack: JSON in secret versions (`peers` and `interface`), by resource. */
function agentDocuments(
  resources: PolicyResource[],
): Array<{ resource: PolicyResource; doc: Record<string, unknown> }> {
  const docs: Array<{ resource: PolicyResource; doc: Record<string, unknown> }> = [];
  for (const r of resources) {
    const text =
      r.type === TYPES.awsSecretVersion
        ? get(r.props, 'secretString')
        : r.type === TYPES.gcpSecretVersion
          ? get(r.props, 'secretData')
          : undefined;
    if (typeof text !== 'string' || !text.trimStart().startsWith('{')) continue;
    try {
      const doc = JSON.parse(text) as Record<string, unknown>;
      if (Array.isArray(doc.peers) && typeof doc.interface === 'object') docs.push({ resource: r, doc });
    } catch {
      // Not JSON: not an agent document.
    }
  }
  return docs;
}

export interface RotationWindowConfig {
  /** How often `pulumi up` runs, hours (default 24): each phase must hold one. */
  deployIntervalHours: number;
  /** Polls of every agent each phase must hold (default 3). */
  pollsPerPhase: number;
}

export const ROTATION_WINDOW_DEFAULTS: RotationWindowConfig = { deployIntervalHours: 24, pollsPerPhase: 3 };

export const rotationWindow: StackValidationPolicy = {
  name: 'wiremesh-rotation-window',
  description:
    'Each phase of a key rotation (half the overlap window) holds one deploy and several config polls of every agent.',
  enforcementLevel: 'mandatory',
  severity: 'high',
  configSchema: {
    properties: {
      deployIntervalHours: {
        type: 'number',
        minimum: 0,
        default: ROTATION_WINDOW_DEFAULTS.deployIntervalHours,
        description: 'How often `pulumi up` runs (hours): every phase must see one.',
      },
      pollsPerPhase: {
        type: 'integer',
        minimum: 1,
        default: ROTATION_WINDOW_DEFAULTS.pollsPerPhase,
        description: 'Config polls of every agent each phase must hold.',
      },
    },
  },
  validateStack: (args: StackValidationArgs, reportViolation: ReportViolation) => {
    const config = configWithDefaults(ROTATION_WINDOW_DEFAULTS, args.getConfig<Record<string, unknown>>());
    const polls = agentDocuments(args.resources).map(({ doc }) => {
      const seconds = get(doc.configSource, 'pollSeconds');
      return typeof seconds === 'number' && seconds > 0 ? seconds : DEFAULT_POLL_SECONDS;
    });
    const slowest = Math.max(DEFAULT_POLL_SECONDS, ...polls);
    const neededSeconds = config.deployIntervalHours * 3600 + config.pollsPerPhase * slowest;
    for (const r of args.resources) {
      known(() => {
        if (r.type !== WIREGUARD_KEY_PAIR_TYPE) return;
        const overlapDays = get(r.props, 'overlapDays');
        if (typeof overlapDays !== 'number' || overlapDays <= 0) return;
        const phaseSeconds = (overlapDays * 86_400) / 2;
        if (phaseSeconds < neededSeconds) {
          reportViolation(
            `the WireGuard key "${r.name}" has an overlap of ${overlapDays} days: each rotation phase lasts ${phaseSeconds / 3600} hours, ` +
              `less than one deploy every ${config.deployIntervalHours} hours plus ${config.pollsPerPhase} polls of ${slowest} s ` +
              `(the slowest agent's pollSeconds): raise overlapDays, deploy more often or poll faster.`,
            r.urn,
          );
        }
      }, undefined);
    }
  },
};

export interface RevokedKeysConfig {
  /** Public keys revoked outside any stack (e.g. a compromised partner key). */
  revokedKeys: string[];
}

export const revokedKeys: StackValidationPolicy = {
  name: 'wiremesh-revoked-keys',
  description: 'No document, spec or key of the stack lists a revoked WireGuard public key.',
  enforcementLevel: 'mandatory',
  severity: 'critical',
  configSchema: {
    properties: {
      revokedKeys: {
        type: 'array',
        items: { type: 'string' },
        default: [],
        description: "Revoked public keys (base64), in addition to the meshes' revokedKeys.",
      },
    },
  },
  validateStack: (args: StackValidationArgs, reportViolation: ReportViolation) => {
    const config = configWithDefaults<RevokedKeysConfig>(
      { revokedKeys: [] },
      args.getConfig<Record<string, unknown>>(),
    );
    const revoked = new Set(config.revokedKeys);
    for (const r of args.resources.filter((res) => res.type === MESH_TYPE)) {
      for (const key of arrayOf(get(r.props, 'revokedKeys'))) if (typeof key === 'string') revoked.add(key);
    }
    if (revoked.size === 0) return;
    const report = (r: PolicyResource, where: string): void =>
      reportViolation(
        `${where} lists a revoked public key: remove that peer (revokedSites) or give the site a new key, and deploy so every agent drops it.`,
        r.urn,
      );
    for (const { resource, doc } of agentDocuments(args.resources)) {
      arrayOf(doc.peers).forEach((peer, i) => {
        if (revoked.has(get(peer, 'publicKey')) || revoked.has(get(peer, 'nextPublicKey')))
          report(resource, `the agent document in "${resource.name}" (peers[${i}], "${String(get(peer, 'name'))}")`);
      });
    }
    for (const r of args.resources) {
      known(() => {
        if (r.type === MESH_TYPE) {
          arrayOf(get(get(r.props, 'spec'), 'sites')).forEach((site, i) => {
            if (revoked.has(get(site, 'publicKey')))
              report(r, `the mesh spec of "${r.name}" (sites[${i}], "${String(get(site, 'name'))}")`);
          });
        }
        if (r.type === WIREGUARD_KEY_PAIR_TYPE && revoked.has(get(r.props, 'publicKey')))
          report(r, `the WireGuard key "${r.name}"`);
      }, undefined);
    }
  },
};

export interface ExternalKeyExpiryConfig {
  /** Days before an external key's expiry from which it is reported (default 30). */
  warnDays: number;
  /** The instant to compare with, ISO 8601; default: the clock. */
  now: string;
}

export const externalKeyExpiry: StackValidationPolicy = {
  name: 'wiremesh-external-key-expiry',
  description: 'The keys of external sites (rotated by their owners) are renewed before they expire.',
  enforcementLevel: 'advisory',
  severity: 'medium',
  configSchema: {
    properties: {
      warnDays: { type: 'integer', minimum: 0, default: 30, description: 'Days before expiry to start warning.' },
      now: { type: 'string', default: '', description: 'The instant to compare with (ISO 8601); empty: the clock.' },
    },
  },
  validateStack: (args: StackValidationArgs, reportViolation: ReportViolation) => {
    const config = configWithDefaults<ExternalKeyExpiryConfig>(
      { warnDays: 30, now: '' },
      args.getConfig<Record<string, unknown>>(),
    );
    const now = clockFrom(config.now).getTime();
    for (const r of args.resources.filter((res) => res.type === MESH_TYPE)) {
      known(() => {
        const keys = get(r.props, 'externalKeys');
        for (const site of Object.keys(typeof keys === 'object' && keys !== null ? keys : {})) {
          const createdAt = Date.parse(String(get(get(keys, site), 'createdAt')));
          const maxAgeDays = Number(get(get(keys, site), 'maxAgeDays') ?? 365);
          if (!Number.isFinite(createdAt) || !Number.isFinite(maxAgeDays)) continue;
          const expires = createdAt + maxAgeDays * DAY_MS;
          const left = Math.ceil((expires - now) / DAY_MS);
          if (now >= expires) {
            reportViolation(
              `the key of external site "${site}" (mesh "${r.name}") expired on ${isoDate(new Date(expires))}: its owner must generate a new key; then update the site's publicKey and externalKeys.createdAt, deploy, and apply the new wg-quick file there.`,
              r.urn,
            );
          } else if (left <= config.warnDays) {
            reportViolation(
              `the key of external site "${site}" (mesh "${r.name}") expires on ${isoDate(new Date(expires))} (in ${left} days): ask its owner for a new key before then.`,
              r.urn,
            );
          }
        }
      }, undefined);
    }
  },
};
