/** Strict flag parsing of the `wiremesh` and `wiremesh-wg` commands (node:util parseArgs). */
import { parseArguments } from '../../agent/cli/wiremesh-wg';
import type { CliIo } from '../../cli/command';
import { main } from '../../cli/wiremesh';

async function wiremesh(...argv: string[]): Promise<{ status: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const io: CliIo = {
    stdin: (async function* () {})(),
    stdout: { write: (text: string) => (stdout += text) },
    stderr: { write: (text: string) => (stderr += text) },
  };
  const status = await main(argv, io);
  return { status, stdout, stderr };
}

describe('wiremesh: strict flags', () => {
  it.each([
    [['plan', '--jsn'], "Unknown option '--jsn'", 'Usage: wiremesh plan [SPEC] [--json]'],
    [['status', '--jason'], "Unknown option '--jason'", 'Usage: wiremesh status [--json]'],
    [['render', '--out'], "Option '--out <value>' argument missing", 'Usage: wiremesh render [SPEC] [--out DIR]'],
    [['plan', 'a.yaml', 'b.yaml'], "unexpected argument 'b.yaml'", 'Usage: wiremesh plan'],
    [['import'], 'missing argument', 'Usage: wiremesh import FILE.conf... [--json]'],
    [['genkey', '--force'], "Unknown option '--force'", 'Usage: wiremesh genkey'],
    [['exec', '--jsn', 'spoke-a', '--', 'ping'], "Unknown option '--jsn'", 'Usage: wiremesh exec SITE -- COMMAND...'],
    [['down', 'now'], "Unexpected argument 'now'", 'Usage: wiremesh down'],
  ])('%j is an error with the usage, exit 1', async (argv, error, usage) => {
    const result = await wiremesh(...argv);
    expect(result.status).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain(`error: ${error}`);
    expect(result.stderr).toContain(usage);
  });

  it('--help after a subcommand prints its usage on stdout, exit 0', async () => {
    expect(await wiremesh('render', '--help')).toEqual({
      status: 0,
      stdout: 'Usage: wiremesh render [SPEC] [--out DIR]\n',
      stderr: '',
    });
  });

  it('exec passes the command after -- (or after SITE) through unparsed', async () => {
    // No mesh is up in a unit test: the command reaches exec, which names the missing mesh.
    for (const argv of [
      ['exec', 'spoke-a', '--', 'ping', '-c', '3', 'x'],
      ['exec', 'spoke-a', 'ping', '-c', '3', 'x'],
    ]) {
      const result = await wiremesh(...argv);
      expect(result.stderr).not.toContain('error:');
      expect(result.stderr).toContain('Usage: wiremesh exec SITE -- COMMAND...');
    }
  });

  it('plan --json still plans the default spec', async () => {
    const result = await wiremesh('plan', '--json');
    expect(result.status).toBe(0);
    expect(JSON.parse(result.stdout)).toHaveProperty('gateways');
  });
});

describe('wiremesh-wg: strict flags', () => {
  it('takes -f / --foreground and exactly one interface name', () => {
    expect(parseArguments(['wg0'])).toEqual({ foreground: false, interfaceName: 'wg0' });
    expect(parseArguments(['-f', 'wg0'])).toEqual({ foreground: true, interfaceName: 'wg0' });
    expect(parseArguments(['wg0', '--foreground'])).toEqual({ foreground: true, interfaceName: 'wg0' });
  });

  it.each([
    [['--jsn', 'wg0'], "Unknown option '--jsn'"],
    [[], 'missing INTERFACE-NAME'],
    [['wg0', 'wg1'], "unexpected argument 'wg1'"],
    [['an-interface-name-too-long'], 'invalid interface name'],
  ])('%j is refused', (argv, error) => {
    expect(parseArguments(argv)).toEqual(expect.stringContaining(error));
  });
});
