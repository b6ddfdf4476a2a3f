/**
 * Turns a validated configuration into the concrete values a data plane takes: keys fetched from
 * their stores (with retry), endpoint names resolved to addresses, prefixes parsed.
 */
import { lookup } from 'node:dns/promises';
import { parsePrefix, type IpPrefix } from '../../common/ip';
import { DEFAULT_MTU } from '../../common/defaults';
import { joinHostPort, splitHostPort } from '../../common/hostport';
import { keyFromBase64 } from '../crypto/keys';
import {
  fetchWithRetry,
  parseWireGuardKey,
  secretSource,
  type RetryOptions,
  type SecretSourceOptions,
} from '../secrets';
import { parseEndpoint } from '../wg/endpoint';
import type { AgentConfig, KeySource } from './config-types';

export interface ResolvedPeer {
  name: string;
  publicKey: Buffer;
  nextPublicKey: Buffer | null;
  /** When the peer starts using nextPublicKey (Unix ms; $.peers[].switchAt), or null. */
  switchAtUnixMs: number | null;
  presharedKey: Buffer | null;
  /** IP:port or [IPv6]:port, as the UAPI takes it. */
  endpoint: string | null;
  allowedIps: IpPrefix[];
  persistentKeepalive: number;
}

export interface ResolvedConfig {
  interfaceName: string;
  addresses: string[];
  mtu: number;
  privateKey: Buffer;
  /** When the private key was created (Unix ms), or why that is not known: wiremesh_key_age_seconds. */
  privateKeyCreated: { unixMs: number } | { unknown: string };
  nextPrivateKey: Buffer | null;
  /** When to start using nextPrivateKey (Unix ms; $.switchAt), or null: at once. */
  switchAtUnixMs: number | null;
  listenPort: number;
  fwmark: number;
  peers: ResolvedPeer[];
  routes: string[];
}

export interface ResolveOptions {
  retry: RetryOptions;
  secrets?: SecretSourceOptions;
}

interface FetchedKey {
  key: Buffer;
  created: ResolvedConfig['privateKeyCreated'];
}

async function fetchKey(source: KeySource, what: string, options: ResolveOptions): Promise<FetchedKey> {
  if (source.source === 'inline')
    return { key: source.key, created: { unknown: `${source.description} carries no creation time` } };
  const store = secretSource(source, options.secrets);
  const value = await fetchWithRetry(store, options.retry);
  const key = parseWireGuardKey(value, what);
  if (value.createdAtUnixMs !== undefined) return { key, created: { unixMs: value.createdAtUnixMs } };
  if (!store.createdAt) return { key, created: { unknown: `${store.description} gives no creation time` } };
  try {
    return { key, created: { unixMs: await store.createdAt(value) } };
  } catch (error) {
    return { key, created: { unknown: (error as Error).message } };
  }
}

async function resolveKey(source: KeySource, what: string, options: ResolveOptions): Promise<Buffer> {
  return (await fetchKey(source, what, options)).key;
}

/** Resolves `host:port` (a name or an address) to the address form the UAPI accepts. */
async function resolveEndpoint(endpoint: string): Promise<string> {
  try {
    return parseEndpoint(endpoint).toString();
  } catch {
    const { host, port } = splitHostPort(endpoint);
    const { address } = await lookup(host);
    return joinHostPort(address, port);
  }
}

function instantOrNull(instant: string | undefined): number | null {
  return instant === undefined ? null : Date.parse(instant);
}

export async function resolveConfig(config: AgentConfig, options: ResolveOptions): Promise<ResolvedConfig> {
  const peers = await Promise.all(
    config.peers.map(async (peer, i): Promise<ResolvedPeer> => ({
      name: peer.name,
      publicKey: keyFromBase64(peer.publicKey),
      nextPublicKey: peer.nextPublicKey ? keyFromBase64(peer.nextPublicKey) : null,
      switchAtUnixMs: instantOrNull(peer.switchAt),
      presharedKey: peer.presharedKey
        ? await resolveKey(peer.presharedKey, `preshared key of $.peers[${i}]`, options)
        : null,
      endpoint: peer.endpoint ? await resolveEndpoint(peer.endpoint) : null,
      allowedIps: peer.allowedIps.map(parsePrefix),
      persistentKeepalive: peer.persistentKeepalive ?? 0,
    })),
  );
  const privateKey = await fetchKey(config.privateKey, 'private key ($.privateKey)', options);
  return {
    interfaceName: config.interface.name,
    addresses: config.interface.addresses,
    mtu: config.interface.mtu ?? DEFAULT_MTU,
    privateKey: privateKey.key,
    privateKeyCreated: privateKey.created,
    nextPrivateKey: config.nextPrivateKey
      ? await resolveKey(config.nextPrivateKey, 'next private key ($.nextPrivateKey)', options)
      : null,
    switchAtUnixMs: instantOrNull(config.switchAt),
    listenPort: config.interface.listenPort ?? 0,
    fwmark: config.interface.fwmark ?? 0,
    peers,
    routes: config.routes ?? config.peers.flatMap((peer) => peer.allowedIps.filter((ip) => parsePrefix(ip).bits > 0)),
  };
}
