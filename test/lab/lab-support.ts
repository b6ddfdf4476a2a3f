/** What the boot lab suites share: the tools they need besides root, and a lab booted per suite. */
import { mkdirSync } from 'node:fs';
import { BootLab, type BootLabOptions } from '../../lab/boot/lab';

export const BOOT_LAB_COMMANDS = [
  'debootstrap',
  'systemd-nspawn',
  'nft',
  'conntrack',
  'nsenter',
  'gpg',
  'openssl',
  'ping',
  'wireguard-go',
  'wg',
];

/** Starts a boot lab before the suite's tests and stops it after them; `.lab` is the running lab. */
export function bootedLab(options: BootLabOptions): { readonly lab: BootLab } {
  const booted: { lab?: BootLab } = {};
  beforeAll(async () => {
    mkdirSync(options.artifactsDirectory, { recursive: true });
    booted.lab = new BootLab(options);
    await booted.lab.start();
  }, 900_000);
  afterAll(async () => {
    await booted.lab?.stop();
  }, 120_000);
  return booted as { readonly lab: BootLab };
}
