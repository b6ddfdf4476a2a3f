/**
 * The boot lab's rotation walk (lab/boot/rotation.ts), its pure half: which deploys a rotation of
 * every key takes (from the plan, with the clock moved just past each phase's start), whether a
 * deploy's plan entered the phase, and when a status document shows a document applied.
 */
import type { AgentStatusDocument } from '../../agent/gateway/status-document';
import { DAY_MS, keyRotationPlan } from '../../components/rotation';
import { planMatchesStep, rotationSteps, statusApplied, type ExpectedKeys } from '../../lab/boot/rotation';

const NOW = Date.parse('2026-12-07T12:00:00Z');
const plan = {
  'aws-eu': keyRotationPlan('aws-gcp-aws-eu-key', new Date(NOW)),
  'gcp-eu': keyRotationPlan('aws-gcp-gcp-eu-key', new Date(NOW)),
};

describe('rotationSteps', () => {
  test('steady keys: next, switch and retire of each, in time order, the staggered phases interleaved', () => {
    const steps = rotationSteps(plan, NOW);
    expect(steps.map((s) => `${s.site} ${s.phase} ${s.at}`)).toEqual([
      'aws-eu next 2026-12-29T00:00:00.000Z',
      'gcp-eu next 2026-12-30T00:00:00.000Z',
      'aws-eu switch 2027-01-01T12:00:00.000Z',
      'gcp-eu switch 2027-01-02T12:00:00.000Z',
      'aws-eu retire 2027-01-12T00:00:00.000Z',
      'gcp-eu retire 2027-01-13T00:00:00.000Z',
    ]);
    // Each deploy's clock lands a minute into its phase, and its plan says so.
    let before = plan['aws-eu'];
    for (const step of steps.filter((s) => s.site === 'aws-eu')) {
      expect(NOW + step.clockOffsetMs - Date.parse(step.at)).toBe(60_000);
      const after = keyRotationPlan('aws-gcp-aws-eu-key', new Date(NOW + step.clockOffsetMs));
      expect(planMatchesStep(before, after, step.phase)).toBe(true);
      before = after;
    }
    expect(before).toMatchObject({ phase: 'steady', current: plan['aws-eu'].current + 1 });
  });

  test('a key already inside its rotation walks only the phases it has left', () => {
    const inNext = NOW + 22 * DAY_MS; // 2026-12-29T12:00Z: aws-eu in next, gcp-eu steady
    const now = { 'aws-eu': keyRotationPlan('aws-gcp-aws-eu-key', new Date(inNext)) };
    expect(now['aws-eu'].phase).toBe('next');
    expect(rotationSteps(now, inNext).map((s) => s.phase)).toEqual(['switch', 'retire']);
  });

  test('a plan that did not enter the phase does not match (a deploy at the wrong clock)', () => {
    expect(planMatchesStep(plan['aws-eu'], plan['aws-eu'], 'next')).toBe(false);
    const next = keyRotationPlan('aws-gcp-aws-eu-key', new Date(Date.parse(plan['aws-eu'].nextCreatedAt) + 1));
    expect(planMatchesStep(plan['aws-eu'], next, 'switch')).toBe(false);
    expect(planMatchesStep(next, next, 'retire')).toBe(false);
  });

  test('a key without an overlap window cannot be walked', () => {
    const plain = { x: keyRotationPlan('x', new Date(NOW), 90, 0) };
    expect(() => rotationSteps(plain, NOW)).toThrow("site x's key has no overlap window");
  });
});

describe('statusApplied', () => {
  const expected: ExpectedKeys = {
    statusFile: '/run/wiremesh/wm0.status.json',
    publicKey: 'own-current',
    nextPublicKey: null,
    peers: { 'gcp-eu': { publicKey: 'peer-current', nextPublicKey: 'peer-next' } },
  };
  const status = (overrides: Partial<AgentStatusDocument> = {}): AgentStatusDocument => ({
    interface: 'wm0',
    dataPlane: 'userspace',
    documentVersion: 'v2',
    publicKey: 'own-current',
    nextPublicKey: null,
    acceptsPeerNextKeys: true,
    switchAt: null,
    rotation: 'none',
    peers: [
      {
        name: 'gcp-eu',
        publicKey: 'peer-current',
        nextPublicKey: 'peer-next',
        localKey: 'current',
        phase: 'peer-next',
        lastHandshakeUnixMs: 1,
      },
    ],
    ...overrides,
  });

  test('the same own keys and the same peers with the same keys', () => {
    expect(statusApplied(status(), expected)).toBe(true);
    expect(statusApplied(undefined, expected)).toBe(false);
    expect(statusApplied(status({ nextPublicKey: 'own-next' }), expected)).toBe(false);
    expect(statusApplied(status({ peers: [{ ...status().peers[0]!, nextPublicKey: null }] }), expected)).toBe(false);
    expect(statusApplied(status({ peers: [] }), expected)).toBe(false);
  });
});
