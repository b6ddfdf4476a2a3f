/**
 * wiremesh-agent after faults, in a network namespace of its own (so ip_forward is that
 * namespace's): killed with SIGKILL, it has left forwarding on, and the next start and stop put
 * the original value back; with its secret store down at boot, /healthz already answers (503,
 * starting, and why), and once the store is back the agent comes up and counts that first apply;
 * with its key read refused, it stays up without a tunnel and /healthz says why.
 */
import { type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HostState } from '../../agent/gateway/host-state';
import { keyToBase64 } from '../../agent/crypto/keys';
import { generatePrivateKey, publicKeyOf } from '../../agent/crypto/primitives';
import { packageRoot } from '../../agent/package-root';
import { Lab, waitForExit } from '../../lab/netns';
import { describeWithRoot } from '../support/root-only';

const AGENT = join(packageRoot(), 'bin', 'wiremesh-agent.js');
const FORWARDING = ['/proc/sys/net/ipv4/ip_forward', '/proc/sys/net/ipv6/conf/all/forwarding'];
jest.setTimeout(120_000);

/** Credentials for the SDK without a metadata service (the test stores do not check them). */
const AWS_STATIC_CREDENTIALS = {
  AWS_ACCESS_KEY_ID: 'test',
  AWS_SECRET_ACCESS_KEY: 'test',
  AWS_EC2_METADATA_DISABLED: 'true',
};

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describeWithRoot('the agent fault tests', [])('wiremesh-agent after faults', () => {
  // A per-run prefix: these names never collide with another run's.
  const lab = new Lab(`kf${process.pid % 10000}`);
  const dir = mkdtempSync(join(tmpdir(), 'wiremesh-faults-'));
  let ns: string;
  let iface: string;
  let configPath: string;

  beforeAll(() => {
    ns = lab.namespace('gw');
    iface = lab.name('wm');
    const keyFile = join(dir, 'private.key');
    writeFileSync(keyFile, `${keyToBase64(generatePrivateKey())}\n`, { mode: 0o600 });
    configPath = join(dir, 'agent.yaml');
    writeFileSync(
      configPath,
      [
        `interface: { name: ${iface}, addresses: [198.19.80.1/24] }`,
        `privateKey: { source: file, path: ${keyFile} }`,
        'dataPlane: userspace',
        'peers:',
        `  - { name: remote, publicKey: "${keyToBase64(publicKeyOf(generatePrivateKey()))}", allowedIps: [198.19.81.0/24] }`,
        '',
      ].join('\n'),
    );
  });

  afterAll(async () => {
    await lab.cleanup();
    rmSync(new HostState(iface).path, { force: true });
    rmSync(dir, { recursive: true, force: true });
  });

  const forwarding = (): string[] => FORWARDING.map((path) => lab.run(ns, 'cat', [path]).trim());

  function spawnAgent(
    config: string,
    env: NodeJS.ProcessEnv = {},
  ): {
    child: ChildProcess;
    log: () => string;
    logged: (text: string) => Promise<void>;
    ready: () => Promise<void>;
  } {
    const child = lab.spawn(ns, process.execPath, [AGENT, 'run', '--config', config], env);
    let log = '';
    child.stdout!.on('data', (chunk: Buffer) => (log += chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer) => (log += chunk.toString()));
    // The checks in between run synchronously (spawnSync), so the agent's output reaches `log` only
    // while this waits: a line the agent wrote before an answer is read here, never assumed.
    const logged = async (text: string): Promise<void> => {
      const deadline = Date.now() + 60_000;
      while (!log.includes(text)) {
        if (child.exitCode !== null || Date.now() > deadline) throw new Error(`the agent never logged ${text}: ${log}`);
        await sleep(100);
      }
    };
    return { child, log: () => log, logged, ready: () => logged('"agent.ready"') };
  }

  async function startAgent(): Promise<{ child: ChildProcess; log: () => string }> {
    const agent = spawnAgent(configPath);
    await agent.ready();
    return agent;
  }

  /** GET over real HTTP inside the namespace; null while nothing listens. */
  function get(port: number, path: string): { status: number; body: string } | null {
    const script = `fetch('http://127.0.0.1:${port}${path}').then(async (r) => console.log(JSON.stringify({ status: r.status, body: await r.text() })), () => console.log('null'))`;
    return JSON.parse(lab.run(ns, process.execPath, ['-e', script])) as { status: number; body: string } | null;
  }

  /** The agent's /healthz answer once its body holds `text` (within 30 s, while the agent runs). */
  async function healthzSaying(
    agent: { child: ChildProcess; log: () => string },
    port: number,
    text: string,
  ): Promise<{ status: number; body: string }> {
    let answer = get(port, '/healthz');
    const deadline = Date.now() + 30_000;
    while (!answer?.body.includes(text)) {
      if (agent.child.exitCode !== null || Date.now() > deadline)
        throw new Error(`no /healthz answer with "${text}": ${JSON.stringify(answer)}\n${agent.log()}`);
      await sleep(200);
      answer = get(port, '/healthz');
    }
    return answer;
  }

  /** An agent document whose key is in the test's Secrets Manager on `storePort` (no tunnel peers). */
  function storeKeyedDocument(
    iface: string,
    address: string,
    storePort: number,
    healthPort: number,
    extra: string[] = [],
  ): string {
    return [
      `interface: { name: ${iface}, addresses: [${address}] }`,
      `privateKey: { source: aws-secrets-manager, secretId: gw-key, region: eu-west-1, endpoint: "http://127.0.0.1:${storePort}" }`,
      'dataPlane: userspace',
      'forwarding: false',
      `health: { listen: "127.0.0.1:${healthPort}" }`,
      ...extra,
      'peers: []',
      '',
    ].join('\n');
  }

  it('after kill -9, the next start and its stop restore forwarding to its original value', async () => {
    for (const path of FORWARDING) lab.run(ns, 'sh', ['-c', `echo 0 > ${path}`]);
    const state = new HostState(iface);

    const first = await startAgent();
    expect(forwarding()).toEqual(['1', '1']);
    // The originals are on disk before the change, private to root: forwarding, and the ICMP
    // redirects a forwarding gateway turns off (a new namespace sends them).
    expect(JSON.parse(readFileSync(state.path, 'utf8'))).toEqual({
      sysctls: {
        ...Object.fromEntries(FORWARDING.map((path) => [path, '0'])),
        '/proc/sys/net/ipv4/conf/all/send_redirects': '1',
        [`/proc/sys/net/ipv4/conf/${iface}/send_redirects`]: '1',
      },
    });
    expect(statSync(state.path).mode & 0o777).toBe(0o600);

    first.child.kill('SIGKILL');
    expect(await waitForExit(first.child, 5000)).toBe(true);
    // What SIGKILL leaves: forwarding still on, and the record of what it was.
    expect(forwarding()).toEqual(['1', '1']);
    expect(existsSync(state.path)).toBe(true);

    const second = await startAgent();
    expect(second.log()).toContain('"host.restored"');
    expect(forwarding()).toEqual(['1', '1']);
    // The second run recorded the real originals (forwarding 0), not what the killed run left.
    expect(JSON.parse(readFileSync(state.path, 'utf8')).sysctls).toEqual({
      ...Object.fromEntries(FORWARDING.map((path) => [path, '0'])),
      '/proc/sys/net/ipv4/conf/all/send_redirects': '1',
      [`/proc/sys/net/ipv4/conf/${iface}/send_redirects`]: '1',
    });

    second.child.kill('SIGTERM');
    expect(await waitForExit(second.child, 10_000)).toBe(true);
    expect(forwarding()).toEqual(['0', '0']);
    expect(existsSync(state.path)).toBe(false);
  });

  it('answers /healthz with 503 "starting" and the reason while the secret store is down, then comes up and counts the first apply', async () => {
    const privateKey = keyToBase64(generatePrivateKey());
    const [storePort, healthPort, metricsPort] = [
      18_000 + (process.pid % 1000),
      19_000 + (process.pid % 1000),
      20_000 + (process.pid % 1000),
    ];
    const storeConfig = join(dir, 'store.yaml');
    writeFileSync(
      storeConfig,
      storeKeyedDocument(lab.name('ws'), '198.19.82.1/24', storePort, healthPort, [
        `metrics: { listen: "127.0.0.1:${metricsPort}" }`,
      ]),
    );
    // Nothing listens on the store's port yet: every fetch is refused, as in a store outage.
    const agent = spawnAgent(storeConfig, AWS_STATIC_CREDENTIALS);
    const answer = await healthzSaying(agent, healthPort, 'no answer from the service');
    expect(answer.status).toBe(503);
    const report = JSON.parse(answer.body) as { status: string; reason: string; healthy: boolean };
    expect(report).toMatchObject({ status: 'starting', healthy: false });
    expect(report.reason).toMatch(
      /^fetching keys: AWS Secrets Manager secret gw-key: no answer from the service .*; retry \d+ in \d+ ms$/,
    );
    expect(answer.body).not.toContain(privateKey);

    // The store comes back (a minimal GetSecretValue answer); the agent's next retry gets the key.
    lab.spawn(ns, process.execPath, [
      '-e',
      `require('node:http').createServer((request, response) => {
      request.resume();
      request.on('end', () => {
        response.writeHead(200, { 'Content-Type': 'application/x-amz-json-1.1' });
        response.end(JSON.stringify({ Name: 'gw-key', SecretString: ${JSON.stringify(privateKey)}, VersionId: 'v1' }));
      });
    }).listen(${storePort}, '127.0.0.1')`,
    ]);
    await agent.ready();
    expect(get(healthPort, '/healthz')!.status).toBe(200);
    const metrics = get(metricsPort, '/metrics')!.body;
    expect(metrics).toMatch(/^wiremesh_config_applies_total\{result="applied"\} 1$/m);
    expect(agent.log()).not.toContain(privateKey);
    agent.child.kill('SIGTERM');
    expect(await waitForExit(agent.child, 10_000)).toBe(true);
  });

  it('with a configuration document in a store that is down at boot (a cloud gateway), /healthz answers 503 from the bootstrap file, then the document applies', async () => {
    const privateKey = keyToBase64(generatePrivateKey());
    const [storePort, healthPort] = [23_000 + (process.pid % 1000), 24_000 + (process.pid % 1000)];
    const document = storeKeyedDocument(lab.name('wd'), '198.19.84.1/24', storePort, healthPort);
    // What the components' bootstrap writes: references only, the health listener, the document's name.
    const bootstrapPath = join(dir, 'bootstrap.yaml');
    writeFileSync(
      bootstrapPath,
      [
        `interface: { name: ${lab.name('wd')}, addresses: [] }`,
        'privateKey: { source: aws-secrets-manager, secretId: gw-key, region: eu-west-1 }',
        'peers: []',
        'dataPlane: auto',
        `configSource: { source: aws-secrets-manager, secretId: gw-config, region: eu-west-1, endpoint: "http://127.0.0.1:${storePort}" }`,
        `health: { listen: "127.0.0.1:${healthPort}" }`,
        '',
      ].join('\n'),
    );
    const agent = spawnAgent(bootstrapPath, AWS_STATIC_CREDENTIALS);
    const answer = await healthzSaying(agent, healthPort, 'no answer from the service');
    expect(answer.status).toBe(503);
    const report = JSON.parse(answer.body) as { status: string; reason: string };
    expect(report.status).toBe('starting');
    expect(report.reason).toMatch(
      /^fetching the configuration document: AWS Secrets Manager secret gw-config: no answer from the service .*; retry \d+ in \d+ ms$/,
    );

    // The store comes back: the document, then the key it names.
    lab.spawn(ns, process.execPath, [
      '-e',
      `const values = { 'gw-config': ${JSON.stringify(document)}, 'gw-key': ${JSON.stringify(privateKey)} };
      require('node:http').createServer((request, response) => {
        let body = '';
        request.on('data', (chunk) => (body += chunk));
        request.on('end', () => {
          const id = JSON.parse(body).SecretId;
          response.writeHead(200, { 'Content-Type': 'application/x-amz-json-1.1' });
          response.end(JSON.stringify({ Name: id, SecretString: values[id], VersionId: 'v1' }));
        });
      }).listen(${storePort}, '127.0.0.1')`,
    ]);
    await agent.ready();
    expect(get(healthPort, '/healthz')!.status).toBe(200);
    expect(get(healthPort, '/ready')!.status).toBe(200);
    expect(agent.log()).not.toContain(privateKey);
    agent.child.kill('SIGTERM');
    expect(await waitForExit(agent.child, 10_000)).toBe(true);
  });

  it('with its key read refused, stays up without a tunnel, answers /healthz 503 "refused" with the reason, and stops at once', async () => {
    const [storePort, healthPort] = [21_000 + (process.pid % 1000), 22_000 + (process.pid % 1000)];
    const name = lab.name('wr');
    const refusedConfig = join(dir, 'refused.yaml');
    writeFileSync(refusedConfig, storeKeyedDocument(name, '198.19.83.1/24', storePort, healthPort));
    // The store's answer to a caller whose policy does not grant the secret.
    const store = lab.spawn(ns, process.execPath, [
      '-e',
      `require('node:http').createServer((request, response) => {
      request.resume();
      request.on('end', () => {
        response.writeHead(400, { 'Content-Type': 'application/x-amz-json-1.1' });
        response.end(JSON.stringify({ __type: 'AccessDeniedException', Message: 'not authorized to perform secretsmanager:GetSecretValue' }));
      });
    }).listen(${storePort}, '127.0.0.1')`,
    ]);
    const agent = spawnAgent(refusedConfig, AWS_STATIC_CREDENTIALS);
    try {
      const answer = await healthzSaying(agent, healthPort, 'AccessDeniedException');
      expect(answer.status).toBe(503);
      expect(JSON.parse(answer.body)).toMatchObject({
        status: 'refused',
        healthy: false,
        reason:
          'AWS Secrets Manager secret gw-key: AccessDeniedException (HTTP 400); no tunnel; trying again every 30 s',
      });
      await agent.logged('"event":"secret.refused"');
      expect(agent.log()).not.toContain('"agent.ready"');
      expect(lab.run(ns, 'ip', ['-o', 'link', 'show'])).not.toContain(name);
      // A stop while it waits to retry is not held up by the wait.
      const stopped = Date.now();
      agent.child.kill('SIGTERM');
      expect(await waitForExit(agent.child, 10_000)).toBe(true);
      expect(Date.now() - stopped).toBeLessThan(5000);
      expect(agent.child.exitCode).toBe(0);
    } finally {
      store.kill('SIGTERM');
    }
  });
});
