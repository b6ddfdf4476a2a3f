/**
 * Key rotation and revocation on a running local mesh, in the phases of docs/key-rotation.md:
 *   1. next:   a next key (the site's next key version) is created and its public key is added to
 *              every peer's document as the peer's `nextPublicKey` (they accept both);
 *   2. switch: the site's document names the next key version as `nextPrivateKey`; its agent
 *              initiates with it (falling back to the current one) and answers with either;
 *   3. retire: once every peer's session uses the next key, the next version becomes `privateKey`
 *              everywhere and the old version is deleted.
 * Each phase ends when every agent's status document says it applied it (a file reload, not a
 * timer), so the phases are the same on every run and a stuck agent stops the rotation with an
 * error naming it, with nothing retired. Any data plane may rotate; a peer that holds one key per
 * peer (kernel, wireguard-go) takes the next key in phase switch, at the instant (`switchAt`) that
 * the rotating site's document names for its own switch (docs/key-rotation.md, "The scheduled
 * switch").
 */
import { rmSync } from 'node:fs';
import { keyToBase64 } from '../../agent/crypto/keys';
import { generatePrivateKey, publicKeyOf } from '../../agent/crypto/primitives';
import type { PeerConfig } from '../../agent/gateway/config-types';
import type { AgentStatusDocument } from '../../agent/gateway/status-document';
import { keyFile, readAgentConfig, readStatusDocument, writeAgentConfig, writeKeyVersion } from './site-files';
import type { LocalSiteState, LocalState, LocalTarget, Progress } from './target';

export type RotationPhase = 'next' | 'switch' | 'retire';

export interface PhaseTiming {
  site: string;
  phase: RotationPhase;
  seconds: number;
}

const PHASE_TIMEOUT_MS = 30_000;
/**
 * How far ahead the switch of a site with one-key peers is scheduled: every agent rereads a changed
 * document within 200 ms (a file watch), so all of them hold the instant before it comes. An agent
 * that reads it late applies it at once.
 */
const SWITCH_LEAD_MS = 500;

async function waitFor(what: string, done: () => boolean): Promise<void> {
  const deadline = Date.now() + PHASE_TIMEOUT_MS;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${PHASE_TIMEOUT_MS / 1000} s waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** The sites whose documents list `site` as a peer (by its current public key). */
function peersOf(state: LocalState, site: LocalSiteState): LocalSiteState[] {
  return state.sites.filter(
    (other) =>
      other !== site &&
      !other.revoked &&
      readAgentConfig(other).peers.some((peer) => peer.publicKey === site.publicKey),
  );
}

function peerStatus(
  status: AgentStatusDocument | null,
  publicKey: string,
): AgentStatusDocument['peers'][number] | undefined {
  return status?.peers.find((peer) => peer.publicKey === publicKey);
}

/** Rewrites `peer`'s document with `edit` applied to its entry (entries) for the key `publicKey`. */
function editPeerEntry(peer: LocalSiteState, publicKey: string, edit: (entry: PeerConfig) => void): void {
  const config = readAgentConfig(peer);
  for (const entry of config.peers) if (entry.publicKey === publicKey) edit(entry);
  writeAgentConfig(peer, config);
}

/** In `peer`'s document, the rotating site's next key becomes its public key. */
function promotePeerKey(peer: LocalSiteState, oldPublicKey: string, nextPublicKey: string): void {
  editPeerEntry(peer, oldPublicKey, (entry) => {
    entry.publicKey = nextPublicKey;
    delete entry.nextPublicKey;
    delete entry.switchAt;
  });
}

/** Rotates one site's key through the three phases; returns the seconds each took. */
export async function rotateSite(target: LocalTarget, siteName: string, progress: Progress): Promise<PhaseTiming[]> {
  const state = target.readState()!;
  const site = state.sites.find((s) => s.site === siteName)!;
  const peers = peersOf(state, site);
  // Kernel and wireguard-go peers hold one key per peer: they take our next key at the scheduled
  // switch, instead of beside the current one (docs/key-rotation.md).
  const oneKeyPeers = new Set(peers.filter((peer) => readStatusDocument(peer)?.acceptsPeerNextKeys === false));
  const oldPublicKey = site.publicKey;
  const nextVersion = site.keyVersion + 1;
  const nextPrivateKey = generatePrivateKey();
  const nextPublicKey = keyToBase64(publicKeyOf(nextPrivateKey));
  const timings: PhaseTiming[] = [];
  const phase = async (name: RotationPhase, what: string, change: () => void, done: () => boolean): Promise<void> => {
    progress.step(`site ${site.site}: phase ${name}: ${what}`);
    const started = Date.now();
    change();
    await waitFor(`site ${site.site} phase ${name} (${what})`, done);
    timings.push({ site: site.site, phase: name, seconds: (Date.now() - started) / 1000 });
  };

  await phase(
    'next',
    `key version ${nextVersion} created; its public key sent to ${peers.map((p) => p.site).join(', ')}`,
    () => {
      writeKeyVersion(target.stateDir, site.site, nextVersion, nextPrivateKey);
      for (const peer of peers) editPeerEntry(peer, oldPublicKey, (entry) => (entry.nextPublicKey = nextPublicKey));
    },
    () => peers.every((peer) => peerStatus(readStatusDocument(peer), oldPublicKey)?.nextPublicKey === nextPublicKey),
  );

  await phase(
    'switch',
    `gateway ${site.site} offers key version ${nextVersion}; waiting for every peer to handshake on it`,
    () => {
      const config = readAgentConfig(site);
      config.nextPrivateKey = { source: 'file', path: keyFile(target.stateDir, site.site, nextVersion) };
      if (oneKeyPeers.size > 0) {
        const switchAt = new Date(Date.now() + SWITCH_LEAD_MS).toISOString();
        config.switchAt = switchAt;
        // Each one-key peer's entry (with our next key as its nextPublicKey since phase next) takes
        // that key at the same instant.
        for (const peer of oneKeyPeers) editPeerEntry(peer, oldPublicKey, (entry) => (entry.switchAt = switchAt));
      }
      writeAgentConfig(site, config);
    },
    () => readStatusDocument(site)?.rotation === 'complete',
  );

  await phase(
    'retire',
    `key version ${nextVersion} becomes the key; version ${site.keyVersion} retired`,
    () => {
      const config = readAgentConfig(site);
      config.privateKey = { source: 'file', path: keyFile(target.stateDir, site.site, nextVersion) };
      delete config.nextPrivateKey;
      delete config.switchAt;
      writeAgentConfig(site, config);
      for (const peer of peers) promotePeerKey(peer, oldPublicKey, nextPublicKey);
    },
    () => {
      const own = readStatusDocument(site);
      return (
        own?.publicKey === nextPublicKey &&
        own.rotation === 'none' &&
        peers.every((peer) => peerStatus(readStatusDocument(peer), nextPublicKey)?.phase === 'steady')
      );
    },
  );

  rmSync(keyFile(target.stateDir, site.site, site.keyVersion), { force: true });
  target.updateSite({ ...site, publicKey: nextPublicKey, keyVersion: nextVersion });
  return timings;
}

/**
 * Revokes a site: its key and its prefixes leave every other document (so no peer accepts its
 * handshakes or routes to it), effective once each agent reloaded. Its own gateway is left running:
 * a revoked key is one we no longer trust, not one we control.
 */
export async function revokeSite(target: LocalTarget, siteName: string, progress: Progress): Promise<number> {
  const state = target.readState()!;
  const site = state.sites.find((s) => s.site === siteName)!;
  const peers = state.sites.filter((other) => other !== site && !other.revoked);
  const revokedPrefixes = new Set(site.cidrs);
  progress.step(
    `site ${site.site}: removing its key and ${site.cidrs.join(', ')} from ${peers.map((p) => p.site).join(', ')}`,
  );
  const started = Date.now();
  for (const peer of peers) {
    const config = readAgentConfig(peer);
    config.peers = config.peers
      .filter((entry) => entry.publicKey !== site.publicKey)
      .map((entry) => ({ ...entry, allowedIps: entry.allowedIps.filter((prefix) => !revokedPrefixes.has(prefix)) }));
    if (config.routes) config.routes = config.routes.filter((prefix) => !revokedPrefixes.has(prefix));
    writeAgentConfig(peer, config);
  }
  target.updateSite({ ...site, revoked: true });
  await waitFor(`every peer to drop ${site.site}`, () =>
    peers.every((peer) => {
      const status = readStatusDocument(peer);
      return status !== null && !status.peers.some((entry) => entry.publicKey === site.publicKey);
    }),
  );
  return (Date.now() - started) / 1000;
}
