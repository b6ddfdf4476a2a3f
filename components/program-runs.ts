/**
 * A sequence of program runs under mocks with the state carried over, as the engine keeps it
 * between `pulumi up` runs (the component tests' deploy sequences, and the boot lab's deploys,
 * which carry it from one process to the next as {@link ProgramRunsState}): a resource whose name and inputs are unchanged keeps its state (a key
 * pair keeps its key, a secret version its version id); the key-pair provider's own `diff`
 * decides its replacements; for other resources a change of a property the cloud provider
 * cannot update in place (the `FORCE_NEW` table, from the providers' schemas) is a replacement,
 * any other change an update; a resource the run no longer registers is deleted.
 */
import type * as pulumi from '@pulumi/pulumi';
import { awsMockOptions, type AwsMockSettings } from './aws/testing';
import { gcpMockNewResource } from './gcp/testing';
import { WIREGUARD_KEY_PAIR_TYPE, wireGuardKeyProvider } from './key';
import { setupMocks, unwrapSecrets, type MockRecorder, type SetupMocksOptions } from './testing';

/** Properties whose change replaces the resource (ForceNew in the Terraform providers). */
const FORCE_NEW: Record<string, string[]> = {
  'aws:secretsmanager/secretVersion:SecretVersion': ['secretId', 'secretString'],
  'gcp:secretmanager/secretVersion:SecretVersion': ['secret', 'secretData'],
};

interface Stored {
  id: string;
  inputs: Record<string, unknown>;
  state: Record<string, unknown>;
}

/** What one run did to the carried state, by `type::name`. */
export interface RunChanges {
  create: string[];
  update: string[];
  replace: string[];
  delete: string[];
}

export interface ProgramRun {
  mocks: MockRecorder;
  changes: RunChanges;
}

/** The carried state as plain JSON (secret values included: keep it in a 0600 file). */
export interface ProgramRunsState {
  resources: Array<[string, Stored]>;
  versionCounters: Array<[string, number]>;
  replacements: number;
}

/** How a run is mocked: its project, stack configuration, the AWS lookups' answers; a preview. */
export interface ProgramRunOptions extends Pick<SetupMocksOptions, 'project' | 'config'> {
  preview?: boolean;
  aws?: AwsMockSettings;
}

const stable = (value: unknown): string => {
  const plain = unwrapSecrets(value);
  return JSON.stringify(plain, (_k, v: unknown) =>
    v !== null && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => a.localeCompare(b)))
      : v,
  );
};

/** Carries the state of every custom resource from one run to the next. */
export class ProgramRuns {
  private state: Map<string, Stored>;
  private versionCounters: Map<string, number>;
  private replacements: number;

  constructor(saved?: ProgramRunsState) {
    this.state = new Map(saved?.resources ?? []);
    this.versionCounters = new Map(saved?.versionCounters ?? []);
    this.replacements = saved?.replacements ?? 0;
  }

  /** The state after the last run, to carry to a run in another process. */
  saved(): ProgramRunsState {
    return {
      resources: [...this.state],
      versionCounters: [...this.versionCounters],
      replacements: this.replacements,
    };
  }

  /**
   * Runs `program` once (a fresh mock monitor; it may return a promise, awaited), then settles;
   * `changes` compares it with the previous run.
   */
  async run(program: () => unknown, options: ProgramRunOptions = {}): Promise<ProgramRun> {
    const aws = awsMockOptions(options.aws ?? { vpcCidrs: ['10.10.0.0/16'] });
    const gcp = gcpMockNewResource();
    const seen = new Set<string>();
    const changes: RunChanges = { create: [], update: [], replace: [], delete: [] };
    const next = new Map<string, Stored>();
    const fresh = async (args: pulumi.runtime.MockResourceArgs): Promise<pulumi.runtime.MockResourceResult> => {
      if (args.type === WIREGUARD_KEY_PAIR_TYPE) {
        const inputs = unwrapSecrets<Record<string, unknown>>(args.inputs);
        delete inputs.__provider;
        const created = await wireGuardKeyProvider.create(inputs as never);
        return { id: created.id, state: { ...created.outs } };
      }
      const answer = (aws.newResource!(args) as pulumi.runtime.MockResourceResult | undefined) ??
        gcp(args) ?? { id: `${args.name}-id`, state: { ...args.inputs } };
      const state = { ...(answer.state as Record<string, unknown>) };
      // Every new secret version is a new version: its own id / number.
      if (args.type === 'aws:secretsmanager/secretVersion:SecretVersion') {
        this.replacements += 1;
        state.versionId = `${args.name}-v${this.replacements}`;
      }
      if (args.type === 'gcp:secretmanager/secretVersion:SecretVersion') {
        const secret = String(unwrapSecrets(args.inputs.secret));
        const n = (this.versionCounters.get(secret) ?? 0) + 1;
        this.versionCounters.set(secret, n);
        state.name = `${secret}/versions/${n}`;
        state.version = String(n);
        return { id: state.name as string, state };
      }
      return { id: answer.id ?? `${args.name}-id`, state };
    };
    const mocks = setupMocks({
      ...(options.preview !== undefined ? { preview: options.preview } : {}),
      ...(options.project !== undefined ? { project: options.project } : {}),
      ...(options.config !== undefined ? { config: options.config } : {}),
      newResource: async (args) => {
        const key = `${args.type}::${args.name}`;
        if (args.custom === false) return undefined;
        seen.add(key);
        const inputs = { ...args.inputs };
        delete inputs.__provider;
        const prev = this.state.get(key);
        let result: pulumi.runtime.MockResourceResult;
        if (prev === undefined) {
          changes.create.push(key);
          result = await fresh(args);
        } else if (args.type === WIREGUARD_KEY_PAIR_TYPE) {
          const diff = await wireGuardKeyProvider.diff!(prev.id, unwrapSecrets(prev.state), unwrapSecrets(inputs));
          if (diff.replaces?.length) {
            changes.replace.push(key);
            result = await fresh(args);
          } else {
            if (diff.changes) changes.update.push(key);
            result = { id: prev.id, state: { ...prev.state, ...unwrapSecrets<Record<string, unknown>>(inputs) } };
          }
        } else if (stable(prev.inputs) === stable(inputs)) {
          result = { id: prev.id, state: prev.state };
        } else if ((FORCE_NEW[args.type] ?? []).some((p) => stable(prev.inputs[p]) !== stable(inputs[p]))) {
          changes.replace.push(key);
          result = await fresh(args);
        } else {
          changes.update.push(key);
          result = { id: prev.id, state: { ...prev.state, ...inputs } };
        }
        next.set(key, { id: result.id!, inputs, state: result.state as Record<string, unknown> });
        return result;
      },
      call: (args) => aws.call!(args),
    });
    await program();
    await mocks.settle();
    for (const key of this.state.keys()) if (!seen.has(key)) changes.delete.push(key);
    if (!options.preview) this.state = next;
    for (const list of Object.values(changes)) list.sort();
    return { mocks, changes };
  }
}
