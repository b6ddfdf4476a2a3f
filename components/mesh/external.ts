/**
 * What the mesh computes for the sites it plans but does not deploy a gateway on, and the agent
 * configuration of a planned gateway (pure): external sites planned like gateways, their wg-quick
 * configurations (private and preshared keys left as placeholders), the source address of an
 * endpoint.
 */
import { createHash } from 'node:crypto';
import { isIP } from 'node:net';
import * as pulumi from '@pulumi/pulumi';
import type { AgentConfig, DataPlaneKind, KeySource } from '../../agent/gateway/config-types';
import type { SecretSourceConfig } from '../../agent/secrets/types';
import { splitHostPort } from '../../common/hostport';
import { agentConfigFor, planMesh, type GatewayPlan, type MeshPlan } from '../../mesh/planner';
import type { MeshSpec, SiteSpec } from '../../mesh/spec';
import { renderGateway } from '../../mesh/wg-quick-render';
import { DAY_MS } from '../rotation';
import type { WireGuardMeshArgs } from './args';
import type { KeyRotationPlan } from '../rotation';

/** Default maximum age of an external site's own key, days: longer than the mesh's (rotated by hand). */
export const DEFAULT_EXTERNAL_KEY_MAX_AGE_DAYS = 365;

/** The placeholder of an external site's private key in its wg-quick configuration. */
export const EXTERNAL_PRIVATE_KEY_PLACEHOLDER = '<your key>';

/**
 * The spec with every `external` site planned like a gateway (same name, CIDRs, endpoint, NAT;
 * its spec key as its public key), so the planner says what that site must configure. The plans
 * of the other sites are unchanged: the planner treats external sites differently only in not
 * planning them.
 */
export function planForExternalSites(
  planning: MeshSpec,
  publicKeys: Record<string, string>,
  endpoints: Record<string, string>,
): MeshPlan {
  const keys: Record<string, string> = { ...publicKeys };
  const sites = planning.sites.map((site): SiteSpec => {
    if (site.provider !== 'external') return site;
    keys[site.name] = site.publicKey!;
    const { publicKey: _publicKey, gateways: _gateways, ...rest } = site;
    return { ...rest, provider: 'aws' };
  });
  return planMesh({ ...planning, sites }, { publicKeys: keys, endpoints });
}

/** The wg-quick configuration of an external site: the planner's view of it, key left to the owner. */
export function renderExternalSiteConfig(
  plan: MeshPlan,
  gateway: GatewayPlan,
  spec: MeshSpec,
  presharedKeys: Record<string, PresharedKeySources> = {},
): string {
  const site = spec.sites.find((s) => s.name === gateway.site)!;
  const text = renderGateway(plan, gateway, spec, EXTERNAL_PRIVATE_KEY_PLACEHOLDER).replace(
    `PrivateKey = ${EXTERNAL_PRIVATE_KEY_PLACEHOLDER}`,
    `# Replace ${EXTERNAL_PRIVATE_KEY_PLACEHOLDER} with this site's private key (wg pubkey must print ${site.publicKey}); wg-quick refuses the file until then.\n` +
      `PrivateKey = ${EXTERNAL_PRIVATE_KEY_PLACEHOLDER}`,
  );
  // Preshared keys: a placeholder naming the secret that holds the key (never the key itself).
  const lines = text.split('\n');
  const out: string[] = [];
  let peer: string | undefined;
  for (const line of lines) {
    out.push(line);
    const comment = /^# (\S+)$/.exec(line);
    if (comment && out[out.length - 2] === '[Peer]') peer = comment[1];
    if (peer !== undefined && line.startsWith('PublicKey = ')) {
      const planned = gateway.peers.find((p) => p.site === peer);
      if (planned?.presharedKey) {
        const [a, b] = [gateway.site, peer].sort() as [string, string];
        const sources = presharedKeys[pairKey(a, b)];
        const where = sources?.awsRef ?? sources?.gcpRef ?? 'the secret store of the mesh';
        out.push(
          `# This tunnel has a preshared key, kept in ${where}: replace ${presharedKeyPlaceholder(peer)} with its value (the secret's content, base64).`,
          `PresharedKey = ${presharedKeyPlaceholder(peer)}`,
        );
      }
      peer = undefined;
    }
  }
  return out.join('\n');
}

/** The placeholder of a preshared key in an external site's wg-quick configuration. */
export function presharedKeyPlaceholder(peer: string): string {
  return `<preshared key with ${peer}>`;
}

/** Where the two ends of a pair read its preshared key: the agent sources per cloud, and what to tell an external site. */
export interface PresharedKeySources {
  aws?: SecretSourceConfig;
  gcp?: SecretSourceConfig;
  /** "AWS Secrets Manager secret <ARN>". */
  awsRef?: string;
  /** "GCP Secret Manager secret projects/P/secrets/S". */
  gcpRef?: string;
}

/** The key of a pair of sites (sorted names). */
export function pairKey(a: string, b: string): string {
  return [a, b].sort().join('|');
}

/** The agent configuration of a planned gateway without its private key (the components fill it in). */
export function planAgentConfig(
  gateway: GatewayPlan,
  options: {
    interfaceName: string;
    metricsListen?: string;
    dataPlane?: DataPlaneKind;
    presharedKey?: (siteA: string, siteB: string) => KeySource;
  },
): Omit<AgentConfig, 'privateKey'> {
  const { privateKey: _privateKey, ...rest } = agentConfigFor(gateway, {
    interfaceName: options.interfaceName,
    privateKey: { source: 'file', path: '/dev/null' },
    tunnelAddress: false,
    ...(options.presharedKey !== undefined ? { presharedKey: options.presharedKey } : {}),
    ...(options.metricsListen !== undefined ? { metrics: { listen: options.metricsListen } } : {}),
    ...(options.dataPlane !== undefined ? { dataPlane: options.dataPlane } : {}),
  });
  return rest;
}

/** The /32 or /128 of an endpoint whose host is an IP literal; undefined for a DNS name. */
export function endpointSourceCidr(endpoint: string | undefined): string | undefined {
  if (endpoint === undefined) return undefined;
  const { host } = splitHostPort(endpoint);
  const family = isIP(host);
  return family === 4 ? `${host}/32` : family === 6 ? `${host}/128` : undefined;
}

/**
 * A document with each peer's next public key (`nextPublicKeys` by site: the peers rotating now),
 * and when the peer switches to it where that is scheduled (`switchTimes` by site).
 */
export function withNextPublicKeys<T extends Pick<AgentConfig, 'peers'>>(
  config: T,
  nextPublicKeys: Record<string, string>,
  switchTimes: Record<string, string>,
): T {
  return {
    ...config,
    peers: config.peers.map((peer) => {
      const nextPublicKey = nextPublicKeys[peer.name];
      if (nextPublicKey === undefined) return peer;
      const switchAt = switchTimes[peer.name];
      return { ...peer, nextPublicKey, ...(switchAt !== undefined ? { switchAt } : {}) };
    }),
  };
}

/** The revocations as the mesh's inputs (for the policy pack): revoked sites, and every revoked public key known now. */
export function revocationInputs(args: WireGuardMeshArgs): { revokedSites?: string[]; revokedKeys?: string[] } {
  const written = typeof args.spec === 'object' ? args.spec : undefined;
  const siteKeys = (written?.sites ?? [])
    .filter((s) => args.revokedSites?.includes(s.name) && s.publicKey !== undefined)
    .map((s) => s.publicKey!);
  const revokedKeys = [...new Set([...(args.revokedKeys ?? []), ...siteKeys])];
  return {
    ...(args.revokedSites?.length ? { revokedSites: [...args.revokedSites] } : {}),
    ...(revokedKeys.length ? { revokedKeys } : {}),
  };
}

/** What an external site's owner needs to know about rotations (the `externalSites` output of WireGuardMesh). */
export interface ExternalSiteRotation {
  /** sha256 of its wg-quick configuration, first 16 hex digits: changes exactly when the file does. */
  configHash: string;
  /** Its peers' coming (or running) key changes: on `at` the peer's public key in the file becomes `newPublicKey` (null: not created yet). */
  peerKeyChanges: Array<{ peer: string; at: string; newPublicKey: string | null }>;
  /** The earliest of those, or null. */
  nextChangeAt: string | null;
  /** Its own key (`externalKeys`): created, and when it expires (createdAt + maxAgeDays); null when not given. */
  keyCreatedAt: string | null;
  keyExpiresAt: string | null;
}

/**
 * Per external site without a host: the hash of its file, when its peers' keys change in it, and
 * when its own key expires. A peer's key changes in the file when its gateway stops answering the
 * old key: at retirement with two-key gateways (until then they fall back to the current key for a
 * peer that does not answer the next one), at the switch with one-key gateways (they switch in place).
 */
export function externalSiteRotations(
  plan: { rotation: Record<string, KeyRotationPlan>; twoKeyPeers: boolean },
  args: WireGuardMeshArgs,
  configs: pulumi.Output<Record<string, string>>,
  externalPlan: pulumi.Output<MeshPlan>,
  nextPublicKeys: pulumi.Output<Record<string, string>>,
): pulumi.Output<Record<string, ExternalSiteRotation>> {
  return pulumi.unsecret(
    pulumi.all([configs, externalPlan, nextPublicKeys]).apply(([texts, external, nextKeys]) =>
      Object.fromEntries(
        Object.entries(texts).map(([site, text]): [string, ExternalSiteRotation] => {
          const gateway = external.gateways.find((g) => g.site === site)!;
          const peerKeyChanges = gateway.peers
            .filter((peer) => plan.rotation[peer.site] !== undefined)
            .map((peer) => ({
              peer: peer.site,
              at: plan.twoKeyPeers ? plan.rotation[peer.site]!.retireAt : plan.rotation[peer.site]!.switchAt,
              newPublicKey: nextKeys[peer.site] ?? null,
            }))
            .sort((a, b) => a.at.localeCompare(b.at));
          const own = args.externalKeys?.[site];
          const expires =
            own !== undefined
              ? new Date(Date.parse(own.createdAt) + (own.maxAgeDays ?? DEFAULT_EXTERNAL_KEY_MAX_AGE_DAYS) * DAY_MS)
              : undefined;
          return [
            site,
            {
              configHash: createHash('sha256').update(text).digest('hex').slice(0, 16),
              peerKeyChanges,
              nextChangeAt: peerKeyChanges[0]?.at ?? null,
              keyCreatedAt: own?.createdAt ?? null,
              keyExpiresAt: expires !== undefined ? expires.toISOString() : null,
            },
          ];
        }),
      ),
    ),
  );
}
