/** Resolved agent configurations (agent/gateway/resolve.ts) for the pure tests of what the agent applies. */
import { parsePrefix } from '../../common/ip';
import type { ResolvedConfig, ResolvedPeer } from '../../agent/gateway/resolve';

/** A 32-byte key of one repeated byte. */
export const bytes = (byte: number): Buffer => Buffer.alloc(32, byte);

export function resolvedPeer(byte: number, overrides: Partial<ResolvedPeer> = {}): ResolvedPeer {
  return {
    name: `peer-${byte}`,
    publicKey: bytes(byte),
    nextPublicKey: null,
    switchAtUnixMs: null,
    presharedKey: null,
    endpoint: `198.18.0.${byte}:51820`,
    allowedIps: [parsePrefix(`10.0.${byte}.0/24`)],
    persistentKeepalive: 0,
    ...overrides,
  };
}

export function resolvedConfig(peers: ResolvedPeer[], overrides: Partial<ResolvedConfig> = {}): ResolvedConfig {
  return {
    interfaceName: 'wg0',
    addresses: [],
    mtu: 1420,
    privateKey: bytes(1),
    privateKeyCreated: { unknown: 'test' },
    nextPrivateKey: null,
    switchAtUnixMs: null,
    listenPort: 51820,
    fwmark: 0,
    peers,
    routes: [],
    ...overrides,
  };
}
