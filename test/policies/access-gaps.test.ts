/**
 * Access gaps found by review (issue 14), each on the recorded component stack or beside it: the
 * AWS-managed SecretsManagerReadWrite on a non-gateway role, a wildcard GetSecretValue in a stack
 * whose key secrets are untagged or elsewhere, untagged secrets holding a private key, gzip+base64
 * user data, a private key exported under a public-key name, a split default route, and on-premises
 * RemoteHostAgent configurations.
 */
import { gzipSync } from 'node:zlib';
import { wireGuardKeyPairFromEntropy } from '../../components/key';
import { remoteConfigureScript } from '../../components/remote-host';
import { unwrapSecrets } from '../../components/testing';
import { runPolicies, type RunnerResource, type Violation } from '../../policies/run';
import { componentStack, PEER_PUBLIC_KEY, SOME_PRIVATE_KEY, withProps } from './stacks';

let stack: RunnerResource[];
let now: Date;

beforeAll(async () => ({ stack, now } = await componentStack()), 60_000);

const run = (resources: RunnerResource[], policy: string): Violation[] =>
  runPolicies(resources, { now }).filter((v) => v.policyName === policy);
const names = (violations: Violation[]) => violations.map((v) => v.resourceName ?? v.message.slice(0, 60));
const role = (name: string, tags: Record<string, string> = {}): RunnerResource => ({
  type: 'aws:iam/role:Role',
  name,
  props: { name, assumeRolePolicy: '{}', tags },
});
const readAll = JSON.stringify({
  Version: '2012-10-17',
  Statement: [{ Effect: 'Allow', Action: 'secretsmanager:GetSecretValue', Resource: '*' }],
});

describe('wiremesh-key-secret-access: grants that read every secret', () => {
  const P = 'wiremesh-key-secret-access';

  test('the AWS-managed SecretsManagerReadWrite (or PowerUserAccess) on a non-gateway role, user or the gateway role itself', () => {
    const resources: RunnerResource[] = [
      ...stack,
      role('ci'),
      {
        type: 'aws:iam/rolePolicyAttachment:RolePolicyAttachment',
        name: 'ci-secrets',
        props: { role: 'ci', policyArn: 'arn:aws:iam::aws:policy/SecretsManagerReadWrite' },
      },
      {
        type: 'aws:iam/userPolicyAttachment:UserPolicyAttachment',
        name: 'dev-power',
        props: { user: 'dev', policyArn: 'arn:aws:iam::aws:policy/PowerUserAccess' },
      },
      {
        type: 'aws:iam/rolePolicyAttachment:RolePolicyAttachment',
        name: 'gw-secrets',
        props: { role: 'site-a-role', policyArn: 'arn:aws:iam::aws:policy/SecretsManagerReadWrite' },
      },
      {
        type: 'aws:iam/rolePolicyAttachment:RolePolicyAttachment',
        name: 'ci-ssm',
        props: { role: 'ci', policyArn: 'arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore' },
      },
    ];
    const found = run(resources, P);
    expect(names(found)).toEqual(['ci-secrets', 'dev-power', 'gw-secrets']);
    expect(found[0]!.message).toBe(
      '"ci-secrets" gives the IAM role "ci", which is not a gateway role, the AWS managed policy SecretsManagerReadWrite: it reads every secret of the account, WireGuard keys included. ' +
        'Only gateway roles may read keys: remove the attachment, or grant a policy naming only the secrets it needs.',
    );
    expect(found[2]!.message).toContain("A gateway reads only its own site's key");
  });

  test('GetSecretValue on "*" in a stack whose key secrets live in another stack (gateways, no key secrets here)', () => {
    const gatewayOnly: RunnerResource[] = [
      {
        type: 'aws:ec2/instance:Instance',
        name: 'gw',
        props: {
          tags: { 'wiremesh:role': 'gateway' },
          sourceDestCheck: false,
          metadataOptions: { httpTokens: 'required' },
        },
      },
      role('app'),
      { type: 'aws:iam/rolePolicy:RolePolicy', name: 'app-read', props: { role: 'app', policy: readAll } },
    ];
    expect(names(run(gatewayOnly, P))).toEqual(['app-read']);
    // A stack with nothing of wiremesh in it is not this pack's business.
    expect(run(gatewayOnly.slice(1), P)).toEqual([]);
  });

  test('untagged secrets whose value is a WireGuard private key are key secrets: grants on them and their schedule are checked', () => {
    const untagged: RunnerResource[] = [
      {
        type: 'aws:secretsmanager/secret:Secret',
        name: 'handmade',
        props: { arn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:handmade-AbCdEf', id: 'handmade-id' },
      },
      {
        type: 'aws:secretsmanager/secretVersion:SecretVersion',
        name: 'handmade-v1',
        props: { secretId: 'handmade-id', secretString: `${SOME_PRIVATE_KEY}\n` },
      },
      {
        type: 'gcp:secretmanager/secret:Secret',
        name: 'gcp-handmade',
        props: {
          secretId: 'gcp-handmade',
          name: 'projects/1/secrets/gcp-handmade',
          id: 'projects/p/secrets/gcp-handmade',
        },
      },
      {
        type: 'gcp:secretmanager/secretVersion:SecretVersion',
        name: 'gcp-handmade-v1',
        props: {
          secret: '04da6b54-80e4-46f7-96ec-b56ff0331ba9',
          secretData: JSON.stringify({ privateKey: SOME_PRIVATE_KEY }),
        },
        propertyDependencies: { secret: ['gcp-handmade'] },
      },
      role('web'),
      {
        type: 'aws:iam/rolePolicy:RolePolicy',
        name: 'web-read',
        props: {
          role: 'web',
          policy: JSON.stringify({
            Statement: [
              {
                Effect: 'Allow',
                Action: 'secretsmanager:GetSecretValue',
                Resource: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:handmade-AbCdEf',
              },
            ],
          }),
        },
      },
      {
        type: 'gcp:secretmanager/secretIamMember:SecretIamMember',
        name: 'web-accessor',
        props: {
          secretId: 'projects/p/secrets/gcp-handmade',
          role: 'roles/secretmanager.secretAccessor',
          member: 'user:dev@example.com',
        },
      },
      // A secret holding something else (a public key) is not a key secret.
      { type: 'aws:secretsmanager/secret:Secret', name: 'pub', props: { id: 'pub-id' } },
      {
        type: 'aws:secretsmanager/secretVersion:SecretVersion',
        name: 'pub-v1',
        props: { secretId: 'pub-id', secretString: PEER_PUBLIC_KEY },
      },
    ];
    expect(names(run(untagged, P))).toEqual(['web-read', 'web-accessor']);
    // Untagged key secrets make a wildcard read a violation too (no tag, no gateway in the stack).
    const wildcard: RunnerResource = {
      type: 'aws:iam/rolePolicy:RolePolicy',
      name: 'web-all',
      props: { role: 'web', policy: readAll },
    };
    expect(names(run([...untagged, wildcard], P))).toEqual(['web-read', 'web-all', 'web-accessor']);
    const rotation = run(untagged, 'wiremesh-key-rotation');
    expect(names(rotation)).toEqual(['handmade', 'handmade', 'gcp-handmade', 'gcp-handmade']);
    expect(rotation[0]!.message).toMatch(
      /^untagged key secret "handmade" \(its version "handmade-v1" holds a WireGuard private key; tag it wiremesh:role=wireguard-private-key\) has no rotation schedule/,
    );
  });
});

describe('wiremesh-key-material: gzip+base64 user data is decompressed and scanned', () => {
  const P = 'wiremesh-key-material';
  const gzip64 = (text: string) => gzipSync(Buffer.from(text)).toString('base64');

  test('EC2 userDataBase64 and a launch template with gzip-compressed cloud-init carrying a key', () => {
    const cloudInit = `#cloud-config\nwrite_files:\n  - path: /etc/wireguard/wg0.conf\n    content: |\n      [Interface]\n      PrivateKey = ${SOME_PRIVATE_KEY}\n`;
    const resources: RunnerResource[] = [
      { type: 'aws:ec2/instance:Instance', name: 'vm', props: { userDataBase64: gzip64(cloudInit) } },
      {
        type: 'aws:ec2/launchTemplate:LaunchTemplate',
        name: 'lt',
        props: { userData: gzip64(`#!/bin/sh\necho ${SOME_PRIVATE_KEY} > /etc/wg.key\n`) },
      },
      {
        type: 'aws:ec2/instance:Instance',
        name: 'clean',
        props: { userDataBase64: gzip64('#cloud-config\npackages: [wireguard-tools]\n') },
      },
    ];
    const found = run(resources, P);
    expect(
      found.map((v) => v.message.split(': user data')[0] + ' ' + v.message.split(' holds ')[1]!.split(':')[0]),
    ).toEqual([
      'aws:ec2/instance:Instance "vm" a "PrivateKey =" line',
      'aws:ec2/launchTemplate:LaunchTemplate "lt" a WireGuard-shaped key (44 characters of base64)',
    ]);
  });
});

describe('wiremesh-no-keys-in-outputs: a private key under a public-key name', () => {
  const P = 'wiremesh-no-keys-in-outputs';
  const outputs = (props: Record<string, unknown>): RunnerResource => ({
    type: 'pulumi:pulumi:Stack',
    name: 'project-stack',
    props,
  });

  test('caught when the same value is stored as a private key elsewhere in the stack, or its public key (derived) is in the stack; real public keys pass', () => {
    const pair = stack.find((r) => /^site-a-key-g\d+$/.test(r.name))!;
    const privateKey = String(unwrapSecrets(pair.props.privateKey));
    const publicKey = String(pair.props.publicKey);
    const storedOnly = wireGuardKeyPairFromEntropy(new Uint8Array(32).fill(11)).privateKey;
    // PEER_PUBLIC_KEY is in the stack (the agent configurations name it): its private key, exported, is caught by derivation.
    const peerPrivateKey = wireGuardKeyPairFromEntropy(new Uint8Array(32).fill(7)).privateKey;
    const resources: RunnerResource[] = [
      ...stack,
      {
        type: 'aws:secretsmanager/secretVersion:SecretVersion',
        name: 'handmade-v1',
        props: { secretId: 'x', secretString: storedOnly },
      },
      outputs({
        siteAPublicKey: privateKey,
        peers: { b: { publicKey: storedOnly } },
        peerPublicKey: peerPrivateKey,
        realPublicKey: publicKey,
        sitePublicKeys: [PEER_PUBLIC_KEY],
      }),
    ];
    const found = run(resources, P)
      .map((v) => v.message.split(': do not export')[0])
      .sort();
    expect(found).toEqual([
      'stack output "peerPublicKey" is named like a public key but holds a private key (its public key, derived from it, is in the stack)',
      'stack output "peers.b.publicKey" is named like a public key but holds a private key (the value SecretVersion "handmade-v1".secretString holds as a private key)',
      `stack output "siteAPublicKey" is named like a public key but holds a private key (the value WireGuardKeyPair "${pair.name}".privateKey holds as a private key)`,
    ]);
  });
});

describe('wiremesh-wireguard-hygiene: split default routes and on-premises hosts', () => {
  const P = 'wiremesh-wireguard-hygiene';
  const withAllowedIps = (allowedIps: string[]) =>
    withProps(stack, 'site-a-config-version', (p) => {
      const doc = JSON.parse(unwrapSecrets(p.secretString));
      doc.peers[0].allowedIps = allowedIps;
      return { ...p, secretString: JSON.stringify(doc) };
    });

  test('allowed IPs whose union covers a whole family are a default route (0.0.0.0/1 + 128.0.0.0/1, ::/1 + 8000::/1)', () => {
    expect(run(withAllowedIps(['0.0.0.0/1', '128.0.0.0/1']), P).map((v) => v.message)).toEqual([
      expect.stringContaining(
        'peer "site-b" has allowedIps 0.0.0.0/1, 128.0.0.0/1, which together cover all of IPv4: that routes all traffic to one peer',
      ),
    ]);
    expect(run(withAllowedIps(['10.20.0.0/16', '::/1', '8000::/1']), P).map((v) => v.message)).toEqual([
      expect.stringContaining('has allowedIps ::/1, 8000::/1, which together cover all of IPv6'),
    ]);
    expect(
      run(withAllowedIps(['0.0.0.0/2', '64.0.0.0/2', '128.0.0.0/2', '192.0.0.0/3', '224.0.0.0/3']), P),
    ).toHaveLength(1);
    expect(run(withAllowedIps(['0.0.0.0/1', '128.0.0.0/2', '10.0.0.0/8']), P)).toEqual([]); // not all of it
  });

  test("a RemoteHostAgent configuration (base64 in the configure script) is checked like a gateway's", () => {
    expect(run(stack, P)).toEqual([]);
    const bad = withProps(stack, 'onprem-configure', (p) => {
      const config = {
        interface: { name: 'wm0', addresses: ['10.99.0.9/24'], mtu: 1500 },
        privateKey: { source: 'file', path: '/etc/wiremesh/private.key' },
        peers: [
          {
            name: 'site-a',
            publicKey: PEER_PUBLIC_KEY,
            endpoint: '198.51.100.7:51820',
            allowedIps: ['0.0.0.0/1', '128.0.0.0/1'],
            persistentKeepalive: 120,
          },
        ],
      };
      return { ...p, create: remoteConfigureScript(JSON.stringify(config), '/etc/wiremesh/private.key') };
    });
    expect(run(bad, P).map((v) => v.message)).toEqual([
      expect.stringMatching(/^Command "onprem-configure" create \(agent configuration\): interface\.mtu 1500 exceeds/),
      expect.stringMatching(
        /^Command "onprem-configure" create \(agent configuration\): peer "site-a" has allowedIps 0\.0\.0\.0\/1, 128\.0\.0\.0\/1/,
      ),
      expect.stringMatching(
        /^Command "onprem-configure" create \(agent configuration\): peer "site-a" has persistentKeepalive 120/,
      ),
    ]);
  });
});
