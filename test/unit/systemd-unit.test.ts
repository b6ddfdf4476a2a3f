/**
 * agent/systemd/wiremesh-agent.service: the hardening it promises, read from the file itself, and
 * `systemd-analyze verify` when the host has it.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { STATE_DIR } from '../../agent/gateway/host-state';

const UNIT_FILE = join(__dirname, '..', '..', 'agent', 'systemd', 'wiremesh-agent.service');
const EXEC_START = '/opt/wiremesh/bin/wiremesh-agent.js';

type Unit = Map<string, Map<string, string[]>>;

/** systemd's INI dialect, enough for this file: sections, Key=Value, # and ; comments, repeated keys. */
function parseUnit(text: string): Unit {
  const unit: Unit = new Map();
  let section: Map<string, string[]> | undefined;
  text.split('\n').forEach((raw, index) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) return;
    const header = /^\[([^\]]+)\]$/.exec(line);
    if (header) {
      section = new Map();
      unit.set(header[1]!, section);
      return;
    }
    const equals = line.indexOf('=');
    if (equals <= 0 || !section) throw new Error(`line ${index + 1}: not Key=Value inside a section: ${line}`);
    const key = line.slice(0, equals).trim();
    section.set(key, [...(section.get(key) ?? []), line.slice(equals + 1).trim()]);
  });
  return unit;
}

const text = readFileSync(UNIT_FILE, 'utf8');
const unit = parseUnit(text);
const service = unit.get('Service')!;

/** The single value of Service's `key` (a key given twice is itself a mistake here). */
function value(key: string): string | undefined {
  const values = service.get(key);
  if (values === undefined) return undefined;
  expect(values).toHaveLength(1);
  return values[0];
}

/** The comment block right above `key=` in the file. */
function commentAbove(key: string): string {
  const lines = text.split('\n');
  const at = lines.findIndex((line) => line.startsWith(`${key}=`));
  expect(at).toBeGreaterThan(0);
  const comments: string[] = [];
  for (let i = at - 1; i >= 0 && lines[i]!.startsWith('#'); i--) comments.unshift(lines[i]!);
  return comments.join('\n');
}

describe('wiremesh-agent.service', () => {
  it('has [Unit], [Service] and [Install] sections', () => {
    expect([...unit.keys()]).toEqual(['Unit', 'Service', 'Install']);
    expect(unit.get('Install')!.get('WantedBy')).toEqual(['multi-user.target']);
  });

  it('runs, reloads and restarts the agent', () => {
    expect(value('ExecStart')).toBe(`${EXEC_START} run --config /etc/wiremesh/agent.yaml`);
    expect(value('ExecReload')).toBe('/bin/kill -HUP $MAINPID');
    expect(value('Restart')).toBe('on-failure');
    expect(unit.get('Unit')!.get('After')).toEqual(['network-online.target']);
  });

  /** systemd time spans as the unit writes them: `500ms`, `1s`, `5min`, or bare seconds. */
  function seconds(span: string): number {
    const match = /^(\d+(?:\.\d+)?)(ms|s|min)?$/.exec(span);
    expect(match).not.toBeNull();
    return Number(match![1]) * ({ ms: 0.001, s: 1, min: 60 } as Record<string, number>)[match![2] ?? 's']!;
  }

  it('is back within about a second of a crash (the agent itself starts in ~1.3 s)', () => {
    // A crash's outage is RestartSec plus the agent's own start; 5 s made it 6 s or more.
    expect(seconds(value('RestartSec')!)).toBeLessThanOrEqual(1);
  });

  it('stops a crash loop: the start limit is reached well within its interval', () => {
    const interval = seconds(unit.get('Unit')!.get('StartLimitIntervalSec')![0]!);
    const burst = Number(unit.get('Unit')!.get('StartLimitBurst')![0]);
    // A crashing agent restarts at most every RestartSec; counting its own ~1.3 s start, `burst` starts
    // must fit in the interval with room to spare, or the loop never ends.
    const cycle = seconds(value('RestartSec')!) + 1.3;
    expect(burst).toBeGreaterThanOrEqual(3);
    expect(burst * cycle).toBeLessThan(interval / 2);
    expect(commentAbove('StartLimitIntervalSec')).toMatch(/reset-failed/);
  });

  it('keeps only CAP_NET_ADMIN, with no way to regain more', () => {
    expect(value('CapabilityBoundingSet')).toBe('CAP_NET_ADMIN');
    expect(value('AmbientCapabilities')).toBe('CAP_NET_ADMIN');
    expect(value('NoNewPrivileges')).toBe('yes');
  });

  it('sees a read-only system with private /tmp and no /home', () => {
    expect(value('ProtectSystem')).toBe('strict');
    expect(value('PrivateTmp')).toBe('yes');
    expect(value('ProtectHome')).toBe('yes');
    expect(value('UMask')).toBe('0077');
  });

  it('writes only to its managed directories: /run/wireguard (UAPI sockets), /run/wiremesh (host state), both preserved, and its log directory', () => {
    expect(value('RuntimeDirectory')).toBe('wireguard wiremesh');
    expect(STATE_DIR).toBe('/run/wiremesh'); // where the agent keeps <interface>.state
    expect(value('RuntimeDirectoryPreserve')).toBe('yes');
    expect(value('LogsDirectory')).toBe('wiremesh');
    // Every writable path is a managed directory; a ReadWritePaths= would widen that.
    expect(service.has('ReadWritePaths')).toBe(false);
  });

  it('protects the kernel, except its tunables (the agent enables IP forwarding)', () => {
    expect(value('ProtectKernelModules')).toBe('yes');
    expect(value('ProtectKernelLogs')).toBe('yes');
    expect(value('ProtectControlGroups')).toBe('yes');
    expect(value('ProtectKernelTunables') ?? 'no').toBe('no');
    expect(commentAbove('ProtectKernelTunables')).toMatch(/forwarding/);
    expect(service.has('ProcSubset')).toBe(false); // ProcSubset=pid would hide /proc/sys as well
  });

  it('reaches /dev/net/tun and no other device', () => {
    expect(value('DevicePolicy')).toBe('closed');
    expect(value('DeviceAllow')).toBe('/dev/net/tun rw');
    expect(service.has('PrivateDevices')).toBe(false); // its /dev has no /dev/net/tun
  });

  it('uses only IP, netlink and unix sockets', () => {
    expect(value('RestrictAddressFamilies')!.split(/\s+/).sort()).toEqual([
      'AF_INET',
      'AF_INET6',
      'AF_NETLINK',
      'AF_UNIX',
    ]);
  });

  it("leaves MemoryDenyWriteExecute off, and says why (V8's JIT)", () => {
    expect(value('MemoryDenyWriteExecute') ?? 'no').toBe('no');
    expect(commentAbove('MemoryDenyWriteExecute')).toMatch(/JIT/);
  });

  it('filters system calls and restricts the rest', () => {
    expect(value('SystemCallFilter')).toBe('@system-service');
    expect(value('SystemCallArchitectures')).toBe('native');
    for (const key of [
      'RestrictNamespaces',
      'RestrictRealtime',
      'RestrictSUIDSGID',
      'LockPersonality',
      'ProtectClock',
      'ProtectHostname',
    ]) {
      expect([key, value(key)]).toEqual([key, 'yes']);
    }
  });

  const analyze = spawnSync('systemd-analyze', ['--version'], { encoding: 'utf8' });
  const verifyIt = analyze.status === 0 ? it : it.skip;

  verifyIt('passes `systemd-analyze verify` with no warnings about the unit', () => {
    // verify checks that ExecStart= exists and is executable, so point it at a stand-in for the
    // installed agent; everything else is the file as committed.
    const dir = mkdtempSync(join(tmpdir(), 'wiremesh-unit-'));
    try {
      const agent = join(dir, 'wiremesh-agent.js');
      writeFileSync(agent, '#!/bin/sh\nexit 0\n');
      chmodSync(agent, 0o755);
      const copy = join(dir, 'wiremesh-agent.service');
      writeFileSync(copy, text.split(EXEC_START).join(agent));
      const result = spawnSync('systemd-analyze', ['verify', copy], { encoding: 'utf8' });
      const aboutUnit = `${result.stdout}\n${result.stderr}`
        .split('\n')
        .filter((line) => line.includes('wiremesh-agent.service'));
      expect(aboutUnit).toEqual([]);
      expect(result.status).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
