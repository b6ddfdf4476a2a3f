/**
 * `npm run fuzz -- [--seconds N] [--target NAME]... [--seed S] [--timeout-ms MS] [--crashes DIR]
 * [--save-corpus] [--write-seeds] [--json FILE]`
 *
 * Coverage-guided fuzzing of every parser that takes outside input. Per target: the seeds
 * (fuzz/corpus/<target>/) and past crashes (fuzz/regressions/<target>/) start the corpus, then the
 * loop mutates entries and keeps each input that reaches new code (V8 block coverage, see
 * coverage.ts), for N seconds. An input that breaks the target's contract, hangs longer than the
 * timeout or exhausts memory is a crash: written to the crashes directory (default fuzz/crashes/),
 * and the exit status is 1. At the end each target's block coverage is measured twice, seeds alone
 * and the final corpus, over the target's own modules.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';
import type { FileCoverage } from './coverage';
import { FUZZ_DIR, corpusDir, readInputs, regressionsDir, writeInput } from './corpus';
import type { FuzzTarget } from './target';
import { TARGET_NAMES, loadTarget } from './targets/index';
import { SHARED_HEADER, type WorkerInput, type WorkerMessage } from './protocol';

const WORKER = join(__dirname, 'worker.js');
const SHARED_BYTES = 1 << 16;

interface Crash {
  kind: 'contract' | 'hang' | 'out-of-memory';
  file: string;
  detail: string;
}

export interface TargetReport {
  target: string;
  seconds: number;
  executions: number;
  executionsPerSecond: number;
  seeds: number;
  corpus: number;
  features: number;
  coverage: { seeds: Record<string, FileCoverage>; final: Record<string, FileCoverage> };
  crashes: Crash[];
}

interface Options {
  seconds: number;
  seed: number;
  timeoutMs: number;
  crashes: string;
  saveCorpus: boolean;
}

function currentInput(shared: SharedArrayBuffer): Buffer {
  const length = new Int32Array(shared, 0, 2)[1]!;
  return Buffer.from(new Uint8Array(shared, SHARED_HEADER, length));
}

/** Runs one worker; resolves with its final message, or with a hang / out-of-memory crash. */
function runWorker(
  job: Omit<WorkerInput, 'shared'>,
  timeoutMs: number,
  onMessage: (message: WorkerMessage) => void,
): Promise<{ last?: WorkerMessage; failure?: { kind: 'hang' | 'out-of-memory'; input: Buffer; detail: string } }> {
  const shared = new SharedArrayBuffer(SHARED_HEADER + SHARED_BYTES);
  const worker = new Worker(WORKER, {
    workerData: { ...job, shared },
    resourceLimits: { maxOldGenerationSizeMb: 2048 },
  });
  const executions = new Int32Array(shared, 0, 1);
  return new Promise((resolve, reject) => {
    let last: WorkerMessage | undefined;
    let seen = -1;
    let sameSince = Date.now();
    let failure: { kind: 'hang' | 'out-of-memory'; input: Buffer; detail: string } | undefined;
    const watchdog = setInterval(() => {
      const now = Atomics.load(executions, 0);
      if (now !== seen) {
        seen = now;
        sameSince = Date.now();
      } else if (Date.now() - sameSince > timeoutMs) {
        failure = { kind: 'hang', input: currentInput(shared), detail: `one input ran longer than ${timeoutMs} ms` };
        void worker.terminate();
      }
    }, 100);
    worker.on('message', (message: WorkerMessage) => {
      if (message.type === 'fuzzed' || message.type === 'measured') last = message;
      onMessage(message);
    });
    worker.on('error', (error: Error & { code?: string }) => {
      if (error.code === 'ERR_WORKER_OUT_OF_MEMORY')
        failure = { kind: 'out-of-memory', input: currentInput(shared), detail: error.message };
      else {
        clearInterval(watchdog);
        reject(error);
      }
    });
    worker.on('exit', () => {
      clearInterval(watchdog);
      resolve({ ...(last && { last }), ...(failure && { failure }) });
    });
  });
}

async function measure(target: FuzzTarget, inputs: Buffer[], timeoutMs: number): Promise<Record<string, FileCoverage>> {
  const { last } = await runWorker(
    { mode: 'measure', target: target.name, inputs, deadline: 0, seed: 0 },
    timeoutMs * 10,
    () => {},
  );
  return last?.type === 'measured' ? last.files : {};
}

export async function fuzzTarget(
  target: FuzzTarget,
  options: Options,
  log: (line: string) => void,
): Promise<TargetReport> {
  const seeds = [...readInputs(corpusDir(target.name)), ...readInputs(regressionsDir(target.name))].map(
    (entry) => entry.input,
  );
  if (seeds.length === 0)
    throw new Error(`${target.name}: no seeds in ${corpusDir(target.name)} (generated targets: --write-seeds)`);
  const crashes: Crash[] = [];
  const crashDir = join(options.crashes, target.name);
  const started = Date.now();
  const { last, failure } = await runWorker(
    {
      mode: 'fuzz',
      target: target.name,
      inputs: seeds,
      deadline: started + options.seconds * 1000,
      seed: options.seed,
    },
    options.timeoutMs,
    (message) => {
      if (message.type === 'crash') {
        const file = writeInput(crashDir, Buffer.from(message.input), 'crash-');
        crashes.push({ kind: 'contract', file, detail: message.error });
        log(
          `${target.name}: CRASH ${message.signature}\n  input: ${file}\n  ${message.error.split('\n').slice(0, 6).join('\n  ')}`,
        );
      } else if (message.type === 'progress') {
        log(`${target.name}: ${message.executions} inputs, corpus ${message.corpus}, features ${message.features}`);
      } else if (message.type === 'discovery' && options.saveCorpus) {
        writeInput(corpusDir(target.name), Buffer.from(message.input));
      }
    },
  );
  if (failure) {
    const file = writeInput(crashDir, failure.input, `${failure.kind}-`);
    crashes.push({ kind: failure.kind, file, detail: failure.detail });
    log(`${target.name}: CRASH (${failure.kind}) ${failure.detail}\n  input: ${file}`);
  }
  const seconds = (Date.now() - started) / 1000;
  const fuzzed = last?.type === 'fuzzed' ? last : undefined;
  const corpus = (fuzzed?.corpus ?? []).map((input) => Buffer.from(input));
  const report: TargetReport = {
    target: target.name,
    seconds,
    executions: fuzzed?.executions ?? 0,
    executionsPerSecond: Math.round((fuzzed?.executions ?? 0) / seconds),
    seeds: seeds.length,
    corpus: corpus.length,
    features: fuzzed?.features ?? 0,
    coverage: {
      seeds: await measure(target, seeds, options.timeoutMs),
      final: await measure(target, corpus.length > 0 ? corpus : seeds, options.timeoutMs),
    },
    crashes,
  };
  return report;
}

function percent(file: FileCoverage | undefined): string {
  return file && file.blocks > 0
    ? `${file.covered}/${file.blocks} (${((100 * file.covered) / file.blocks).toFixed(1)}%)`
    : 'n/a';
}

export function summary(report: TargetReport): string {
  const files = Object.keys(report.coverage.final).sort();
  return [
    `${report.target}: ${report.executions} inputs in ${report.seconds.toFixed(1)} s (${report.executionsPerSecond}/s), ` +
      `corpus ${report.seeds} seeds -> ${report.corpus}, ${report.features} features, ${report.crashes.length} crashes`,
    ...files.map(
      (file) =>
        `  blocks of ${file}: seeds ${percent(report.coverage.seeds[file])} -> ${percent(report.coverage.final[file])}`,
    ),
  ].join('\n');
}

async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      seconds: { type: 'string', default: '60' },
      target: { type: 'string', multiple: true },
      seed: { type: 'string' },
      'timeout-ms': { type: 'string', default: '5000' },
      crashes: { type: 'string', default: join(FUZZ_DIR, 'crashes') },
      'save-corpus': { type: 'boolean', default: false },
      'write-seeds': { type: 'boolean', default: false },
      json: { type: 'string' },
    },
  });
  const targets = (values.target ?? TARGET_NAMES).map(loadTarget);
  if (values['write-seeds']) {
    for (const target of targets) {
      for (const input of target.seeds?.() ?? []) console.log(writeInput(corpusDir(target.name), input));
    }
    return 0;
  }
  const seconds = Number(values.seconds);
  if (!(seconds > 0)) throw new Error(`--seconds: expected a positive number, got "${values.seconds}"`);
  const seed = values.seed === undefined ? Date.now() % 0x7fffffff : Number(values.seed);
  console.log(`fuzzing ${targets.map((t) => t.name).join(', ')} for ${seconds} s each, --seed ${seed}`);
  const options: Options = {
    seconds,
    seed,
    timeoutMs: Number(values['timeout-ms']),
    crashes: values.crashes!,
    saveCorpus: values['save-corpus']!,
  };
  const reports: TargetReport[] = [];
  for (const target of targets) {
    const report = await fuzzTarget(target, options, (line) => console.log(line));
    console.log(summary(report));
    reports.push(report);
  }
  if (values.json) writeFileSync(values.json, `${JSON.stringify(reports, null, 2)}\n`);
  const crashes = reports.reduce((sum, r) => sum + r.crashes.length, 0);
  console.log(
    crashes === 0 ? 'fuzz: no crashes' : `fuzz: ${crashes} crashes; each input is in ${options.crashes}/<target>/`,
  );
  return crashes === 0 ? 0 : 1;
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (error: unknown) => {
      console.error((error as Error).message);
      process.exit(2);
    },
  );
}
