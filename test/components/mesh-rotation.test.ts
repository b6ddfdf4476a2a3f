/**
 * Key rotation through deploys (docs/key-rotation.md, components/rotation.ts): a sequence of
 * WireGuardMesh program runs with a controlled clock and the state carried over between them
 * (./program-runs.ts). At each step: exactly which key generations exist, what every document
 * says (version references, next keys), and which resources are created, replaced, updated and
 * deleted. Then the plan a preview shows, revocation and the external sites' schedule.
 */
import type { AgentConfig } from '../../agent/gateway/config-types';
import { WireGuardMesh } from '../../components/mesh';
import { keyRotationPlan } from '../../components/rotation';
import { resolve, unwrapSecrets, type MockRecorder } from '../../components/testing';
import type { MeshSpec } from '../../mesh/spec';
import { OFFICE, PACKAGE, T, awsStoredConfig, gcpStoredConfig } from './mesh-support';
import { ProgramRuns, type RunChanges } from './program-runs';

const spec: MeshSpec = {
  name: 'rot',
  topology: { type: 'full-mesh' },
  sites: [
    { name: 'aws-a', provider: 'aws', cidrs: ['10.10.0.0/16'] },
    { name: 'gcp-d', provider: 'gcp', cidrs: ['10.21.0.0/16'] },
    { name: 'office', provider: 'external', cidrs: ['192.168.10.0/24'], endpoint: '192.0.2.10:51820', publicKey: OFFICE.publicKey },
  ],
};

const program = (now: string, extra: Partial<ConstructorParameters<typeof WireGuardMesh>[1]> = {}) => {
  let mesh: WireGuardMesh | undefined;
  const run = (): void => {
    mesh = new WireGuardMesh('rot', {
      spec,
      agentPackage: PACKAGE,
      aws: { sites: { 'aws-a': { vpcId: 'vpc-a', subnets: [{ subnetId: 'subnet-a', routeTableIds: ['rtb-a'] }] } } },
      gcp: { sites: { 'gcp-d': { network: 'net-d', subnetwork: 'sub-d', zones: ['us-central1-a'] } } },
      sourceCidrs: { 'aws-a': ['198.51.100.1/32'] },
      externalKeys: { office: { createdAt: '2025-06-01T00:00:00Z' } },
      now: () => new Date(now),
      ...extra,
    });
  };
  return { run, mesh: () => mesh! };
};

const A = 'aws:secretsmanager/secretVersion:SecretVersion';
const G = 'gcp:secretmanager/secretVersion:SecretVersion';
const PAIR = `${T.keyPair}::`;

/** The public key of generation g of a site's key, as the run's state holds it. */
const pub = (mocks: MockRecorder, site: string, g: number): string =>
  mocks.one(T.keyPair, `rot-${site}-key-g${g}`).state!.publicKey as string;
const versionId = (mocks: MockRecorder, g: number): string =>
  mocks.one(A, `rot-aws-a-key-version-g${g}`).state!.versionId as string;
const pairs = (mocks: MockRecorder): string[] => mocks.byType(T.keyPair).map((r) => r.name).sort();
const peer = (doc: AgentConfig, name: string) => doc.peers.find((p) => p.name === name)!;
const none: RunChanges = { create: [], update: [], replace: [], delete: [] };

describe('WireGuardMesh: rotation across deploys (controlled clock, state carried over)', () => {
  // aws-a's key: offset 7 days, epochs of 90 days, overlap 7 (derived from its name; checked here).
  const a = keyRotationPlan('rot-aws-a-key', new Date('2026-03-01T00:00:00Z'));
  it('the schedule of the key under test (and gcp-d steady through it)', () => {
    expect(a).toMatchObject({
      offsetDays: 7,
      phase: 'steady',
      current: 227,
      nextCreatedAt: '2026-03-08T00:00:00.000Z',
      switchAt: '2026-03-11T12:00:00.000Z',
      epochEnd: '2026-03-15T00:00:00.000Z',
      retireAt: '2026-03-22T00:00:00.000Z',
    });
    for (const day of ['2026-03-01', '2026-03-09', '2026-03-13', '2026-03-17', '2026-03-23']) {
      expect(keyRotationPlan('rot-gcp-d-key', new Date(`${day}T00:00:00Z`))).toMatchObject({
        phase: 'steady',
        current: 227,
      });
    }
  });

  it('before the overlap, next, switch, after the epoch, after retirement: exactly these keys, documents and changes', async () => {
    const runs = new ProgramRuns();

    // 1. Before the overlap: one generation per key; documents name exact versions, no next keys.
    const step = async (now: string) => {
      const p = program(now);
      const result = await runs.run(p.run);
      const office = (await resolve(p.mesh().externalSites)).office!;
      return { ...result, office };
    };
    const first = await step('2026-03-01T00:00:00Z');
    let m = first.mocks;
    expect(pairs(m)).toEqual(['rot-aws-a-key-g227', 'rot-gcp-d-key-g227']);
    let docA = awsStoredConfig(m, 'rot-aws-a');
    let docG = gcpStoredConfig(m, 'rot-gcp-d');
    expect(docA.privateKey).toEqual({
      source: 'aws-secrets-manager',
      secretId: expect.stringContaining(':secret:rot-aws-a-key-secret'),
      region: 'eu-west-1',
      versionId: versionId(m, 227),
    });
    expect(docA.nextPrivateKey).toBeUndefined();
    expect(docG.privateKey).toEqual({
      source: 'gcp-secret-manager',
      name: expect.stringMatching(/^projects\/.+\/secrets\/rot-gcp-d-key-secret-mock\/versions\/1$/),
    });
    expect(peer(docG, 'aws-a')).toMatchObject({ publicKey: pub(m, 'aws-a', 227) });
    expect(peer(docG, 'aws-a').nextPublicKey).toBeUndefined();
    const g227 = pub(m, 'aws-a', 227);
    const office1 = first.office;

    // 2. Inside the overlap, phase next: generation 228 and its secret version (AWSPENDING) are
    // created; the peer's document offers it; aws-a's own document does not change.
    const next = await step('2026-03-09T00:00:00Z');
    m = next.mocks;
    expect(next.changes).toEqual({
      ...none,
      create: [`${A}::rot-aws-a-key-version-g228`, `${PAIR}rot-aws-a-key-g228`],
      replace: [`${G}::rot-gcp-d-config-version`],
    });
    expect(pairs(m)).toEqual(['rot-aws-a-key-g227', 'rot-aws-a-key-g228', 'rot-gcp-d-key-g227']);
    expect(pub(m, 'aws-a', 227)).toBe(g227); // carried over: never regenerated
    const g228 = pub(m, 'aws-a', 228);
    expect(unwrapSecrets(m.one(A, 'rot-aws-a-key-version-g228').inputs.versionStages)).toEqual(['AWSPENDING']);
    expect(unwrapSecrets(m.one(A, 'rot-aws-a-key-version-g227').inputs.versionStages)).toEqual(['AWSCURRENT']);
    docG = gcpStoredConfig(m, 'rot-gcp-d');
    expect(peer(docG, 'aws-a')).toMatchObject({ publicKey: g227, nextPublicKey: g228 });
    expect(awsStoredConfig(m, 'rot-aws-a')).toEqual(docA);

    // 3. Phase switch: aws-a's document names version g228 as nextPrivateKey (and depends on it).
    const sw = await step('2026-03-13T00:00:00Z');
    m = sw.mocks;
    expect(sw.changes).toEqual({ ...none, replace: [`${A}::rot-aws-a-config-version`] });
    docA = awsStoredConfig(m, 'rot-aws-a');
    expect(docA.privateKey).toMatchObject({ versionId: versionId(m, 227) });
    expect(docA.nextPrivateKey).toMatchObject({ source: 'aws-secrets-manager', versionId: versionId(m, 228) });
    const configVersion = m.one(A, 'rot-aws-a-config-version');
    expect(configVersion.dependencies).toContain(m.one(A, 'rot-aws-a-key-version-g228').urn);
    expect(gcpStoredConfig(m, 'rot-gcp-d')).toEqual(docG);

    // 4. After the epoch end: nothing changes (the old key is not replaced at the epoch end any more).
    const after = await step('2026-03-17T00:00:00Z');
    expect(after.changes).toEqual(none);
    expect(after.office.configHash).toBe(office1.configHash);
    expect(after.office.peerKeyChanges).toContainEqual({ peer: 'aws-a', at: a.retireAt, newPublicKey: g228 });
    expect(after.office.nextChangeAt).toBe(a.retireAt);
    expect(after.office.keyExpiresAt).toBe('2026-06-01T00:00:00.000Z'); // its own key: createdAt + 365 days

    // 5. After retirement: 228 is the key; 227 and its version are destroyed; both documents promote.
    const retired = await step('2026-03-23T00:00:00Z');
    m = retired.mocks;
    expect(retired.changes).toEqual({
      create: [],
      // The version moves to AWSCURRENT; the secret's key-created-at tag follows the current generation.
      update: ['aws:secretsmanager/secret:Secret::rot-aws-a-key-secret', `${A}::rot-aws-a-key-version-g228`],
      replace: [`${A}::rot-aws-a-config-version`, `${G}::rot-gcp-d-config-version`],
      delete: [`${A}::rot-aws-a-key-version-g227`, `${PAIR}rot-aws-a-key-g227`],
    });
    expect(pairs(m)).toEqual(['rot-aws-a-key-g228', 'rot-gcp-d-key-g227']);
    expect(pub(m, 'aws-a', 228)).toBe(g228);
    expect(unwrapSecrets(m.one(A, 'rot-aws-a-key-version-g228').inputs.versionStages)).toEqual(['AWSCURRENT']);
    docA = awsStoredConfig(m, 'rot-aws-a');
    expect(docA.privateKey).toMatchObject({ versionId: versionId(m, 228) });
    expect(docA.nextPrivateKey).toBeUndefined();
    docG = gcpStoredConfig(m, 'rot-gcp-d');
    expect(peer(docG, 'aws-a').publicKey).toBe(g228);
    expect(peer(docG, 'aws-a').nextPublicKey).toBeUndefined();
    // The external site's file changed (its peer's key), as its schedule said.
    const office5 = retired.office;
    expect(office5.configHash).not.toBe(office1.configHash);
    expect(office1.peerKeyChanges).toContainEqual({ peer: 'aws-a', at: a.retireAt, newPublicKey: null });
  });
});

