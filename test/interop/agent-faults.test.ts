/**
 * wiremesh-agent after faults, in a network namespace of its own (so ip_forward is that
 * namespace's): killed with SIGKILL, it has left forwarding on, and the next start and stop put
 * the original value back.
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
    writeFileSync(configPath, [
      `interface: { name: ${iface}, addresses: [198.19.80.1/24] }`,
      `privateKey: { source: file, path: ${keyFile} }`,
      'dataPlane: userspace',
      'peers:',
      `  - { name: remote, publicKey: "${keyToBase64(publicKeyOf(generatePrivateKey()))}", allowedIps: [198.19.81.0/24] }`,
      '',
    ].join('\n'));
  });

  afterAll(async () => {
    await lab.cleanup();
    rmSync(new HostState(iface).path, { force: true });
    rmSync(dir, { recursive: true, force: true });
  });

  const forwarding = (): string[] => FORWARDING.map((path) => lab.run(ns, 'cat', [path]).trim());

  async function startAgent(): Promise<{ child: ChildProcess; log: () => string }> {
    const child = lab.spawn(ns, process.execPath, [AGENT, 'run', '--config', configPath]);
    let log = '';
    child.stdout!.on('data', (chunk: Buffer) => (log += chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer) => (log += chunk.toString()));
    const deadline = Date.now() + 30_000;
    while (!log.includes('"agent.ready"')) {
      if (child.exitCode !== null || Date.now() > deadline) throw new Error(`the agent did not start: ${log}`);
      await sleep(100);
    }
    return { child, log: () => log };
  }

  it('after kill -9, the next start and its stop restore forwarding to its original value', async () => {
    for (const path of FORWARDING) lab.run(ns, 'sh', ['-c', `echo 0 > ${path}`]);
    const state = new HostState(iface);

    const first = await startAgent();
    expect(forwarding()).toEqual(['1', '1']);
    // The originals are on disk before the change, private to root.
    expect(JSON.parse(readFileSync(state.path, 'utf8'))).toEqual({ sysctls: Object.fromEntries(FORWARDING.map((path) => [path, '0'])) });
    expect(statSync(state.path).mode & 0o777).toBe(0o600);

    first.child.kill('SIGKILL');
    expect(await waitForExit(first.child, 5000)).toBe(true);
    // What SIGKILL leaves: forwarding still on, and the record of what it was.
    expect(forwarding()).toEqual(['1', '1']);
    expect(existsSync(state.path)).toBe(true);

    const second = await startAgent();
    expect(second.log()).toContain('"host.restored"');
    expect(forwarding()).toEqual(['1', '1']);
    // The second run recorded the real original (0), not the 1 the killed run left.
    expect(JSON.parse(readFileSync(state.path, 'utf8')).sysctls).toEqual(Object.fromEntries(FORWARDING.map((path) => [path, '0'])));

    second.child.kill('SIGTERM');
    expect(await waitForExit(second.child, 10_000)).toBe(true);
    expect(forwarding()).toEqual(['0', '0']);
    expect(existsSync(state.path)).toBe(false);
  });
});
