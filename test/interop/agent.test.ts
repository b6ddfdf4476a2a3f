/**
 * wiremesh-agent end to end, in network namespaces: a LAN host behind a gateway running the agent,
 * a remote peer across a WAN link; the agent's metrics scraped over real HTTP; live configuration
 * changes under a continuous ping; key rotation under a continuous ping.
 *
 *   host (198.19.70.2) --lan-- gateway [agent] (198.18.71.1) --wan-- remote peers (198.18.71.x)
 */
import { execFileSync, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../../agent/package-root';
import { Lab, waitForExit, type Implementation } from '../../lab/netns';
import { describeWithRoot } from '../support/root-only';

const AGENT = join(packageRoot(), 'bin', 'wiremesh-agent.js');
const describeAgent = describeWithRoot('the agent tests', ['wg', 'wireguard-go']);
jest.setTimeout(120_000);

interface Keys {
  privateKey: string;
  publicKey: string;
}

function genkey(): Keys {
  const privateKey = execFileSync('wg', ['genkey'], { encoding: 'utf8' }).trim();
  return { privateKey, publicKey: execFileSync('wg', ['pubkey'], { input: privateKey, encoding: 'utf8' }).trim() };
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function eventually<T>(
  what: string,
  probe: () => T | Promise<T>,
  ok: (value: T) => boolean,
  timeoutMs = 20_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  while (Date.now() < deadline) {
    try {
      last = await probe();
      if (ok(last)) return last;
    } catch {
      // not yet
    }
    await sleep(200);
  }
  throw new Error(`timed out waiting for ${what}; last value: ${JSON.stringify(last)}`);
}

interface RemotePeer {
  name: string;
  ns: string;
  iface: string;
  keys: Keys;
  wan: string;
  inner: string;
}

/** The lab: host, gateway and remote peers; the gateway's agent is started by each test. */
class AgentLab {
  readonly lab = new Lab('ag');
  readonly dir = mkdtempSync(join(tmpdir(), 'wiremesh-agent-'));
  readonly gateway = this.lab.namespace('gw');
  readonly host = this.lab.namespace('h');
  readonly wan = this.lab.namespace('wan');
  readonly gatewayKeys = genkey();
  readonly iface = this.lab.name('wm');
  private readonly remotes: RemotePeer[] = [];
  private wanHost = 10;
  agent: ChildProcess | null = null;
  agentLog = '';

  constructor() {
    this.lab.link(this.host, this.gateway, { a: ['198.19.70.2/24'], b: ['198.19.70.1/24'] });
    this.lab.run(this.host, 'ip', ['route', 'add', '198.19.72.0/22', 'via', '198.19.70.1']);
    // The WAN is a bridge in its own namespace, so any number of sites can join it.
    this.lab.run(this.wan, 'ip', ['link', 'add', 'br0', 'type', 'bridge']);
    this.lab.run(this.wan, 'ip', ['link', 'set', 'br0', 'up']);
    this.joinWan(this.gateway, '198.18.71.1/24');
    this.writeKey('gateway.key', this.gatewayKeys.privateKey);
  }

  private joinWan(ns: string, address: string): void {
    const { deviceB } = this.lab.link(ns, this.wan, { a: [address], b: [] });
    this.lab.run(this.wan, 'ip', ['link', 'set', deviceB, 'master', 'br0']);
  }

  writeKey(name: string, key: string): string {
    const path = join(this.dir, name);
    writeFileSync(path, `${key}\n`, { mode: 0o600 });
    chmodSync(path, 0o600);
    return path;
  }

  /** A remote site: its own namespace on the WAN, a WireGuard interface whose peer is the gateway. */
  async remote(implementation: Implementation, index: number): Promise<RemotePeer> {
    const ns = this.lab.namespace('r');
    const wan = `198.18.71.${this.wanHost++}`;
    this.joinWan(ns, `${wan}/24`);
    const peer: RemotePeer = {
      name: `site${index}`,
      ns,
      iface: this.lab.name('rw'),
      keys: genkey(),
      wan,
      inner: `198.19.7${2 + (index >> 2)}.${1 + (index & 3) * 64}`,
    };
    await this.lab.wireguard(ns, implementation, peer.iface);
    this.lab.wgConfig(
      ns,
      'setconf',
      peer.iface,
      `[Interface]\nPrivateKey = ${peer.keys.privateKey}\nListenPort = 51820\n\n` +
        `[Peer]\nPublicKey = ${this.gatewayKeys.publicKey}\nAllowedIPs = 198.19.70.0/24\nEndpoint = 198.18.71.1:51820\n`,
    );
    this.lab.addAddress(ns, peer.iface, `${peer.inner}/32`);
    this.lab.run(ns, 'ip', ['link', 'set', peer.iface, 'up']);
    this.lab.run(ns, 'ip', ['route', 'add', '198.19.70.0/24', 'dev', peer.iface]);
    this.remotes.push(peer);
    return peer;
  }

  /** A remote site run by its own agent (userspace plane unless told), whose one peer is the gateway. */
  async remoteAgent(
    index: number,
    gatewayNextPublicKey?: string,
    dataPlane = 'userspace',
  ): Promise<RemotePeer & { configure(next?: string, primary?: string, switchAt?: string): void }> {
    const ns = this.lab.namespace('ra');
    const wan = `198.18.71.${this.wanHost++}`;
    this.joinWan(ns, `${wan}/24`);
    const keys = genkey();
    const peer = {
      name: `site${index}`,
      ns,
      iface: this.lab.name('ra'),
      keys,
      wan,
      inner: `198.19.72.${1 + index * 64}`,
    };
    const keyFile = join(this.dir, `remote${index}.key`);
    writeFileSync(keyFile, `${keys.privateKey}\n`, { mode: 0o600 });
    const configFile = join(this.dir, `remote${index}.yaml`);
    const configure = (next?: string, primary = this.gatewayKeys.publicKey, switchAt?: string): void => {
      const text = [
        `interface: { name: ${peer.iface}, addresses: [${peer.inner}/32], listenPort: 51820 }`,
        `privateKey: { source: file, path: ${keyFile} }`,
        `dataPlane: ${dataPlane}`,
        'peers:',
        `  - { name: gateway, publicKey: "${primary}", ${next ? `nextPublicKey: "${next}", ` : ''}${switchAt ? `switchAt: "${switchAt}", ` : ''}endpoint: "198.18.71.1:51820", allowedIps: [198.19.70.0/24] }`,
        '',
      ].join('\n');
      writeFileSync(`${configFile}.tmp`, text);
      execFileSync('mv', [`${configFile}.tmp`, configFile]);
    };
    configure(gatewayNextPublicKey);
    const child = this.lab.spawn(ns, process.execPath, [AGENT, 'run', '--config', configFile]);
    let log = '';
    child.stderr!.on('data', (chunk: Buffer) => (log += chunk.toString()));
    await eventually(
      'the remote agent',
      () => log,
      (l) => l.includes('"agent.ready"') || child.exitCode !== null,
    );
    return { ...peer, configure };
  }

  config(peers: RemotePeer[], options: { dataPlane: string; metricsPort: number; extra?: string }): string {
    const keyFile = join(this.dir, 'gateway.key');
    return [
      `interface: { name: ${this.iface}, addresses: [198.19.70.1/32], listenPort: 51820 }`,
      `privateKey: { source: file, path: ${keyFile} }`,
      `dataPlane: ${options.dataPlane}`,
      `metrics: { listen: "127.0.0.1:${options.metricsPort}" }`,
      `health: { listen: "127.0.0.1:${options.metricsPort + 1}" }`,
      options.extra ?? '',
      'peers:',
      ...peers.map(
        (p) =>
          `  - { name: ${p.name}, publicKey: "${p.keys.publicKey}", endpoint: "${p.wan}:51820", allowedIps: [${p.inner}/32] }`,
      ),
      '',
    ].join('\n');
  }

  writeConfig(text: string): string {
    const path = join(this.dir, 'agent.yaml');
    writeFileSync(`${path}.tmp`, text);
    execFileSync('mv', [`${path}.tmp`, path]);
    return path;
  }

  async startAgent(configPath: string): Promise<void> {
    this.agent = this.lab.spawn(this.gateway, process.execPath, [AGENT, 'run', '--config', configPath], {
      WIREMESH_LOG_LEVEL: 'debug',
    });
    this.agent.stdout!.on('data', (chunk: Buffer) => (this.agentLog += chunk.toString()));
    this.agent.stderr!.on('data', (chunk: Buffer) => (this.agentLog += chunk.toString()));
    await eventually(
      'the agent to be ready',
      () => this.agentLog,
      (log) => log.includes('"agent.ready"') || this.agent!.exitCode !== null,
    );
    if (this.agent.exitCode !== null) throw new Error(`agent exited: ${this.agentLog}`);
  }

  /** GET over real HTTP from inside the gateway namespace (where the agent listens). */
  http(port: number, path: string): string {
    const script = `fetch('http://127.0.0.1:${port}${path}').then(async (r) => { console.log(r.status); console.log(await r.text()); })`;
    return this.lab.run(this.gateway, process.execPath, ['-e', script]);
  }

  /** Pings from the LAN host; `maxRttMs`: the slowest reply (a packet held while a handshake was pending). */
  ping(
    target: string,
    count: number,
    intervalSeconds = 0.2,
  ): Promise<{ sent: number; received: number; maxRttMs: number }> {
    return this.lab
      .runAsync(this.host, 'ping', ['-c', String(count), '-i', String(intervalSeconds), '-W', '1', target], 120_000)
      .catch((error: { stdout?: string }) => ({ stdout: error.stdout ?? '', stderr: '' }))
      .then(({ stdout }) => {
        const match = /(\d+) packets transmitted, (\d+) received/.exec(stdout);
        const rtt = /rtt min\/avg\/max\/mdev = [\d.]+\/[\d.]+\/([\d.]+)\//.exec(stdout);
        return { sent: Number(match?.[1] ?? 0), received: Number(match?.[2] ?? 0), maxRttMs: Number(rtt?.[1] ?? 0) };
      });
  }

  async cleanup(): Promise<void> {
    if (this.agent && this.agent.exitCode === null) {
      this.agent.kill('SIGTERM');
      await waitForExit(this.agent, 5000);
    }
    await this.lab.cleanup();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

function metric(text: string, name: string, labels = ''): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name}${labels ? `{${labels}` : ''}`) && !l.startsWith('#'));
  return line ? Number(line.split(' ').pop()) : NaN;
}

describeAgent('wiremesh-agent in namespaces', () => {
  let env: AgentLab;
  beforeEach(() => {
    env = new AgentLab();
  });
  afterEach(async () => {
    await env.cleanup();
  });

  it.each(['userspace', 'wireguard-go'])(
    'the %s data plane: tunnel up, host behind it routed, metrics moving',
    async (dataPlane) => {
      const remote = await env.remote('wiremesh', 0);
      await env.startAgent(env.writeConfig(env.config([remote], { dataPlane, metricsPort: 9586 })));
      const first = await env.ping(remote.inner, 3);
      expect(first.received).toBe(3);
      const before = env.http(9586, '/metrics');
      await env.ping(remote.inner, 5, 0.05);
      // Out-of-process planes are polled once a second.
      if (dataPlane !== 'userspace') await sleep(1500);
      const after = env.http(9586, '/metrics');
      expect(before.startsWith('200')).toBe(true);
      const rx = (text: string): number => metric(text, 'wiremesh_peer_receive_bytes_total', 'peer="site0"');
      expect(rx(after)).toBeGreaterThan(rx(before));
      expect(metric(after, 'wiremesh_active_peers')).toBe(1);
      if (dataPlane === 'userspace') {
        expect(metric(after, 'wiremesh_handshakes_total', 'peer="site0"')).toBeGreaterThanOrEqual(1);
        // One line per handshake (each rekey too): the agent's structured event, not also the device's text.
        const completions = env.agentLog.split('\n').filter((line) => /handshake complete/.test(line));
        expect(completions.length).toBeGreaterThanOrEqual(1);
        expect(completions.filter((line) => !line.includes('"event":"handshake.complete"'))).toEqual([]);
      }
      expect(env.http(9587, '/healthz').startsWith('200')).toBe(true);
      // SIGTERM removes everything the agent added.
      env.agent!.kill('SIGTERM');
      expect(await waitForExit(env.agent!, 10_000)).toBe(true);
      expect(env.lab.run(env.gateway, 'ip', ['-o', 'link'])).not.toContain(env.iface);
      expect(env.lab.run(env.gateway, 'ip', ['route'])).not.toContain('198.19.72');
    },
  );

  it('applies peer changes live: an untouched peer loses no packet', async () => {
    const [a, b, c] = [
      await env.remote('wiremesh', 0),
      await env.remote('wireguard-go', 1),
      await env.remote('wiremesh', 2),
    ];
    await env.startAgent(env.writeConfig(env.config([a, b], { dataPlane: 'userspace', metricsPort: 9590 })));
    expect((await env.ping(a.inner, 2)).received).toBe(2);
    const continuous = env.ping(a.inner, 60, 0.05);
    await sleep(500);
    env.writeConfig(env.config([a, b, c], { dataPlane: 'userspace', metricsPort: 9590 })); // add c
    await eventually(
      'c to be reachable',
      () => env.ping(c.inner, 1),
      (r) => r.received === 1,
    );
    env.writeConfig(env.config([a, c], { dataPlane: 'userspace', metricsPort: 9590 })); // remove b
    await sleep(500);
    const widened = env
      .config([a, c], { dataPlane: 'userspace', metricsPort: 9590 })
      .replace(`${c.inner}/32`, `${c.inner}/32, 198.19.75.0/24`);
    env.writeConfig(widened); // change c's allowed IPs
    const result = await continuous;
    expect(result).toMatchObject({ sent: 60, received: 60 });
    expect((await env.ping(b.inner, 1)).received).toBe(0);
    expect(env.lab.wg(env.gateway, ['show', env.iface, 'allowed-ips'])).toContain('198.19.75.0/24');
    const metrics = env.http(9590, '/metrics');
    expect(metric(metrics, 'wiremesh_config_applies_total', 'result="applied"')).toBeGreaterThanOrEqual(3);
  });

  it('refuses an invalid reload and keeps the running configuration', async () => {
    const a = await env.remote('wiremesh', 0);
    await env.startAgent(env.writeConfig(env.config([a], { dataPlane: 'userspace', metricsPort: 9592 })));
    env.writeConfig('interface: { name: x }\npeers: "nope"\n');
    await eventually(
      'the rejection',
      () => env.agentLog,
      (log) => log.includes('config.rejected'),
    );
    expect((await env.ping(a.inner, 2)).received).toBe(2);
    expect(metric(env.http(9592, '/metrics'), 'wiremesh_config_applies_total', 'result="rejected"')).toBe(1);
    // SIGHUP re-reads it too; still refused, still running.
    env.agent!.kill('SIGHUP');
    await eventually(
      'the SIGHUP reload',
      () => env.agentLog,
      (log) => log.includes('"reason":"SIGHUP"'),
    );
    expect((await env.ping(a.inner, 2)).received).toBe(2);
  });

  it('refuses a key file readable by others', async () => {
    const a = await env.remote('wiremesh', 0);
    const path = env.writeConfig(env.config([a], { dataPlane: 'userspace', metricsPort: 9594 }));
    chmodSync(join(env.dir, 'gateway.key'), 0o644);
    const result = await env.lab.runAsync(env.gateway, process.execPath, [AGENT, 'run', '--config', path]).then(
      () => ({ code: 0, stderr: '' }),
      (error: { code: number; stderr: string }) => ({ code: error.code, stderr: error.stderr }),
    );
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('gateway.key');
    expect(result.stderr).not.toContain(env.gatewayKeys.privateKey);
  });

  // Two static keys at once on the userspace plane; an in-place switch on wireguard-go (docs/key-rotation.md).
  it.each([
    ['userspace', 9596],
    ['wireguard-go', 9597],
  ] as const)('rotates the key with zero lost packets on the %s data plane', async (dataPlane, metricsPort) => {
    const remote = await env.remoteAgent(0);
    const configFor = (extra: string): string => env.config([remote], { dataPlane, metricsPort, extra });
    await env.startAgent(env.writeConfig(configFor('')));
    expect((await env.ping(remote.inner, 3)).received).toBe(3);
    const next = genkey();
    const nextFile = env.writeKey('gateway-next.key', next.privateKey);
    const started = Date.now();
    const continuous = env.ping(remote.inner, 160, 0.05);
    await sleep(300);
    remote.configure(next.publicKey); // the mesh tells the remote our next key first
    await sleep(600);
    env.writeConfig(configFor(`nextPrivateKey: { source: file, path: ${nextFile} }`));
    await eventually(
      'the rotation to complete',
      () => env.agentLog,
      (log) => log.includes('"rotation.complete"'),
    );
    const movedAfter = Date.now() - started;
    // Finish: the next key becomes the key on both sides.
    env.writeKey('gateway.key', next.privateKey);
    env.writeConfig(configFor(''));
    remote.configure(undefined, next.publicKey);
    const result = await continuous;
    console.log(
      `${dataPlane} key rotation: ${result.sent - result.received} of ${result.sent} pings lost; every peer moved ${movedAfter} ms after the rotation started`,
    );
    expect(result.received).toBe(result.sent);
    expect(env.lab.wg(env.gateway, ['show', env.iface, 'public-key']).trim()).toBe(next.publicKey);
    expect((await env.ping(remote.inner, 2)).received).toBe(2);
  });

  // The deploy-driven switch between one-key planes (docs/key-rotation.md, "One key per peer, or
  // two"): one deploy gives the gateway its nextPrivateKey and the peer the gateway's new public
  // key, and each applies it at its own poll. The polls' offset (up to one poll interval, 60 s by
  // default) is scaled down to POLL_OFFSET_MS here; the tunnel is down for about that long. When
  // the gateway goes first, what it sends is staged behind its unanswered handshake (up to 128
  // packets per peer in wireguard-go) and delivered late; when the peer goes first, it is lost.
  const POLL_OFFSET_MS = 2000;
  /** The gateway (on the wireguard-go plane unless told) and a remote agent on it, after their first handshake. */
  async function oneKeyPair(metricsPort: number, gatewayPlane = 'wireguard-go') {
    const remote = await env.remoteAgent(0, undefined, 'wireguard-go');
    const configFor = (extra: string): string => env.config([remote], { dataPlane: gatewayPlane, metricsPort, extra });
    await env.startAgent(env.writeConfig(configFor('')));
    await eventually(
      'the first handshake',
      () => env.ping(remote.inner, 1, 0.2),
      (r) => r.received === 1,
    );
    return { remote, configFor };
  }
  it.each([
    ['the gateway polls first', 9600],
    ['the peer polls first', 9602],
  ] as const)(
    'one-key planes (wireguard-go both ends), the switch applied at two polls %s, 2 s apart: the tunnel is down between them',
    async (order, metricsPort) => {
      const { remote, configFor } = await oneKeyPair(metricsPort);
      const next = genkey();
      const nextFile = env.writeKey('gateway-next.key', next.privateKey);
      const interval = 0.05;
      const continuous = env.ping(remote.inner, 140, interval);
      await sleep(1000);
      const gatewayPolls = () => env.writeConfig(configFor(`nextPrivateKey: { source: file, path: ${nextFile} }`));
      const peerPolls = () => remote.configure(undefined, next.publicKey);
      const [firstPoll, secondPoll] =
        order === 'the gateway polls first' ? [gatewayPolls, peerPolls] : [peerPolls, gatewayPolls];
      firstPoll();
      await sleep(POLL_OFFSET_MS);
      secondPoll();
      const result = await continuous;
      const lost = result.sent - result.received;
      console.log(
        `one-key switch, ${order}, polls ${POLL_OFFSET_MS} ms apart: ${lost} of ${result.sent} pings lost (${interval * 1000} ms apart), slowest reply ${result.maxRttMs} ms`,
      );
      // Down between the polls: lost, or held that long.
      expect(lost * interval * 1000 + result.maxRttMs).toBeGreaterThan(POLL_OFFSET_MS / 2);
      expect((await env.ping(remote.inner, 2)).received).toBe(2);
    },
  );

  // The scheduled switch (docs/key-rotation.md, "The scheduled switch"): the same deploy gives the
  // gateway its nextPrivateKey and the peer the gateway's nextPublicKey, both with one switchAt
  // half an overlap ahead; each agent reads its document at its own poll (2 s apart here, as
  // above), and both change their side at switchAt. The next deploy's documents (the gateway's
  // next key as the peer's publicKey) then change nothing.
  // A gateway on the userspace plane (what `auto` picks without the kernel module) in such a mesh
  // holds its next key unused until switchAt too, and its one-key peer follows as above.
  it.each([
    ['wireguard-go', 'the same clock', 0, 9604],
    ['wireguard-go', "the peer's clock 150 ms behind", 150, 9606],
    ['wireguard-go', "the peer's clock 150 ms ahead", -150, 9608],
    ['userspace', 'the same clock', 0, 9610],
  ] as const)(
    'one-key planes (the gateway on %s, its peer on wireguard-go), the scheduled switch, %s: documents read at polls 2 s apart, both ends switch at their switchAt, no tunnel down',
    async (gatewayPlane, _clocks, peerSkewMs, metricsPort) => {
      const { remote, configFor } = await oneKeyPair(metricsPort, gatewayPlane);
      const next = genkey();
      const nextKey = `nextPrivateKey: { source: file, path: ${env.writeKey('gateway-next.key', next.privateKey)} }`;
      const interval = 0.05;
      const continuous = env.ping(remote.inner, 180, interval);
      await sleep(1000);
      const switchAtMs = Date.now() + POLL_OFFSET_MS + 1500;
      const switchAt = new Date(switchAtMs).toISOString();
      env.writeConfig(configFor(`${nextKey}\nswitchAt: "${switchAt}"`));
      await sleep(POLL_OFFSET_MS);
      // A peer whose clock is behind switches later by its own clock: its document's instant is that much later.
      remote.configure(next.publicKey, undefined, new Date(switchAtMs + peerSkewMs).toISOString());
      await eventually(
        "the gateway's scheduled switch",
        () => env.agentLog,
        (log) => log.includes('"reason":"scheduled switch"'),
      );
      const switchedAfterMs = Date.now() - switchAtMs;
      await sleep(1500);
      env.writeConfig(configFor(nextKey));
      remote.configure(undefined, next.publicKey);
      const result = await continuous;
      const lost = result.sent - result.received;
      console.log(
        `one-key scheduled switch, the gateway on ${gatewayPlane}, polls ${POLL_OFFSET_MS} ms apart, peer skew ${peerSkewMs} ms: ${lost} of ${result.sent} pings lost (${interval * 1000} ms apart), slowest reply ${result.maxRttMs} ms; the gateway's switch seen ${switchedAfterMs} ms after switchAt`,
      );
      expect(env.agentLog).toContain('"event":"rotation.scheduled"');
      // At most the crossing handshakes' round trip and the two timers' spread: one ping.
      expect(lost).toBeLessThanOrEqual(1);
      // The peer names only the next key and traffic flows: the gateway's session is on it (a
      // one-key gateway's device holds only it; a userspace one holds both until retirement).
      if (gatewayPlane === 'wireguard-go')
        expect(env.lab.wg(env.gateway, ['show', env.iface, 'public-key']).trim()).toBe(next.publicKey);
      expect(env.lab.wg(remote.ns, ['show', remote.iface, 'peers']).trim()).toBe(next.publicKey);
      expect((await env.ping(remote.inner, 2)).received).toBe(2);
    },
  );

  it('replaces the key on the wireguard-go data plane, the peer told afterwards: a short, counted interruption', async () => {
    const remote = await env.remote('wiremesh', 0);
    const configFor = (): string => env.config([remote], { dataPlane: 'wireguard-go', metricsPort: 9598 });
    await env.startAgent(env.writeConfig(configFor()));
    expect((await env.ping(remote.inner, 3)).received).toBe(3);
    const next = genkey();
    const continuous = env.ping(remote.inner, 100, 0.05);
    await sleep(500);
    const changedAt = Date.now();
    env.writeKey('gateway.key', next.privateKey);
    env.writeConfig(configFor());
    // The remote learns the new public key (a plain WireGuard peer has no alternate keys).
    env.lab.wg(remote.ns, ['set', remote.iface, 'peer', env.gatewayKeys.publicKey, 'remove']);
    env.lab.wg(remote.ns, [
      'set',
      remote.iface,
      'peer',
      next.publicKey,
      'allowed-ips',
      '198.19.70.0/24',
      'endpoint',
      '198.18.71.1:51820',
    ]);
    await eventually(
      'traffic again',
      () => env.ping(remote.inner, 1, 0.2),
      (r) => r.received === 1,
    );
    const recoveredAfter = Date.now() - changedAt;
    const result = await continuous;
    const lost = result.sent - result.received;
    console.log(
      `wireguard-go key rotation: ${lost} of ${result.sent} pings lost (50 ms apart); traffic back ${recoveredAfter} ms after the change`,
    );
    expect(result.received).toBeGreaterThan(0);
  });
});
