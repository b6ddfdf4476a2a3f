/**
 * The rotation policies of policies/key-schedule.ts on hand-made stacks: the rotation window
 * against the deploy interval and the agents' poll interval, revoked keys anywhere in the stack,
 * and (with a recorded mesh, in test/components/rotation-sequence.test.ts) external key expiry.
 */
import { wireGuardKeyPairFromEntropy } from '../../components/key';
import { runPolicies, type RunnerResource, type Violation } from '../../policies/run';

const KEY_PAIR = 'pulumi-nodejs:dynamic/wiremesh:WireGuardKeyPair';
const PEER = wireGuardKeyPairFromEntropy(new Uint8Array(32).fill(31));
const NEXT = wireGuardKeyPairFromEntropy(new Uint8Array(32).fill(32));
const GATEWAY = wireGuardKeyPairFromEntropy(new Uint8Array(32).fill(33));

const keyPair = (name: string, overlapDays: number, publicKey = GATEWAY.publicKey): RunnerResource => ({
  type: KEY_PAIR,
  name,
  props: {
    epoch: 227,
    epochStart: '2026-01-01T00:00:00.000Z',
    maxAgeDays: 90,
    overlapDays,
    createdAt: '2025-12-25T00:00:00.000Z',
    publicKey,
  },
});

/** An agent document in an AWS config secret version, polled every `pollSeconds`. */
const document = (name: string, pollSeconds: number | undefined, peers: unknown[]): RunnerResource => ({
  type: 'aws:secretsmanager/secretVersion:SecretVersion',
  name,
  props: {
    secretId: `arn:aws:secretsmanager:eu-west-1:123456789012:secret:${name}`,
    secretString: JSON.stringify({
      interface: { name: 'wmesh0', addresses: ['10.99.0.1/32'] },
      privateKey: { source: 'aws-secrets-manager', secretId: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:k' },
      peers,
      configSource: {
        source: 'aws-secrets-manager',
        secretId: `arn:aws:secretsmanager:eu-west-1:123456789012:secret:${name}`,
        ...(pollSeconds !== undefined ? { pollSeconds } : {}),
      },
    }),
  },
});

const only = (name: string, violations: Violation[]) => violations.filter((v) => v.policyName === name);

describe('wiremesh-rotation-window', () => {
  const P = 'wiremesh-rotation-window';

  test('each phase (half the overlap) must hold one deploy and three polls of the slowest agent', () => {
    // 7 days: phases of 3.5 days, far more than a daily deploy plus three polls.
    expect(only(P, runPolicies([keyPair('k-g227', 7), document('cfg', 60, [])]))).toEqual([]);
    // 2 days: phases of exactly 24 hours, not 24 hours plus three 60 s polls.
    expect(
      only(P, runPolicies([keyPair('k-g227', 2), document('cfg', 60, [])])).map((v) => [v.enforcementLevel, v.message]),
    ).toEqual([
      [
        'mandatory',
        'the WireGuard key "k-g227" has an overlap of 2 days: each rotation phase lasts 24 hours, less than one deploy every 24 hours plus 3 polls of 60 s (the slowest agent\'s pollSeconds): raise overlapDays, deploy more often or poll faster.',
      ],
    ]);
    // Deploying every 12 hours fits it.
    expect(only(P, runPolicies([keyPair('k-g227', 2)], { config: { [P]: { deployIntervalHours: 12 } } }))).toEqual([]);
  });

  test('the slowest agent counts: a document polling every 9 hours needs phases over 48 hours with a daily deploy', () => {
    const stack = [keyPair('k-g227', 4), document('fast', 30, []), document('slow', 9 * 3600, [])];
    expect(only(P, runPolicies(stack)).map((v) => v.message)).toEqual([
      expect.stringContaining(
        'each rotation phase lasts 48 hours, less than one deploy every 24 hours plus 3 polls of 32400 s',
      ),
    ]);
    expect(only(P, runPolicies([keyPair('k-g227', 4), document('fast', 30, [])]))).toEqual([]);
  });

  test('a key without an overlap (replaced at once) is not a rotation window', () => {
    expect(only(P, runPolicies([keyPair('k-g227', 0), document('cfg', 60, [])]))).toEqual([]);
  });
});

describe('wiremesh-revoked-keys', () => {
  const P = 'wiremesh-revoked-keys';
  const peer = (extra: Record<string, unknown> = {}) => ({
    name: 'site-b',
    publicKey: PEER.publicKey,
    allowedIps: ['10.20.0.0/16'],
    ...extra,
  });

  test('a document listing a revoked key as a peer key or next key, or a generated key pair with it, is refused', () => {
    const stack = [
      document('cfg-a', 60, [peer()]),
      document('cfg-b', 60, [peer({ publicKey: GATEWAY.publicKey, nextPublicKey: NEXT.publicKey })]),
      keyPair('k-g228', 7, NEXT.publicKey),
    ];
    expect(only(P, runPolicies(stack))).toEqual([]); // nothing revoked
    const config = { [P]: { revokedKeys: [PEER.publicKey, NEXT.publicKey] } };
    expect(only(P, runPolicies(stack, { config })).map((v) => [v.enforcementLevel, v.resourceName, v.message])).toEqual(
      [
        [
          'mandatory',
          'cfg-a',
          'the agent document in "cfg-a" (peers[0], "site-b") lists a revoked public key: remove that peer (revokedSites) or give the site a new key, and deploy so every agent drops it.',
        ],
        [
          'mandatory',
          'cfg-b',
          'the agent document in "cfg-b" (peers[0], "site-b") lists a revoked public key: remove that peer (revokedSites) or give the site a new key, and deploy so every agent drops it.',
        ],
        [
          'mandatory',
          'k-g228',
          'the WireGuard key "k-g228" lists a revoked public key: remove that peer (revokedSites) or give the site a new key, and deploy so every agent drops it.',
        ],
      ],
    );
  });

  test("a mesh's own revokedKeys count as well as the policy's", () => {
    const mesh: RunnerResource = {
      type: 'wiremesh:mesh:WireGuardMesh',
      name: 'corp',
      props: { spec: { name: 'corp', sites: [] }, revokedKeys: [PEER.publicKey] },
    };
    expect(only(P, runPolicies([mesh, document('cfg-a', 60, [peer()])])).map((v) => v.resourceName)).toEqual(['cfg-a']);
  });
});
