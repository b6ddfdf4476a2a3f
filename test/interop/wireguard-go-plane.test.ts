/**
 * The wireguard-go data plane and the UAPI client it drives.
 * - The client against wiremesh's own UAPI server and against misbehaving sockets, and the real
 *   CommandRunner (no root needed).
 * - The plane's process handling with a stand-in daemon (no root needed).
 * - The plane running real wireguard-go inside a network namespace made by lab/netns.ts (names start
 *   with "gp"), and the kernel plane's `wg set`/`wg show` commands run against that interface, since
 *   this machine has no kernel module. These need root, ip, wg and wireguard-go: otherwise they are
 *   skipped, except under CI=true, where they fail.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Lab, hasCommand, isRoot } from '../../lab/netns';
import { formatPrefix, parsePrefix } from '../../common/ip';
import { generatePrivateKey, publicKeyOf, randomBytes } from '../../agent/crypto/primitives';
import { CommandError, ExecFileCommandRunner } from '../../agent/gateway/commands';
import type { CommandRunner, DataPlane } from '../../agent/gateway/plane';
import { KernelPlane } from '../../agent/gateway/planes/kernel';
import { WireguardGoPlane } from '../../agent/gateway/planes/wireguard-go';
import { Errno, UapiError, type ConfigChange, type DeviceSnapshot } from '../../agent/wg/uapi';
import { peer, prefixes } from '../support/uapi-changes';
import { uapiGet, uapiRequest, uapiSet } from '../../agent/wg/uapi-client';
import { SOCKET_DIRECTORY, serveUapi, type UapiTarget } from '../../agent/wg/uapi-server';

// ---- helpers -------------------------------------------------------------------------------------

interface ReadablePeer {
  publicKey: string;
  presharedKey: string | null;
  endpoint: string | null;
  persistentKeepaliveInterval: number;
  allowedIps: string[];
}

/** The configured part of a snapshot (no counters), keys in base64, peers in key order. */
function configured(snapshot: DeviceSnapshot): {
  privateKey: string | null;
  listenPort: number;
  fwmark: number;
  peers: ReadablePeer[];
} {
  return {
    privateKey: snapshot.privateKey?.toString('base64') ?? null,
    listenPort: snapshot.listenPort,
    fwmark: snapshot.fwmark,
    peers: snapshot.peers
      .map((entry) => ({
        publicKey: entry.publicKey.toString('base64'),
        presharedKey: entry.presharedKey?.toString('base64') ?? null,
        endpoint: entry.endpoint,
        persistentKeepaliveInterval: entry.persistentKeepaliveInterval,
        allowedIps: entry.allowedIps.map(formatPrefix).sort(),
      }))
      .sort((a, b) => a.publicKey.localeCompare(b.publicKey)),
  };
}

function readablePeer(key: Buffer, fields: Partial<ReadablePeer>): ReadablePeer {
  return {
    publicKey: key.toString('base64'),
    presharedKey: null,
    endpoint: null,
    persistentKeepaliveInterval: 0,
    ...fields,
    allowedIps: [...(fields.allowedIps ?? [])].sort(),
  };
}

function peersInKeyOrder(...peers: ReadablePeer[]): ReadablePeer[] {
  return peers.sort((a, b) => a.publicKey.localeCompare(b.publicKey));
}

function listen(server: Server, path: string): Promise<void> {
  return new Promise((resolve) => server.listen(path, resolve));
}

function close(server: Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

/** A CommandRunner that only records (for the stand-in daemon, which has no link to set an MTU on). */
class RecordingRunner implements CommandRunner {
  readonly lines: string[] = [];

  async run(command: string, args: string[]): Promise<string> {
    this.lines.push([command, ...args].join(' '));
    return '';
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

// ---- the UAPI client -----------------------------------------------------------------------------

describe('UAPI client', () => {
  let directory: string;
  let socketPath: string;
  let server: Server;

  beforeEach(() => {
    directory = mkdtempSync(join(tmpdir(), 'wiremesh-uapi-client-'));
    socketPath = join(directory, 'gpc0.sock');
    server = createServer();
  });

  afterEach(async () => {
    if (server.listening) await close(server);
    rmSync(directory, { recursive: true, force: true });
  });

  const snapshot: DeviceSnapshot = {
    privateKey: generatePrivateKey(),
    listenPort: 51820,
    fwmark: 7,
    peers: [
      {
        publicKey: randomBytes(32),
        presharedKey: randomBytes(32),
        endpoint: '[fd18::2]:4500',
        lastHandshakeUnixMs: 1_700_000_000_500,
        txBytes: 10,
        rxBytes: 20,
        persistentKeepaliveInterval: 25,
        allowedIps: [parsePrefix('10.0.0.0/8')],
      },
    ],
  };

  function target(apply: UapiTarget['apply']): UapiTarget {
    return { snapshot: () => snapshot, apply };
  }

  test('get returns the served snapshot; set delivers the change', async () => {
    const applied: ConfigChange[] = [];
    serveUapi(
      server,
      target((change) => applied.push(change)),
      { error: () => undefined },
    );
    await listen(server, socketPath);
    expect(await uapiGet(socketPath)).toEqual(snapshot);
    const change: ConfigChange = {
      listenPort: 1234,
      replacePeers: true,
      peers: [peer(randomBytes(32), { allowedIps: prefixes('clear', '10.1.0.0/16') })],
    };
    await uapiSet(socketPath, change);
    expect(applied).toEqual([change]);
  });

  test('a refused set rejects with UapiError carrying the errno', async () => {
    serveUapi(
      server,
      target(() => {
        throw new UapiError(Errno.EADDRINUSE, 'port in use');
      }),
      { error: () => undefined },
    );
    await listen(server, socketPath);
    const refusal = uapiSet(socketPath, { listenPort: 1, replacePeers: false, peers: [] });
    await expect(refusal).rejects.toBeInstanceOf(UapiError);
    await expect(refusal).rejects.toEqual(expect.objectContaining({ errno: Errno.EADDRINUSE }));
  });

  test('a positive errno on set (as boringtun sent) is read as the negative errno', async () => {
    server.on('connection', (socket) => socket.once('data', () => socket.write('errno=22\n\n')));
    await listen(server, socketPath);
    await expect(uapiSet(socketPath, { replacePeers: false, peers: [] })).rejects.toEqual(
      expect.objectContaining({ errno: Errno.EINVAL }),
    );
  });

  test('an answer in many small pieces is read to its errno line', async () => {
    server.on('connection', (socket) =>
      socket.once('data', async () => {
        for (const piece of ['listen_port=5', '1820\n', 'errno=', '0\n', '\n']) {
          socket.write(piece);
          await new Promise((resolve) => setTimeout(resolve, 5));
        }
      }),
    );
    await listen(server, socketPath);
    expect(await uapiRequest(socketPath, 'get=1\n\n')).toBe('listen_port=51820\nerrno=0\n\n');
  });

  test('a missing socket is named in the error', async () => {
    await expect(uapiGet(socketPath)).rejects.toThrow(
      `UAPI socket ${socketPath} does not exist: is the interface running?`,
    );
  });

  test('a connection closed before errno is EPROTO', async () => {
    server.on('connection', (socket) => socket.once('data', () => socket.end('listen_port=1\n')));
    await listen(server, socketPath);
    await expect(uapiGet(socketPath)).rejects.toEqual(expect.objectContaining({ errno: Errno.EPROTO }));
  });

  test('a server that never answers times out', async () => {
    server.on('connection', (socket) => socket.resume());
    await listen(server, socketPath);
    await expect(uapiRequest(socketPath, 'get=1\n\n', 200)).rejects.toThrow(
      `UAPI ${socketPath}: no complete answer after 200 ms`,
    );
  });
});

// ---- the real CommandRunner -----------------------------------------------------------------------

describe('ExecFileCommandRunner', () => {
  test('resolves with stdout, feeding input on stdin', async () => {
    expect(await new ExecFileCommandRunner().run('cat', [], { input: 'private_key=...\n' })).toBe('private_key=...\n');
  });

  test('without input, stdin is at end-of-file at once', async () => {
    expect(await new ExecFileCommandRunner().run('cat', [])).toBe('');
  });

  test('runs every command behind the prefix', async () => {
    const runner = new ExecFileCommandRunner({ commandPrefix: ['env', 'WIREMESH_PREFIX_TEST=inside'] });
    expect(await runner.run('sh', ['-c', 'echo "$WIREMESH_PREFIX_TEST"'])).toBe('inside\n');
  });

  test('a failure rejects with CommandError carrying the exit code and stderr', async () => {
    const failure = new ExecFileCommandRunner().run('sh', ['-c', 'echo \'Cannot find device "gpx0"\' >&2; exit 1']);
    await expect(failure).rejects.toBeInstanceOf(CommandError);
    await expect(failure).rejects.toEqual(
      expect.objectContaining({ exitCode: 1, stderr: 'Cannot find device "gpx0"\n' }),
    );
    await expect(failure).rejects.toThrow(
      'sh -c echo \'Cannot find device "gpx0"\' >&2; exit 1 failed (exit 1): Cannot find device "gpx0"',
    );
  });

  test('a command that runs too long is killed', async () => {
    await expect(new ExecFileCommandRunner({ timeoutMs: 200 }).run('sleep', ['30'])).rejects.toThrow(
      'sleep 30 failed (killed after 200 ms)',
    );
  });
});

// ---- the plane's process handling, with a stand-in daemon -----------------------------------------

/**
 * Stands in for `wireguard-go -f NAME`: writes its PID, serves NAME.sock in the directory given and,
 * with IGNORE_TERM, ignores SIGTERM (so destroy must escalate).
 */
const STAND_IN = `
const { createServer } = require('node:net');
const { writeFileSync } = require('node:fs');
const [directory, , , name] = process.argv.slice(-4);
writeFileSync(directory + '/pid', String(process.pid));
if (process.env.IGNORE_TERM) process.on('SIGTERM', () => {});
createServer((socket) => socket.on('data', () => socket.write('errno=0\\n\\n'))).listen(directory + '/' + name + '.sock');
`;

describe('WireguardGoPlane process handling (stand-in daemon)', () => {
  let directory: string;

  beforeEach(() => {
    directory = mkdtempSync(join(tmpdir(), 'wiremesh-wggo-plane-'));
  });

  afterEach(() => rmSync(directory, { recursive: true, force: true }));

  function standIn(env: NodeJS.ProcessEnv = {}): { plane: WireguardGoPlane; runner: RecordingRunner } {
    const runner = new RecordingRunner();
    const plane = new WireguardGoPlane({
      runner,
      binary: 'wireguard-go',
      // The stand-in receives `wireguard-go -f NAME` after its directory, like a real prefix would pass them on.
      spawnPrefix: [process.execPath, '-e', STAND_IN, directory],
      socketDirectory: directory,
      env,
      stopTimeoutMs: 500,
    });
    return { plane, runner };
  }

  test('create waits for the socket and sets the MTU; destroy stops the daemon and is safe twice', async () => {
    const { plane, runner } = standIn();
    await plane.create('gpst0', 1380);
    expect(runner.lines).toEqual(['ip link set dev gpst0 mtu 1380']);
    const pid = Number(readFileSync(join(directory, 'pid'), 'utf8'));
    expect(isAlive(pid)).toBe(true);
    await expect(plane.apply({ replacePeers: false, peers: [] })).resolves.toBeUndefined();
    expect(plane.drops()).toEqual({});
    await plane.destroy();
    expect(isAlive(pid)).toBe(false);
    expect(existsSync(join(directory, 'gpst0.sock'))).toBe(false);
    await plane.destroy();
    await expect(plane.snapshot()).rejects.toThrow('create() has not been called');
  });

  test('a name another live process serves is refused, and its socket left alone', async () => {
    const { plane: first } = standIn();
    await first.create('gpst5', 1420);
    const { plane: second } = standIn();
    await expect(second.create('gpst5', 1420)).rejects.toThrow('interface gpst5 is already served by another process');
    await second.destroy();
    expect(existsSync(join(directory, 'gpst5.sock'))).toBe(true);
    await first.destroy();
  });

  test('a daemon that ignores SIGTERM is killed, and its leftover socket removed', async () => {
    const { plane } = standIn({ IGNORE_TERM: '1' });
    await plane.create('gpst1', 1420);
    const pid = Number(readFileSync(join(directory, 'pid'), 'utf8'));
    await plane.destroy();
    expect(isAlive(pid)).toBe(false);
    expect(existsSync(join(directory, 'gpst1.sock'))).toBe(false);
  });

  test('a missing binary fails create with the reason', async () => {
    const plane = new WireguardGoPlane({
      runner: new RecordingRunner(),
      binary: join(directory, 'no-such-wireguard-go'),
      socketDirectory: directory,
    });
    await expect(plane.create('gpst2', 1420)).rejects.toThrow(
      /cannot start .*no-such-wireguard-go for gpst2: spawn .* ENOENT/,
    );
    await plane.destroy();
  });

  test('a daemon that exits early fails create with its output', async () => {
    const plane = new WireguardGoPlane({
      runner: new RecordingRunner(),
      spawnPrefix: ['sh', '-c', 'echo "Failed to create TUN device: operation not permitted" >&2; exit 1', 'sh'],
      socketDirectory: directory,
    });
    await expect(plane.create('gpst3', 1420)).rejects.toThrow(
      /exited \(1\) before its UAPI socket was ready: Failed to create TUN device/,
    );
  });

  test('a daemon that never makes its socket times out and is stopped', async () => {
    const pidFile = join(directory, 'pid');
    const plane = new WireguardGoPlane({
      runner: new RecordingRunner(),
      spawnPrefix: ['sh', '-c', `echo $$ > ${pidFile}; exec sleep 30`, 'sh'],
      socketDirectory: directory,
      startTimeoutMs: 300,
    });
    await expect(plane.create('gpst4', 1420)).rejects.toThrow('wireguard-go gpst4: no UAPI socket after 300 ms');
    expect(isAlive(Number(readFileSync(pidFile, 'utf8')))).toBe(false);
  });
});

// ---- real wireguard-go in a namespace --------------------------------------------------------------

const missing = [
  ...(isRoot() ? [] : ['root']),
  ...['ip', 'wg', 'wireguard-go'].filter((command) => !hasCommand(command)),
];
const skipReason = missing.length > 0 ? `needs ${missing.join(', ')}` : '';

if (skipReason && process.env.CI === 'true') {
  describe('wireguard-go plane interop prerequisites', () => {
    test('root, ip, wg and wireguard-go are present (required under CI=true)', () => {
      throw new Error(`the wireguard-go plane interop suite cannot run: it ${skipReason}`);
    });
  });
}

const namespaced = skipReason ? describe.skip : describe;

namespaced(`WireguardGoPlane with wireguard-go in a namespace${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  let lab: Lab;
  const planes: WireguardGoPlane[] = [];

  beforeEach(() => {
    lab = new Lab('gp');
  });

  afterEach(async () => {
    for (const plane of planes.splice(0)) await plane.destroy();
    await lab.cleanup();
  });

  /** A namespace, an interface name and a plane (and a runner) that run inside that namespace. */
  function inNamespace(): { ns: string; name: string; plane: WireguardGoPlane; runner: ExecFileCommandRunner } {
    const ns = lab.namespace('ns');
    const name = lab.name('wg');
    const prefix = ['ip', 'netns', 'exec', ns];
    const runner = new ExecFileCommandRunner({ commandPrefix: prefix });
    const plane = new WireguardGoPlane({ runner, spawnPrefix: prefix });
    planes.push(plane);
    return { ns, name, plane, runner };
  }

  function linkExists(ns: string, name: string): boolean {
    return spawnSync('ip', ['-n', ns, 'link', 'show', 'dev', name], { stdio: 'ignore' }).status === 0;
  }

  function expectGone(ns: string, name: string): void {
    expect(execFileSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' }).trim()).toBe('');
    expect(existsSync(`${SOCKET_DIRECTORY}/${name}.sock`)).toBe(false);
    expect(linkExists(ns, name)).toBe(false);
  }

  // A private key as wg stores it (clamped), so it reads back byte for byte.
  const privateKey = generatePrivateKey();
  const [keyA, keyB, keyC] = [
    publicKeyOf(generatePrivateKey()),
    publicKeyOf(generatePrivateKey()),
    publicKeyOf(generatePrivateKey()),
  ];
  const presharedKey = randomBytes(32);
  const twoPeers: ConfigChange = {
    privateKey,
    listenPort: 51820,
    fwmark: 0x1234,
    replacePeers: true,
    peers: [
      peer(keyA, {
        presharedKey,
        endpoint: '198.18.0.2:51820',
        persistentKeepaliveInterval: 25,
        allowedIps: prefixes('clear', '10.0.1.0/24', 'fd00:1::/64'),
      }),
      peer(keyB, { endpoint: '[fd18::2]:4500', allowedIps: prefixes('clear', '10.0.2.1/32', '10.0.3.0/24') }),
    ],
  };
  const twoPeersApplied = {
    privateKey: privateKey.toString('base64'),
    listenPort: 51820,
    fwmark: 0x1234,
    peers: peersInKeyOrder(
      readablePeer(keyA, {
        presharedKey: presharedKey.toString('base64'),
        endpoint: '198.18.0.2:51820',
        persistentKeepaliveInterval: 25,
        allowedIps: ['10.0.1.0/24', 'fd00:1::/64'],
      }),
      readablePeer(keyB, { endpoint: '[fd18::2]:4500', allowedIps: ['10.0.2.1/32', '10.0.3.0/24'] }),
    ),
  };

  test('create, apply two peers, change them live, destroy', async () => {
    const { ns, name, plane } = inNamespace();
    await plane.create(name, 1380);
    expect(existsSync(`${SOCKET_DIRECTORY}/${name}.sock`)).toBe(true);
    expect(lab.run(ns, 'ip', ['-o', 'link', 'show', 'dev', name])).toMatch(/ mtu 1380 /);

    await plane.apply(twoPeers);
    expect(configured(await plane.snapshot())).toEqual(twoPeersApplied);
    // `wg` in the namespace sees the same interface
    expect(lab.wg(ns, ['show', name, 'peers']).split('\n').filter(Boolean).sort()).toEqual(
      [keyA.toString('base64'), keyB.toString('base64')].sort(),
    );

    // Live: one peer goes, the other's allowed IPs are replaced (this wireguard-go predates `-prefix`).
    await plane.apply({
      replacePeers: false,
      peers: [peer(keyA, { remove: true }), peer(keyB, { allowedIps: prefixes('clear', '10.0.4.0/24') })],
    });
    expect(configured(await plane.snapshot())).toEqual({
      ...twoPeersApplied,
      peers: [readablePeer(keyB, { endpoint: '[fd18::2]:4500', allowedIps: ['10.0.4.0/24'] })],
    });

    await plane.destroy();
    expectGone(ns, name);
    await plane.destroy();
  });

  test('create after a daemon was killed, leaving its socket, waits for the new daemon', async () => {
    const { ns, name, plane } = inNamespace();
    await plane.create(name, 1420);
    await plane.apply(twoPeers);
    for (const pid of execFileSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' }).split('\n').filter(Boolean)) {
      process.kill(Number(pid), 'SIGKILL');
    }
    // The daemon closes its listener some time after the signal; until then a connection is reset.
    const deadline = Date.now() + 5000;
    let failure = '';
    while (!failure.includes('refused the connection') && Date.now() < deadline) {
      failure = await plane.snapshot().then(
        () => '',
        (error: Error) => error.message,
      );
    }
    expect(failure).toContain('refused the connection');
    expect(existsSync(`${SOCKET_DIRECTORY}/${name}.sock`)).toBe(true);
    await plane.destroy();

    const restarted = new WireguardGoPlane({
      runner: new ExecFileCommandRunner({ commandPrefix: ['ip', 'netns', 'exec', ns] }),
      spawnPrefix: ['ip', 'netns', 'exec', ns],
    });
    planes.push(restarted);
    await restarted.create(name, 1420);
    expect((await restarted.snapshot()).peers).toEqual([]);
  });

  test('a change wireguard-go refuses rejects with its errno and leaves the device as it was', async () => {
    const { name, plane } = inNamespace();
    await plane.create(name, 1420);
    await plane.apply(twoPeers);
    const refusal = plane.apply({ replacePeers: false, peers: [peer(keyB, { endpoint: 'not-an-endpoint' })] });
    await expect(refusal).rejects.toBeInstanceOf(UapiError);
    await expect(refusal).rejects.toEqual(expect.objectContaining({ errno: Errno.EINVAL }));
    expect(configured(await plane.snapshot())).toEqual(twoPeersApplied);
  });

  test("the kernel plane's wg commands give the same device, run against wireguard-go", async () => {
    const { ns, name, plane: wireguardGo, runner } = inNamespace();
    await wireguardGo.create(name, 1420);
    // wireguard-go stands in for the kernel module, so the link the kernel plane would add exists already.
    const standInForModule: CommandRunner = {
      run: (command, args, options) =>
        command === 'ip' && args.join(' ') === `link add dev ${name} type wireguard`
          ? Promise.resolve('')
          : runner.run(command, args, options),
    };
    const kernel = new KernelPlane({ runner: standInForModule });
    await kernel.create(name, 1380);
    expect(lab.run(ns, 'ip', ['-o', 'link', 'show', 'dev', name])).toMatch(/ mtu 1380 /);

    await kernel.apply(twoPeers);
    expect(configured(await kernel.snapshot())).toEqual(twoPeersApplied);
    expect(configured(await wireguardGo.snapshot())).toEqual(twoPeersApplied);

    // Additions and a removal, which `wg set` can only express as a whole new list.
    await kernel.apply({
      replacePeers: false,
      peers: [peer(keyB, { allowedIps: prefixes('10.0.5.0/24', '-10.0.2.1/32') }), peer(keyA, { presharedKey: null })],
    });
    const afterUpdate = {
      ...twoPeersApplied,
      peers: peersInKeyOrder(
        readablePeer(keyA, {
          endpoint: '198.18.0.2:51820',
          persistentKeepaliveInterval: 25,
          allowedIps: ['10.0.1.0/24', 'fd00:1::/64'],
        }),
        readablePeer(keyB, { endpoint: '[fd18::2]:4500', allowedIps: ['10.0.3.0/24', '10.0.5.0/24'] }),
      ),
    };
    expect(configured(await kernel.snapshot())).toEqual(afterUpdate);

    // replace_peers: B goes, A is kept but reset to what the change gives it, C is new.
    await kernel.apply({
      privateKey: null,
      replacePeers: true,
      peers: [peer(keyA, { allowedIps: prefixes('10.0.6.0/24') }), peer(keyC, { allowedIps: prefixes('10.0.7.0/24') })],
    });
    expect(configured(await wireguardGo.snapshot())).toEqual({
      privateKey: null,
      listenPort: 51820,
      fwmark: 0x1234,
      peers: peersInKeyOrder(
        // the endpoint stays: `wg set` cannot clear one
        readablePeer(keyA, { endpoint: '198.18.0.2:51820', allowedIps: ['10.0.6.0/24'] }),
        readablePeer(keyC, { allowedIps: ['10.0.7.0/24'] }),
      ),
    });

    // Deleting the link ends wireguard-go, as `wg-quick down` relies on.
    await kernel.destroy();
    await wireguardGo.destroy();
    expectGone(ns, name);
  });

  test("the kernel plane's key rotation, run against wireguard-go: switch, abort and peer promotion each handshake at once", async () => {
    const a = inNamespace();
    const b = inNamespace();
    lab.link(a.ns, b.ns, { a: ['198.18.77.1/24'], b: ['198.18.77.2/24'] });
    await a.plane.create(a.name, 1420);
    const kernel = new KernelPlane({
      runner: {
        run: (command, args, options) =>
          command === 'ip' && args.join(' ') === `link add dev ${a.name} type wireguard`
            ? Promise.resolve('')
            : a.runner.run(command, args, options),
      },
    });
    await kernel.create(a.name, 1420);
    await b.plane.create(b.name, 1420);
    const [current, next, peerKey, peerNextKey] = [1, 2, 3, 4].map(() => generatePrivateKey()) as [
      Buffer,
      Buffer,
      Buffer,
      Buffer,
    ];
    const peerOfB = (key: Buffer): ConfigChange['peers'][number] =>
      peer(publicKeyOf(key), { endpoint: '198.18.77.2:51820', allowedIps: prefixes('clear', '10.77.2.0/24') });
    const peerOfA = (key: Buffer): ConfigChange['peers'][number] =>
      peer(publicKeyOf(key), { endpoint: '198.18.77.1:51820', allowedIps: prefixes('clear', '10.77.1.0/24') });
    await kernel.apply({ privateKey: current, listenPort: 51820, replacePeers: true, peers: [peerOfB(peerKey)] });
    // B accepts only A's next key: a device holds one key per peer, so nothing answers A before the switch.
    await b.plane.apply({ privateKey: peerKey, listenPort: 51820, replacePeers: true, peers: [peerOfA(next)] });
    for (const { ns, name } of [a, b]) lab.run(ns, 'ip', ['link', 'set', 'dev', name, 'up']);

    const handshakeWith = async (plane: DataPlane, key: Buffer): Promise<void> => {
      const deadline = Date.now() + 10_000;
      while (!(await plane.snapshot()).peers.some((p) => p.publicKey.equals(key) && p.lastHandshakeUnixMs > 0)) {
        if (Date.now() > deadline) throw new Error(`no handshake with ${key.toString('base64')}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    };

    // Switch: no traffic at all, yet the idle peer handshakes on the next key at once.
    await kernel.snapshot(); // what the agent's stats poll does every second
    expect(kernel.rotation.localKeyOf(publicKeyOf(peerKey))).toBe('current');
    await kernel.rotation.begin(next);
    expect(kernel.rotation.nextPublicKey).toEqual(publicKeyOf(next));
    expect(kernel.rotation.status()).toEqual({ complete: false, peers: 1 });
    await handshakeWith(kernel, publicKeyOf(peerKey));
    expect(kernel.rotation.localKeyOf(publicKeyOf(peerKey))).toBe('next');
    expect(kernel.rotation.status()).toEqual({ complete: true, peers: 1 });
    const switched = await kernel.snapshot();
    expect(switched.privateKey).toEqual(next);
    expect(switched.peers[0]!.persistentKeepaliveInterval).toBe(0); // the keepalive that made it handshake is gone

    // Abort: the current key again, and a handshake with it at once.
    await b.plane.apply({ replacePeers: true, peers: [peerOfA(current)] });
    await kernel.rotation.abort();
    expect(kernel.rotation.nextPublicKey).toBeNull();
    expect((await kernel.snapshot()).privateKey).toEqual(current);
    await handshakeWith(b.plane, publicKeyOf(current));

    // Peer promotion: B's next key replaces its entry, with its endpoint and allowed IPs, and handshakes.
    await kernel.rotation.setPeerNextKey(publicKeyOf(peerKey), publicKeyOf(peerNextKey));
    await b.plane.apply({ privateKey: peerNextKey, replacePeers: false, peers: [] });
    await kernel.rotation.promotePeerNextKey(publicKeyOf(peerKey));
    expect(configured(await kernel.snapshot()).peers).toEqual([
      readablePeer(publicKeyOf(peerNextKey), { endpoint: '198.18.77.2:51820', allowedIps: ['10.77.2.0/24'] }),
    ]);
    await handshakeWith(kernel, publicKeyOf(peerNextKey));

    await kernel.destroy();
  });
});
