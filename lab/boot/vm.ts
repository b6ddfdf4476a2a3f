/**
 * One gateway VM: a throwaway overlay of the cached image booted with systemd-nspawn (real systemd
 * as PID 1) inside the gateway's network namespace, its user data given unchanged through a
 * NoCloud seed (/var/lib/cloud/seed/nocloud). The host looks inside through nsenter (systemctl,
 * journalctl, wg, cloud-init status) and collects the logs into the artifacts folder at the end.
 */
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

/** The image's cloud-init settings, as a cloud image has its own (README.md lists why each). */
const CLOUD_CONFIG = [
  '# wiremesh boot lab: the seed is a NoCloud directory; the lab configures the network (as the',
  "# cloud's DHCP would); the image's sources.list names the mirror the lab serves; C.UTF-8 needs no",
  '# generated locale (the image has no locales package).',
  'datasource_list: [NoCloud, None]',
  'network: {config: disabled}',
  'apt: {preserve_sources_list: true}',
  'locale: C.UTF-8',
  '',
].join('\n');

export interface VmOptions {
  name: string;
  hostname: string;
  instanceId: string;
  imageRoot: string;
  workDirectory: string;
  artifactsDirectory: string;
  networkNamespace: string;
  userData: string;
  /** /etc/hosts lines: what the lab's edge answers to (see README.md). */
  hosts: Array<[address: string, names: string[]]>;
}

export class Vm {
  private process: ChildProcess | undefined;
  private readonly merged: string;
  private mounted = false;
  exited: Promise<number | null> = Promise.resolve(null);

  constructor(readonly options: VmOptions) {
    this.merged = join(options.workDirectory, 'merged');
  }

  /** Mounts the overlay, writes the seed and boots; returns once nspawn runs. */
  boot(): void {
    const { workDirectory, imageRoot } = this.options;
    for (const d of ['upper', 'work', 'merged']) mkdirSync(join(workDirectory, d), { recursive: true });
    execFileSync('mount', [
      '-t',
      'overlay',
      'overlay',
      '-o',
      `lowerdir=${imageRoot},upperdir=${join(workDirectory, 'upper')},workdir=${join(workDirectory, 'work')}`,
      this.merged,
    ]);
    this.mounted = true;
    const seed = join(this.merged, 'var', 'lib', 'cloud', 'seed', 'nocloud');
    mkdirSync(seed, { recursive: true });
    writeFileSync(join(seed, 'user-data'), this.options.userData);
    writeFileSync(
      join(seed, 'meta-data'),
      `instance-id: ${this.options.instanceId}\nlocal-hostname: ${this.options.hostname}\n`,
    );
    const hosts = [
      '127.0.0.1 localhost',
      `127.0.1.1 ${this.options.hostname}`,
      ...this.options.hosts.map(([a, names]) => `${a} ${names.join(' ')}`),
    ];
    writeFileSync(join(this.merged, 'etc', 'hosts'), `${hosts.join('\n')}\n`);
    writeFileSync(join(this.merged, 'etc', 'resolv.conf'), '# the lab has no DNS: /etc/hosts names the edge\n');
    writeFileSync(join(this.merged, 'etc', 'cloud', 'cloud.cfg.d', '90-wiremesh-lab.cfg'), CLOUD_CONFIG);
    // nspawn wants this directory to exist for its mount propagation.
    mkdirSync('/run/systemd/nspawn/propagate', { recursive: true });
    mkdirSync(this.options.artifactsDirectory, { recursive: true });
    const console = createWriteStream(join(this.options.artifactsDirectory, 'console.log'));
    const child = spawn(
      'systemd-nspawn',
      [
        '-D',
        this.merged,
        '--register=no',
        '--keep-unit',
        '--boot',
        `--machine=${this.options.hostname}`,
        // nspawn keeps CAP_NET_ADMIN only with --private-network, not for a namespace it is handed;
        // the VM owns this namespace as a cloud VM owns its network stack.
        `--network-namespace-path=/run/netns/${this.options.networkNamespace}`,
        '--capability=CAP_NET_ADMIN',
        '--bind=/dev/net/tun',
        '--resolv-conf=off',
        '--timezone=off',
        '--link-journal=no',
        '--console=pipe',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    child.stdout.pipe(console);
    child.stderr.pipe(console);
    this.exited = new Promise((resolve) => child.on('exit', (code) => resolve(code)));
    this.process = child;
  }

  /** PID 1 of the container (the child of nspawn), once it exists. */
  initPid(): number | undefined {
    const pid = this.process?.pid;
    if (pid === undefined) return undefined;
    try {
      const children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
      return children.length > 0 ? Number(children[0]) : undefined;
    } catch {
      return undefined;
    }
  }

  /** Runs a command inside the container's namespaces; undefined when it fails or is not up. */
  async exec(command: string[], timeoutMs = 10_000): Promise<string | undefined> {
    const pid = this.initPid();
    if (pid === undefined) return undefined;
    try {
      const { stdout } = await execFileAsync(
        'nsenter',
        ['-t', String(pid), '-m', '-u', '-i', '-n', '-p', '--', ...command],
        { timeout: timeoutMs, maxBuffer: 32 * 1024 * 1024 },
      );
      return stdout;
    } catch (error) {
      const out = (error as { stdout?: string }).stdout;
      return typeof out === 'string' && out.length > 0 ? out : undefined;
    }
  }

  /** A file of the running VM (through the overlay). */
  readFile(path: string): string | undefined {
    const full = join(this.merged, path);
    return existsSync(full) ? readFileSync(full, 'utf8') : undefined;
  }

  /** The VM's logs into the artifacts folder: cloud-init's logs and result, the journal, the unit's status. */
  async collectLogs(): Promise<void> {
    const out = this.options.artifactsDirectory;
    mkdirSync(out, { recursive: true });
    for (const path of [
      'var/log/cloud-init.log',
      'var/log/cloud-init-output.log',
      'var/lib/cloud/data/result.json',
      'var/lib/cloud/data/status.json',
    ]) {
      const text = this.readFile(path);
      if (text !== undefined) writeFileSync(join(out, path.split('/').pop()!), text);
    }
    const journal = join(this.merged, 'var', 'log', 'journal');
    if (existsSync(journal)) {
      try {
        const text = execFileSync('journalctl', ['-D', journal, '--no-pager', '-o', 'short-precise'], {
          encoding: 'utf8',
          maxBuffer: 64 * 1024 * 1024,
        });
        writeFileSync(join(out, 'journal.log'), text);
      } catch (error) {
        writeFileSync(join(out, 'journal.log'), `journalctl failed: ${(error as Error).message}\n`);
      }
    }
    const status = await this.exec(['systemctl', 'status', '--no-pager', '--full', 'wiremesh-agent', 'cloud-final']);
    if (status !== undefined) writeFileSync(join(out, 'systemctl-status.txt'), status);
  }

  /** Collects the logs, powers the container off (SIGKILL after 20 s), unmounts and removes the overlay. */
  async destroy(): Promise<void> {
    if (this.process && this.process.exitCode === null && this.process.signalCode === null) {
      await this.collectLogs().catch(() => undefined);
      // nspawn turns SIGTERM into an orderly poweroff of the container.
      this.process.kill('SIGTERM');
      const timer = setTimeout(() => this.process?.kill('SIGKILL'), 20_000);
      await this.exited;
      clearTimeout(timer);
    }
    if (this.mounted) {
      execFileSync('umount', [this.merged]);
      this.mounted = false;
    }
    rmSync(this.options.workDirectory, { recursive: true, force: true });
  }
}
