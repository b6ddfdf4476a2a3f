/**
 * Key rotation through deploys (docs/key-rotation.md, components/rotation.ts): a sequence of
 * WireGuardMesh program runs with a controlled clock and the state carried over between them
 * (./program-runs.ts). At each step: exactly which key generations exist, what every document
 * says (version references, next keys), which resources are created, replaced, updated and
 * deleted, and that every document is one the agent's own config parser accepts. Both kinds of
 * peers: two keys per peer (userspace plane) and one (kernel / wireguard-go / auto). Then the plan
 * a preview shows, the stagger of a mesh's keys, revocation and the external sites' schedule.
 */
import type { AgentConfig } from '../../agent/gateway/config-types';
import { parseAgentConfig } from '../../agent/gateway/config';
import { WireGuardMesh, type WireGuardMeshArgs } from '../../components/mesh';
import { keyRotationPlan, rotationOffsetDays } from '../../components/rotation';
import { resolve, unwrapSecrets, type MockRecorder } from '../../components/testing';
import { fromRecordedResources, runPolicies } from '../../policies/run';
import type { MeshSpec } from '../../mesh/spec';
import { fullMesh, OFFICE, PACKAGE, T } from './mesh-support';
import { ProgramRuns, type RunChanges } from '../../components/program-runs';

// Three sites of the mesh tests' six: one gateway on each cloud and a plain external site.
const spec: MeshSpec = {
  name: 'rot',
  topology: { type: 'full-mesh' },
  sites: fullMesh.sites.filter((site) => ['aws-a', 'gcp-d', 'office'].includes(site.name)),
};

const program = (now: string, extra: Partial<WireGuardMeshArgs> = {}) => {
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

const A = T.awsSecretVersion;
const G = T.gcpSecretVersion;
const PAIR = `${T.keyPair}::`;
const none: RunChanges = { create: [], update: [], replace: [], delete: [] };
/** Phase next, on either plane: generation 228 and its secret version appear; the peer's document offers it. */
const NEXT_PHASE_CHANGES: RunChanges = {
  ...none,
  create: [`${A}::rot-aws-a-key-version-g228`, `${PAIR}rot-aws-a-key-g228`],
  replace: [`${G}::rot-gcp-d-config-version`],
};
/** Retirement: the version moves to AWSCURRENT, the secret's key-created-at tag follows it; 227 is destroyed. */
const RETIRE_UPDATES = ['aws:secretsmanager/secret:Secret::rot-aws-a-key-secret', `${A}::rot-aws-a-key-version-g228`];
const RETIRE_DELETES = [`${A}::rot-aws-a-key-version-g227`, `${PAIR}rot-aws-a-key-g227`];

/** The stored document text of a gateway, parsed by the agent's own config parser (throws on anything it refuses). */
const agentParsed = (text: string): AgentConfig => parseAgentConfig(text);
const docA = (m: MockRecorder): AgentConfig =>
  agentParsed(unwrapSecrets<string>(m.one(A, 'rot-aws-a-config-version').inputs.secretString));
const docG = (m: MockRecorder): AgentConfig =>
  agentParsed(unwrapSecrets<string>(m.one(G, 'rot-gcp-d-config-version').inputs.secretData));
/** The public key of generation g of a site's key, as the run's state holds it. */
const pub = (m: MockRecorder, site: string, g: number): string =>
  m.one(T.keyPair, `rot-${site}-key-g${g}`).state!.publicKey as string;
const versionId = (m: MockRecorder, g: number): string =>
  m.one(A, `rot-aws-a-key-version-g${g}`).state!.versionId as string;
const pairs = (m: MockRecorder): string[] =>
  m
    .byType(T.keyPair)
    .map((r) => r.name)
    .sort();
const peer = (doc: AgentConfig, name: string) => doc.peers.find((p) => p.name === name)!;
const stages = (m: MockRecorder, g: number): unknown =>
  unwrapSecrets(m.one(A, `rot-aws-a-key-version-g${g}`).inputs.versionStages);

// aws-a's key: offset 7 days, 90-day epochs, overlap 7 (derived from its name; checked below).
// The clock of each step; gcp-d's key (offset 74) is steady through all of them.
const BEFORE = '2026-03-01T00:00:00Z';
const NEXT = '2026-03-09T00:00:00Z';
const SWITCH = '2026-03-13T00:00:00Z';
const AFTER_EPOCH = '2026-03-17T00:00:00Z';
const RETIRED = '2026-03-23T00:00:00Z';
const a = keyRotationPlan('rot-aws-a-key', new Date(BEFORE));

describe('the schedule: deterministic, staggered per key name', () => {
  it('the key under test rotates in these windows, and gcp-d stays steady through them', () => {
    expect(a).toMatchObject({
      offsetDays: 7,
      phase: 'steady',
      current: 227,
      next: null,
      nextCreatedAt: '2026-03-08T00:00:00.000Z',
      switchAt: '2026-03-11T12:00:00.000Z',
      epochEnd: '2026-03-15T00:00:00.000Z',
      retireAt: '2026-03-22T00:00:00.000Z',
    });
    expect(keyRotationPlan('rot-aws-a-key', new Date(NEXT))).toMatchObject({
      phase: 'next',
      current: 227,
      next: 228,
      inUse: 227,
    });
    expect(keyRotationPlan('rot-aws-a-key', new Date(SWITCH))).toMatchObject({
      phase: 'switch',
      next: 228,
      inUse: 228,
    });
    expect(keyRotationPlan('rot-aws-a-key', new Date(AFTER_EPOCH))).toMatchObject({
      phase: 'switch',
      current: 227,
      next: 228,
    });
    expect(keyRotationPlan('rot-aws-a-key', new Date(RETIRED))).toMatchObject({
      phase: 'steady',
      current: 228,
      next: null,
    });
    // Every peer reported the new key (rotationComplete): retired at the epoch end, not one overlap later.
    expect(keyRotationPlan('rot-aws-a-key', new Date(AFTER_EPOCH), 90, 7, true)).toMatchObject({
      phase: 'steady',
      current: 228,
    });
    for (const day of [BEFORE, NEXT, SWITCH, AFTER_EPOCH, RETIRED]) {
      expect(keyRotationPlan('rot-gcp-d-key', new Date(day))).toMatchObject({ phase: 'steady', current: 227 });
    }
  });

  it('the keys of a mesh get different offsets (a deploy never flips them all), the same name always the same', () => {
    const names = ['aws-a', 'aws-b', 'gcp-c', 'gcp-d', 'hub', 'spoke-1', 'spoke-2', 'spoke-3'].map(
      (s) => `corp-${s}-key`,
    );
    // uint32be(sha256(name)[0..4]) mod 90: spread, and a collision now and then (two keys on one day).
    expect(names.map((n) => rotationOffsetDays(n, 90))).toEqual([49, 14, 85, 37, 42, 25, 61, 49]);
    expect(rotationOffsetDays('rot-aws-a-key', 90)).toBe(7);
    expect(rotationOffsetDays('rot-gcp-d-key', 90)).toBe(74);
    // Over a whole epoch of daily deploys: at most half of the keys are inside a rotation at once, and
    // a deploy changes the phase of at most the two keys that share an offset.
    const at = (day: number) => new Date(Date.UTC(2026, 0, 1) + day * 86_400_000);
    const state = (n: string, day: number) => {
      const plan = keyRotationPlan(n, at(day));
      return `${plan.phase}/${plan.current}`;
    };
    let rotatingAtOnce = 0;
    let flippedByOneDeploy = 0;
    for (let day = 1; day <= 90; day += 1) {
      rotatingAtOnce = Math.max(
        rotatingAtOnce,
        names.filter((n) => keyRotationPlan(n, at(day)).phase !== 'steady').length,
      );
      flippedByOneDeploy = Math.max(
        flippedByOneDeploy,
        names.filter((n) => state(n, day) !== state(n, day - 1)).length,
      );
    }
    expect(rotatingAtOnce).toBeLessThanOrEqual(names.length / 2);
    expect(flippedByOneDeploy).toBe(2);
  });
});

describe('WireGuardMesh: rotation across deploys (controlled clock, state carried over)', () => {
  async function sequence(extra: Partial<WireGuardMeshArgs>) {
    const runs = new ProgramRuns();
    const step = async (now: string) => {
      const p = program(now, extra);
      const result = await runs.run(p.run);
      const mesh = p.mesh();
      return { ...result, office: (await resolve(mesh.externalSites)).office!, mesh };
    };
    return {
      before: await step(BEFORE),
      next: await step(NEXT),
      switch: await step(SWITCH),
      afterEpoch: await step(AFTER_EPOCH),
      retired: await step(RETIRED),
    };
  }

  it('before the overlap: one generation per key; documents name exact versions, no next keys', async () => {
    const { before } = await sequence({});
    const m = before.mocks;
    expect(pairs(m)).toEqual(['rot-aws-a-key-g227', 'rot-gcp-d-key-g227']);
    expect(docA(m).privateKey).toEqual({
      source: 'aws-secrets-manager',
      secretId: expect.stringContaining(':secret:rot-aws-a-key-secret'),
      region: 'eu-west-1',
      versionId: versionId(m, 227),
    });
    expect(docA(m).nextPrivateKey).toBeUndefined();
    expect(docG(m).privateKey).toEqual({
      source: 'gcp-secret-manager',
      name: expect.stringMatching(/^projects\/.+\/secrets\/rot-gcp-d-key-secret-mock\/versions\/1$/),
    });
    expect(peer(docG(m), 'aws-a')).toEqual(expect.objectContaining({ publicKey: pub(m, 'aws-a', 227) }));
    expect(peer(docG(m), 'aws-a').nextPublicKey).toBeUndefined();
    // The instances boot with the unversioned key secret: a rotation never changes user data.
    expect(before.mesh.rotationPlan['aws-a']).toEqual(a);
  });

  it('two keys per peer (userspace): next offered, switch on the gateway only, both promote at retirement', async () => {
    const s = await sequence({ dataPlane: 'userspace' });
    const g227 = pub(s.before.mocks, 'aws-a', 227);

    // Phase next: the secret version of 228 is AWSPENDING; aws-a's own document does not change.
    let m = s.next.mocks;
    expect(s.next.changes).toEqual(NEXT_PHASE_CHANGES);
    expect(pairs(m)).toEqual(['rot-aws-a-key-g227', 'rot-aws-a-key-g228', 'rot-gcp-d-key-g227']);
    expect(pub(m, 'aws-a', 227)).toBe(g227); // carried over: never regenerated
    const g228 = pub(m, 'aws-a', 228);
    expect(stages(m, 228)).toEqual(['AWSPENDING']);
    expect(stages(m, 227)).toEqual(['AWSCURRENT']);
    const offered = docG(m);
    expect(peer(offered, 'aws-a')).toMatchObject({ publicKey: g227, nextPublicKey: g228 });
    // Two keys per peer: nothing needs timing (the gateway falls back per peer), so no switchAt.
    expect(peer(offered, 'aws-a').switchAt).toBeUndefined();
    expect(docA(m)).toEqual(docA(s.before.mocks));

    // Phase switch: aws-a's document names version g228 as nextPrivateKey and depends on it.
    m = s.switch.mocks;
    expect(s.switch.changes).toEqual({ ...none, replace: [`${A}::rot-aws-a-config-version`] });
    expect(docA(m).privateKey).toMatchObject({ versionId: versionId(m, 227) });
    expect(docA(m).nextPrivateKey).toEqual({
      source: 'aws-secrets-manager',
      secretId: expect.stringContaining(':secret:rot-aws-a-key-secret'),
      region: 'eu-west-1',
      versionId: versionId(m, 228),
    });
    expect(m.one(A, 'rot-aws-a-config-version').dependencies).toContain(m.one(A, 'rot-aws-a-key-version-g228').urn);
    expect(docG(m)).toEqual(offered);

    // After the epoch end: nothing changes (the old key is not replaced at the epoch end).
    expect(s.afterEpoch.changes).toEqual(none);
    expect(s.afterEpoch.office.configHash).toBe(s.before.office.configHash);
    expect(s.afterEpoch.office.peerKeyChanges).toContainEqual({ peer: 'aws-a', at: a.retireAt, newPublicKey: g228 });
    expect(s.afterEpoch.office.nextChangeAt).toBe(a.retireAt);

    // After retirement: 228 is the key; 227 and its version are destroyed; both documents promote.
    m = s.retired.mocks;
    expect(s.retired.changes).toEqual({
      create: [],
      update: RETIRE_UPDATES,
      replace: [`${A}::rot-aws-a-config-version`, `${G}::rot-gcp-d-config-version`],
      delete: RETIRE_DELETES,
    });
    expect(pairs(m)).toEqual(['rot-aws-a-key-g228', 'rot-gcp-d-key-g227']);
    expect(pub(m, 'aws-a', 228)).toBe(g228);
    expect(stages(m, 228)).toEqual(['AWSCURRENT']);
    expect(docA(m).privateKey).toMatchObject({ versionId: versionId(m, 228) });
    expect(docA(m).nextPrivateKey).toBeUndefined();
    expect(peer(docG(m), 'aws-a').publicKey).toBe(g228);
    expect(peer(docG(m), 'aws-a').nextPublicKey).toBeUndefined();
    // The external site's file changed at retirement (its peer's key), as its schedule said.
    expect(s.retired.office.configHash).not.toBe(s.before.office.configHash);
    expect(s.before.office.peerKeyChanges).toContainEqual({ peer: 'aws-a', at: a.retireAt, newPublicKey: null });
  });

  it('one key per peer (kernel, wireguard-go, auto): the switch is scheduled in phase next, the same instant on both sides', async () => {
    const s = await sequence({});
    const g227 = pub(s.before.mocks, 'aws-a', 227);

    // Phase next: the same creations. Both documents name the next key and one switchAt: aws-a
    // holds g228 unused until then, its peer switches to it then (docs/key-rotation.md, "The
    // scheduled switch"), whichever of them polls first.
    let m = s.next.mocks;
    expect(s.next.changes).toEqual({
      ...NEXT_PHASE_CHANGES,
      replace: [`${A}::rot-aws-a-config-version`, `${G}::rot-gcp-d-config-version`],
    });
    const g228 = pub(m, 'aws-a', 228);
    expect(peer(docG(m), 'aws-a')).toMatchObject({ publicKey: g227, nextPublicKey: g228, switchAt: a.switchAt });
    expect(docA(m).nextPrivateKey).toMatchObject({ versionId: versionId(m, 228) });
    expect(docA(m).switchAt).toBe(a.switchAt);
    // gcp-d is not rotating: nothing of it is scheduled.
    expect(docG(m).switchAt).toBeUndefined();
    expect(peer(docA(m), 'gcp-d').switchAt).toBeUndefined();
    const scheduled = docA(m);

    // Phase switch: aws-a's document stays (it switched at switchAt); its peer names g228 as its
    // key, which is what it switched to: that document changes nothing on the agent.
    m = s.switch.mocks;
    expect(s.switch.changes).toEqual({ ...none, replace: [`${G}::rot-gcp-d-config-version`] });
    expect(docA(m)).toEqual(scheduled);
    expect(peer(docG(m), 'aws-a').publicKey).toBe(g228);
    expect(peer(docG(m), 'aws-a').nextPublicKey).toBeUndefined();
    expect(peer(docG(m), 'aws-a').switchAt).toBeUndefined();
    const switched = docG(m);
    // The external file is one key per peer too: it changed now, and says so.
    expect(s.switch.office.configHash).not.toBe(s.before.office.configHash);
    expect(s.switch.office.peerKeyChanges).toContainEqual({ peer: 'aws-a', at: a.switchAt, newPublicKey: g228 });

    expect(s.afterEpoch.changes).toEqual(none);

    // Retirement: only aws-a's document promotes; the peer's already names g228.
    m = s.retired.mocks;
    expect(s.retired.changes).toEqual({
      create: [],
      update: RETIRE_UPDATES,
      replace: [`${A}::rot-aws-a-config-version`],
      delete: RETIRE_DELETES,
    });
    expect(docA(m).privateKey).toMatchObject({ versionId: versionId(m, 228) });
    expect(docA(m).nextPrivateKey).toBeUndefined();
    expect(docA(m).switchAt).toBeUndefined();
    expect(docG(m)).toEqual(switched);
    expect(s.retired.office.configHash).toBe(s.switch.office.configHash);
  });

  it('a preview inside the overlap shows the rotation plan and the changes it will make, and changes nothing', async () => {
    const runs = new ProgramRuns();
    await runs.run(program(BEFORE).run);
    const p = program(NEXT);
    const preview = await runs.run(p.run, { preview: true });
    expect(preview.changes.create).toEqual([`${A}::rot-aws-a-key-version-g228`, `${PAIR}rot-aws-a-key-g228`]);
    expect(preview.changes.delete).toEqual([]);
    // Plain values (no Outputs): known in a preview, exported as the examples' `rotationPlan`.
    const plan = p.mesh().rotationPlan;
    expect(plan['aws-a']).toMatchObject({
      phase: 'next',
      current: 227,
      next: 228,
      switchAt: a.switchAt,
      retireAt: a.retireAt,
    });
    expect(plan['aws-a']!.summary).toBe(
      `rot-aws-a-key: generation 228 offered to peers; the gateway switches to it ${a.switchAt}, generation 227 retired ${a.retireAt}`,
    );
    expect(plan['gcp-d']).toMatchObject({ phase: 'steady', current: 227, next: null });
    expect(Object.keys(plan).sort()).toEqual(['aws-a', 'gcp-d']); // cloud sites only: externals have their own schedule
    // The preview did not carry its state over: the real update still creates the generation.
    const up = await runs.run(program(NEXT).run);
    expect(up.changes.create).toEqual(preview.changes.create);
  });
});

describe('revocation and external keys', () => {
  it('revokedSites removes the site from every peer on the next deploy; the policy pack refuses a stack that still lists it', async () => {
    const runs = new ProgramRuns();
    const before = await runs.run(program(BEFORE).run);
    expect(docA(before.mocks).peers.map((p) => p.name)).toContain('office');
    const revokedKeys = { 'wiremesh-revoked-keys': { revokedKeys: [OFFICE.publicKey] } };
    // The stack of the first deploy lists the (now compromised) key: refused, naming each place.
    const listed = runPolicies(fromRecordedResources(before.mocks.resources), { config: revokedKeys }).filter(
      (v) => v.policyName === 'wiremesh-revoked-keys',
    );
    expect(listed.map((v) => v.message.split(' lists a revoked')[0]).sort()).toEqual([
      'the agent document in "rot-aws-a-config-version" (peers[1], "office")',
      'the agent document in "rot-gcp-d-config-version" (peers[1], "office")',
      'the mesh spec of "rot" (sites[2], "office")',
    ]);

    const p = program(BEFORE, { revokedSites: ['office'] });
    const revoked = await runs.run(p.run);
    expect(revoked.changes.replace).toEqual([`${A}::rot-aws-a-config-version`, `${G}::rot-gcp-d-config-version`]);
    for (const doc of [docA(revoked.mocks), docG(revoked.mocks)]) {
      expect(doc.peers.map((peerOf) => peerOf.name)).not.toContain('office');
      expect(JSON.stringify(doc)).not.toContain(OFFICE.publicKey);
      expect(JSON.stringify(doc)).not.toContain('192.168.10.0/24');
    }
    expect(Object.keys(await resolve(p.mesh().externalConfigs))).toEqual([]);
    const after = runPolicies(fromRecordedResources(revoked.mocks.resources), { config: revokedKeys }).filter(
      (v) => v.policyName === 'wiremesh-revoked-keys',
    );
    expect(after).toEqual([]);
  });

  it('a spec site with a key listed in revokedKeys is refused, naming the site', () => {
    expect(() => program(BEFORE, { revokedKeys: [OFFICE.publicKey] }).run()).toThrow(
      'WireGuardMesh "rot": spec sites[2] ("office") has a revoked public key (revokedKeys): give it a new key, or revoke the site (revokedSites)',
    );
  });

  it('externalKeys: the mesh says when the external key expires, and the pack warns before it does', async () => {
    const runs = new ProgramRuns();
    const run = await runs.run(program(BEFORE).run);
    const p = program(BEFORE);
    await runs.run(p.run);
    expect((await resolve(p.mesh().externalSites)).office).toMatchObject({
      keyCreatedAt: '2025-06-01T00:00:00Z',
      keyExpiresAt: '2026-06-01T00:00:00.000Z', // createdAt + 365 days (its own, longer schedule)
    });
    const stack = fromRecordedResources(run.mocks.resources);
    const expiry = (now: string) =>
      runPolicies(stack, { now: new Date(now) }).filter((v) => v.policyName === 'wiremesh-external-key-expiry');
    expect(expiry('2026-04-01T00:00:00Z')).toEqual([]);
    expect(expiry('2026-05-20T00:00:00Z').map((v) => [v.enforcementLevel, v.message])).toEqual([
      [
        'advisory',
        'the key of external site "office" (mesh "rot") expires on 2026-06-01 (in 12 days): ask its owner for a new key before then.',
      ],
    ]);
    expect(expiry('2026-06-02T00:00:00Z').map((v) => v.message)).toEqual([
      'the key of external site "office" (mesh "rot") expired on 2026-06-01: its owner must generate a new key; then update the site\'s publicKey and externalKeys.createdAt, deploy, and apply the new wg-quick file there.',
    ]);
  });
});
