/**
 * The coverage-guided fuzz targets (fuzz/): every seed and every input that once broke a contract
 * (fuzz/regressions/) passes, the findings are pinned as readable cases, and a short fuzz run with
 * a fixed budget per target finds nothing. The long run is `npm run fuzz -- --seconds N`.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAgentConfig } from '../../agent/gateway/config';
import { ConfigError } from '../../common/validation';
import { parseWgQuickConfig } from '../../agent/gateway/wg-quick';
import { parseMeshSpec } from '../../mesh/validate';
import { Errno, UapiError, parseGetResponse } from '../../agent/wg/uapi';
import { corpusDir, readInputs, regressionsDir } from '../../fuzz/corpus';
import { TARGET_NAMES, loadTarget } from '../../fuzz/targets/index';

const TARGETS = TARGET_NAMES.map(loadTarget);

const ROOT = join(__dirname, '..', '..');
const RUNNER = join(ROOT, 'dist', 'fuzz', 'run.js');
/** Seconds per target in CI: enough for a few hundred to a few thousand inputs each. */
const CI_SECONDS = 3;

describe.each(TARGETS.map((target) => [target.name, target] as const))('fuzz target %s', (name, target) => {
  it('has seeds checked in', () => {
    expect(readInputs(corpusDir(name)).length).toBeGreaterThan(0);
  });

  it('passes every seed and every past crash', () => {
    for (const { name: file, input } of [...readInputs(corpusDir(name)), ...readInputs(regressionsDir(name))]) {
      expect([
        file,
        (() => {
          try {
            target.run(input);
            return 'ok';
          } catch (error) {
            return String((error as Error).stack ?? error);
          }
        })(),
      ]).toEqual([file, 'ok']);
    }
  });
});

describe('findings of the fuzzer, pinned', () => {
  function uapiError(text: string): UapiError {
    try {
      parseGetResponse(text);
    } catch (error) {
      if (error instanceof UapiError) return error;
      throw error;
    }
    throw new Error('parseGetResponse accepted it');
  }

  it('a get answer with a malformed allowed_ip is a protocol error, not a PrefixFormatError', () => {
    const error = uapiError(`public_key=${'a8'.repeat(32)}\nallowed_ip=-10.0.0.0/8\nerrno=0\n\n`);
    expect(error.errno).toBe(Errno.EPROTO);
    expect(error.message).toMatch(/^allowed_ip: invalid IP prefix/);
  });

  it('a get answer with a non-numeric errno is a protocol error, not "errno NaN"', () => {
    expect(uapiError('errno=-22%\n\n').errno).toBe(Errno.EPROTO);
  });

  it('a get answer with a short key or a non-numeric count is refused, not read as garbage', () => {
    expect(uapiError(`public_key=a8a8\nerrno=0\n\n`).message).toBe('public_key: expected 64 hex characters');
    expect(uapiError(`public_key=${'a8'.repeat(32)}\ntx_bytes=12x\nerrno=0\n\n`).errno).toBe(Errno.EPROTO);
    expect(uapiError('listen_port=65536\nerrno=0\n\n').errno).toBe(Errno.EPROTO);
  });

  it('an unknown field with an odd name gets a quoted, one-line JSON path; a key in a name is not repeated', () => {
    const problems = (text: string): string[] => {
      try {
        parseAgentConfig(text);
      } catch (error) {
        if (error instanceof ConfigError) return error.problems.map((p) => p.path);
        throw error;
      }
      return [];
    };
    expect(
      problems('interface: {name: wm0, "a.b\\n[c]": 1}\nprivateKey: {source: file, path: /k}\npeers: []\n'),
    ).toContain('$.interface["a.b\\n[c]"]');
    const key = 'vfQY4oAbuC/Hb+FIGfvHVfDZLYKVl+wr/T4CNefRaV0=';
    const paths = problems(`interface: {name: wm0, "${key}": 1}\nprivateKey: {source: file, path: /k}\npeers: []\n`);
    expect(paths).toContain('$.interface["(a key)"]');
    expect(paths.join('\n')).not.toContain(key);
  });

  it('no problem repeats a key found in the input: a key pasted into an address, or inside a YAML syntax error', () => {
    const key = 'vfQY4oAbuC/Hb+FIGfvHVfDZLYKVl+wr/T4CNefRaV0=';
    const messageOf = (parse: () => unknown): string => {
      try {
        parse();
      } catch (error) {
        if (error instanceof ConfigError) return error.message;
        throw error;
      }
      throw new Error('accepted');
    };
    const conf = `[Interface]\nPrivateKey = ${key}\nAddress = ${key}fd99::1/64\n`;
    const quick = messageOf(() => parseWgQuickConfig(conf, 'wm0', '/etc/wireguard/wm0.conf'));
    expect(quick).toContain('invalid IP prefix "(a key)fd99::1/64"');
    // A comment between two plain scalars: the YAML error quotes the second one.
    const yaml = messageOf(() => parseMeshSpec(`sites\n  # then\n the secret ${key}\n`));
    expect(yaml).toMatch(/^invalid mesh spec:\n {2}\$: is not valid YAML or JSON: .*\(a key\)/);
    for (const message of [quick, yaml]) expect(message).not.toContain(key);
  });
});

describe('a short fuzz run, every target', () => {
  it(`finds no crash in ${CI_SECONDS} s per target`, () => {
    expect(existsSync(RUNNER)).toBe(true); // `npm test` builds dist/ first
    const crashes = mkdtempSync(join(tmpdir(), 'wiremesh-fuzz-'));
    try {
      const result = spawnSync(process.execPath, [RUNNER, '--seconds', String(CI_SECONDS), '--crashes', crashes], {
        encoding: 'utf8',
        timeout: 120_000,
      });
      const output = `${result.stdout}\n${result.stderr}`;
      expect([result.status, output.includes('fuzz: no crashes')]).toEqual([0, true]);
      for (const target of TARGETS) expect(output).toMatch(new RegExp(`^${target.name}: [1-9]\\d* inputs`, 'm'));
      expect(readdirSync(crashes)).toEqual([]);
    } finally {
      rmSync(crashes, { recursive: true, force: true });
    }
  }, 180_000);
});
