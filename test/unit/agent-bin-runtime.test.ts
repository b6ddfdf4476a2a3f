/**
 * What the executed bin/wiremesh-agent.js hands the Node it replaces itself with: the raised V8
 * optimization thresholds and a fixed malloc mmap threshold (GLIBC_TUNABLES), which keep an idle
 * agent small (bench/memory.ts measures it), with an operator's own tunables kept after ours so they
 * still win. Recorded from inside the started process by a preloaded script.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../../agent/package-root';

const BIN = join(packageRoot(), 'bin', 'wiremesh-agent.js');
const FIXED_MMAP_THRESHOLD = 'glibc.malloc.mmap_threshold=131072';

interface Runtime {
  tunables: string | null;
  execArgv: string[];
  node: string;
}

describe('the executed agent bin', () => {
  let dir: string;
  beforeAll(() => (dir = mkdtempSync(join(tmpdir(), 'wiremesh-bin-runtime-'))));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  function runtimeOf(env: NodeJS.ProcessEnv): Runtime {
    const record = join(dir, 'record.js');
    const out = join(dir, 'runtime.json');
    writeFileSync(
      record,
      `require('node:fs').writeFileSync(${JSON.stringify(out)}, JSON.stringify({
        tunables: process.env.GLIBC_TUNABLES ?? null, execArgv: process.execArgv, node: process.version }));`,
    );
    const { GLIBC_TUNABLES: _ignored, ...rest } = process.env;
    execFileSync(BIN, ['--help'], { env: { ...rest, ...env, NODE_OPTIONS: `--require ${record}` }, stdio: 'pipe' });
    return JSON.parse(readFileSync(out, 'utf8')) as Runtime;
  }

  it("runs the project's Node 24 with the raised thresholds and malloc's mmap threshold fixed", () => {
    const runtime = runtimeOf({});
    expect(runtime.node.startsWith('v24.')).toBe(true);
    expect(runtime.execArgv).toContain('--invocation-count-for-maglev=4000');
    expect(runtime.tunables).toBe(FIXED_MMAP_THRESHOLD);
  });

  it("keeps the operator's GLIBC_TUNABLES after its own, so theirs win", () => {
    const runtime = runtimeOf({ GLIBC_TUNABLES: 'glibc.malloc.arena_max=2:glibc.malloc.mmap_threshold=262144' });
    expect(runtime.tunables).toBe(
      `${FIXED_MMAP_THRESHOLD}:glibc.malloc.arena_max=2:glibc.malloc.mmap_threshold=262144`,
    );
  });
});
