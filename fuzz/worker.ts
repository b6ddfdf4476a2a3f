/**
 * One target's fuzzing loop, in a worker thread so the runner can stop it when an input hangs or
 * exhausts memory. The input being run is mirrored into shared memory before every execution: on a
 * hang, the runner reads it from there. Modes: `fuzz` (mutate and keep what finds new coverage) and
 * `measure` (run a fixed set once and report block coverage of the target's modules).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { CoverageProbe } from './coverage';
import { Random, mutate } from './mutate';
import { SHARED_HEADER, type WorkerInput, type WorkerMessage } from './protocol';
import type { FuzzTarget } from './target';
import { loadTarget } from './targets/index';

const job = workerData as WorkerInput;
// The yaml library reports odd documents as process warnings: thousands per run, all noise here.
process.emitWarning = () => undefined;
const probe = new CoverageProbe();
// Loaded after the probe started, so every function of the target is counted from its first run.
const target: FuzzTarget = loadTarget(job.target);
const control = new Int32Array(job.shared, 0, 2);
const mirror = new Uint8Array(job.shared, SHARED_HEADER);
/** Buffers arrive as plain Uint8Arrays (structured clone). */
const inputs = job.inputs.map((input) => Buffer.from(input.buffer, input.byteOffset, input.byteLength));

function post(message: WorkerMessage): void {
  parentPort!.postMessage(message);
}

/** What makes two failures the same finding: the error's kind, message and where it was thrown. */
function signatureOf(error: unknown): string {
  if (!(error instanceof Error)) return `non-Error thrown: ${String(error).slice(0, 80)}`;
  const frame = (error.stack ?? '').split('\n').find((line) => line.trim().startsWith('at ')) ?? '';
  return `${error.name}: ${error.message
    .split('\n')[0]!
    .replace(/"[^"]*"/g, '"…"')
    .replace(/\d+/g, 'N')} ${frame.trim()}`;
}

/** Runs one input; returns the failure it caused, if any. */
function execute(input: Buffer): unknown {
  const length = Math.min(input.length, mirror.length);
  mirror.set(input.subarray(0, length));
  Atomics.store(control, 1, length);
  Atomics.add(control, 0, 1);
  try {
    target.run(input);
    return undefined;
  } catch (error) {
    return error ?? new Error('undefined thrown');
  }
}

function fuzz(): void {
  const random = new Random(job.seed);
  const dictionary = target.dictionary.map((token) => Buffer.from(token));
  const features = new Set<number>();
  const corpus: Buffer[] = [];
  const signatures = new Set<string>();
  let executions = 0;
  probe.take();

  const runAndLearn = (input: Buffer, always: boolean): void => {
    const error = execute(input);
    executions++;
    if (error !== undefined) {
      const signature = signatureOf(error);
      if (signatures.has(signature)) return;
      signatures.add(signature);
      post({
        type: 'crash',
        input,
        error: error instanceof Error ? (error.stack ?? error.message) : String(error),
        signature,
      });
      return;
    }
    const fresh = probe.features(features, features);
    if (fresh > 0 || always) {
      corpus.push(input);
      if (!always) post({ type: 'discovery', input });
    }
  };

  for (const input of inputs) runAndLearn(input, true);
  if (corpus.length === 0) corpus.push(Buffer.alloc(0));
  const context = { random, dictionary, maxLength: target.maxLength, other: () => random.pick(corpus) };
  let nextProgress = Date.now() + 2000;
  while (Date.now() < job.deadline) {
    // Favour the newest entries a little: they are where the frontier is.
    const parent =
      random.below(4) === 0
        ? corpus[corpus.length - 1 - random.below(Math.min(corpus.length, 16))]!
        : random.pick(corpus);
    runAndLearn(mutate(parent, context), false);
    if (Date.now() >= nextProgress) {
      post({ type: 'progress', executions, corpus: corpus.length, features: features.size });
      nextProgress = Date.now() + 2000;
    }
  }
  post({ type: 'fuzzed', executions, corpus, features: features.size });
}

function measure(): void {
  for (const input of inputs) execute(input);
  post({ type: 'measured', files: probe.fileCoverage(target.modules) });
}

if (job.mode === 'fuzz') fuzz();
else measure();
