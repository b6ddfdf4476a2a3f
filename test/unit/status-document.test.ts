/** The agent's status document: the per-peer key phase table and the atomic write readers rely on. */
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { peerKeyPhase, writeStatusDocument, type AgentStatusDocument } from '../../agent/gateway/status-document';

describe('peerKeyPhase', () => {
  it.each([
    [false, null, false, 'steady'],
    [false, 'current', true, 'peer-next'],
    [true, 'current', false, 'offering-next'],
    [true, null, true, 'offering-next'],
    [true, 'next', false, 'on-next'],
    [true, 'next', true, 'on-next'],
  ] as const)('our next key %s, session on %s, peer next key %s: %s', (ours, localKey, peers, phase) => {
    expect(peerKeyPhase(ours, localKey, peers)).toBe(phase);
  });
});

describe('writeStatusDocument', () => {
  const dir = mkdtempSync(join(tmpdir(), 'wiremesh-status-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('replaces the file whole, writable by its owner only (it holds public keys only), leaving no temporary file', () => {
    const path = join(dir, 'wm0.status.json');
    const document: AgentStatusDocument = {
      interface: 'wm0',
      dataPlane: 'userspace',
      documentVersion: null,
      publicKey: 'A',
      nextPublicKey: null,
      acceptsPeerNextKeys: true,
      switchAt: null,
      rotation: 'none',
      peers: [],
    };
    writeStatusDocument(path, document);
    writeStatusDocument(path, { ...document, rotation: 'in-progress', nextPublicKey: 'B' });
    expect(JSON.parse(readFileSync(path, 'utf8'))).toEqual({
      ...document,
      rotation: 'in-progress',
      nextPublicKey: 'B',
    });
    expect(statSync(path).mode & 0o622).toBe(0o600); // 0644 under the umask: nobody else may write it
    expect(readdirSync(dir)).toEqual(['wm0.status.json']);
  });
});
