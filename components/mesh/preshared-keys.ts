/**
 * The preshared keys of a WireGuardMesh: one `WireGuardPresharedKey` per pair of the spec's
 * `presharedKeys` (`<name>-<a>-<b>-psk`), stored once in the secret store of each cloud of the
 * pair (the secret of a cloud lives with the first site of the pair on it: its provider, project,
 * KMS key), read by exactly those two sites' gateways. No wiremesh:site tag: the secret belongs to both.
 */
import * as pulumi from '@pulumi/pulumi';
import type { SecretSourceConfig } from '../../agent/secrets/types';
import { ROLE_PRESHARED_KEY } from '../../common/defaults';
import { AwsKeySecret } from '../aws/key-secret';
import { GcpKeySecret } from '../gcp/key-secret';
import { WireGuardPresharedKey } from '../preshared-key';
import type { MeshWiring } from './deploy';
import { pairKey, type PresharedKeySources } from './external';

export interface DeployedPresharedKeys {
  /** `a|b` -> the preshared key of that pair. */
  keys: Record<string, WireGuardPresharedKey>;
  /** `a|b` -> the secrets holding it, one per cloud of its sites. */
  secrets: Record<string, { aws?: AwsKeySecret; gcp?: GcpKeySecret }>;
  /** `a|b` -> where each end reads it. */
  sources: pulumi.Output<Record<string, PresharedKeySources>>;
}

/** Makes the keys and their secrets, and records in `w` which gateways read which secret. */
export function deployPresharedKeys(w: MeshWiring): DeployedPresharedKeys {
  const { name, args, parent } = w;
  const bySite = new Map(w.plan.spec.sites.map((s) => [s.name, s]));
  const keys: DeployedPresharedKeys['keys'] = {};
  const secrets: DeployedPresharedKeys['secrets'] = {};
  const sources: Record<string, pulumi.Output<PresharedKeySources>> = {};
  w.plan.presharedKeyPairs.forEach(([a, b], k) => {
    const pair = pairKey(a, b);
    const psk = new WireGuardPresharedKey(
      `${name}-${a}-${b}-psk`,
      {
        ...(args.maxKeyAgeDays !== undefined ? { maxAgeDays: args.maxKeyAgeDays } : {}),
        ...(args.now !== undefined ? { now: args.now } : {}),
      },
      { parent },
    );
    keys[pair] = psk;
    const sites = [a, b].map((n) => bySite.get(n)!);
    const description = `WireGuard preshared key of the tunnel ${a} <-> ${b} (mesh ${name})`;
    const found: Record<string, pulumi.Output<SecretSourceConfig | string>> = {};
    const awsSites = sites.filter((s) => s.provider === 'aws');
    if (awsSites.length > 0) {
      const placement = args.aws!.sites[awsSites[0]!.name]!;
      const provider = placement.provider ?? args.aws?.provider;
      const secret = new AwsKeySecret(
        `${name}-${a}-${b}-psk-aws`,
        {
          privateKey: psk.presharedKey,
          createdAt: psk.createdAt,
          role: ROLE_PRESHARED_KEY,
          description,
          ...(placement.kmsKeyId !== undefined ? { kmsKeyId: placement.kmsKeyId } : {}),
          ...(placement.secretRecoveryWindowInDays !== undefined
            ? { recoveryWindowInDays: placement.secretRecoveryWindowInDays }
            : {}),
          ...(placement.tags !== undefined ? { tags: placement.tags } : {}),
        },
        { parent, ...(provider !== undefined ? { providers: [provider] } : {}) },
      );
      secrets[pair] = { ...secrets[pair], aws: secret };
      for (const site of awsSites) (w.awsPskReads[site.name] ??= []).push(secret.readGrant(`PresharedKey${k}`));
      found.aws = secret.sourceConfig;
      found.awsRef = pulumi.interpolate`AWS Secrets Manager secret ${secret.arn}`;
    }
    const gcpSites = sites.filter((s) => s.provider === 'gcp');
    if (gcpSites.length > 0) {
      const placement = args.gcp!.sites[gcpSites[0]!.name]!;
      const provider = placement.provider ?? args.gcp?.provider;
      const project = placement.project ?? args.gcp?.project;
      const secret = new GcpKeySecret(
        `${name}-${a}-${b}-psk-gcp`,
        {
          privateKey: psk.presharedKey,
          createdAt: psk.createdAt,
          role: ROLE_PRESHARED_KEY,
          ...(project !== undefined ? { project } : {}),
          ...(placement.labels !== undefined ? { labels: placement.labels } : {}),
          ...(placement.secretReplication !== undefined ? { replication: placement.secretReplication } : {}),
          ...(placement.deletionProtection !== undefined ? { deletionProtection: placement.deletionProtection } : {}),
        },
        { parent, ...(provider !== undefined ? { providers: [provider] } : {}) },
      );
      secrets[pair] = { ...secrets[pair], gcp: secret };
      for (const site of gcpSites) (w.gcpPskReads[site.name] ??= []).push(secret.secret);
      found.gcp = secret.sourceConfig;
      found.gcpRef = pulumi.interpolate`GCP Secret Manager secret ${secret.secretName}`;
    }
    sources[pair] = pulumi.all(found) as pulumi.Output<PresharedKeySources>;
  });
  return {
    keys,
    secrets,
    sources: pulumi.output(pulumi.all(sources)) as pulumi.Output<Record<string, PresharedKeySources>>,
  };
}
