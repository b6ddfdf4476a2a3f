/**
 * Key handling: wiremesh-key-material, wiremesh-no-keys-in-outputs, wiremesh-key-secret-kms and
 * wiremesh-key-secret-access, each on the recorded component stack (compliant) and on violating
 * variants, recorded and hand-written.
 */
import { agentCloudInit } from '../../components/bootstrap';
import { resolve } from '../../components/testing';
import { runPolicies, type RunnerResource, type Violation } from '../../policies/run';
import { firstKeyCreatedAt, PEER_PUBLIC_KEY, recordComponentStack, SOME_PRIVATE_KEY, withProps } from './stacks';

const DAY = 86_400_000;
let stack: RunnerResource[];
let now: Date;

beforeAll(async () => {
  ({ resources: stack } = await recordComponentStack());
  now = new Date(firstKeyCreatedAt(stack).getTime() + DAY);
}, 60_000);

function run(resources: RunnerResource[], policy: string, config: Record<string, unknown> = {}): Violation[] {
  return runPolicies(resources, { now, config }).filter((v) => v.policyName === policy);
}

const messages = (violations: Violation[]) => violations.map((v) => v.message);

describe('wiremesh-key-material', () => {
  const P = 'wiremesh-key-material';

  test('the component stack passes: keys only in secret versions, the key pair and the on-premises stdin', () => {
    expect(run(stack, P)).toEqual([]);
    // The recorded stack does carry keys, where they are allowed.
    const stdin = stack.find((r) => r.name === 'onprem-configure')!.props.stdin;
    expect(JSON.stringify(stdin)).toContain(SOME_PRIVATE_KEY);
  });

  test('RemoteHostAgent stdin is refused with allowRemoteCommandStdin: false', () => {
    expect(messages(run(stack, P, { [P]: { allowRemoteCommandStdin: false } }))).toEqual([
      expect.stringMatching(
        /^command:remote:Command "onprem-configure": stdin holds a WireGuard private key .*AWS Secrets Manager \/ GCP Secret Manager/,
      ),
    ]);
  });

  test('a private key in the user data of a recorded gateway instance is reported (never echoed)', () => {
    const leaky = withProps(stack, 'site-a-instance-0', (p) => ({
      ...p,
      userData: `${p.userData}\nwrite_files:\n- content: ${SOME_PRIVATE_KEY}\n`,
    }));
    const found = run(leaky, P);
    expect(messages(found)).toEqual([
      'aws:ec2/instance:Instance "site-a-instance-0": user data (userData) holds a WireGuard-shaped key (44 characters of base64): ' +
        'user data is readable from the instance metadata service and the console; keep private and preshared keys only in AWS Secrets Manager / GCP Secret Manager ' +
        'and pass a secret reference (the secret ARN / name) that the host reads with its own identity (AwsKeySecret / GcpKeySecret and agentCloudInit do this).',
    ]);
    expect(JSON.stringify(found)).not.toContain(SOME_PRIVATE_KEY);
  });

  test('hand-written: a wg-quick config in base64 user data, a key in GCP metadata, in tags and labels, in an SSM parameter', async () => {
    const wgQuick = `[Interface]\nPrivateKey = ${SOME_PRIVATE_KEY}\nAddress = 10.99.0.1/24\n`;
    const resources: RunnerResource[] = [
      {
        type: 'aws:ec2/instance:Instance',
        name: 'vm',
        props: {
          userDataBase64: Buffer.from(`#!/bin/sh\ncat > /etc/wireguard/wg0.conf <<EOF\n${wgQuick}EOF\n`).toString(
            'base64',
          ),
        },
      },
      {
        type: 'aws:ec2/launchTemplate:LaunchTemplate',
        name: 'lt',
        props: { userData: Buffer.from(wgQuick).toString('base64') },
      },
      { type: 'gcp:compute/instance:Instance', name: 'gvm', props: { metadata: { 'wg-key': SOME_PRIVATE_KEY } } },
      {
        type: 'gcp:compute/instanceTemplate:InstanceTemplate',
        name: 'tpl',
        props: { metadataStartupScript: `echo "${wgQuick}" > /etc/wireguard/wg0.conf` },
      },
      { type: 'aws:ec2/securityGroup:SecurityGroup', name: 'sg', props: { tags: { peer: PEER_PUBLIC_KEY } } },
      {
        type: 'gcp:secretmanager/secret:Secret',
        name: 's',
        props: { labels: { key: SOME_PRIVATE_KEY.toLowerCase() } },
      },
      { type: 'aws:ssm/parameter:Parameter', name: 'param', props: { type: 'SecureString', value: PEER_PUBLIC_KEY } },
      { type: 'aws:s3/bucketObjectv2:BucketObjectv2', name: 'obj', props: { content: wgQuick } },
      { type: 'aws:lambda/function:Function', name: 'fn', props: { sourceCodeHash: SOME_PRIVATE_KEY } }, // a hash-named prop is skipped
    ];
    const found = run(resources, P);
    expect(found.map((v) => [v.resourceName, v.message.split(': ').slice(1, 2).join('')])).toEqual([
      ['vm', 'user data (userDataBase64) holds a "PrivateKey =" line'],
      ['lt', 'user data (userData) holds a "PrivateKey =" line'],
      ['gvm', 'instance metadata (metadata.wg-key) holds a WireGuard-shaped key (44 characters of base64)'],
      ['tpl', 'instance metadata (metadataStartupScript) holds a "PrivateKey =" line'],
      ['sg', 'tags.peer holds a WireGuard-shaped key (44 characters of base64)'],
      ['s', 'labels.key holds a WireGuard-shaped key (44 characters of base64)'],
      ['param', 'value holds a WireGuard-shaped key'],
      ['obj', 'content holds a "PrivateKey =" line'],
    ]);
    // The bootstrap's own user data (references only) passes.
    const userData = await resolve(
      agentCloudInit({
        agentPackage: 'wiremesh@0.1.0',
        bootstrapConfig: {
          interfaceName: 'wm0',
          privateKey: {
            source: 'aws-secrets-manager',
            secretId: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:k-AbCdEf',
          },
          configSource: {
            source: 'aws-secrets-manager',
            secretId: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:c-AbCdEf',
          },
        },
      }),
    );
    expect(run([{ type: 'aws:ec2/instance:Instance', name: 'ok', props: { userData } }], P)).toEqual([]);
  });
});

describe('wiremesh-no-keys-in-outputs', () => {
  const P = 'wiremesh-no-keys-in-outputs';
  const stackResource = (outputs: Record<string, unknown>): RunnerResource => ({
    type: 'pulumi:pulumi:Stack',
    name: 'project-stack',
    props: outputs,
  });

  test('public keys and secret ARNs may be exported', () => {
    const outputs = {
      siteA: {
        publicKey: PEER_PUBLIC_KEY,
        keySecretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:k-AbCdEf',
      },
      peerPublicKeys: [PEER_PUBLIC_KEY],
    };
    expect(run([...stack, stackResource(outputs)], P)).toEqual([]);
  });

  test('a private key (even a secret output) and a wg-quick text are reported', () => {
    const found = run(
      [
        stackResource({
          siteA: {
            privateKey: {
              '4dabf18193072939515e22adb298388d': '1b47061264138c4ac30d75fd1eb44270',
              value: SOME_PRIVATE_KEY,
            },
          },
          conf: `[Interface]\nPrivateKey = x\n`,
        }),
      ],
      P,
    );
    expect(found.map((v) => v.message.split(':')[0]).sort()).toEqual([
      'stack output "conf" holds a "PrivateKey =" line',
      'stack output "siteA.privateKey" holds a WireGuard-shaped key',
    ]);
    expect(found.find((v) => v.message.includes('siteA'))!.message).toContain(
      'export the public key, under a name containing "publicKey", or the secret\'s ARN/name',
    );
  });
});

describe('wiremesh-key-secret-kms (disabled unless configured)', () => {
  const P = 'wiremesh-key-secret-kms';
  const KMS = 'arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab';

  test('off by default; enabled, it reports AWS key secrets without a customer key', () => {
    expect(run(stack, P)).toEqual([]);
    const found = run(stack, P, { [P]: 'mandatory' });
    expect(found.map((v) => v.resourceName)).toEqual(['site-a-key-secret', 'site-c-key-secret']);
    expect(found[0]!.message).toContain('set kmsKeyId to a customer-managed KMS key ARN');
  });

  test('a customer key passes; the AWS managed alias does not', () => {
    const withKms = withProps(
      withProps(stack, 'site-a-key-secret', (p) => ({ ...p, kmsKeyId: KMS })),
      'site-c-key-secret',
      (p) => ({ ...p, kmsKeyId: 'alias/aws/secretsmanager' }),
    );
    expect(run(withKms, P, { [P]: 'mandatory' }).map((v) => v.resourceName)).toEqual(['site-c-key-secret']);
  });
});

describe('wiremesh-key-secret-access', () => {
  const P = 'wiremesh-key-secret-access';
  const keyArn = () => String(stack.find((r) => r.name === 'site-a-key-secret')!.props.arn);

  test('the component stack passes: each gateway role / service account reads exactly its own secrets', () => {
    expect(run(stack, P)).toEqual([]);
  });

  test('a wildcard resource in a recorded gateway role policy is reported', () => {
    const wildcard = withProps(stack, 'site-a-read-secrets', (p) => ({
      ...p,
      policy: JSON.stringify({
        Version: '2012-10-17',
        Statement: [{ Effect: 'Allow', Action: 'secretsmanager:GetSecretValue', Resource: '*' }],
      }),
    }));
    expect(messages(run(wildcard, P))).toEqual([
      'role policy "site-a-read-secrets" allows secretsmanager:GetSecretValue on the wildcard resource "*": name exactly the secret ARNs the gateway reads (AwsKeySecret.readPolicyDocument() / secretReadPolicy() do).',
    ]);
  });

  test("hand-written grants to a non-gateway role, a user, another site's gateway, and a public secret policy", () => {
    const read = (resource: string) =>
      JSON.stringify({
        Version: '2012-10-17',
        Statement: [{ Effect: 'Allow', Action: ['secretsmanager:Get*'], Resource: [resource] }],
      });
    const extra: RunnerResource[] = [
      {
        type: 'aws:iam/role:Role',
        name: 'ci-role',
        props: { name: 'ci-role', arn: 'arn:aws:iam::123456789012:role/ci-role' },
      },
      {
        type: 'aws:iam/rolePolicy:RolePolicy',
        name: 'ci-reads-key',
        props: { role: 'ci-role', policy: read(keyArn()) },
      },
      {
        type: 'aws:iam/userPolicy:UserPolicy',
        name: 'alice-reads-key',
        props: { user: 'alice', policy: read(keyArn()) },
      },
      {
        type: 'aws:iam/policy:Policy',
        name: 'shared-read',
        props: { arn: 'arn:aws:iam::123456789012:policy/shared-read', policy: read(keyArn()) },
      },
      {
        type: 'aws:iam/rolePolicyAttachment:RolePolicyAttachment',
        name: 'site-c-shared',
        props: { role: 'site-c-gateway-role', policyArn: 'arn:aws:iam::123456789012:policy/shared-read' },
      },
      {
        type: 'aws:iam/rolePolicyAttachment:RolePolicyAttachment',
        name: 'unknown-shared',
        props: { role: 'elsewhere', policyArn: 'arn:aws:iam::123456789012:policy/shared-read' },
      },
      {
        type: 'aws:secretsmanager/secretPolicy:SecretPolicy',
        name: 'open',
        props: {
          secretArn: keyArn(),
          policy: JSON.stringify({
            Statement: [{ Effect: 'Allow', Principal: '*', Action: 'secretsmanager:GetSecretValue', Resource: '*' }],
          }),
        },
      },
      {
        type: 'aws:secretsmanager/secretPolicy:SecretPolicy',
        name: 'account',
        props: {
          secretArn: keyArn(),
          policy: JSON.stringify({
            Statement: [
              {
                Effect: 'Allow',
                Principal: { AWS: 'arn:aws:iam::123456789012:root' },
                Action: 'secretsmanager:GetSecretValue',
                Resource: '*',
              },
            ],
          }),
        },
      },
    ];
    const found = messages(run([...stack, ...extra], P));
    expect(found).toEqual([
      expect.stringContaining(
        'role policy "ci-reads-key" lets the role "ci-role" read the key secret "site-a-key-secret", but it is not a gateway role',
      ),
      expect.stringContaining(
        'user policy "alice-reads-key" lets the IAM user "alice" read the key secret "site-a-key-secret": only gateway roles may read keys',
      ),
      'IAM policy "shared-read" lets the gateway role "site-c-gateway-role" of site site-c read the key secret "site-a-key-secret" of site site-a: a gateway reads only its own site\'s key.',
      expect.stringContaining(
        'IAM policy "shared-read" lets the role "elsewhere" read the key secret "site-a-key-secret", but no such role is in the stack',
      ),
      'secret policy "open" on the key secret "site-a-key-secret" allows any principal ("*"): allow only the gateway roles that read it.',
      expect.stringContaining(
        'secret policy "account" on the key secret "site-a-key-secret" allows "arn:aws:iam::123456789012:root", which is not a gateway role',
      ),
    ]);
    // A principal managed elsewhere can be allowed by name.
    expect(messages(run([...stack, ...extra.slice(0, 2)], P, { [P]: { allowedPrincipals: ['ci-role'] } }))).toEqual([]);
  });

  test('GCP: public and non-gateway members on a key secret, and a project-level accessor grant', () => {
    const keySecretId = String(stack.find((r) => r.name === 'site-b-key-secret')!.props.secretId);
    const extra: RunnerResource[] = [
      {
        type: 'gcp:secretmanager/secretIamMember:SecretIamMember',
        name: 'public',
        props: { secretId: keySecretId, role: 'roles/secretmanager.secretAccessor', member: 'allUsers' },
      },
      {
        type: 'gcp:secretmanager/secretIamBinding:SecretIamBinding',
        name: 'humans',
        props: {
          secretId: `projects/mock-project/secrets/${keySecretId}`,
          role: 'roles/secretmanager.secretAccessor',
          members: ['user:bob@example.com', 'serviceAccount:ci@mock-project.iam.gserviceaccount.com'],
        },
      },
      {
        type: 'gcp:secretmanager/secretIamMember:SecretIamMember',
        name: 'viewer',
        props: { secretId: keySecretId, role: 'roles/secretmanager.viewer', member: 'user:bob@example.com' },
      },
      {
        type: 'gcp:projects/iAMMember:IAMMember',
        name: 'project-wide',
        props: {
          project: 'mock-project',
          role: 'roles/secretmanager.secretAccessor',
          member: 'serviceAccount:ci@mock-project.iam.gserviceaccount.com',
        },
      },
    ];
    expect(messages(run([...stack, ...extra], P))).toEqual([
      '"public" grants roles/secretmanager.secretAccessor on the key secret "site-b-key-secret" to allUsers: grant it only to the gateway\'s service account.',
      expect.stringContaining(
        '"humans" grants roles/secretmanager.secretAccessor on the key secret "site-b-key-secret" to user:bob@example.com, which is not a gateway service account',
      ),
      expect.stringContaining(
        'to serviceAccount:ci@mock-project.iam.gserviceaccount.com, which is not a gateway service account',
      ),
      expect.stringContaining(
        '"project-wide" grants roles/secretmanager.secretAccessor on the whole project to serviceAccount:ci@mock-project.iam.gserviceaccount.com: that reads every key secret',
      ),
    ]);
  });
});
