/**
 * components/aws/key-secret.ts and policy.ts: the key is a secret wherever it goes, the tags, the
 * least-privilege read policy (with and without a customer KMS key), and the argument checks.
 */
import * as aws from '@pulumi/aws';
import * as pulumi from '@pulumi/pulumi';
import { AwsKeySecret } from '../../components/aws/key-secret';
import { secretReadPolicy, secretReadStatements, type IamPolicyDocument } from '../../components/aws/policy';
import { awsMockOptions } from '../../components/aws/testing';
import { isSecretInput, resolve, setupMocks, unwrapSecrets } from '../../components/testing';

const PRIVATE_KEY = 'gJqVbqkFAfHpSbTcvG5mbw0dH3xFt0HdQe3E6LwT8Wc=';
const KMS_KEY = 'arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab';
const CREATED_AT = '2025-01-01T00:00:00.000Z';

describe('AwsKeySecret', () => {
  test('stores the key as a secret SecretVersion of a tagged secret', async () => {
    const mocks = setupMocks(awsMockOptions());
    const secret = new AwsKeySecret('gw-key', {
      privateKey: pulumi.secret(PRIVATE_KEY),
      createdAt: CREATED_AT,
      siteName: 'site-a',
      tags: { team: 'net' },
    });
    const arn = await resolve(secret.arn);
    await mocks.settle();

    const version = mocks.one('aws:secretsmanager/secretVersion:SecretVersion');
    expect(isSecretInput(version.inputs.secretString)).toBe(true);
    expect(unwrapSecrets(version.inputs.secretString)).toBe(PRIVATE_KEY);
    const stored = mocks.one('aws:secretsmanager/secret:Secret');
    expect(stored.inputs.tags).toEqual({
      team: 'net',
      'wiremesh:role': 'wireguard-private-key',
      'wiremesh:key-created-at': CREATED_AT,
      'wiremesh:site': 'site-a',
    });
    expect(stored.inputs.kmsKeyId).toBeUndefined();
    expect(stored.inputs.recoveryWindowInDays).toBe(7);
    // The key appears nowhere else, plain or secret.
    for (const resource of mocks.resources.filter((r) => r !== version)) {
      expect(JSON.stringify(unwrapSecrets(resource.inputs))).not.toContain(PRIVATE_KEY);
    }
    expect(mocks.one('wiremesh:aws:AwsKeySecret').urn).toBe(stored.parent);
    expect(arn).toMatch(/^arn:aws:secretsmanager:eu-west-1:123456789012:secret:/);
    await expect(resolve(secret.sourceConfig)).resolves.toEqual({
      source: 'aws-secrets-manager',
      secretId: arn,
      region: 'eu-west-1',
      versionId: version.state!.versionId, // the exact version: a key change is a document change
    });
  });

  test('read policy without a customer KMS key: GetSecretValue on this ARN only', async () => {
    setupMocks(awsMockOptions());
    const secret = new AwsKeySecret('gw-key', { privateKey: pulumi.secret(PRIVATE_KEY), createdAt: CREATED_AT });
    const [arn, policy] = await Promise.all([resolve(secret.arn), resolve(secret.readPolicyDocument())]);
    expect(JSON.parse(policy)).toEqual({
      Version: '2012-10-17',
      Statement: [{ Sid: 'ReadKeySecret', Effect: 'Allow', Action: 'secretsmanager:GetSecretValue', Resource: arn }],
    });
  });

  test('read policy with a customer KMS key: kms:Decrypt scoped by encryption context and service', async () => {
    const mocks = setupMocks(awsMockOptions());
    const secret = new AwsKeySecret('gw-key', {
      privateKey: pulumi.secret(PRIVATE_KEY),
      createdAt: CREATED_AT,
      kmsKeyId: KMS_KEY,
    });
    const [arn, policy] = await Promise.all([resolve(secret.arn), resolve(secret.readPolicyDocument())]);
    await mocks.settle();
    expect(mocks.one('aws:secretsmanager/secret:Secret').inputs.kmsKeyId).toBe(KMS_KEY);
    const document = JSON.parse(policy) as IamPolicyDocument;
    expect(document.Statement).toEqual([
      { Sid: 'ReadKeySecret', Effect: 'Allow', Action: 'secretsmanager:GetSecretValue', Resource: arn },
      {
        Sid: 'DecryptKeySecret',
        Effect: 'Allow',
        Action: 'kms:Decrypt',
        Resource: KMS_KEY,
        Condition: {
          StringEquals: {
            'kms:ViaService': 'secretsmanager.eu-west-1.amazonaws.com',
            'kms:EncryptionContext:SecretARN': arn,
          },
        },
      },
    ]);
  });

  test('a provider passed in options reaches the secret and its version', async () => {
    const mocks = setupMocks(awsMockOptions());
    const provider = new aws.Provider('use1', { region: 'us-east-1' });
    new AwsKeySecret(
      'gw-key',
      { privateKey: pulumi.secret(PRIVATE_KEY), createdAt: CREATED_AT },
      { providers: [provider] },
    );
    await mocks.settle();
    const children = mocks.resources.filter(
      (r) => r.custom && r.type.startsWith('aws:') && !r.type.startsWith('pulumi:providers'),
    );
    expect(children.length).toBe(2);
    for (const child of children) expect(child.provider).toMatch(/::pulumi:providers:aws::use1::/);
  });

  describe('argument checks', () => {
    beforeEach(() => setupMocks(awsMockOptions()));

    test.each([
      [
        'a plain string key',
        { privateKey: PRIVATE_KEY, createdAt: CREATED_AT },
        'AwsKeySecret "k": privateKey must be a secret Output (WireGuardKey.privateKey or pulumi.secret(...)), not a plain string: a plain value is stored unencrypted in the stack state',
      ],
      ['no key', { createdAt: CREATED_AT }, 'AwsKeySecret "k": privateKey is required'],
      [
        'no creation time',
        { privateKey: pulumi.secret(PRIVATE_KEY) },
        'AwsKeySecret "k": createdAt is required (the key\'s creation time, ISO 8601; WireGuardKey.createdAt)',
      ],
      [
        'a creation time that is not a date',
        { privateKey: pulumi.secret(PRIVATE_KEY), createdAt: 'yesterday' },
        'AwsKeySecret "k": createdAt must be an ISO 8601 date, got "yesterday"',
      ],
      [
        'a KMS alias',
        { privateKey: pulumi.secret(PRIVATE_KEY), createdAt: CREATED_AT, kmsKeyId: 'alias/wiremesh' },
        'AwsKeySecret "k": kmsKeyId must be a KMS key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID), got "alias/wiremesh": the read policy grants kms:Decrypt on the key ARN, which an alias or a bare key id cannot name',
      ],
      [
        'a recovery window of 3 days',
        { privateKey: pulumi.secret(PRIVATE_KEY), createdAt: CREATED_AT, recoveryWindowInDays: 3 },
        'AwsKeySecret "k": recoveryWindowInDays must be 0 or a whole number from 7 to 30, got 3',
      ],
      [
        'a reserved tag',
        { privateKey: pulumi.secret(PRIVATE_KEY), createdAt: CREATED_AT, tags: { 'wiremesh:key-created-at': 'never' } },
        'AwsKeySecret "k": tags may not set wiremesh:key-created-at; the component sets it',
      ],
    ])('refuses %s', (_what, args, message) => {
      expect(() => new AwsKeySecret('k', args as never)).toThrow(message);
    });
  });
});

describe('secret read policies', () => {
  const SECRET = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:site-a-key-AbCdEf';

  test('a KMS key in another region than the secret is refused', () => {
    expect(() =>
      secretReadStatements({
        label: 'KeySecret',
        secretArn: SECRET,
        kmsKeyArn: 'arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab',
      }),
    ).toThrow(
      'the KMS key arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab is not in the region of the secret ' +
        `${SECRET}: Secrets Manager needs a key in its own region`,
    );
  });

  test('the China partition uses its own service suffix', () => {
    const secretArn = 'arn:aws-cn:secretsmanager:cn-north-1:123456789012:secret:k-AbCdEf';
    const [, decrypt] = secretReadStatements({
      label: 'K',
      secretArn,
      kmsKeyArn: 'arn:aws-cn:kms:cn-north-1:123456789012:key/abcd',
    });
    expect(decrypt!.Condition!.StringEquals!['kms:ViaService']).toBe('secretsmanager.cn-north-1.amazonaws.com.cn');
  });

  test('several grants make one document, one statement per permission', async () => {
    setupMocks();
    const other = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:site-a-config-GhIjKl';
    const policy = JSON.parse(
      await resolve(
        secretReadPolicy([
          { label: 'KeySecret', secretArn: SECRET },
          { label: 'ConfigSecret', secretArn: other },
        ]),
      ),
    ) as IamPolicyDocument;
    expect(policy.Statement.map((s) => [s.Sid, s.Action, s.Resource])).toEqual([
      ['ReadKeySecret', 'secretsmanager:GetSecretValue', SECRET],
      ['ReadConfigSecret', 'secretsmanager:GetSecretValue', other],
    ]);
  });
});
