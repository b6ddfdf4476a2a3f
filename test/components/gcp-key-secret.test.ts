/**
 * components/gcp/key-secret.ts under mocks: the private key reaches Secret Manager only as a
 * secret, plain keys are refused, labels are label-safe, replication, and the accessor grant is
 * on exactly this secret (secret-level IAM member).
 */
import { execFileSync } from 'node:child_process';
import * as gcp from '@pulumi/gcp';
import * as pulumi from '@pulumi/pulumi';
import { WireGuardKey } from '../../components/key';
import { isSecretInput, resolve, setupMocks, unwrapSecrets, type MockRecorder } from '../../components/testing';
import {
  GcpKeySecret,
  SECRET_ACCESSOR_ROLE,
  keyCreatedAtLabel,
  parseKeyCreatedAtLabel,
} from '../../components/gcp/key-secret';
import { GCP_ANNOTATION_KEY_CREATED_AT, GCP_LABEL_KEY_CREATED_AT, GCP_LABEL_ROLE } from '../../common/defaults';
import { MOCK_GCP_PROJECT, gcpMockNewResource, plainOccurrences } from '../../components/gcp/testing';

const SECRET = 'gcp:secretmanager/secret:Secret';
const VERSION = 'gcp:secretmanager/secretVersion:SecretVersion';
const IAM_MEMBER = 'gcp:secretmanager/secretIamMember:SecretIamMember';
const FIXED_NOW = () => new Date('2025-03-14T15:09:26.535Z');

let mocks: MockRecorder;
beforeEach(() => {
  mocks = setupMocks({ newResource: gcpMockNewResource() });
});

describe('label-safe key creation time', () => {
  it('turns ISO 8601 into a GCP label value and back', () => {
    expect(keyCreatedAtLabel('2025-01-31T12:34:56.789Z')).toBe('2025-01-31t12-34-56z');
    expect(keyCreatedAtLabel('2025-01-31T13:34:56+01:00')).toBe('2025-01-31t12-34-56z');
    expect(parseKeyCreatedAtLabel('2025-01-31t12-34-56z')).toBe('2025-01-31T12:34:56Z');
    expect(parseKeyCreatedAtLabel('2025-01-31T12:34:56Z')).toBeUndefined();
    expect(parseKeyCreatedAtLabel('2025-13-31t12-34-56z')).toBeUndefined();
    expect(/^[a-z0-9_-]{0,63}$/.test(keyCreatedAtLabel(new Date().toISOString()))).toBe(true);
    expect(() => keyCreatedAtLabel('yesterday')).toThrow('createdAt must be an ISO 8601 date, got "yesterday"');
  });
});

describe('GcpKeySecret', () => {
  it('stores the key as a secret, with role and created-at labels and automatic replication', async () => {
    const key = new WireGuardKey('k', { now: FIXED_NOW });
    const ks = new GcpKeySecret('gw-key', {
      privateKey: key.privateKey,
      createdAt: key.createdAt,
      labels: { team: 'net' },
    });
    const name = await resolve(ks.secretName);
    await mocks.settle();

    const secret = mocks.one(SECRET);
    expect(secret.name).toBe('gw-key-secret');
    expect(secret.parent).toBe(mocks.one('wiremesh:gcp:GcpKeySecret').urn);
    expect(secret.inputs.replication).toEqual({ auto: {} });
    const createdAt = await resolve(key.createdAt);
    expect(secret.inputs.labels).toEqual({
      team: 'net',
      [GCP_LABEL_ROLE]: 'wireguard-private-key',
      [GCP_LABEL_KEY_CREATED_AT]: keyCreatedAtLabel(createdAt),
    });
    expect(secret.inputs.annotations).toEqual({ [GCP_ANNOTATION_KEY_CREATED_AT]: createdAt });
    expect(name).toBe(`projects/${MOCK_GCP_PROJECT}/secrets/gw-key-secret-mock`);
    // The document names the exact version (components/rotation.ts: every key change is a document change).
    expect(await resolve(ks.sourceConfig)).toEqual({ source: 'gcp-secret-manager', name: `${name}/versions/1` });

    const version = mocks.one(VERSION);
    expect(isSecretInput(version.inputs.secretData)).toBe(true);
    const privateKey = await resolve(key.privateKey);
    expect(unwrapSecrets(version.inputs.secretData)).toBe(privateKey);
    expect(version.inputs.secret).toBe(`projects/${MOCK_GCP_PROJECT}/secrets/gw-key-secret-mock`);
    // Nowhere in any input or state is the key plain.
    for (const r of mocks.resources) {
      expect({ r: `${r.type}::${r.name}`, paths: plainOccurrences(r.inputs, privateKey) }).toEqual({
        r: `${r.type}::${r.name}`,
        paths: [],
      });
    }
    expect(await pulumi.isSecret(ks.secretName)).toBe(false);
  });

  it('replicates to the given regions (user-managed) and keeps a fixed secret id', async () => {
    const ks = new GcpKeySecret('gw-key', {
      privateKey: pulumi.secret('x'),
      createdAt: '2025-01-01T00:00:00Z',
      secretId: 'wiremesh-gw-key',
      project: 'p1',
      replication: { locations: ['europe-west1', 'europe-west4'] },
    });
    expect(await resolve(ks.secretName)).toBe('projects/p1/secrets/wiremesh-gw-key');
    await mocks.settle();
    const secret = mocks.one(SECRET);
    expect(secret.inputs.replication).toEqual({
      userManaged: { replicas: [{ location: 'europe-west1' }, { location: 'europe-west4' }] },
    });
    expect(secret.inputs.secretId).toBe('wiremesh-gw-key');
    expect(secret.deleteBeforeReplace).toBe(true);
    expect(secret.inputs.labels[GCP_LABEL_KEY_CREATED_AT]).toBe('2025-01-01t00-00-00z');
  });

  it('grants secretAccessor on exactly this secret to one service account', async () => {
    const ks = new GcpKeySecret('gw-key', {
      privateKey: pulumi.secret('x'),
      createdAt: '2025-01-01T00:00:00Z',
      project: 'p1',
    });
    const member = ks.grantAccessor('gw-key-read', 'gw@p1.iam.gserviceaccount.com');
    await resolve(member.id);
    await mocks.settle();
    const grant = mocks.one(IAM_MEMBER);
    expect(grant.inputs).toMatchObject({
      project: 'p1',
      secretId: 'gw-key-secret-mock',
      role: SECRET_ACCESSOR_ROLE,
      member: 'serviceAccount:gw@p1.iam.gserviceaccount.com',
    });
    expect(grant.parent).toBe(mocks.one('wiremesh:gcp:GcpKeySecret').urn);
    // Secret-level only: no project, folder or organization IAM anywhere.
    expect(mocks.resources.filter((r) => /^gcp:(projects|folder|organizations)\//.test(r.type))).toEqual([]);
  });

  it('passes a provider given to the component down to its children', async () => {
    const provider = new gcp.Provider('other-project', { project: 'other' });
    const ks = new GcpKeySecret(
      'gw-key',
      { privateKey: pulumi.secret('x'), createdAt: '2025-01-01T00:00:00Z' },
      { providers: { gcp: provider } },
    );
    ks.grantAccessor('read', 'gw@other.iam.gserviceaccount.com');
    await resolve(ks.secretName);
    await mocks.settle();
    const providerUrn = await resolve(provider.urn);
    for (const r of mocks.resources.filter((x) => x.type.startsWith('gcp:secretmanager'))) {
      expect(`${r.type} ${r.provider}`).toBe(`${r.type} ${providerUrn}::other-project-id`);
    }
  });

  it.each<[string, () => unknown, string]>([
    [
      'a plain string key',
      () => new GcpKeySecret('k', { privateKey: 'aGVsbG8=', createdAt: '2025-01-01T00:00:00Z' }),
      'GcpKeySecret "k": privateKey must be a secret Output (WireGuardKey.privateKey or pulumi.secret(...)), not a plain string: a plain value is stored unencrypted in the stack state',
    ],
    [
      'no key',
      () => new GcpKeySecret('k', { createdAt: '2025-01-01T00:00:00Z' } as never),
      'GcpKeySecret "k": privateKey is required',
    ],
    [
      'no createdAt',
      () => new GcpKeySecret('k', { privateKey: pulumi.secret('x') } as never),
      'GcpKeySecret "k": createdAt is required (the key\'s creation time, ISO 8601; WireGuardKey.createdAt)',
    ],
    [
      'a bad createdAt',
      () => new GcpKeySecret('k', { privateKey: pulumi.secret('x'), createdAt: 'soon' }),
      'GcpKeySecret "k": createdAt must be an ISO 8601 date, got "soon"',
    ],
    [
      'an upper-case role',
      () => new GcpKeySecret('k', { privateKey: pulumi.secret('x'), createdAt: '2025-01-01T00:00:00Z', role: 'Key' }),
      'GcpKeySecret "k": role must be 1 to 63 lowercase letters, digits, "_" or "-", got "Key"',
    ],
    [
      'a reserved label',
      () =>
        new GcpKeySecret('k', {
          privateKey: pulumi.secret('x'),
          createdAt: '2025-01-01T00:00:00Z',
          labels: { 'wiremesh-role': 'x' },
        }),
      'GcpKeySecret "k": label "wiremesh-role": the "wiremesh-" prefix is reserved for labels the component sets',
    ],
    [
      'a bad label value',
      () =>
        new GcpKeySecret('k', {
          privateKey: pulumi.secret('x'),
          createdAt: '2025-01-01T00:00:00Z',
          labels: { team: 'Net Ops' },
        }),
      'GcpKeySecret "k": label "team": value "Net Ops" must be at most 63 lowercase letters, digits, "_" or "-"',
    ],
    [
      'a bad secret id',
      () =>
        new GcpKeySecret('k', { privateKey: pulumi.secret('x'), createdAt: '2025-01-01T00:00:00Z', secretId: 'a/b' }),
      'GcpKeySecret "k": secretId must be 1 to 255 letters, digits, "_" or "-", got "a/b"',
    ],
    [
      'a zone as replica location',
      () =>
        new GcpKeySecret('k', {
          privateKey: pulumi.secret('x'),
          createdAt: '2025-01-01T00:00:00Z',
          replication: { locations: ['europe-west1-b'] },
        }),
      'GcpKeySecret "k": replication.locations: "europe-west1-b" is not a region name (e.g. europe-west1)',
    ],
    [
      'a duplicate replica location',
      () =>
        new GcpKeySecret('k', {
          privateKey: pulumi.secret('x'),
          createdAt: '2025-01-01T00:00:00Z',
          replication: { locations: ['us-east1', 'us-east1'] },
        }),
      'GcpKeySecret "k": replication.locations: "us-east1" is listed twice',
    ],
  ])('refuses %s', async (_what, build, message) => {
    expect(build).toThrow(message);
    await mocks.settle();
    expect(mocks.resources).toEqual([]); // nothing registered, not even the component
  });

  it('refuses an Output that is not secret when it resolves (the version then never registers)', () => {
    // The refusal rejects the SecretVersion's registration ("error serializing property
    // secretData: ..."), which a real program reports as its error. Under mocks the rejection is
    // unhandled (jest would fail on it), so the scenario runs in a child process that collects it.
    const script = `
      const ts = require('typescript'); const fs = require('fs');
      require.extensions['.ts'] = (m, f) => m._compile(ts.transpileModule(fs.readFileSync(f, 'utf8'), {
        fileName: f, compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true } }).outputText, f);
      const rejections = new Set();
      process.on('unhandledRejection', (e) => rejections.add(String(e && e.message)));
      const pulumi = require('@pulumi/pulumi');
      const { setupMocks } = require(${JSON.stringify(require.resolve('../../components/testing.ts'))});
      const { GcpKeySecret } = require(${JSON.stringify(require.resolve('../../components/gcp/key-secret.ts'))});
      const mocks = setupMocks();
      new GcpKeySecret('k', { privateKey: pulumi.output('not-secret'), createdAt: '2025-01-01T00:00:00Z' });
      setTimeout(() => {
        const versions = mocks.byType('gcp:secretmanager/secretVersion:SecretVersion').length;
        const secrets = mocks.byType('gcp:secretmanager/secret:Secret').length;
        process.stdout.write(JSON.stringify({ rejections: [...rejections], versions, secrets }));
        process.exit(0);
      }, 1500);
    `;
    const out = execFileSync(process.execPath, ['--no-experimental-strip-types', '-e', script], {
      cwd: process.cwd(),
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(JSON.parse(out)).toEqual({
      rejections: [
        'error serializing property "outputs": error serializing property "secretData": GcpKeySecret "k": privateKey must be a secret Output (wrap it with pulumi.secret(...)); it was a plain Output',
      ],
      versions: 0,
      secrets: 1,
    });
  });

  it('refuses a grant without a resource name', async () => {
    const ks = new GcpKeySecret('gw-key', { privateKey: pulumi.secret('x'), createdAt: '2025-01-01T00:00:00Z' });
    expect(() => ks.grantAccessor('', 'a@b.iam.gserviceaccount.com')).toThrow(
      'GcpKeySecret "gw-key": grantAccessor needs a resource name',
    );
    await mocks.settle();
  });
});
