/**
 * components/remote-host.ts under mocks: the remote.Command inputs (the key only on stdin, as a
 * secret; the connection secret; triggers that follow the configuration and the key), argument
 * validation, and the configure steps run for real against a scratch directory (root only).
 */
import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import * as pulumi from '@pulumi/pulumi';
import { parseAgentConfig } from '../../agent/gateway/config';
import type { AgentConfig } from '../../agent/gateway/config-types';
import { generateWireGuardKeyPair, WireGuardKey } from '../../components/key';
import {
  RemoteHostAgent,
  remoteAgentConfigDocument,
  remoteConfigureScript,
  remoteConfigureSteps,
} from '../../components/remote-host';
import {
  isSecretInput,
  resolve,
  resolveWithSecret,
  setupMocks,
  unwrapSecrets,
  type MockRecorder,
} from '../../components/testing';

const COMMAND = 'command:remote:Command';
const hostKey = generateWireGuardKeyPair();
const peer = generateWireGuardKeyPair();
const sshKey =
  '-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ\n-----END OPENSSH PRIVATE KEY-----\n';

const config = (allowed = '192.168.50.0/24'): AgentConfig => ({
  interface: { name: 'wm0', addresses: ['10.99.0.3/32'], listenPort: 51820 },
  privateKey: { source: 'file', path: '/etc/wiremesh/private.key' },
  peers: [
    {
      name: 'site-a',
      publicKey: peer.publicKey,
      endpoint: 'gw-a.example.net:51820',
      allowedIps: ['10.99.0.1/32', allowed],
      persistentKeepalive: 25,
    },
  ],
  health: { listen: '127.0.0.1:9587' },
});

const connection = { host: '203.0.113.10', user: 'admin', privateKey: sshKey };

async function build(
  mocks: MockRecorder,
  name: string,
  args: Partial<ConstructorParameters<typeof RemoteHostAgent>[1]> = {},
) {
  const agent = new RemoteHostAgent(name, {
    connection,
    agentPackage: 'wiremesh@0.1.0',
    agentConfig: config(),
    privateKey: hostKey.privateKey,
    ...args,
  });
  await resolve(agent.configure.urn);
  await resolve(agent.install.urn);
  await mocks.settle();
  return {
    agent,
    component: mocks.one('wiremesh:onprem:RemoteHostAgent', name),
    install: mocks.one(COMMAND, `${name}-install`),
    configure: mocks.one(COMMAND, `${name}-configure`),
  };
}

describe('RemoteHostAgent under mocks', () => {
  let mocks: MockRecorder;
  beforeEach(() => {
    mocks = setupMocks();
  });

  it('registers two remote commands under the component', async () => {
    const { component, install, configure } = await build(mocks, 'branch');
    expect(component.urn).toBe('urn:pulumi:stack::project::wiremesh:onprem:RemoteHostAgent::branch');
    expect(install.parent).toBe(component.urn);
    expect(configure.parent).toBe(component.urn);
    expect(configure.dependencies).toContain(install.urn);
  });

  it('sends the private key only on stdin, as a secret', async () => {
    const { install, configure } = await build(mocks, 'branch');
    expect(isSecretInput(configure.inputs.stdin)).toBe(true);
    expect(unwrapSecrets(configure.inputs.stdin)).toBe(`${hostKey.privateKey}\n`);
    for (const field of ['create', 'delete', 'update', 'environment', 'triggers']) {
      expect(JSON.stringify(unwrapSecrets(configure.inputs[field] ?? null))).not.toContain(hostKey.privateKey);
      expect(JSON.stringify(unwrapSecrets(install.inputs[field] ?? null))).not.toContain(hostKey.privateKey);
    }
    expect(JSON.stringify(unwrapSecrets(install.inputs))).not.toContain(hostKey.privateKey);
    // The configure script reads stdin into a root-owned 0600 file next to the key path.
    const create = configure.inputs.create as string;
    expect(create).toContain('head -c 64 > "$key_tmp"');
    expect(create).toContain('chmod 0600 "$key_tmp"');
    expect(create).toContain('chown root:root "$key_tmp"');
    expect(create).toContain("mv -f \"$key_tmp\" '\\''/etc/wiremesh/private.key'\\''");
    expect(create).toMatch(
      /^if \[ "\$\(id -u\)" -eq 0 \]; then \/bin\/bash -c '.*'; else sudo -n \/bin\/bash -c '.*'; fi$/s,
    );
  });

  it('keeps the connection secret on both commands', async () => {
    const { install, configure } = await build(mocks, 'branch');
    for (const cmd of [install, configure]) {
      expect(isSecretInput(cmd.inputs.connection)).toBe(true);
      expect(unwrapSecrets(cmd.inputs.connection)).toMatchObject({
        host: '203.0.113.10',
        user: 'admin',
        privateKey: sshKey,
      });
      expect(cmd.additionalSecretOutputs).toContain('connection');
    }
  });

  it('triggers: a hash of the configuration and of the key; they change when the configuration or key changes', async () => {
    const base = await build(mocks, 'a');
    const sameAgain = await build(mocks, 'b');
    const otherConfig = await build(mocks, 'c', { agentConfig: config('192.168.60.0/24') });
    const otherKey = await build(mocks, 'd', { privateKey: generateWireGuardKeyPair().privateKey });
    const triggers = (r: typeof base) => unwrapSecrets<string[]>(r.configure.inputs.triggers);

    expect(triggers(base)).toHaveLength(2);
    for (const t of triggers(base)) expect(t).toMatch(/^[0-9a-f]{64}$/);
    expect(triggers(sameAgain)).toEqual(triggers(base));
    expect(triggers(otherConfig)[0]).not.toBe(triggers(base)[0]);
    expect(triggers(otherConfig)[1]).toBe(triggers(base)[1]);
    expect(triggers(otherKey)[0]).toBe(triggers(base)[0]);
    expect(triggers(otherKey)[1]).not.toBe(triggers(base)[1]);
    // The first trigger is the hash of the document the script writes.
    expect(triggers(base)[0]).toBe(await resolve(base.agent.configHash));
    // The key hash is derived from a secret, so it stays secret.
    expect(isSecretInput(base.configure.inputs.triggers) || isSecretInput(base.configure.inputs.triggers[1])).toBe(
      true,
    );
    expect(otherConfig.configure.inputs.create).not.toBe(base.configure.inputs.create);
  });

  it('installs the pinned package with the shared install script and removes everything on destroy', async () => {
    const { install } = await build(mocks, 'branch');
    const create = install.inputs.create as string;
    expect(create).toContain('AGENT_PACKAGE=');
    expect(create).toContain('wiremesh@0.1.0');
    expect(create).toContain('apt-get install -y ca-certificates curl gnupg iproute2 wireguard-tools');
    expect(create).toContain('deb.nodesource.com/node_${NODE_MAJOR}.x');
    expect(create).toContain('systemctl try-restart wiremesh-agent');
    expect(create).not.toContain('enable --now');
    const del = install.inputs.delete as string;
    expect(del).toContain('systemctl disable --now wiremesh-agent');
    expect(del).toContain('/etc/wiremesh/private.key');
    expect(install.inputs.triggers).toBeUndefined();
  });

  it('outputs the public key (plain) derived from the secret private key', async () => {
    const key = new WireGuardKey('branch-key');
    const agent = new RemoteHostAgent('branch', {
      connection,
      agentPackage: 'wiremesh@0.1.0',
      agentConfig: config(),
      privateKey: key.privateKey,
    });
    const pub = await resolveWithSecret(agent.publicKey);
    expect(pub.secret).toBe(false);
    expect(pub.value).toBe(await resolve(key.publicKey));
    await mocks.settle();
    const configure = mocks.one(COMMAND, 'branch-configure');
    expect(unwrapSecrets(configure.inputs.stdin)).toBe(`${await resolve(key.privateKey)}\n`);
    expect(isSecretInput(configure.inputs.stdin)).toBe(true);
  });

  it('also wraps a plain-string private key as a secret', async () => {
    const { agent } = await build(mocks, 'plain');
    expect(await pulumi.isSecret(agent.configure.stdin)).toBe(true);
  });
});

describe('RemoteHostAgent validation', () => {
  let mocks: MockRecorder;
  beforeAll(() => {
    mocks = setupMocks();
  });
  afterAll(async () => {
    await mocks.settle();
    // Refused arguments register nothing.
    expect(mocks.resources).toEqual([]);
  });
  const args = { connection, agentPackage: 'wiremesh@0.1.0', agentConfig: config(), privateKey: hostKey.privateKey };

  it('refuses a bad key without echoing it, an unpinned package and unsafe key paths', () => {
    let message = '';
    try {
      new RemoteHostAgent('x1', { ...args, privateKey: 'hunter2-is-not-a-key' });
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toBe('a WireGuard private key must be 32 bytes in base64 (44 characters ending in "=")');
    expect(() => new RemoteHostAgent('x2', { ...args, agentPackage: 'wiremesh@latest' })).toThrow(
      'agentPackage must be pinned',
    );
    expect(() => new RemoteHostAgent('x3', { ...args, keyPath: 'relative/key' })).toThrow(
      'keyPath must be an absolute file path',
    );
    expect(() => new RemoteHostAgent('x4', { ...args, keyPath: '/etc/wiremesh/key; rm -rf /' })).toThrow(
      'keyPath must be an absolute file path',
    );
    expect(() => new RemoteHostAgent('x5', { ...args, keyPath: '/tmp/key' })).toThrow('world-writable');
  });

  it('requires the configuration to reference the key file it writes, with no cloud configSource', () => {
    expect(() => new RemoteHostAgent('y1', { ...args, keyPath: '/etc/wiremesh/other.key' })).toThrow(
      'agentConfig.privateKey must be { source: "file", path: "/etc/wiremesh/other.key" }',
    );
    expect(
      () =>
        new RemoteHostAgent('y2', {
          ...args,
          agentConfig: { ...config(), privateKey: { source: 'aws-secrets-manager', secretId: 'x' } },
        }),
    ).toThrow('agentConfig.privateKey must be { source: "file"');
    expect(
      () =>
        new RemoteHostAgent('y3', {
          ...args,
          agentConfig: { ...config(), configSource: { source: 'aws-secrets-manager', secretId: 'cfg' } },
        }),
    ).toThrow('agentConfig.configSource must be absent');
    expect(
      () =>
        new RemoteHostAgent('y4', {
          ...args,
          agentConfig: { ...config(), peers: [{ ...config().peers[0]!, allowedIps: ['0.0.0.0/0'] }] },
        }),
    ).toThrow('a default route');
    const withKey = {
      ...config(),
      peers: [{ ...config().peers[0]!, presharedKey: { source: 'file' as const, path: hostKey.privateKey } }],
    };
    expect(() => new RemoteHostAgent('y5', { ...args, agentConfig: withKey })).toThrow('looks like a WireGuard key');
  });
});

describe('the configure steps on a real file system', () => {
  const root = process.getuid?.() === 0 && existsSync('/bin/bash');
  (root ? it : it.skip)('writes the key (0600, root) from stdin and the checked configuration, then reloads', () => {
    const repo = join(__dirname, '..', '..');
    // Not under /tmp: the agent refuses nothing here, but keep the scratch directory private.
    mkdirSync(join(repo, '.wiremesh'), { recursive: true });
    const scratch = mkdtempSync(join(repo, '.wiremesh', 'remote-host-'));
    try {
      const bin = join(scratch, 'bin');
      mkdirSync(bin);
      writeFileSync(join(bin, 'systemctl'), `#!/bin/sh\necho "$@" >> ${scratch}/systemctl.log\n`);
      chmodSync(join(bin, 'systemctl'), 0o755);
      const agentCli = existsSync(join(repo, 'dist', 'agent', 'cli', 'wiremesh-agent.js'))
        ? `${process.execPath} ${join(repo, 'bin', 'wiremesh-agent.js')}`
        : '/bin/true';
      // The document names the key where this sandbox writes it: `check` verifies the key file.
      const keyPath = `${scratch}/etc/wiremesh/private.key`;
      const written = { ...config(), privateKey: { source: 'file' as const, path: keyPath } };
      const document = remoteAgentConfigDocument(written, keyPath);
      const steps = remoteConfigureSteps(document, '/etc/wiremesh/private.key')
        .replaceAll('/etc/wiremesh', `${scratch}/etc/wiremesh`)
        .replace('/opt/wiremesh/bin/wiremesh-agent.js', agentCli);
      execFileSync('/bin/bash', ['-c', steps], {
        input: `${hostKey.privateKey}\n`,
        env: { ...process.env, PATH: `${bin}:${process.env.PATH}` },
      });

      const keyFile = join(scratch, 'etc', 'wiremesh', 'private.key');
      expect(readFileSync(keyFile, 'utf8')).toBe(`${hostKey.privateKey}\n`);
      expect(statSync(keyFile).mode & 0o777).toBe(0o600);
      expect(statSync(keyFile).uid).toBe(0);
      const configFile = join(scratch, 'etc', 'wiremesh', 'agent.yaml');
      expect(statSync(configFile).mode & 0o777).toBe(0o600);
      expect(parseAgentConfig(readFileSync(configFile, 'utf8'))).toEqual(written);
      expect(readdirSync(join(scratch, 'etc', 'wiremesh')).sort()).toEqual(['agent.yaml', 'private.key']);
      expect(readFileSync(join(scratch, 'systemctl.log'), 'utf8')).toBe(
        'enable wiremesh-agent\nreload-or-restart wiremesh-agent\n',
      );
      // The whole command (with the sudo wrapper) is valid bash.
      execFileSync('/bin/bash', ['-n', '-c', remoteConfigureScript(document, '/etc/wiremesh/private.key')]);
    } finally {
      rmSync(scratch, { recursive: true, force: true });
    }
  });
});
