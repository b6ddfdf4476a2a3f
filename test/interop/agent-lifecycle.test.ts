/**
 * The agent's process lifecycle. Its stop path, as systemd drives it: SIGTERM to every process of the service at once
 * (KillMode=control-group), with the launcher (bin/launch.js) in the path when an older system Node
 * starts the bin. Every trial must remove what the agent installed (interface, address, route, the
 * forwarding it turned on) exactly once and exit 0, also when a second SIGTERM lands during cleanup.
 * Where systemd is PID 1, the same is checked through a real transient unit (`systemd-run`).
 * And its logging, configured by the document's `log` rather than only the environment.
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../../agent/package-root';
import { Lab, waitForExit } from '../../lab/netns';
import { describeWithRoot } from '../support/root-only';

const AGENT = join(packageRoot(), 'bin', 'wiremesh-agent.js');
const SYSTEM_NODE = '/usr/bin/node';
const TRIALS = 4;
jest.setTimeout(180_000);

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function until(condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms`);
    await sleep(50);
  }
}

function systemNodeMajor(): number | null {
  if (!existsSync(SYSTEM_NODE)) return null;
  return Number(execFileSync(SYSTEM_NODE, ['-p', 'process.versions.node.split(".")[0]'], { encoding: 'utf8' }).trim());
}

function systemdIsPid1(): boolean {
  return spawnSync('ps', ['-p', '1', '-o', 'comm='], { encoding: 'utf8' }).stdout.trim() === 'systemd';
}

/** How the bin is started: through the system Node (the launcher relaunches), or executed directly. */
type Start = 'system node (launcher relaunches)' | 'direct exec of the bin';

class StopLab {
  readonly lab = new Lab(`st${process.pid % 10000}`);
  readonly dir = mkdtempSync(join(tmpdir(), 'wiremesh-stop-'));
  readonly ns = this.lab.namespace('n');
  readonly iface = this.lab.name('wm');
  readonly configPath: string;

  constructor() {
    const key = execFileSync('wg', ['genkey'], { encoding: 'utf8' }).trim();
    const peer = execFileSync('wg', ['pubkey'], { input: execFileSync('wg', ['genkey']), encoding: 'utf8' }).trim();
    const keyPath = join(this.dir, 'private.key');
    writeFileSync(keyPath, `${key}\n`, { mode: 0o600 });
    chmodSync(keyPath, 0o600);
    this.configPath = join(this.dir, 'agent.yaml');
    this.lines = [
      `interface: { name: ${this.iface}, addresses: [198.19.98.1/24], listenPort: 0 }`,
      `privateKey: { source: file, path: ${keyPath} }`,
      'dataPlane: userspace',
      'forwarding: true',
      `peers: [{ name: far, publicKey: "${peer}", allowedIps: [198.19.99.0/24] }]`,
    ];
    this.writeConfig();
  }

  private readonly lines: string[];

  /** The configuration, with `extra` lines added. */
  writeConfig(...extra: string[]): void {
    writeFileSync(`${this.configPath}.tmp`, [...this.lines, ...extra, ''].join('\n'));
    execFileSync('mv', [`${this.configPath}.tmp`, this.configPath]);
  }

  forwarding(): string {
    return this.lab.run(this.ns, 'cat', ['/proc/sys/net/ipv4/ip_forward']).trim();
  }

  /** What the agent installs, as seen in its namespace. */
  installed(): { link: boolean; route: boolean; forwarding: string } {
    return {
      link: this.lab.run(this.ns, 'ip', ['-o', 'link']).includes(this.iface),
      route: this.lab.run(this.ns, 'ip', ['route']).includes('198.19.99.0/24'),
      forwarding: this.forwarding(),
    };
  }

  /**
   * Starts the agent as the leader of its own process group, so the group can be signalled.
   * `logFile`: where the configuration sends the log (else stderr), read to know it is ready.
   */
  async start(
    how: Start,
    logFile?: string,
    ready?: () => boolean,
  ): Promise<{ child: ChildProcess; log: () => string }> {
    const command = how === 'direct exec of the bin' ? [AGENT] : [SYSTEM_NODE, AGENT];
    const child = spawn('ip', ['netns', 'exec', this.ns, ...command, 'run', '--config', this.configPath], {
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      // Only the configuration speaks about logging here.
      env: { ...process.env, WIREMESH_RELAUNCHED: '', WIREMESH_LOG_LEVEL: '', WIREMESH_LOG_FILE: '' },
    });
    let output = '';
    child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const log = (): string => (logFile ? (existsSync(logFile) ? readFileSync(logFile, 'utf8') : '') : output);
    const deadline = Date.now() + 30_000;
    while (!(ready ? ready() : log().includes('"agent.ready"'))) {
      if (child.exitCode !== null || Date.now() > deadline)
        throw new Error(`the agent did not become ready: ${output}${log()}`);
      await sleep(50);
    }
    return { child, log };
  }

  async cleanup(): Promise<void> {
    await this.lab.cleanup();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

function exitOf(child: ChildProcess): { code: number | null; signal: NodeJS.Signals | null } {
  return { code: child.exitCode, signal: child.signalCode };
}

const stopEvents = (log: string): number =>
  log.split('\n').filter((line) => line.includes('"event":"agent.stop"')).length;

describeWithRoot('the agent stop path', ['ip', 'wg'])('wiremesh-agent stop path', () => {
  let env: StopLab;
  beforeEach(() => {
    env = new StopLab();
  });
  afterEach(async () => {
    await env.cleanup();
  });

  const starts: Start[] = ['system node (launcher relaunches)', 'direct exec of the bin'];
  it.each(starts)(
    '%s: SIGTERM to the process group, then another during cleanup: cleaned once, exit 0',
    async (how) => {
      const major = systemNodeMajor();
      if (how === 'system node (launcher relaunches)' && (major === null || major >= 24)) {
        console.warn(
          `skipped: ${SYSTEM_NODE} is ${major === null ? 'absent' : `Node ${major}`}, so the launcher would not relaunch`,
        );
        return;
      }
      expect(env.forwarding()).toBe('0');
      for (let trial = 0; trial < TRIALS; trial++) {
        const { child, log } = await env.start(how);
        expect(env.installed()).toEqual({ link: true, route: true, forwarding: '1' });
        // Executed directly, /bin/sh replaced itself with the project's Node: no launcher in between.
        const children = readFileSync(`/proc/${child.pid}/task/${child.pid}/children`, 'utf8').trim();
        expect({ how, children: children === '' ? 0 : children.split(' ').length }).toEqual({
          how,
          children: how === 'direct exec of the bin' ? 0 : 1,
        });
        // What systemd's KillMode=control-group does: every process of the service gets SIGTERM.
        process.kill(-child.pid!, 'SIGTERM');
        // An impatient operator (or a second `systemctl stop`) while cleanup runs.
        await sleep(trial * 15);
        try {
          process.kill(-child.pid!, 'SIGTERM');
        } catch {
          // already gone: the fast case
        }
        expect(await waitForExit(child, 20_000)).toBe(true);
        expect({ trial, ...exitOf(child) }).toEqual({ trial, code: 0, signal: null });
        expect({ trial, ...env.installed() }).toEqual({ trial, link: false, route: false, forwarding: '0' });
        expect({ trial, stops: stopEvents(log()) }).toEqual({ trial, stops: 1 });
      }
    },
  );

  it('a SIGHUP to the launcher alone reaches the agent once (systemctl reload sends it to MAINPID only)', async () => {
    const major = systemNodeMajor();
    if (major === null || major >= 24) {
      console.warn(
        `skipped: ${SYSTEM_NODE} is ${major === null ? 'absent' : `Node ${major}`}, so the launcher would not relaunch`,
      );
      return;
    }
    const { child, log } = await env.start('system node (launcher relaunches)');
    process.kill(child.pid!, 'SIGHUP');
    await until(() => log().includes('"reason":"SIGHUP"'));
    await sleep(500);
    expect(
      log()
        .split('\n')
        .filter((line) => line.includes('"event":"config.applied"') && line.includes('"reason":"SIGHUP"')),
    ).toHaveLength(1);
    process.kill(child.pid!, 'SIGTERM');
    expect(await waitForExit(child, 20_000)).toBe(true);
    expect(exitOf(child)).toEqual({ code: 0, signal: null });
    expect(env.installed()).toEqual({ link: false, route: false, forwarding: '0' });
  });

  it('log.level and log.file in the configuration are honoured; a level change applies on reload, a file change is refused', async () => {
    const logFile = join(env.dir, 'logs', 'agent.log');
    env.writeConfig(`log: { level: warn, file: ${logFile} }`);
    const { child, log } = await env.start('direct exec of the bin', logFile, () => env.installed().route);
    const lines = (): { level: number; event?: string }[] =>
      log()
        .trim()
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line));
    // The file exists and holds nothing below warn: no agent.start or agent.ready (info).
    expect(existsSync(logFile)).toBe(true);
    expect(lines()).toEqual([]);

    env.writeConfig(`log: { level: warn, file: ${join(env.dir, 'elsewhere.log')} }`);
    process.kill(child.pid!, 'SIGHUP');
    await until(() => log().includes('"config.rejected"'));
    expect(lines().map((line) => line.event)).toEqual(['config.rejected']);
    expect(log()).toContain(`$.log.file: cannot change while the agent runs (it writes to ${logFile}); restart it`);

    env.writeConfig(`log: { level: debug, file: ${logFile} }`);
    process.kill(child.pid!, 'SIGHUP');
    await until(() => log().includes('"event":"log.level"'));
    expect(lines().find((line) => line.event === 'log.level')).toMatchObject({ level: 30, from: 'warn', to: 'debug' });
    process.kill(child.pid!, 'SIGTERM');
    expect(await waitForExit(child, 20_000)).toBe(true);
    expect(exitOf(child)).toEqual({ code: 0, signal: null });
    expect(lines().map((line) => line.event)).toContain('agent.stop');
  });

  it("metrics: {} listens on 127.0.0.1:9588; wiremesh_key_age_seconds is the key file's age (mtime), not the time since start", async () => {
    const tenDaysAgo = new Date(Date.now() - 10 * 86_400_000);
    utimesSync(join(env.dir, 'private.key'), tenDaysAgo, tenDaysAgo);
    env.writeConfig('metrics: {}');
    const { child } = await env.start('direct exec of the bin');
    const script = "fetch('http://127.0.0.1:9588/metrics').then(async (r) => console.log(await r.text()))";
    const text = env.lab.run(env.ns, process.execPath, ['-e', script]);
    const age = Number(/^wiremesh_key_age_seconds (\S+)$/m.exec(text)?.[1]);
    expect(age).toBeGreaterThan(10 * 86_400 - 60);
    expect(age).toBeLessThan(10 * 86_400 + 60);
    expect(text).toMatch(
      new RegExp(
        `^wiremesh_peer_last_handshake_timestamp_seconds\\{peer="far",interface="${env.iface}",public_key="[^"]+"\\} 0$`,
        'm',
      ),
    );
    expect(text).toMatch(/^process_resident_memory_bytes \d+/m);
    process.kill(child.pid!, 'SIGTERM');
    expect(await waitForExit(child, 20_000)).toBe(true);
  });

  // Skipped where systemd is not PID 1 (no unit can be started); the boot lab runs the shipped unit
  // under a VM's real systemd regardless (test/lab/examples.test.ts, existing-vpc).
  (systemdIsPid1() ? it : it.skip)(
    'under systemd: `systemctl stop` of a unit started through the launcher ends "success", cleaned up',
    () => {
      const unit = `wiremesh-stop-test-${process.pid}`;
      const systemctl = (...args: string[]): string => execFileSync('systemctl', args, { encoding: 'utf8' });
      execFileSync('systemd-run', [
        `--unit=${unit}`,
        '--property=KillMode=control-group',
        '--property=TimeoutStopSec=30s',
        '--service-type=exec',
        'ip',
        'netns',
        'exec',
        env.ns,
        existsSync(SYSTEM_NODE) ? SYSTEM_NODE : process.execPath,
        AGENT,
        'run',
        '--config',
        env.configPath,
      ]);
      try {
        const deadline = Date.now() + 30_000;
        while (!env.installed().route && Date.now() < deadline) execFileSync('sleep', ['0.2']);
        expect(env.installed()).toEqual({ link: true, route: true, forwarding: '1' });
        systemctl('stop', unit);
        const state = systemctl('show', unit, '--property=Result,ExecMainStatus,ExecMainCode');
        expect(state).toContain('Result=success');
        expect(state).toContain('ExecMainStatus=0');
        expect(env.installed()).toEqual({ link: false, route: false, forwarding: '0' });
      } finally {
        spawnSync('systemctl', ['stop', unit]);
        spawnSync('systemctl', ['reset-failed', unit]);
      }
    },
  );
});
