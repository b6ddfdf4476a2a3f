/**
 * components/bootstrap.ts: the cloud-init user data (snapshots, the agent.yaml it writes parsed by
 * the agent's own parser, no key material even when the stack holds real keys in secrets), the
 * guards, and the agent configuration document.
 */
import * as aws from '@pulumi/aws';
import * as pulumi from '@pulumi/pulumi';
import { parse as parseYaml } from 'yaml';
import { parseAgentConfig } from '../../agent/gateway/config';
import type { AgentConfig } from '../../agent/gateway/config-types';
import {
  agentCloudInit,
  agentConfigDocument,
  assertNoKeyMaterial,
  checkAgentPackage,
  renderAgentCloudInit,
  type BootstrapConfig,
} from '../../components/bootstrap';
import { WireGuardKey, generateWireGuardKeyPair } from '../../components/key';
import { isSecretInput, resolve, resolveWithSecret, setupMocks, unwrapSecrets } from '../../components/testing';

const KEY_ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:wiremesh/gw-a/private-key-AbCdEf';
const CONFIG_ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:wiremesh/gw-a/agent-config-GhIjKl';

const awsBootstrap: BootstrapConfig = {
  interfaceName: 'wm0',
  privateKey: { source: 'aws-secrets-manager', secretId: KEY_ARN, region: 'eu-west-1' },
  configSource: { source: 'aws-secrets-manager', secretId: CONFIG_ARN, region: 'eu-west-1', pollSeconds: 60 },
  healthListen: '0.0.0.0:9587',
  metricsListen: '127.0.0.1:9586',
};

const gcpBootstrap: BootstrapConfig = {
  interfaceName: 'wm0',
  privateKey: { source: 'gcp-secret-manager', name: 'projects/net-prod/secrets/wiremesh-gw-b-key' },
  configSource: { source: 'gcp-secret-manager', name: 'projects/net-prod/secrets/wiremesh-gw-b-config' },
  healthListen: '0.0.0.0:9587',
  dataPlane: 'kernel',
};

interface CloudConfig {
  package_update: boolean;
  packages: string[];
  write_files: Array<{ path: string; owner: string; permissions: string; content: string }>;
  runcmd: string[][];
}

function parseCloudInit(text: string): CloudConfig {
  expect(text.startsWith('#cloud-config\n')).toBe(true);
  return parseYaml(text) as CloudConfig;
}

function file(cloud: CloudConfig, path: string): { owner: string; permissions: string; content: string } {
  const found = cloud.write_files.find((f) => f.path === path);
  if (!found) throw new Error(`no ${path} in write_files`);
  return found;
}

describe('agentCloudInit rendering', () => {
  beforeAll(() => {
    setupMocks();
  });

  it('AWS references: snapshot', async () => {
    const text = await resolve(agentCloudInit({ agentPackage: 'wiremesh@0.1.0', bootstrapConfig: awsBootstrap }));
    expect(text).toMatchSnapshot();
  });

  it('GCP references, kernel plane, tarball package: snapshot', async () => {
    const text = await resolve(
      agentCloudInit({
        agentPackage: 'https://releases.example.com/wiremesh/wiremesh-0.1.0.tgz',
        nodeVersion: '24',
        bootstrapConfig: gcpBootstrap,
      }),
    );
    expect(text).toMatchSnapshot();
  });

  it('writes an agent.yaml the agent accepts, holding only the references', async () => {
    const cloud = parseCloudInit(renderAgentCloudInit('wiremesh@0.1.0', '24', awsBootstrap));
    const agentYaml = file(cloud, '/etc/wiremesh/agent.yaml');
    expect(agentYaml.owner).toBe('root:root');
    expect(agentYaml.permissions).toBe('0600');
    const config = parseAgentConfig(agentYaml.content);
    expect(config).toEqual({
      interface: { name: 'wm0', addresses: [] },
      privateKey: awsBootstrap.privateKey,
      peers: [],
      dataPlane: 'auto',
      configSource: awsBootstrap.configSource,
      health: { listen: '0.0.0.0:9587' },
      metrics: { listen: '127.0.0.1:9586' },
    });
  });

  it('installs Node.js from NodeSource, the pinned package, the packaged unit, and starts the agent', () => {
    const cloud = parseCloudInit(renderAgentCloudInit('wiremesh@0.1.0', '24', awsBootstrap));
    expect(cloud.packages).toEqual(expect.arrayContaining(['curl', 'gnupg', 'wireguard-tools']));
    expect(cloud.packages).not.toContain('wireguard-go');
    // The addon comes prebuilt: no compiler on the gateway.
    expect(cloud.packages).not.toEqual(expect.arrayContaining(['build-essential']));
    expect(cloud.runcmd).toEqual([['/usr/local/sbin/wiremesh-bootstrap']]);
    const script = file(cloud, '/usr/local/sbin/wiremesh-bootstrap');
    expect(script.permissions).toBe('0700');
    const lines = script.content.split('\n');
    expect(lines[0]).toBe('#!/bin/bash');
    expect(lines).toContain('set -euo pipefail');
    expect(lines).toContain('NODE_MAJOR=24');
    expect(script.content).toContain('https://deb.nodesource.com/node_${NODE_MAJOR}.x nodistro main');
    expect(script.content).toContain('signed-by=/etc/apt/keyrings/nodesource.gpg');
    expect(lines).toContain("AGENT_PACKAGE='wiremesh@0.1.0'");
    expect(lines).toContain(
      'npm install --prefix /opt/wiremesh-install --omit=dev --no-audit --no-fund "$AGENT_PACKAGE"',
    );
    expect(lines).toContain('ln -sfn "$PACKAGE_DIR" /opt/wiremesh');
    expect(lines).toContain(
      'install -m 0644 -o root -g root /opt/wiremesh/agent/systemd/wiremesh-agent.service /etc/systemd/system/wiremesh-agent.service',
    );
    expect(lines).toContain('/opt/wiremesh/bin/wiremesh-agent.js check --offline --config /etc/wiremesh/agent.yaml');
    expect(lines).toContain('systemctl daemon-reload');
    expect(lines.slice(-3)).toEqual([
      '/opt/wiremesh/bin/wiremesh-agent.js check --offline --config /etc/wiremesh/agent.yaml',
      'systemctl enable --now wiremesh-agent',
      '',
    ]);
    // Forwarding is the agent's job.
    expect(script.content).not.toMatch(/ip_forward|sysctl/);
    expect(file(cloud, '/etc/modules-load.d/wireguard.conf').content).toBe('wireguard\n');
  });

  it('the bootstrap script is valid bash', () => {
    const { execFileSync } = require('node:child_process') as typeof import('node:child_process');
    const cloud = parseCloudInit(
      renderAgentCloudInit('@acme/wiremesh@1.2.3-rc.1', '26', { ...awsBootstrap, dataPlane: 'wireguard-go' }),
    );
    expect(cloud.packages).toContain('wireguard-go');
    execFileSync('bash', ['-n'], { input: file(cloud, '/usr/local/sbin/wiremesh-bootstrap').content });
  });

  it('accepts late (Output) inputs and validates them when they resolve', async () => {
    const arn = pulumi.output(KEY_ARN);
    const text = await resolve(
      agentCloudInit({
        agentPackage: pulumi.output('wiremesh@0.1.0'),
        bootstrapConfig: arn.apply((secretId) => ({
          ...awsBootstrap,
          privateKey: { source: 'aws-secrets-manager' as const, secretId },
        })),
      }),
    );
    expect(text).toContain(KEY_ARN);
    await expect(
      resolve(agentCloudInit({ agentPackage: pulumi.output('wiremesh@latest'), bootstrapConfig: awsBootstrap })),
    ).rejects.toThrow('agentPackage must be pinned');
  });
});

describe('no key material in the user data', () => {
  it('a real key in a Pulumi secret elsewhere in the stack never reaches the user data', async () => {
    const mocks = setupMocks();
    const key = new WireGuardKey('gw-a-key', { now: () => new Date(Date.UTC(2025, 6, 1)) });
    const keySecret = new aws.secretsmanager.Secret('gw-a-private-key', { name: 'wiremesh/gw-a/private-key' });
    const keyVersion = new aws.secretsmanager.SecretVersion('gw-a-private-key', {
      secretId: keySecret.id,
      secretString: key.privateKey,
    });
    const configSecret = new aws.secretsmanager.Secret('gw-a-agent-config', { name: 'wiremesh/gw-a/agent-config' });
    const peer = generateWireGuardKeyPair();
    const document = agentConfigDocument(
      keySecret.arn.apply((secretId): AgentConfig => ({
        interface: { name: 'wm0', addresses: ['10.99.0.1/24'], listenPort: 51820 },
        privateKey: { source: 'aws-secrets-manager', secretId },
        peers: [
          {
            name: 'site-b',
            publicKey: peer.publicKey,
            endpoint: 'gw-b.example.net:51820',
            allowedIps: ['10.99.0.2/32', '10.20.0.0/16'],
          },
        ],
      })),
    );
    new aws.secretsmanager.SecretVersion('gw-a-agent-config', { secretId: configSecret.id, secretString: document });
    const userData = agentCloudInit({
      agentPackage: 'wiremesh@0.1.0',
      bootstrapConfig: pulumi.all([keySecret.arn, configSecret.arn]).apply(([keyArn, configArn]) => ({
        interfaceName: 'wm0',
        privateKey: { source: 'aws-secrets-manager' as const, secretId: keyArn },
        configSource: { source: 'aws-secrets-manager' as const, secretId: configArn },
        healthListen: '0.0.0.0:9587',
      })),
    });
    new aws.ec2.Instance('gw-a', { ami: 'ami-0123456789abcdef0', instanceType: 't4g.small', userData });

    const privateKey = await resolveWithSecret(key.privateKey);
    expect(privateKey.secret).toBe(true);
    const rendered = await resolveWithSecret(userData);
    await resolve(keyVersion.id);
    await mocks.settle();

    const keyArn = mocks.one('aws:secretsmanager/secret:Secret', 'gw-a-private-key').state!.arn as string;
    const configArn = mocks.one('aws:secretsmanager/secret:Secret', 'gw-a-agent-config').state!.arn as string;
    expect(keyArn).toMatch(/^arn:aws:/);
    // The key really is in the stack, as a secret input of the SecretVersion...
    const version = mocks.one('aws:secretsmanager/secretVersion:SecretVersion', 'gw-a-private-key');
    expect(isSecretInput(version.inputs.secretString)).toBe(true);
    expect(version.inputs.secretString.value).toBe(privateKey.value);
    // ...but not in the user data, which references the secrets by ARN and is not secret itself.
    const instance = mocks.one('aws:ec2/instance:Instance', 'gw-a');
    expect(isSecretInput(instance.inputs.userData)).toBe(false);
    for (const text of [rendered.value, instance.inputs.userData as string]) {
      expect(text).not.toContain(privateKey.value);
      expect(text).not.toContain(await resolve(key.publicKey));
      expect(text).not.toMatch(/[A-Za-z0-9+/]{42}[AEIMQUYcgkosw480]=/);
      expect(text).toContain(`secretId: ${keyArn}`);
      expect(text).toContain(`secretId: ${configArn}`);
    }
    expect(rendered.secret).toBe(false);
    // The configuration document holds the reference and the peer's public key only.
    const storedInput = mocks.one('aws:secretsmanager/secretVersion:SecretVersion', 'gw-a-agent-config').inputs
      .secretString;
    expect(isSecretInput(storedInput)).toBe(true);
    const stored = unwrapSecrets<string>(storedInput);
    expect(stored).not.toContain(privateKey.value);
    expect(parseAgentConfig(stored).privateKey).toEqual({ source: 'aws-secrets-manager', secretId: keyArn });
  });

  it('refuses inputs that look like a WireGuard key, naming the field but not the value', async () => {
    setupMocks();
    const { privateKey } = generateWireGuardKeyPair();
    const cases: BootstrapConfig[] = [
      { ...awsBootstrap, privateKey: { source: 'file', path: privateKey } },
      { ...awsBootstrap, privateKey: { source: 'aws-secrets-manager', secretId: privateKey } },
      { ...awsBootstrap, configSource: { source: 'aws-secrets-manager', secretId: `wiremesh/${privateKey}` } },
      { ...awsBootstrap, healthListen: privateKey },
    ];
    for (const bootstrapConfig of cases) {
      let message = '';
      try {
        agentCloudInit({ agentPackage: 'wiremesh@0.1.0', bootstrapConfig });
      } catch (error) {
        message = (error as Error).message;
      }
      expect(message).toMatch(/^bootstrapConfig: \$\.\S+ looks like a WireGuard key; pass a reference/);
      expect(message).not.toContain(privateKey);
    }
    // Late inputs are checked when they resolve.
    await expect(
      resolve(
        agentCloudInit({
          agentPackage: 'wiremesh@0.1.0',
          bootstrapConfig: pulumi.secret({
            ...awsBootstrap,
            privateKey: { source: 'file' as const, path: privateKey },
          }),
        }),
      ),
    ).rejects.toThrow('$.privateKey.path looks like a WireGuard key');
    expect(() =>
      agentCloudInit({ agentPackage: `https://example.com/${privateKey}.tgz`, bootstrapConfig: awsBootstrap }),
    ).toThrow('agentPackage: $ looks like a WireGuard key');
    expect(() => renderAgentCloudInit(`https://example.com/${privateKey}.tgz`, '24', awsBootstrap)).toThrow(
      'looks like a WireGuard key',
    );
    expect(() => assertNoKeyMaterial({ a: [{ b: Buffer.alloc(32) }] }, 'x')).toThrow('x: $.a[0].b is binary data');
  });
});

describe('agentCloudInit validation', () => {
  it.each([
    'wiremesh',
    'wiremesh@latest',
    'wiremesh@^0.1.0',
    'wiremesh@0.1',
    'http://example.com/wiremesh-0.1.0.tgz',
    'git+https://github.com/x/wiremesh',
    "wiremesh@0.1.0';reboot;'",
  ])('refuses the unpinned package %s', (spec) => {
    expect(() => agentCloudInit({ agentPackage: spec, bootstrapConfig: awsBootstrap })).toThrow(
      'agentPackage must be pinned',
    );
  });

  it.each(['wiremesh@0.1.0', '@acme/wiremesh@10.0.0-beta.2', 'https://npm.example.com/wiremesh/-/wiremesh-0.1.0.tgz'])(
    'accepts %s',
    (spec) => {
      expect(checkAgentPackage(spec)).toBe(spec);
    },
  );

  it('refuses Node.js below 24, a file configSource and an invalid agent configuration', () => {
    expect(() =>
      agentCloudInit({ agentPackage: 'wiremesh@0.1.0', nodeVersion: '22', bootstrapConfig: awsBootstrap }),
    ).toThrow('nodeVersion must be a Node.js major version of 24 or later');
    expect(() =>
      agentCloudInit({ agentPackage: 'wiremesh@0.1.0', nodeVersion: '24.1', bootstrapConfig: awsBootstrap }),
    ).toThrow('nodeVersion');
    expect(() =>
      agentCloudInit({
        agentPackage: 'wiremesh@0.1.0',
        bootstrapConfig: { ...awsBootstrap, configSource: { source: 'file', path: '/etc/wiremesh/full.yaml' } },
      }),
    ).toThrow('bootstrapConfig.configSource must be a secret store');
    expect(() =>
      agentCloudInit({
        agentPackage: 'wiremesh@0.1.0',
        bootstrapConfig: { ...awsBootstrap, interfaceName: 'this-name-is-too-long' },
      }),
    ).toThrow(
      /bootstrapConfig does not make a valid agent configuration: invalid configuration:\n {2}\$\.interface\.name: must be 1 to 15/,
    );
    expect(() =>
      agentCloudInit({
        agentPackage: 'wiremesh@0.1.0',
        bootstrapConfig: { ...awsBootstrap, healthListen: '0.0.0.0:99999' },
      }),
    ).toThrow('$.health.listen: port 99999 is out of range');
  });
});

describe('agentConfigDocument', () => {
  beforeAll(() => {
    setupMocks();
  });
  const peer = generateWireGuardKeyPair();
  const full: AgentConfig = {
    interface: { name: 'wm0', addresses: ['10.99.0.1/24'], listenPort: 51820, mtu: 1420 },
    privateKey: { source: 'aws-secrets-manager', secretId: KEY_ARN },
    peers: [
      {
        name: 'site-b',
        publicKey: peer.publicKey,
        presharedKey: { source: 'aws-secrets-manager', secretId: 'wiremesh/site-a/site-b-psk' },
        endpoint: 'gw-b.example.net:51820',
        allowedIps: ['10.99.0.2/32', '10.20.0.0/16'],
      },
    ],
    health: { listen: '0.0.0.0:9587', requiredPeers: ['site-b'] },
  };

  it('renders JSON the agent parses back to the same configuration', async () => {
    const text = await resolve(agentConfigDocument(full));
    expect(JSON.parse(text)).toEqual(full);
    expect(parseAgentConfig(text)).toEqual(full);
    expect(await pulumi.isSecret(agentConfigDocument(full))).toBe(false);
    expect(await pulumi.isSecret(agentConfigDocument(pulumi.secret(full)))).toBe(true);
  });

  it('refuses inline keys and key-shaped strings outside publicKey', async () => {
    const inline = {
      ...full,
      privateKey: { source: 'inline', key: Buffer.alloc(32), description: 'x' },
    } as AgentConfig;
    expect(() => agentConfigDocument(inline)).toThrow('agentConfigDocument: $.privateKey is an inline key');
    const psk = {
      ...full,
      peers: [{ ...full.peers[0]!, presharedKey: { source: 'inline', key: Buffer.alloc(32), description: 'x' } }],
    } as AgentConfig;
    expect(() => agentConfigDocument(psk)).toThrow('$.peers[0].presharedKey is an inline key');
    const pasted = { ...full, privateKey: { source: 'aws-secrets-manager' as const, secretId: peer.privateKey } };
    expect(() => agentConfigDocument(pasted)).toThrow(
      'agentConfigDocument: $.privateKey.secretId looks like a WireGuard key',
    );
    await expect(resolve(agentConfigDocument(pulumi.output(pasted)))).rejects.toThrow('looks like a WireGuard key');
  });

  it('validates with the agent rules (every problem with its path)', () => {
    const bad = {
      ...full,
      peers: [{ ...full.peers[0]!, allowedIps: ['0.0.0.0/0'] }],
      health: { listen: '0.0.0.0:9587', requiredPeers: ['nobody'] },
    };
    expect(() => agentConfigDocument(bad)).toThrow(
      /agentConfigDocument: invalid configuration:\n {2}\$\.peers\[0\]\.allowedIps\[0\]: a default route .*\n {2}\$\.health\.requiredPeers\[0\]: no peer is named "nobody"/,
    );
  });
});
