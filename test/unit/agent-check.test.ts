/**
 * `wiremesh-agent check` as the bootstrap runs it (the bin, a separate process): it must fail for
 * every key source `run` would refuse (missing, readable by others, not root's, not a key), fetch
 * cloud secrets with the host's identity (here IMDSv2 of a fake instance) unless --offline, and
 * never print a key. Also the CLI's strict flags.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, chown, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../../agent/package-root';
import { describeWithRoot } from '../support/root-only';
import {
  startFakeImds,
  startFakeSecretsManager,
  type FakeSecretsManager,
  type LoopbackServer,
} from '../support/fake-aws';

const AGENT = join(packageRoot(), 'bin', 'wiremesh-agent.js');
const REGION = 'eu-west-1';
const PEER_KEY = randomBytes(32).toString('base64');

interface Run {
  status: number;
  stdout: string;
  stderr: string;
}

/** Asynchronous, so the fake stores in this process can answer while the CLI runs. */
function agent(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [AGENT, ...args],
      { env, encoding: 'utf8', timeout: 30_000 },
      (error, stdout, stderr) => {
        resolve({ status: error ? (typeof error.code === 'number' ? error.code : -1) : 0, stdout, stderr });
      },
    );
  });
}

let scratch: string;
let imds: LoopbackServer;
let store: FakeSecretsManager;
let awsEnv: NodeJS.ProcessEnv;

beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'wiremesh-check-'));
  imds = await startFakeImds();
  store = await startFakeSecretsManager(REGION);
  awsEnv = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('AWS_')));
  Object.assign(awsEnv, {
    AWS_CONFIG_FILE: join(scratch, 'no-config'),
    AWS_SHARED_CREDENTIALS_FILE: join(scratch, 'no-credentials'),
    AWS_EC2_METADATA_SERVICE_ENDPOINT: imds.url,
  });
});

afterAll(async () => {
  await Promise.all([imds.close(), store.close(), rm(scratch, { recursive: true, force: true })]);
});

async function keyFile(name: string, content: string, mode = 0o600): Promise<string> {
  const path = join(scratch, name);
  await writeFile(path, content);
  await chmod(path, mode);
  return path;
}

async function configWith(name: string, privateKey: string, extra = ''): Promise<string> {
  const path = join(scratch, `${name}.yaml`);
  await writeFile(
    path,
    [
      'interface: { name: wm0, addresses: [10.99.0.1/24] }',
      `privateKey: ${privateKey}`,
      `peers: [{ name: site-b, publicKey: "${PEER_KEY}", allowedIps: [10.20.0.0/16]${extra} }]`,
      '',
    ].join('\n'),
  );
  return path;
}

const fileKey = (path: string): string => `{ source: file, path: ${path} }`;
const sourceLine = (run: Run, path: string): string | undefined =>
  run.stdout.split('\n').find((line) => line.includes(` ${path}: `));

// The file rules are root's (a key file must be owned by uid 0), so the verdicts need a root run.
describeWithRoot('key file checks', [])('wiremesh-agent check verifies key files like run does', () => {
  test('a good key file passes, and the key is never printed', async () => {
    const key = randomBytes(32).toString('base64');
    const path = await keyFile('good.key', `${key}\n`);
    const run = await agent(['check', '--config', await configWith('good', fileKey(path))]);
    expect(run).toMatchObject({ status: 0, stderr: '' });
    expect(sourceLine(run, '$.privateKey')).toBe(
      `  ok  $.privateKey: file ${path}: root-owned, no group or other access, holds a WireGuard key`,
    );
    expect(run.stdout).not.toContain(key);
  });

  test.each([
    ['missing', async () => join(scratch, 'absent.key'), (path: string) => `file ${path}: could not be read (ENOENT)`],
    [
      'mode 0644',
      async () => keyFile('open.key', `${randomBytes(32).toString('base64')}\n`, 0o644),
      (path: string) => `file ${path}: has mode 0644: a key file must not be accessible to group or others (chmod 600)`,
    ],
    [
      'not owned by root',
      async () => {
        const path = await keyFile('foreign.key', `${randomBytes(32).toString('base64')}\n`);
        await chown(path, 1000, 1000);
        return path;
      },
      (path: string) => `file ${path}: is owned by uid 1000: a key file must be owned by uid 0`,
    ],
    [
      'not a key',
      async () => keyFile('notakey.key', 'hunter2-not-a-key\n'),
      (path: string) => `file ${path}: its content (version mtime=`,
    ],
  ])('a key file that is %s fails check (exit 1), naming the field and the file', async (_what, make, message) => {
    const path = await make();
    const run = await agent(['check', '--config', await configWith(`bad-${_what.replace(/\W/g, '')}`, fileKey(path))]);
    expect(run.status).toBe(1);
    const line = sourceLine(run, '$.privateKey')!;
    expect(line).toMatch(/^ {2}failed {2}\$\.privateKey: file /);
    expect(line).toContain(message(path));
    expect(run.stdout).not.toContain('hunter2');
  });

  test('a preshared key in AWS Secrets Manager is fetched with the instance identity; --offline skips it', async () => {
    const psk = randomBytes(32).toString('base64');
    store.putSecret('wiremesh/site-a/psk', `${psk}\n`, 'v1');
    const path = await keyFile('with-psk.key', `${randomBytes(32).toString('base64')}\n`);
    const aws = (secretId: string): string =>
      `, presharedKey: { source: aws-secrets-manager, secretId: ${secretId}, region: ${REGION}, endpoint: "${store.url}" }`;

    const fetched = await agent(
      ['check', '--config', await configWith('psk', fileKey(path), aws('wiremesh/site-a/psk'))],
      awsEnv,
    );
    expect(fetched.status).toBe(0);
    expect(sourceLine(fetched, '$.peers[0].presharedKey')).toBe(
      "  ok  $.peers[0].presharedKey: AWS Secrets Manager secret wiremesh/site-a/psk: fetched with this host's identity, holds a WireGuard key",
    );
    expect(fetched.stdout).not.toContain(psk);

    const missing = await agent(
      ['check', '--config', await configWith('psk-missing', fileKey(path), aws('wiremesh/site-a/nope'))],
      awsEnv,
    );
    expect(missing.status).toBe(1);
    expect(sourceLine(missing, '$.peers[0].presharedKey')).toBe(
      '  failed  $.peers[0].presharedKey: AWS Secrets Manager secret wiremesh/site-a/nope: ResourceNotFoundException (HTTP 400)',
    );

    const requestsBefore = store.requests.length;
    const offline = await agent(
      ['check', '--offline', '--config', await configWith('psk-offline', fileKey(path), aws('wiremesh/site-a/nope'))],
      awsEnv,
    );
    expect(offline.status).toBe(0);
    expect(sourceLine(offline, '$.peers[0].presharedKey')).toBe(
      '  skipped  $.peers[0].presharedKey: AWS Secrets Manager secret wiremesh/site-a/nope: not fetched (--offline)',
    );
    expect(store.requests.length).toBe(requestsBefore);
  });
});

describe('wiremesh-agent flags (node:util parseArgs, strict)', () => {
  test.each([
    [['check', '--config', 'x.yaml', '--offlne'], "Unknown option '--offlne'"],
    [['run', '--config'], "Option '-c, --config <value>' argument missing"],
    [['run', '--config', 'x.yaml', '--offline'], '--offline applies to check only'],
    [['check'], 'check needs --config FILE'],
    [['serve', '--config', 'x.yaml'], 'unknown command "serve"'],
    [['check', '--config', 'x.yaml', 'extra'], 'unexpected argument "extra"'],
  ])('%j is a usage error (exit 2) that says why', async (args, why) => {
    const run = await agent(args);
    expect(run.status).toBe(2);
    expect(run.stderr).toContain(why);
    expect(run.stderr).toContain('Usage:');
  });

  test('--help prints usage and succeeds', async () => {
    const run = await agent(['--help']);
    expect(run).toMatchObject({ status: 0, stderr: '' });
    expect(run.stdout).toContain('wiremesh-agent check --config FILE [--offline]');
  });
});
