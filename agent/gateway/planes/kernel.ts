/**
 * The Linux kernel data plane, driven entirely through `ip` and `wg` (the CommandRunner), so it can
 * be tested up to the commands it runs.
 *
 * Key rotation: the kernel holds one static private key per interface, not the two the userspace
 * plane keeps during a rotation, so it switches that key in place, which the kernel does without
 * losing a packet (single-key-rotation.ts; the same code as the wireguard-go plane, proven there).
 *
 * `wg set` is not the UAPI, and this plane bridges the differences:
 * - `allowed-ips` replaces a peer's list, so additions and `-prefix` removals are applied to the
 *   peer's current list (read with `wg show NAME allowed-ips`) and the result is set.
 * - There is no replace_peers: peers that the change does not name are removed, and those it keeps
 *   are reset (no preshared key, no keepalive, no allowed IPs, unless the change gives them), as the
 *   UAPI would leave them. Unlike the UAPI, a kept peer keeps its sessions and its endpoint (which
 *   `wg set` cannot clear).
 * - There is no update_only: such a section is dropped when the peer does not exist.
 * - The kernel applies a request in order without rolling back, so a refusal late in a change
 *   (e.g. a listen port in use) can leave earlier parts applied.
 * Keys never appear on a command line (process listings are world-readable): `wg` reads them from
 * files created with mode 0600 in a private temporary directory and removed right after.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatPrefix, parsePrefix } from '../../../common/ip';
import { keyFromBase64, keyToBase64 } from '../../crypto/keys';
import {
  Errno,
  UapiError,
  type ConfigChange,
  type DeviceSnapshot,
  type PeerChange,
  type PeerSnapshot,
} from '../../wg/uapi';
import type { CommandRunner, DataPlane } from '../plane';
import { SingleKeyRotation } from './single-key-rotation';

export interface KernelPlaneOptions {
  runner: CommandRunner;
}

/** Linux refuses a single argument this long (MAX_ARG_STRLEN) with E2BIG. */
const MAX_ARGUMENT_BYTES = 128 * 1024;
/** `wg` reads an empty file as "no key", which removes it. */
const NO_KEY = '/dev/null';
const NONE = '(none)';

export class KernelPlane implements DataPlane {
  readonly kind = 'kernel' as const;
  private readonly runner: CommandRunner;
  private name: string | null = null;
  readonly rotation = new SingleKeyRotation({
    apply: (change) => this.apply(change),
    snapshot: () => this.snapshot(),
  });

  constructor(options: KernelPlaneOptions) {
    this.runner = options.runner;
  }

  async create(name: string, mtu: number): Promise<void> {
    await this.runner.run('ip', ['link', 'add', 'dev', name, 'type', 'wireguard']);
    this.name = name;
    try {
      await this.runner.run('ip', ['link', 'set', 'dev', name, 'mtu', String(mtu)]);
    } catch (error) {
      await this.destroy();
      throw error;
    }
  }

  async apply(change: ConfigChange): Promise<void> {
    const name = this.requireName();
    const keyFiles = new PrivateKeyFiles();
    try {
      const args = await this.setArguments(name, change, keyFiles);
      if (args.length === 0) return; // `wg set NAME` alone prints usage and fails
      try {
        await this.runner.run('wg', ['set', name, ...args]);
      } catch (error) {
        const message = (error as Error).message;
        const errno = /Address (already )?in use/i.test(message) ? Errno.EADDRINUSE : Errno.EINVAL;
        throw new UapiError(errno, `wg set ${name} refused the change: ${message}`);
      }
    } finally {
      keyFiles.remove();
    }
  }

  /** The arguments after `wg set NAME` that leave the device as the UAPI would leave it. */
  private async setArguments(name: string, change: ConfigChange, keyFiles: PrivateKeyFiles): Promise<string[]> {
    const args: string[] = [];
    if (change.privateKey !== undefined) {
      args.push('private-key', change.privateKey ? keyFiles.write('private-key', change.privateKey) : NO_KEY);
    }
    if (change.listenPort !== undefined) args.push('listen-port', String(change.listenPort));
    if (change.fwmark !== undefined) args.push('fwmark', String(change.fwmark));

    // The device's peers and allowed IPs as they will be once `args` is applied; read only when needed.
    const device = needsDeviceState(change) ? await this.readAllowedIps(name) : null;
    // Peers a replace_peers keeps, which must still end up as if created afresh.
    const reset = new Set<string>();
    if (change.replacePeers && device) {
      const keptByFirstSection = new Map<string, boolean>();
      for (const peer of change.peers) {
        const key = keyToBase64(peer.publicKey);
        if (!keptByFirstSection.has(key)) keptByFirstSection.set(key, !peer.remove && !peer.updateOnly);
      }
      for (const key of [...device.keys()]) {
        if (keptByFirstSection.get(key)) {
          reset.add(key);
          device.set(key, []);
        } else {
          args.push('peer', key, 'remove');
          device.delete(key);
        }
      }
    }

    for (const peer of change.peers) {
      const key = keyToBase64(peer.publicKey);
      if (peer.remove) {
        args.push('peer', key, 'remove');
        device?.delete(key);
        reset.delete(key);
        continue;
      }
      if (peer.updateOnly && !device?.has(key)) continue;
      const resetting = reset.delete(key);
      args.push('peer', key);
      const presharedKey = peer.presharedKey === undefined && resetting ? null : peer.presharedKey;
      if (presharedKey !== undefined) {
        args.push(
          'preshared-key',
          presharedKey ? keyFiles.write(`preshared-key-${args.length}`, presharedKey) : NO_KEY,
        );
      }
      if (peer.endpoint !== undefined) args.push('endpoint', peer.endpoint);
      const keepalive = peer.persistentKeepaliveInterval ?? (resetting ? 0 : undefined);
      if (keepalive !== undefined) args.push('persistent-keepalive', String(keepalive));
      if (peer.allowedIps.length > 0 || resetting) {
        const allowedIps = resultingAllowedIps(device?.get(key) ?? [], peer);
        const list = allowedIps.join(',');
        if (list.length >= MAX_ARGUMENT_BYTES) {
          throw new UapiError(
            Errno.EINVAL,
            `peer ${key}: ${allowedIps.length} allowed IPs do not fit in one wg argument`,
          );
        }
        args.push('allowed-ips', list);
        if (device) moveAllowedIps(device, key, allowedIps);
      } else if (device && !device.has(key)) {
        device.set(key, []);
      }
    }
    return args;
  }

  /** `wg show NAME allowed-ips`: every peer (public keys only, no secrets) with its prefixes. */
  private async readAllowedIps(name: string): Promise<Map<string, string[]>> {
    const output = await this.runner.run('wg', ['show', name, 'allowed-ips']);
    const device = new Map<string, string[]>();
    for (const line of output.split('\n')) {
      if (line === '') continue;
      const [key = '', prefixes = ''] = line.split('\t');
      device.set(key, prefixes === NONE ? [] : prefixes.split(' ').map((prefix) => formatPrefix(parsePrefix(prefix))));
    }
    return device;
  }

  async snapshot(): Promise<DeviceSnapshot> {
    const name = this.requireName();
    const snapshot = parseDump(name, await this.runner.run('wg', ['show', name, 'dump']));
    this.rotation.observe(snapshot);
    return snapshot;
  }

  drops(): Record<string, number> {
    return {};
  }

  async destroy(): Promise<void> {
    if (!this.name) return;
    try {
      await this.runner.run('ip', ['link', 'delete', 'dev', this.name]);
    } catch (error) {
      if (!/Cannot find device/.test((error as Error).message)) throw error;
    }
    this.name = null;
  }

  private requireName(): string {
    if (!this.name) throw new Error('kernel plane: create() has not been called');
    return this.name;
  }
}

function needsDeviceState(change: ConfigChange): boolean {
  return (
    change.replacePeers ||
    change.peers.some(
      (peer) =>
        !peer.remove && (peer.updateOnly || (peer.allowedIps.length > 0 && peer.allowedIps[0]?.kind !== 'clear')),
    )
  );
}

/** Applies the section's allowed-IP changes, in order, to the peer's current list. */
function resultingAllowedIps(current: readonly string[], peer: PeerChange): string[] {
  let list = [...current];
  for (const allowed of peer.allowedIps) {
    if (allowed.kind === 'clear') {
      list = [];
      continue;
    }
    const prefix = formatPrefix(allowed.prefix);
    if (allowed.kind === 'remove') list = list.filter((existing) => existing !== prefix);
    else if (!list.includes(prefix)) list.push(prefix);
  }
  return list;
}

/** A prefix given to one peer leaves any other peer that had it, in the kernel as in the UAPI. */
function moveAllowedIps(device: Map<string, string[]>, key: string, allowedIps: string[]): void {
  const taken = new Set(allowedIps);
  for (const [other, prefixes] of device) {
    if (other !== key)
      device.set(
        other,
        prefixes.filter((prefix) => !taken.has(prefix)),
      );
  }
  device.set(key, allowedIps);
}

/** Key files for one `wg set`, in a directory only we can enter. */
class PrivateKeyFiles {
  private directory: string | null = null;

  write(name: string, key: Buffer): string {
    this.directory ??= mkdtempSync(join(tmpdir(), 'wiremesh-keys-'));
    const path = join(this.directory, name);
    writeFileSync(path, `${keyToBase64(key)}\n`, { mode: 0o600, flag: 'wx' });
    return path;
  }

  remove(): void {
    if (this.directory) rmSync(this.directory, { recursive: true, force: true });
    this.directory = null;
  }
}

/**
 * `wg show NAME dump`: a tab-separated interface line (private-key public-key listen-port fwmark),
 * then one line per peer (public-key preshared-key endpoint allowed-ips latest-handshake transfer-rx
 * transfer-tx persistent-keepalive). Errors name the line, never its contents (it holds keys).
 */
function parseDump(name: string, dump: string): DeviceSnapshot {
  const lines = dump.split('\n').filter((line) => line !== '');
  const fieldsOf = (index: number, expected: number): string[] => {
    const fields = (lines[index] ?? '').split('\t');
    if (fields.length !== expected) {
      throw new Error(`wg show ${name} dump: line ${index + 1} has ${fields.length} fields, expected ${expected}`);
    }
    return fields;
  };
  const [privateKey, , listenPort, fwmark] = fieldsOf(0, 4) as [string, string, string, string];
  const peers: PeerSnapshot[] = [];
  for (let index = 1; index < lines.length; index++) {
    const [publicKey, presharedKey, endpoint, allowedIps, latestHandshake, rx, tx, keepalive] = fieldsOf(index, 8) as [
      string,
      string,
      string,
      string,
      string,
      string,
      string,
      string,
    ];
    peers.push({
      publicKey: keyFromBase64(publicKey),
      presharedKey: optionalKey(presharedKey),
      endpoint: endpoint === NONE ? null : endpoint,
      lastHandshakeUnixMs: Number(latestHandshake) * 1000,
      rxBytes: Number(rx),
      txBytes: Number(tx),
      persistentKeepaliveInterval: keepalive === 'off' ? 0 : Number(keepalive),
      allowedIps: allowedIps === NONE ? [] : allowedIps.split(',').map((prefix) => parsePrefix(prefix)),
    });
  }
  return {
    privateKey: optionalKey(privateKey),
    listenPort: Number(listenPort),
    fwmark: fwmark === 'off' ? 0 : Number(fwmark), // printed as hex, 0x...
    peers,
  };
}

function optionalKey(text: string): Buffer | null {
  return text === NONE ? null : keyFromBase64(text);
}

export interface KernelModuleLocations {
  /** Default /sys/module/wireguard. */
  sysModule?: string;
  /** Default /lib/modules/$(uname -r). */
  modulesDirectory?: string;
}

/**
 * Whether this host's kernel has WireGuard, for the agent's `auto` plane choice. Cheap file checks,
 * no side effects: /sys/module/wireguard exists when the module is loaded or built in (it has a
 * version, so sysfs lists it either way); otherwise a wireguard.ko listed in the running kernel's
 * modules.dep is loaded by the kernel on the first `ip link add ... type wireguard`. Probing with
 * that command in a scratch namespace would be definitive but needs root and creates kernel
 * objects; a host that passes these checks yet cannot load the module fails clearly in create().
 */
export function kernelModuleAvailable(locations: KernelModuleLocations = {}): boolean {
  if (existsSync(locations.sysModule ?? '/sys/module/wireguard')) return true;
  const modulesDirectory = locations.modulesDirectory ?? join('/lib/modules', release());
  return ['modules.dep', 'modules.builtin'].some((file) => {
    try {
      return /(?:^|\/)wireguard\.ko(?:\.\w+)?:?(?:\s|$)/m.test(readFileSync(join(modulesDirectory, file), 'utf8'));
    } catch {
      return false; // no module lists (e.g. a container without /lib/modules)
    }
  });
}
