/** What the runner and a fuzz worker say to each other. */
import type { FileCoverage } from './coverage';

export interface WorkerInput {
  mode: 'fuzz' | 'measure';
  target: string;
  inputs: Buffer[];
  /** Unix ms at which the fuzz loop stops. */
  deadline: number;
  seed: number;
  /** [0] executions started, [1] length of the current input; the input follows at byte 8. */
  shared: SharedArrayBuffer;
}

export type WorkerMessage =
  | { type: 'crash'; input: Buffer; error: string; signature: string }
  | { type: 'progress'; executions: number; corpus: number; features: number }
  | { type: 'discovery'; input: Buffer }
  | { type: 'fuzzed'; executions: number; corpus: Buffer[]; features: number }
  | { type: 'measured'; files: Record<string, FileCoverage> };

export const SHARED_HEADER = 8;
