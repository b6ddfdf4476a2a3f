/**
 * Where inputs live: fuzz/corpus/<target>/ (seeds, checked in), fuzz/regressions/<target>/ (every
 * input that once broke a contract, checked in and replayed by the tests), and findings of a run.
 * Files are named by the SHA-1 of their content, as libFuzzer names them.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../agent/package-root';

export const FUZZ_DIR = join(packageRoot(), 'fuzz');

export function corpusDir(target: string): string {
  return join(FUZZ_DIR, 'corpus', target);
}

export function regressionsDir(target: string): string {
  return join(FUZZ_DIR, 'regressions', target);
}

export function readInputs(dir: string): { name: string; input: Buffer }[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .sort()
    .map((name) => ({ name, input: readFileSync(join(dir, name)) }));
}

export function inputName(input: Buffer): string {
  return createHash('sha1').update(input).digest('hex');
}

/** Writes `input` into `dir` under its content name; returns the path. */
export function writeInput(dir: string, input: Buffer, prefix = ''): string {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, `${prefix}${inputName(input)}`);
  writeFileSync(path, input);
  return path;
}
