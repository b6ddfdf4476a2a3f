/**
 * The agent's status document: a small JSON file (e.g. /run/wiremesh/wg0.status.json) saying which
 * keys the gateway holds and, per peer, where the key rotation stands. Whatever drives rotations
 * (the local target, a deploy reading it back) decides from it when a phase is done; see
 * docs/key-rotation.md. It holds public keys only.
 */
import { renameSync, writeFileSync } from 'node:fs';
import type { KeySlot } from '../core/keypair';

/**
 * Per peer: `steady` (one key each way), `peer-next` (the peer advertises a next key; we accept
 * both), `offering-next` (we hold a next key, the peer's session still uses our current one),
 * `on-next` (the peer's session uses our next key: this peer is done with our rotation).
 */
export type PeerKeyPhase = 'steady' | 'peer-next' | 'offering-next' | 'on-next';

export interface PeerKeyStatus {
  name: string;
  publicKey: string;
  nextPublicKey: string | null;
  /** Which of our keys the peer's session uses; null when the plane cannot tell. */
  localKey: KeySlot | null;
  phase: PeerKeyPhase;
  lastHandshakeUnixMs: number;
}

export interface AgentStatusDocument {
  interface: string;
  dataPlane: string;
  /** The configuration document version applied (cloud sources), else null. */
  documentVersion: string | null;
  publicKey: string;
  nextPublicKey: string | null;
  /**
   * Whether a peer's `nextPublicKey` is accepted beside its current key (the userspace plane), or
   * only once it becomes its `publicKey` (kernel, wireguard-go: one key per peer entry).
   */
  acceptsPeerNextKeys: boolean;
  /** The next scheduled key switch (ISO 8601; a document's `switchAt`), or null. */
  switchAt: string | null;
  /** `none`, `in-progress` (a next key is held) or `complete` (every peer uses it). */
  rotation: 'none' | 'in-progress' | 'complete';
  peers: PeerKeyStatus[];
}

export function peerKeyPhase(ourNextKey: boolean, localKey: KeySlot | null, peerNextKey: boolean): PeerKeyPhase {
  if (ourNextKey) return localKey === 'next' ? 'on-next' : 'offering-next';
  return peerNextKey ? 'peer-next' : 'steady';
}

/** Writes the document atomically (temporary file, then rename): a reader never sees half of it. */
export function writeStatusDocument(path: string, document: AgentStatusDocument): void {
  const temporary = `${path}.${process.pid}.tmp`;
  writeFileSync(temporary, `${JSON.stringify(document, null, 2)}\n`, { mode: 0o644 });
  renameSync(temporary, path);
}
