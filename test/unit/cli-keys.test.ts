/**
 * Runs the built CLI (bin/wiremesh.js -> dist/) as a separate process, the way a user or script does,
 * and compares it with `wg`. `npm test` builds dist/ first.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

const repositoryRoot = join(__dirname, '..', '..');
const binPath = join(repositoryRoot, 'bin', 'wiremesh.js');
const builtCliPath = join(repositoryRoot, 'dist', 'cli', 'wiremesh.js');
/** One base64-encoded 32-byte key and a newline, as wg prints it. */
const KEY_LINE = /^[A-Za-z0-9+/]{43}=\n$/;

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

function run(command: string, args: readonly string[], input = ''): Run {
  const result = spawnSync(command, args, { input, encoding: 'utf8', timeout: 20_000 });
  if (result.error) throw result.error;
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

function wiremesh(args: readonly string[], input = ''): Run {
  return run(process.execPath, [binPath, ...args], input);
}

function findWg(): string | null {
  const found = spawnSync('sh', ['-c', 'command -v wg'], { encoding: 'utf8' });
  return found.status === 0 ? found.stdout.trim() : null;
}

// RFC 7748 section 6.1: Alice's private key and X25519(a, 9).
const ALICE_PRIVATE = Buffer.from('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a', 'hex');
const ALICE_PUBLIC = Buffer.from('8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a', 'hex');

beforeAll(() => {
  if (!existsSync(builtCliPath)) throw new Error(`${builtCliPath} is missing: run \`npm run build\` first`);
});

describe('wiremesh genkey', () => {
  it('prints a 44-character base64 clamped private key and a newline, fresh each time', () => {
    const first = wiremesh(['genkey']);
    expect(first.status).toBe(0);
    expect(first.stderr).toBe('');
    expect(first.stdout).toMatch(KEY_LINE);
    const key = Buffer.from(first.stdout.trim(), 'base64');
    expect(key.length).toBe(32);
    expect(key[0]! & 0b0000_0111).toBe(0);
    expect(key[31]! & 0b1100_0000).toBe(0b0100_0000);
    expect(wiremesh(['genkey']).stdout).not.toBe(first.stdout);
  });

  it('rejects arguments', () => {
    const result = wiremesh(['genkey', 'extra']);
    expect(result.status).toBe(1);
    expect(result.stdout).toBe('');
  });
});

describe('wiremesh pubkey', () => {
  it("prints the RFC 7748 6.1 public key for Alice's private key", () => {
    const result = wiremesh(['pubkey'], `${ALICE_PRIVATE.toString('base64')}\n`);
    expect(result).toEqual({ status: 0, stdout: `${ALICE_PUBLIC.toString('base64')}\n`, stderr: '' });
  });

  it('accepts a key without a newline and with trailing whitespace, as wg does', () => {
    for (const input of [ALICE_PRIVATE.toString('base64'), `${ALICE_PRIVATE.toString('base64')} \r\n\n\t`]) {
      expect(wiremesh(['pubkey'], input).stdout).toBe(`${ALICE_PUBLIC.toString('base64')}\n`);
    }
  });

  it('reads what genkey writes', () => {
    const privateKey = wiremesh(['genkey']).stdout;
    const result = wiremesh(['pubkey'], privateKey);
    expect(result.status).toBe(0);
    expect(result.stdout).toMatch(KEY_LINE);
  });

  const invalidInputs: ReadonlyArray<[string, string]> = [
    ['empty input', ''],
    ['garbage', 'not a key\n'],
    ['one character short', `${ALICE_PRIVATE.toString('base64').slice(1)}\n`],
    ['leading whitespace', ` ${ALICE_PRIVATE.toString('base64')}\n`],
    ['trailing characters', `${ALICE_PRIVATE.toString('base64')}\nsecond line\n`],
    ['two keys', `${ALICE_PRIVATE.toString('base64')}${ALICE_PRIVATE.toString('base64')}`],
    // The last base64 digit of a 32-byte key must have its low two bits clear ("c" decodes to 28, "d" to 29).
    ['non-canonical last digit', `${ALICE_PRIVATE.toString('base64').slice(0, 42)}d=\n`],
    ['hex instead of base64', `${ALICE_PRIVATE.toString('hex')}\n`],
  ];

  it.each(invalidInputs)('rejects %s: exit 1, "error: ..." on stderr, no key material echoed', (_label, input) => {
    const result = wiremesh(['pubkey'], input);
    expect(result.status).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(/^error: .+\n$/);
    const keyTexts = [ALICE_PRIVATE.toString('base64'), ALICE_PRIVATE.toString('hex'), input.trim()].filter(
      (text) => text.length > 0,
    );
    // Any 8-character run of the input would already be a leak.
    for (const text of keyTexts) {
      for (let start = 0; start + 8 <= text.length; start++) {
        expect(result.stderr).not.toContain(text.slice(start, start + 8));
      }
    }
  });
});

describe('wiremesh pubkey against wg pubkey', () => {
  const wg = findWg();
  // CI installs wireguard-tools, so a missing wg there is a failure, not a skip.
  const runsHere = wg !== null || process.env['CI'] !== undefined;

  (runsHere ? it : it.skip)('prints the same public key as wg for 20 random (unclamped) private keys', () => {
    if (wg === null) throw new Error('wg is not installed: apt-get install wireguard-tools');
    for (let i = 0; i < 20; i++) {
      // Raw random bytes, not clamped: both tools must clamp on their own.
      const input = `${randomBytes(32).toString('base64')}\n`;
      const ours = wiremesh(['pubkey'], input);
      const theirs = run(wg, ['pubkey'], input);
      expect(theirs.status).toBe(0);
      expect(ours).toEqual({ status: 0, stdout: theirs.stdout, stderr: '' });
    }
  });

  (runsHere ? it : it.skip)('wg accepts the keys wiremesh genkey and genpsk print', () => {
    if (wg === null) throw new Error('wg is not installed: apt-get install wireguard-tools');
    const privateKey = wiremesh(['genkey']).stdout;
    expect(run(wg, ['pubkey'], privateKey).stdout).toBe(wiremesh(['pubkey'], privateKey).stdout);
    // wg pubkey only checks the base64 form, which a preshared key shares.
    expect(run(wg, ['pubkey'], wiremesh(['genpsk']).stdout).status).toBe(0);
  });
});

describe('wiremesh genpsk', () => {
  it('prints 32 random bytes in base64 and a newline', () => {
    const result = wiremesh(['genpsk']);
    expect(result.status).toBe(0);
    expect(result.stderr).toBe('');
    expect(result.stdout).toMatch(KEY_LINE);
    expect(Buffer.from(result.stdout.trim(), 'base64').length).toBe(32);
    expect(wiremesh(['genpsk']).stdout).not.toBe(result.stdout);
  });
});

describe('wiremesh usage', () => {
  it.each([['--help'], ['help']])('%s prints usage listing the key tools on stdout', (flag) => {
    const result = wiremesh([flag]);
    expect(result.status).toBe(0);
    expect(result.stdout).toMatch(/^Usage: wiremesh/);
    for (const name of ['genkey', 'pubkey', 'genpsk']) expect(result.stdout).toContain(name);
  });

  it('an unknown subcommand prints usage on stderr and exits 1', () => {
    const result = wiremesh(['frobnicate']);
    expect(result.status).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain('frobnicate');
    expect(result.stderr).toContain('Usage: wiremesh');
  });

  it('no subcommand prints usage on stderr and exits 1', () => {
    const result = wiremesh([]);
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('Usage: wiremesh');
  });
});
