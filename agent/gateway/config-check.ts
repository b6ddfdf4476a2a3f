/**
 * What `wiremesh-agent check` verifies beyond the document itself: every key and configuration
 * source it names. A file is opened with the same rules as at `run` (regular file, owned by root,
 * no group or other access) and its content must have the right shape; a cloud secret is fetched
 * with the instance's identity (skipped with --offline). Results name the JSON path and the
 * source, never a value.
 */
import {
  fetchWithRetry,
  parseWireGuardKey,
  secretSource,
  SecretAccessError,
  type RetryOptions,
  type SecretSourceOptions,
} from '../secrets';
import { describeSecret, gcpVersionName } from '../secrets/types';
import { ConfigError } from '../../common/validation';
import { parseAgentConfig } from './config';
import type { AgentConfig, KeySource } from './config-types';

export type CheckOutcome = 'ok' | 'failed' | 'skipped';

export interface SourceCheck {
  /** JSON path of the field naming the source, e.g. $.peers[0].presharedKey. */
  path: string;
  source: string;
  outcome: CheckOutcome;
  detail: string;
}

export interface SourceCheckOptions {
  /** Leaves cloud secret stores alone (no credentials, no network): they are reported as skipped. */
  offline: boolean;
  secrets?: SecretSourceOptions;
  retry?: RetryOptions;
}

/** A boot gate: a few quick tries, so a metadata server still starting does not fail it. */
const CHECK_RETRY: RetryOptions = { attempts: 3, baseDelayMs: 500, maxDelayMs: 2000 };

export function describeKeySource(source: KeySource): string {
  switch (source.source) {
    case 'inline':
      return source.description;
    case 'file':
      return describeSecret.file(source.path);
    case 'aws-secrets-manager':
      return describeSecret.aws(source.secretId);
    case 'gcp-secret-manager':
      return describeSecret.gcp(gcpVersionName(source.name));
  }
}

/** Every key source of the document, with the JSON path that names it. */
function keySources(config: AgentConfig): { path: string; source: KeySource }[] {
  return [
    { path: '$.privateKey', source: config.privateKey },
    ...(config.nextPrivateKey ? [{ path: '$.nextPrivateKey', source: config.nextPrivateKey }] : []),
    ...config.peers.flatMap((peer, i) =>
      peer.presharedKey ? [{ path: `$.peers[${i}].presharedKey`, source: peer.presharedKey }] : [],
    ),
  ];
}

async function checkOne(
  path: string,
  source: KeySource | NonNullable<AgentConfig['configSource']>,
  content: 'key' | 'config',
  options: SourceCheckOptions,
): Promise<SourceCheck> {
  const described = source.source === 'inline' ? source.description : describeKeySource(source);
  const result = (outcome: CheckOutcome, detail: string): SourceCheck => ({ path, source: described, outcome, detail });
  if (source.source === 'inline')
    return result('ok', 'read with the file (root-owned, mode 0600), holds a WireGuard key');
  if (source.source !== 'file' && options.offline) return result('skipped', 'not fetched (--offline)');
  try {
    const value = await fetchWithRetry(secretSource(source, options.secrets), options.retry ?? CHECK_RETRY);
    if (content === 'key') parseWireGuardKey(value, 'its content');
    else parseAgentConfig(value.value.toString('utf8'));
    const access =
      source.source === 'file' ? 'root-owned, no group or other access' : "fetched with this host's identity";
    return result('ok', `${access}, holds ${content === 'key' ? 'a WireGuard key' : 'a valid configuration'}`);
  } catch (error) {
    // The line names the source already; the errors start with it too, for the logs.
    if (error instanceof SecretAccessError || error instanceof ConfigError)
      return result('failed', error.message.replace(`${described}: `, '').replace(`${described} `, ''));
    throw error;
  }
}

/** Checks every key source and a cloud configuration document, in document order. */
export async function checkSources(config: AgentConfig, options: SourceCheckOptions): Promise<SourceCheck[]> {
  const checks = keySources(config).map(({ path, source }) => checkOne(path, source, 'key', options));
  if (config.configSource && config.configSource.source !== 'file')
    checks.push(checkOne('$.configSource', config.configSource, 'config', options));
  return Promise.all(checks);
}

export function formatChecks(checks: SourceCheck[]): string {
  const width = Math.max(...checks.map((check) => check.outcome.length));
  return `sources:\n${checks.map((check) => `  ${check.outcome.padEnd(width)}  ${check.path}: ${check.source}: ${check.detail}`).join('\n')}\n`;
}
