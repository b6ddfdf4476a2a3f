/**
 * The kernel data plane up to the commands it runs: a recording CommandRunner answers `wg show`
 * with canned output and, while each `wg set` runs, reads the key files it names (content and
 * permissions). After every test, no recorded argument may contain key material and every key file
 * must be gone.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { formatPrefix } from '../../common/ip';
import type { CommandRunner } from '../../agent/gateway/plane';
import { KernelPlane, kernelModuleAvailable } from '../../agent/gateway/planes/kernel';
import { Errno, UapiError, type ConfigChange, type DeviceSnapshot } from '../../agent/wg/uapi';
import { peer, prefixes } from '../support/uapi-changes';

const IFACE = 'wmk0';
const KEY_FILE = '<key file>';

interface KeyFileSeen {
  path: string;
  content: string;
  mode: number;
  directoryMode: number;
}

interface Recorded {
  command: string;
  args: string[];
  keyFiles: KeyFileSeen[];
}

/** A command line with key file paths (random) shown as KEY_FILE. */
function displayed(command: string, args: string[]): string {
  return [
    command,
    ...args.map((arg, index) =>
      ['private-key', 'preshared-key'].includes(args[index - 1] ?? '') && arg !== '/dev/null' ? KEY_FILE : arg,
    ),
  ].join(' ');
}

class RecordingRunner implements CommandRunner {
  readonly recorded: Recorded[] = [];
  /** Output by command line, e.g. `wg show wmk0 allowed-ips`. */
  readonly answers = new Map<string, string>();
  /** Command lines (as displayed) that fail, with the stderr-like message to fail with. */
  readonly failures = new Map<string, string>();

  async run(command: string, args: string[]): Promise<string> {
    const keyFiles: KeyFileSeen[] = [];
    args.forEach((arg, index) => {
      const path = args[index + 1];
      if ((arg === 'private-key' || arg === 'preshared-key') && path && path !== '/dev/null') {
        keyFiles.push({
          path,
          content: readFileSync(path, 'utf8'),
          mode: statSync(path).mode & 0o777,
          directoryMode: statSync(dirname(path)).mode & 0o777,
        });
      }
    });
    this.recorded.push({ command, args, keyFiles });
    const line = displayed(command, args);
    const failure = this.failures.get(line);
    if (failure) throw new Error(`${line} failed (exit 1): ${failure}`);
    return this.answers.get(line) ?? '';
  }

  lines(): string[] {
    return this.recorded.map(({ command, args }) => displayed(command, args));
  }

  keyFiles(): KeyFileSeen[] {
    return this.recorded.flatMap((command) => command.keyFiles);
  }
}

/** Every private and preshared key a test hands to the plane; none may reach an argument. */
const secrets: Buffer[] = [];
const runners: RecordingRunner[] = [];

function secret(): Buffer {
  const key = randomBytes(32);
  secrets.push(key);
  return key;
}

function publicKey(): Buffer {
  return randomBytes(32);
}

function b64(key: Buffer): string {
  return key.toString('base64');
}

function change(fields: Partial<ConfigChange>): ConfigChange {
  return { replacePeers: false, peers: [], ...fields };
}

/** A plane whose interface exists, with the creation commands already taken off the record. */
async function createdPlane(allowedIps = ''): Promise<{ plane: KernelPlane; runner: RecordingRunner }> {
  const runner = new RecordingRunner();
  runners.push(runner);
  runner.answers.set(`wg show ${IFACE} allowed-ips`, allowedIps);
  const plane = new KernelPlane({ runner });
  await plane.create(IFACE, 1420);
  runner.recorded.length = 0;
  return { plane, runner };
}

afterEach(() => {
  const encodings = secrets.splice(0).flatMap((key) => [key.toString('base64'), key.toString('hex')]);
  for (const runner of runners.splice(0)) {
    for (const { command, args } of runner.recorded) {
      for (const arg of [command, ...args]) {
        for (const encoding of encodings) expect(arg.includes(encoding)).toBe(false);
      }
    }
    for (const file of runner.keyFiles()) {
      expect(existsSync(file.path)).toBe(false);
      expect(existsSync(dirname(file.path))).toBe(false);
    }
  }
});

describe('KernelPlane create and destroy', () => {
  test('create adds a wireguard link and sets its MTU', async () => {
    const runner = new RecordingRunner();
    await new KernelPlane({ runner }).create(IFACE, 1380);
    expect(runner.lines()).toEqual([`ip link add dev ${IFACE} type wireguard`, `ip link set dev ${IFACE} mtu 1380`]);
  });

  test('create deletes the link again when the MTU cannot be set', async () => {
    const runner = new RecordingRunner();
    runner.failures.set(`ip link set dev ${IFACE} mtu 99999`, 'Error: mtu greater than device maximum.');
    await expect(new KernelPlane({ runner }).create(IFACE, 99999)).rejects.toThrow('mtu greater');
    expect(runner.lines()).toEqual([
      `ip link add dev ${IFACE} type wireguard`,
      `ip link set dev ${IFACE} mtu 99999`,
      `ip link delete dev ${IFACE}`,
    ]);
  });

  test('destroy deletes the link once; a second destroy does nothing', async () => {
    const { plane, runner } = await createdPlane();
    await plane.destroy();
    await plane.destroy();
    expect(runner.lines()).toEqual([`ip link delete dev ${IFACE}`]);
  });

  test('destroy of a link that is already gone succeeds', async () => {
    const { plane, runner } = await createdPlane();
    runner.failures.set(`ip link delete dev ${IFACE}`, `Cannot find device "${IFACE}"`);
    await expect(plane.destroy()).resolves.toBeUndefined();
  });

  test('destroy passes on other failures, and can be retried', async () => {
    const { plane, runner } = await createdPlane();
    runner.failures.set(`ip link delete dev ${IFACE}`, 'RTNETLINK answers: Operation not permitted');
    await expect(plane.destroy()).rejects.toThrow('Operation not permitted');
    runner.failures.clear();
    await plane.destroy();
    expect(runner.lines()).toEqual([`ip link delete dev ${IFACE}`, `ip link delete dev ${IFACE}`]);
  });

  test('apply and snapshot before create are errors', async () => {
    const plane = new KernelPlane({ runner: new RecordingRunner() });
    await expect(plane.apply(change({}))).rejects.toThrow('create() has not been called');
    await expect(plane.snapshot()).rejects.toThrow('create() has not been called');
  });
});

describe('KernelPlane apply', () => {
  test('private key, listen port and fwmark: the key goes through a 0600 file in a private directory', async () => {
    const { plane, runner } = await createdPlane();
    const privateKey = secret();
    await plane.apply(change({ privateKey, listenPort: 51820, fwmark: 0x1234 }));
    expect(runner.lines()).toEqual([`wg set ${IFACE} private-key ${KEY_FILE} listen-port 51820 fwmark 4660`]);
    const [file] = runner.keyFiles();
    expect(file).toMatchObject({ content: `${b64(privateKey)}\n`, mode: 0o600, directoryMode: 0o700 });
  });

  test('removing the private key, clearing the fwmark and a random port', async () => {
    const { plane, runner } = await createdPlane();
    await plane.apply(change({ privateKey: null, listenPort: 0, fwmark: 0 }));
    expect(runner.lines()).toEqual([`wg set ${IFACE} private-key /dev/null listen-port 0 fwmark 0`]);
  });

  test('a new peer with preshared key, endpoint, keepalive and allowed IPs', async () => {
    const { plane, runner } = await createdPlane();
    const key = publicKey();
    const presharedKey = secret();
    await plane.apply(
      change({
        peers: [
          peer(key, {
            presharedKey,
            endpoint: '198.18.0.2:51820',
            persistentKeepaliveInterval: 25,
            allowedIps: prefixes('10.0.1.0/24', 'fd00:1::/64'),
          }),
        ],
      }),
    );
    // Additions need the peer's current list (wg set replaces it); the peer does not exist yet.
    expect(runner.lines()).toEqual([
      `wg show ${IFACE} allowed-ips`,
      `wg set ${IFACE} peer ${b64(key)} preshared-key ${KEY_FILE} endpoint 198.18.0.2:51820 persistent-keepalive 25 allowed-ips 10.0.1.0/24,fd00:1::/64`,
    ]);
    expect(runner.keyFiles()).toEqual([
      expect.objectContaining({ content: `${b64(presharedKey)}\n`, mode: 0o600, directoryMode: 0o700 }),
    ]);
  });

  test('two preshared keys in one change get two files', async () => {
    const { plane, runner } = await createdPlane();
    const [first, second] = [secret(), secret()];
    await plane.apply(
      change({ peers: [peer(publicKey(), { presharedKey: first }), peer(publicKey(), { presharedKey: second })] }),
    );
    expect(runner.keyFiles().map((file) => file.content)).toEqual([`${b64(first)}\n`, `${b64(second)}\n`]);
    expect(new Set(runner.keyFiles().map((file) => file.path)).size).toBe(2);
  });

  test('clearing a preshared key and the keepalive', async () => {
    const { plane, runner } = await createdPlane();
    const key = publicKey();
    await plane.apply(change({ peers: [peer(key, { presharedKey: null, persistentKeepaliveInterval: 0 })] }));
    expect(runner.lines()).toEqual([`wg set ${IFACE} peer ${b64(key)} preshared-key /dev/null persistent-keepalive 0`]);
  });

  test('removing a peer', async () => {
    const { plane, runner } = await createdPlane();
    const key = publicKey();
    await plane.apply(change({ peers: [peer(key, { remove: true, allowedIps: prefixes('10.0.0.0/8') })] }));
    expect(runner.lines()).toEqual([`wg set ${IFACE} peer ${b64(key)} remove`]);
  });

  test('replacing allowed IPs needs no read: wg set replaces the list', async () => {
    const { plane, runner } = await createdPlane();
    const key = publicKey();
    await plane.apply(change({ peers: [peer(key, { allowedIps: prefixes('clear', '10.9.0.0/16', '10.8.0.1') })] }));
    expect(runner.lines()).toEqual([`wg set ${IFACE} peer ${b64(key)} allowed-ips 10.9.0.0/16,10.8.0.1/32`]);
  });

  test('clearing allowed IPs sets an empty list', async () => {
    const { plane, runner } = await createdPlane();
    const key = publicKey();
    await plane.apply(change({ peers: [peer(key, { allowedIps: prefixes('clear') })] }));
    expect(runner.recorded.map((command) => command.args)).toEqual([
      ['set', IFACE, 'peer', b64(key), 'allowed-ips', ''],
    ]);
  });

  test('adding allowed IPs to an existing peer keeps its current ones', async () => {
    const key = publicKey();
    const { plane, runner } = await createdPlane(`${b64(key)}\t10.0.1.0/24 fd00:1::/64\n`);
    await plane.apply(change({ peers: [peer(key, { allowedIps: prefixes('10.0.2.0/24', '10.0.1.0/24') })] }));
    expect(runner.lines()).toEqual([
      `wg show ${IFACE} allowed-ips`,
      `wg set ${IFACE} peer ${b64(key)} allowed-ips 10.0.1.0/24,fd00:1::/64,10.0.2.0/24`,
    ]);
  });

  test('removing an allowed IP sets the reduced list', async () => {
    const key = publicKey();
    const other = publicKey();
    const { plane, runner } = await createdPlane(
      `${b64(other)}\t(none)\n${b64(key)}\t10.0.1.0/24 10.0.2.0/24 fd00:1::/64\n`,
    );
    await plane.apply(change({ peers: [peer(key, { allowedIps: prefixes('-10.0.2.0/24', '-fd00:1:0:0::/64') })] }));
    expect(runner.lines()).toEqual([
      `wg show ${IFACE} allowed-ips`,
      `wg set ${IFACE} peer ${b64(key)} allowed-ips 10.0.1.0/24`,
    ]);
  });

  test('a prefix moved to another peer is not handed back by a later addition', async () => {
    const [a, b] = [publicKey(), publicKey()];
    const { plane, runner } = await createdPlane(`${b64(a)}\t10.1.0.0/16\n${b64(b)}\t10.2.0.0/16\n`);
    await plane.apply(
      change({
        peers: [peer(a, { allowedIps: prefixes('10.2.0.0/16') }), peer(b, { allowedIps: prefixes('10.3.0.0/16') })],
      }),
    );
    expect(runner.lines()[1]).toBe(
      `wg set ${IFACE} peer ${b64(a)} allowed-ips 10.1.0.0/16,10.2.0.0/16 peer ${b64(b)} allowed-ips 10.3.0.0/16`,
    );
  });

  test('replace_peers removes unnamed peers and resets the kept ones', async () => {
    const [kept, dropped, added, removedFirst] = [publicKey(), publicKey(), publicKey(), publicKey()];
    const { plane, runner } = await createdPlane(
      `${b64(kept)}\t10.0.1.0/24\n${b64(dropped)}\t10.0.2.0/24\n${b64(removedFirst)}\t(none)\n`,
    );
    await plane.apply(
      change({
        replacePeers: true,
        peers: [
          peer(kept, { endpoint: '[fd18::2]:4500', allowedIps: prefixes('10.0.3.0/24') }),
          peer(added, { allowedIps: prefixes('clear', '10.0.4.0/24') }),
          peer(removedFirst, { remove: true }),
        ],
      }),
    );
    expect(runner.lines()).toEqual([
      `wg show ${IFACE} allowed-ips`,
      `wg set ${IFACE} peer ${b64(dropped)} remove peer ${b64(removedFirst)} remove` +
        // kept: as if created afresh, so only the change's allowed IPs and no psk or keepalive
        ` peer ${b64(kept)} preshared-key /dev/null endpoint [fd18::2]:4500 persistent-keepalive 0 allowed-ips 10.0.3.0/24` +
        ` peer ${b64(added)} allowed-ips 10.0.4.0/24` +
        ` peer ${b64(removedFirst)} remove`,
    ]);
  });

  test('replace_peers with a kept peer that gives its preshared key and keepalive', async () => {
    const kept = publicKey();
    const presharedKey = secret();
    const { plane, runner } = await createdPlane(`${b64(kept)}\t10.0.1.0/24\n`);
    await plane.apply(
      change({ replacePeers: true, peers: [peer(kept, { presharedKey, persistentKeepaliveInterval: 15 })] }),
    );
    expect(runner.lines()[1]).toBe(
      `wg set ${IFACE} peer ${b64(kept)} preshared-key ${KEY_FILE} persistent-keepalive 15 allowed-ips `,
    );
  });

  test('replace_peers with no peers removes them all', async () => {
    const [a, b] = [publicKey(), publicKey()];
    const { plane, runner } = await createdPlane(`${b64(a)}\t(none)\n${b64(b)}\t10.0.0.0/8\n`);
    await plane.apply(change({ replacePeers: true }));
    expect(runner.lines()[1]).toBe(`wg set ${IFACE} peer ${b64(a)} remove peer ${b64(b)} remove`);
  });

  test('update_only updates an existing peer and skips a missing one', async () => {
    const [present, missing] = [publicKey(), publicKey()];
    const { plane, runner } = await createdPlane(`${b64(present)}\t(none)\n`);
    await plane.apply(
      change({
        peers: [
          peer(present, { updateOnly: true, endpoint: '198.18.0.9:1' }),
          peer(missing, { updateOnly: true, endpoint: '198.18.0.9:2' }),
        ],
      }),
    );
    expect(runner.lines()).toEqual([
      `wg show ${IFACE} allowed-ips`,
      `wg set ${IFACE} peer ${b64(present)} endpoint 198.18.0.9:1`,
    ]);
  });

  test('an empty change runs nothing', async () => {
    const { plane, runner } = await createdPlane();
    await plane.apply(change({}));
    expect(runner.lines()).toEqual([]);
  });

  test('a refused wg set rejects with UapiError, EADDRINUSE for a port in use', async () => {
    const { plane, runner } = await createdPlane();
    runner.failures.set(`wg set ${IFACE} listen-port 51820`, 'Unable to modify interface: Address already in use');
    await expect(plane.apply(change({ listenPort: 51820 }))).rejects.toEqual(
      expect.objectContaining({ errno: Errno.EADDRINUSE }),
    );
    const key = publicKey();
    runner.failures.set(
      `wg set ${IFACE} peer ${b64(key)} endpoint nowhere`,
      "Unable to find port of endpoint: `nowhere'",
    );
    const refusal = plane.apply(change({ peers: [peer(key, { endpoint: 'nowhere' })] }));
    await expect(refusal).rejects.toBeInstanceOf(UapiError);
    await expect(refusal).rejects.toEqual(expect.objectContaining({ errno: Errno.EINVAL }));
  });

  test('key files are removed when wg set fails', async () => {
    const { plane, runner } = await createdPlane();
    runner.failures.set(`wg set ${IFACE} private-key ${KEY_FILE}`, 'Unable to modify interface: Invalid argument');
    await expect(plane.apply(change({ privateKey: secret() }))).rejects.toBeInstanceOf(UapiError);
    expect(runner.keyFiles()).toHaveLength(1); // and afterEach checks that it is gone
  });
});

/** `wg show IFACE dump` of a wireguard-go interface after a handshake (peer 1), fwmark 0x1234. */
const DUMP = [
  ['0Nl/AvUoZBXtv8eziq0xWoZ1jTpF8V4VeFNYAGJIWWk=', '+900+O855QwFqdu82tdmWdi66IFUB8Ueoms0u5Ozkhg=', '51820', '0x1234'],
  [
    'ez5451OwAOsNm9mVoT7zocPCOP+SeFwQkdbxCdC6dzI=',
    'QwNpG0NW3h9Mf5YlCUO7E51fRYLtJdtAD5LOn9+cVRM=',
    '198.18.0.2:51820',
    '10.0.1.0/24,fd00:1::/64',
    '1796132912',
    '476',
    '564',
    '25',
  ],
  ['/KLLRrj4PDvcSWrXh+S9sIYBAGgBmuq1iGJJIxi+MkM=', '(none)', '[fd18::2]:4500', '10.0.2.1/32', '0', '0', '0', 'off'],
  ['eto4XKRgX+yd/Le+DqEW66eo5CkLdwLOopCD61D2JlY=', '(none)', '(none)', '(none)', '0', '0', '0', 'off'],
]
  .map((fields) => `${fields.join('\t')}\n`)
  .join('');

/** A snapshot with keys in base64 and prefixes as text, for readable comparisons. */
function readable(snapshot: DeviceSnapshot): unknown {
  return {
    ...snapshot,
    privateKey: snapshot.privateKey && b64(snapshot.privateKey),
    peers: snapshot.peers.map((entry) => ({
      ...entry,
      publicKey: b64(entry.publicKey),
      presharedKey: entry.presharedKey && b64(entry.presharedKey),
      allowedIps: entry.allowedIps.map(formatPrefix),
    })),
  };
}

describe('KernelPlane snapshot', () => {
  test('parses wg show dump', async () => {
    const { plane, runner } = await createdPlane();
    runner.answers.set(`wg show ${IFACE} dump`, DUMP);
    expect(readable(await plane.snapshot())).toEqual({
      privateKey: '0Nl/AvUoZBXtv8eziq0xWoZ1jTpF8V4VeFNYAGJIWWk=',
      listenPort: 51820,
      fwmark: 0x1234,
      peers: [
        {
          publicKey: 'ez5451OwAOsNm9mVoT7zocPCOP+SeFwQkdbxCdC6dzI=',
          presharedKey: 'QwNpG0NW3h9Mf5YlCUO7E51fRYLtJdtAD5LOn9+cVRM=',
          endpoint: '198.18.0.2:51820',
          allowedIps: ['10.0.1.0/24', 'fd00:1::/64'],
          lastHandshakeUnixMs: 1796132912000,
          rxBytes: 476,
          txBytes: 564,
          persistentKeepaliveInterval: 25,
        },
        {
          publicKey: '/KLLRrj4PDvcSWrXh+S9sIYBAGgBmuq1iGJJIxi+MkM=',
          presharedKey: null,
          endpoint: '[fd18::2]:4500',
          allowedIps: ['10.0.2.1/32'],
          lastHandshakeUnixMs: 0,
          rxBytes: 0,
          txBytes: 0,
          persistentKeepaliveInterval: 0,
        },
        {
          publicKey: 'eto4XKRgX+yd/Le+DqEW66eo5CkLdwLOopCD61D2JlY=',
          presharedKey: null,
          endpoint: null,
          allowedIps: [],
          lastHandshakeUnixMs: 0,
          rxBytes: 0,
          txBytes: 0,
          persistentKeepaliveInterval: 0,
        },
      ],
    });
    expect(runner.lines()).toEqual([`wg show ${IFACE} dump`]);
  });

  test('an interface without a key, port or fwmark', async () => {
    const { plane, runner } = await createdPlane();
    runner.answers.set(`wg show ${IFACE} dump`, '(none)\t(none)\t0\toff\n');
    expect(await plane.snapshot()).toEqual({ privateKey: null, listenPort: 0, fwmark: 0, peers: [] });
  });

  test('a malformed dump names the line without echoing it', async () => {
    const { plane, runner } = await createdPlane();
    runner.answers.set(`wg show ${IFACE} dump`, `${DUMP}oops\tsecret-looking\n`);
    const failure = plane.snapshot();
    await expect(failure).rejects.toThrow(`wg show ${IFACE} dump: line 5 has 2 fields, expected 8`);
    await expect(failure).rejects.not.toThrow('secret-looking');
  });
});

describe('kernelModuleAvailable', () => {
  let root: string;
  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'wiremesh-modules-'));
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  const locations = (): { sysModule: string; modulesDirectory: string } => ({
    sysModule: join(root, 'sys', 'module', 'wireguard'),
    modulesDirectory: join(root, 'lib', 'modules', '6.8.0'),
  });

  test('loaded or built in: /sys/module/wireguard exists', () => {
    mkdirSync(locations().sysModule, { recursive: true });
    expect(kernelModuleAvailable(locations())).toBe(true);
  });

  test('loadable: modules.dep lists wireguard.ko (compressed or not)', () => {
    mkdirSync(locations().modulesDirectory, { recursive: true });
    writeFileSync(
      join(locations().modulesDirectory, 'modules.dep'),
      'kernel/net/ipv4/udp_tunnel.ko.zst:\nkernel/drivers/net/wireguard/wireguard.ko.zst: kernel/net/ipv4/udp_tunnel.ko.zst\n',
    );
    expect(kernelModuleAvailable(locations())).toBe(true);
  });

  test('built in without a sysfs entry: modules.builtin lists it', () => {
    mkdirSync(locations().modulesDirectory, { recursive: true });
    writeFileSync(join(locations().modulesDirectory, 'modules.builtin'), 'kernel/drivers/net/wireguard/wireguard.ko\n');
    expect(kernelModuleAvailable(locations())).toBe(true);
  });

  test('absent: no sysfs entry and no module lists, or lists without it', () => {
    expect(kernelModuleAvailable(locations())).toBe(false);
    mkdirSync(locations().modulesDirectory, { recursive: true });
    writeFileSync(join(locations().modulesDirectory, 'modules.dep'), 'kernel/drivers/net/wireguard-ish/other.ko:\n');
    expect(kernelModuleAvailable(locations())).toBe(false);
  });
});
