/**
 * Coverage feedback from V8 itself: block coverage with call counts through the inspector
 * (Profiler.takePreciseCoverage), the signal libFuzzer gets from compiler instrumentation. Each take
 * resets the counters, so a take right after one input is exactly that input's coverage.
 */
import { Session } from 'node:inspector';

interface CoverageRange {
  startOffset: number;
  endOffset: number;
  count: number;
}

interface ScriptCoverage {
  scriptId: string;
  url: string;
  functions: { ranges: CoverageRange[] }[];
}

/** AFL's hit-count classes: 1, 2, 3, 4-7, 8-15, 16-31, 32-127, 128+. */
function countClass(count: number): number {
  if (count <= 3) return count;
  if (count < 8) return 4;
  if (count < 16) return 5;
  if (count < 32) return 6;
  return count < 128 ? 7 : 8;
}

/** Per file: blocks V8 knows of, and those executed. */
export interface FileCoverage {
  blocks: number;
  covered: number;
}

export class CoverageProbe {
  private readonly session = new Session();

  constructor() {
    this.session.connect();
    this.post('Profiler.enable');
    this.post('Profiler.startPreciseCoverage', { callCount: true, detailed: true });
  }

  /** In-thread inspector sessions answer synchronously; this makes that explicit. */
  private post(method: string, params?: object): unknown {
    let answer: unknown;
    let failure: Error | null = null;
    let answered = false;
    this.session.post(method, params, (error, result) => {
      failure = error;
      answer = result;
      answered = true;
    });
    if (!answered) throw new Error(`inspector did not answer ${method} synchronously`);
    if (failure) throw failure;
    return answer;
  }

  /** Coverage since the previous take (and resets it). */
  take(): ScriptCoverage[] {
    return (this.post('Profiler.takePreciseCoverage') as { result: ScriptCoverage[] }).result;
  }

  /**
   * The features of the code run since the previous take: one per executed block and hit-count
   * class. `into` receives them; returns how many were not in `known`.
   */
  features(known: ReadonlySet<number>, into: Set<number>): number {
    let fresh = 0;
    for (const script of this.take()) {
      if (script.url.startsWith('node:')) continue;
      const id = Number(script.scriptId);
      for (const fn of script.functions) {
        for (const range of fn.ranges) {
          if (range.count === 0) continue;
          const feature =
            (Math.imul(id, 0x9e3779b1) ^
              Math.imul(range.startOffset, 0x85ebca6b) ^
              Math.imul(range.endOffset, 0xc2b2ae35) ^
              countClass(range.count)) >>>
            0;
          if (!known.has(feature) && !into.has(feature)) fresh++;
          into.add(feature);
        }
      }
    }
    return fresh;
  }

  /**
   * Block coverage of the files whose URL ends with one of `suffixes`, counted over everything run
   * since the probe started. Must be the probe's first take: later takes omit functions not run.
   */
  fileCoverage(suffixes: readonly string[]): Record<string, FileCoverage> {
    const files: Record<string, FileCoverage> = {};
    for (const script of this.take()) {
      const suffix = suffixes.find((s) => script.url.endsWith(s));
      if (!suffix) continue;
      const file = (files[suffix] ??= { blocks: 0, covered: 0 });
      for (const fn of script.functions) {
        for (const range of fn.ranges) {
          file.blocks++;
          if (range.count > 0) file.covered++;
        }
      }
    }
    return files;
  }
}
