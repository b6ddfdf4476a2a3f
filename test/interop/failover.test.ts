/**
 * Failover of an AWS-style gateway group in network namespaces: two wiremesh agents (userspace
 * plane, one shared key, no peer endpoints) on one VPC subnet with a LAN host, a remote site
 * running wireguard-go that dials the group's load balancer address, the local EC2 emulator
 * (SigV4 checked) as the VPC's route API, reached over the VPC like an interface endpoint, and a
 * stand-in NLB that health-checks the members' /active. The VPC router is the LAN host's route
 * to the remote site: the emulator's route table, applied there on every ReplaceRoute.
 *
 * The remote pings the LAN host 20 times a second; the active agent is killed (SIGKILL, by PID)
 * mid-stream. The standby must take the routes, the load balancer must move to it, the remote
 * must handshake again, and the pings must flow again: the longest gap between answered pings
 * is the time without traffic, printed (not asserted beyond a bound: speed is for benchmarks).
 *
 * Layout (198.18.0.0/15 only, no default routes):
 *   lan 198.18.10.10 ─┐                                  ┌─ gwa 198.18.20.1 ─┐
 *   gwa 198.18.10.1  ─┼─ vpc bridge (EC2 at .250)        │                   ├─ wan (NLB 198.18.40.1) ─ remote 198.18.30.1
 *   gwb 198.18.10.2  ─┘                                  └─ gwb 198.18.21.1 ─┘        tunnel 198.19.50.1/24
 */
import { execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../../agent/package-root';
import { HEALTH_PORT, WIREGUARD_PORT } from '../../common/defaults';
import { Lab } from '../../lab/netns';
import { describeWithRoot } from '../support/root-only';
import type { Ec2EmulatorState } from '../support/fake-ec2';
import type { FakeNlbSettings } from '../support/fake-nlb';

jest.setTimeout(180_000);

const ROOT = packageRoot();
const AGENT = join(ROOT, 'bin', 'wiremesh-agent.js');
// The emulators are TypeScript scripts run in their namespaces, transpiled as jest does.
const TS_REGISTER = ['-r', join(ROOT, 'lab', 'boot', 'ts-register.js')];
const EC2_EMULATOR = join(ROOT, 'test', 'support', 'fake-ec2.ts');
const FAKE_NLB = join(ROOT, 'test', 'support', 'fake-nlb.ts');

const REGION = 'eu-west-1';
const CREDENTIALS = {
  accessKeyId: 'ASIAFAKEWIREMESHFAILOVER',
  secretAccessKey: 'fake-failover-secret-for-tests-only',
  sessionToken: 'fake-failover-session-token',
};
const ROUTE_TABLE = 'rtb-0f0000000000000a1';
const REMOTE_CIDR = '198.19.50.0/24';
const LAN_HOST = '198.18.10.10';
const EC2_ADDRESS = '198.18.10.250';
const EC2_PORT = 8443;
const NLB_ADDRESS = '198.18.40.1';
const MEMBERS = [
  { name: 'a', networkInterfaceId: 'eni-0a0000000000000a1', address: '198.18.10.1', wan: '198.18.20' },
  { name: 'b', networkInterfaceId: 'eni-0b0000000000000b2', address: '198.18.10.2', wan: '198.18.21' },
] as const;
const PINGS_PER_SECOND = 20;
const PING_SECONDS = 45;
const KILL_AFTER_MS = 6000;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function until(what: string, condition: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(50);
  }
}

/** Collects a child's output, line by line, as it comes. */
function output(child: ChildProcess): { text: () => string; lines: () => string[] } {
  let text = '';
  child.stdout?.on('data', (chunk: Buffer) => (text += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (text += chunk.toString()));
  return { text: () => text, lines: () => text.split('\n').filter(Boolean) };
}

/** Log lines of one event, parsed. */
function events(text: string, event: string): Array<Record<string, unknown>> {
  return text
    .split('\n')
    .filter((line) => line.includes(`"event":"${event}"`))
    .map((line) => JSON.parse(line.slice(line.indexOf('{'))) as Record<string, unknown>);
}

describeWithRoot('gateway group failover through the EC2 API', ['ip', 'wg', 'wireguard-go', 'nft', 'ping'])(
  'gateway group failover through the EC2 API',
  () => {
    const lab = new Lab(`fo${process.pid % 10000}`);
    const dir = mkdtempSync(join(tmpdir(), 'wiremesh-failover-'));
    const timers: NodeJS.Timeout[] = [];
    afterAll(async () => {
      for (const timer of timers) clearInterval(timer);
      await lab.cleanup();
      rmSync(dir, { recursive: true, force: true });
    });

    test('the standby takes the routes when the active is killed mid-transfer; the pings flow again', async () => {
      const vpc = lab.namespace('vpc');
      const lan = lab.namespace('lan');
      const wan = lab.namespace('wan');
      const remote = lab.namespace('rem');
      const gateways = MEMBERS.map((member) => ({ ...member, ns: lab.namespace(`g${member.name}`) }));

      // The VPC subnet: a bridge, the LAN host and each gateway's "ENI" on it, the EC2 endpoint on the bridge.
      lab.run(vpc, 'ip', ['link', 'add', 'br0', 'type', 'bridge']);
      lab.run(vpc, 'ip', ['link', 'set', 'br0', 'up']);
      lab.addAddress(vpc, 'br0', `${EC2_ADDRESS}/24`);
      const attach = (ns: string, address: string): void => {
        const { deviceB } = lab.link(ns, vpc, { a: [`${address}/24`], b: [] });
        lab.run(vpc, 'ip', ['link', 'set', deviceB, 'master', 'br0']);
      };
      attach(lan, LAN_HOST);
      for (const gateway of gateways) attach(gateway.ns, gateway.address);
      // The VPC route table's route to the remote site, at the first gateway (as the components create it).
      lab.run(lan, 'ip', ['route', 'add', REMOTE_CIDR, 'via', MEMBERS[0].address]);

      // The internet side: each gateway and the remote site on the WAN router, which is the NLB.
      for (const gateway of gateways) {
        lab.link(gateway.ns, wan, { a: [`${gateway.wan}.1/24`], b: [`${gateway.wan}.254/24`] });
        lab.run(gateway.ns, 'ip', ['route', 'add', '198.18.30.0/24', 'via', `${gateway.wan}.254`]);
      }
      lab.link(remote, wan, { a: ['198.18.30.1/24'], b: ['198.18.30.254/24'] });
      lab.run(remote, 'ip', ['route', 'add', `${NLB_ADDRESS}/32`, 'via', '198.18.30.254']);
      for (const setting of [
        'net.ipv4.ip_forward=1',
        'net.ipv4.conf.all.rp_filter=0',
        'net.ipv4.conf.default.rp_filter=0',
      ])
        lab.run(wan, 'sysctl', ['-qw', setting]);

      // Keys: the group's one key, the remote site's.
      const genkey = (): string => execFileSync('wg', ['genkey'], { encoding: 'utf8' }).trim();
      const pubkey = (key: string): string => execFileSync('wg', ['pubkey'], { input: key, encoding: 'utf8' }).trim();
      const groupKey = genkey();
      const remoteKey = genkey();
      const keyPath = join(dir, 'group.key');
      writeFileSync(keyPath, `${groupKey}\n`, { mode: 0o600 });

      // The EC2 emulator, inside the VPC; every ReplaceRoute is applied to the LAN host's route.
      const state: Ec2EmulatorState = {
        region: REGION,
        credentials: CREDENTIALS,
        routeTables: {
          [ROUTE_TABLE]: [{ destination: REMOTE_CIDR, networkInterfaceId: MEMBERS[0].networkInterfaceId }],
        },
        replaceAllowed: [ROUTE_TABLE],
      };
      const ec2 = lab.spawn(vpc, process.execPath, [
        ...TS_REGISTER,
        EC2_EMULATOR,
        `${EC2_ADDRESS}:${EC2_PORT}`,
        JSON.stringify(state),
      ]);
      const ec2Output = output(ec2);
      const switchedAt: number[] = [];
      let applied = 0;
      const applyReplaced = (): void => {
        const lines = ec2Output.lines().filter((line) => line.includes('"replaced"'));
        for (const line of lines.slice(applied)) {
          const { replaced, atMs } = JSON.parse(line) as { replaced: { networkInterfaceId: string }; atMs: number };
          const member = MEMBERS.find((m) => m.networkInterfaceId === replaced.networkInterfaceId)!;
          lab.run(lan, 'ip', ['route', 'replace', REMOTE_CIDR, 'via', member.address]);
          switchedAt.push(atMs);
        }
        applied = lines.length;
      };
      const router = setInterval(applyReplaced, 20);
      timers.push(router);
      await until('the EC2 emulator', () => ec2Output.text().includes('"listening"'), 15_000);

      // The remote site: wireguard-go dialing the load balancer's address.
      const remoteIface = lab.name('wr');
      await lab.wireguard(remote, 'wireguard-go', remoteIface);
      lab.wgConfig(
        remote,
        'setconf',
        remoteIface,
        [
          '[Interface]',
          `PrivateKey = ${remoteKey}`,
          '[Peer]',
          `PublicKey = ${pubkey(groupKey)}`,
          `Endpoint = ${NLB_ADDRESS}:${WIREGUARD_PORT}`,
          'AllowedIPs = 198.18.10.0/24, 198.19.99.0/24',
          'PersistentKeepalive = 5',
          '',
        ].join('\n'),
      );
      lab.addAddress(remote, remoteIface, '198.19.50.1/24');
      lab.run(remote, 'ip', ['link', 'set', remoteIface, 'up']);
      lab.run(remote, 'ip', ['route', 'add', '198.18.10.0/24', 'dev', remoteIface]);

      // The two agents: the same document, with the group's failover section.
      const startAgent = (gateway: (typeof gateways)[number]) => {
        const config = {
          interface: { name: lab.name('wm'), addresses: ['198.19.99.1/24'], listenPort: WIREGUARD_PORT },
          privateKey: { source: 'file', path: keyPath },
          dataPlane: 'userspace',
          forwarding: true,
          peers: [{ name: 'remote', publicKey: pubkey(remoteKey), allowedIps: [REMOTE_CIDR] }],
          health: { listen: `0.0.0.0:${HEALTH_PORT}` },
          failover: {
            provider: 'aws-ec2',
            region: REGION,
            endpoint: `http://${EC2_ADDRESS}:${EC2_PORT}`,
            members: MEMBERS.map(({ networkInterfaceId, address }) => ({ networkInterfaceId, address })),
            routeTableIds: [ROUTE_TABLE],
            destinations: [REMOTE_CIDR],
            probeIntervalSeconds: 1,
            failedProbes: 3,
            probeTimeoutMs: 500,
            routeCheckSeconds: 2,
          },
        };
        const path = join(dir, `agent-${gateway.name}.json`);
        writeFileSync(path, JSON.stringify(config));
        const child = lab.spawn(gateway.ns, process.execPath, [AGENT, 'run', '--config', path], {
          AWS_ACCESS_KEY_ID: CREDENTIALS.accessKeyId,
          AWS_SECRET_ACCESS_KEY: CREDENTIALS.secretAccessKey,
          AWS_SESSION_TOKEN: CREDENTIALS.sessionToken,
          WIREMESH_LOG_LEVEL: 'info',
        });
        return { ...gateway, child, log: output(child) };
      };
      const agents = gateways.map(startAgent);
      const [a, b] = agents as [(typeof agents)[0], (typeof agents)[0]];
      await until(
        'both agents ready',
        () => agents.every((agent) => agent.log.text().includes('"agent.ready"')),
        30_000,
      );
      await until(
        'a active, b standby',
        () =>
          events(a.log.text(), 'failover.role').some((e) => e.role === 'active') &&
          events(b.log.text(), 'failover.role').some((e) => e.role === 'standby'),
        15_000,
      );

      // The stand-in NLB: /active health checks every 500 ms, 2 to turn healthy or unhealthy.
      const nlbSettings: FakeNlbSettings = {
        address: NLB_ADDRESS,
        port: WIREGUARD_PORT,
        targets: MEMBERS.map((member) => `${member.wan}.1`),
        healthPort: HEALTH_PORT,
        intervalMs: 500,
        healthyThreshold: 2,
        unhealthyThreshold: 2,
      };
      const nlb = lab.spawn(wan, process.execPath, [...TS_REGISTER, FAKE_NLB, JSON.stringify(nlbSettings)]);
      const nlbOutput = output(nlb);
      await until('the NLB at a', () => nlbOutput.text().includes(`"target":"${MEMBERS[0].wan}.1"`), 15_000);
      await until(
        'a handshake through the NLB',
        () => lab.wg(remote, ['show', remoteIface, 'latest-handshakes']).split(/\s+/)[1] !== '0',
        20_000,
      );

      // The transfer: 20 pings a second from the remote site to the LAN host, through the group.
      const count = PINGS_PER_SECOND * PING_SECONDS;
      const ping = lab
        .runAsync(
          remote,
          'ping',
          ['-D', '-n', '-i', String(1 / PINGS_PER_SECOND), '-c', String(count), '-W', '1', LAN_HOST],
          (PING_SECONDS + 30) * 1000,
        )
        .catch((error: { stdout?: string }) => ({ stdout: error.stdout ?? '', stderr: '' }));
      await sleep(KILL_AFTER_MS);
      const killedAt = Date.now();
      process.kill(a.child.pid!, 'SIGKILL');
      const { stdout } = await ping;
      clearInterval(router);
      applyReplaced();

      // The standby took over, once, through a signed ReplaceRoute, and nothing flapped back.
      const takeovers = events(b.log.text(), 'failover.takeover');
      expect(takeovers).toEqual([
        expect.objectContaining({ from: MEMBERS[0].networkInterfaceId, to: MEMBERS[1].networkInterfaceId }),
      ]);
      const calls = ec2Output
        .lines()
        .filter((line) => line.includes('"call"'))
        .map((line) => (JSON.parse(line) as { call: { action: string; result: string } }).call);
      expect(calls.filter((call) => call.result !== 'ok')).toEqual([]);
      expect(calls.filter((call) => call.action === 'ReplaceRoute')).toHaveLength(1);
      expect(lab.run(lan, 'ip', ['route', 'show', REMOTE_CIDR])).toContain(`via ${MEMBERS[1].address}`);
      expect(nlbOutput.text()).toContain(`"target":"${MEMBERS[1].wan}.1"`);

      // The pings: answered before the kill, answered again at the end; the gap is the outage.
      const replies = stdout
        .split('\n')
        .map((line) => /^\[(\d+\.\d+)\] .*icmp_seq=(\d+)/.exec(line))
        .filter((match): match is RegExpExecArray => match !== null)
        .map((match) => Number(match[1]) * 1000);
      expect(replies.length).toBeGreaterThan(PINGS_PER_SECOND * 10);
      let gapMs = 0;
      let gapStart = 0;
      for (let i = 1; i < replies.length; i++) {
        if (replies[i]! - replies[i - 1]! > gapMs) {
          gapMs = replies[i]! - replies[i - 1]!;
          gapStart = replies[i - 1]!;
        }
      }
      const lastReply = replies[replies.length - 1]!;
      expect(lastReply).toBeGreaterThan(killedAt + 5000);
      expect(gapStart).toBeGreaterThanOrEqual(killedAt - 1000);
      const routeSwitchS = (switchedAt[0]! - killedAt) / 1000;
      process.stdout.write(
        `failover: ${replies.length}/${count} pings answered; routes switched ${routeSwitchS.toFixed(1)} s after the kill; ` +
          `longest gap without traffic ${(gapMs / 1000).toFixed(1)} s\n`,
      );
      // Bound, not a speed claim: probes (3 x 1 s), the NLB's checks, the remote's re-handshake (15 s).
      expect(gapMs).toBeLessThan(30_000);

      // No flap back: the old active restarts, finds the routes at b, and stays a standby.
      const again = startAgent(gateways[0]!);
      await until(
        'a back as a standby',
        () => events(again.log.text(), 'failover.role').some((e) => e.role === 'standby'),
        30_000,
      );
      await sleep(5000);
      applyReplaced();
      expect(events(again.log.text(), 'failover.role').map((e) => e.role)).toEqual(['standby']);
      expect(events(again.log.text(), 'failover.takeover')).toEqual([]);
      expect(lab.run(lan, 'ip', ['route', 'show', REMOTE_CIDR])).toContain(`via ${MEMBERS[1].address}`);
      expect(switchedAt).toHaveLength(1);
      await lab.runAsync(remote, 'ping', ['-c', '3', '-W', '2', LAN_HOST]);
    });
  },
);
