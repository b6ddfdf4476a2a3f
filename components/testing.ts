/**
 * Shared helpers for component tests under `pulumi.runtime.setMocks` (no CLI, no plugins).
 *
 * ```ts
 * import { setupMocks, isSecretInput, resolve } from '../../components/testing';
 * const mocks = setupMocks();                       // before constructing resources
 * const key = new WireGuardKey('k');
 * await resolve(key.publicKey);
 * await mocks.settle();                             // every registration has reached the mock
 * const pair = mocks.one('pulumi-nodejs:dynamic/wiremesh:WireGuardKeyPair');
 * expect(pair.parent).toBe(mocks.one('wiremesh:keys:WireGuardKey').urn);
 * ```
 *
 * What the mock monitor does here, beyond echoing inputs as outputs:
 * - records every resource (type, name, inputs, provider, parent, URN, options the engine would see:
 *   additionalSecretOutputs, replaceOnChanges, dependencies...) and every invoke;
 * - applies `additionalSecretOutputs` to the returned state, as the engine does;
 * - runs the dynamic providers it knows (by default {@link wireGuardKeyProvider} for
 *   `WireGuardKeyPair`, {@link wireGuardPresharedKeyProvider} for `WireGuardPresharedKeyValue`)
 *   as the engine would on create, so their outputs exist;
 * - fills `id`, and `arn` for `aws:` resources, unless the test's own `newResource` answers;
 * - throws on an invoke the test did not mock (an unmocked lookup is a test bug).
 *
 * Inputs are deserialized RPC values: a secret input shows as
 * `{ [specialSigKey]: specialSecretSig, value }` (see {@link isSecretInput}, {@link unwrapSecrets}),
 * and Outputs never appear inside inputs (mocks do not support output values).
 */
import * as pulumi from '@pulumi/pulumi';
import { WIREGUARD_KEY_PAIR_TYPE, wireGuardKeyProvider } from './key';
import { WIREGUARD_PRESHARED_KEY_TYPE, wireGuardPresharedKeyProvider } from './preshared-key';

/** One resource registration as the mock monitor received it. */
export interface RecordedResource {
  /** Type token, e.g. `aws:ec2/instance:Instance` or `wiremesh:keys:WireGuardKey`. */
  type: string;
  /** Logical name. */
  name: string;
  /** Deserialized inputs (secrets still wrapped; see {@link unwrapSecrets}). */
  inputs: Record<string, any>;
  /** `"<provider urn>::<provider id>"` when a provider was chosen (explicitly or via a parent). */
  provider?: string;
  /** URN of the parent resource (the stack's URN for top-level resources). */
  parent?: string;
  /** True for custom (provider-managed) resources, false for components. */
  custom: boolean;
  /** The URN the mock assigned; set once the registration completed. */
  urn?: string;
  /** The id the mock returned (custom resources). */
  id?: string;
  /** The state the mock returned (outputs, after additionalSecretOutputs were applied). */
  state?: Record<string, any>;
  /** Import id, when the resource was imported or read. */
  importId?: string;
  additionalSecretOutputs: string[];
  replaceOnChanges: string[];
  ignoreChanges: string[];
  /** URNs this resource depends on (dependsOn and input dependencies). */
  dependencies: string[];
  deleteBeforeReplace: boolean;
  protect: boolean;
}

/** One invoke (function call) as the mock monitor received it. */
export interface RecordedInvoke {
  token: string;
  inputs: Record<string, any>;
  provider?: string;
}

/** Options of {@link setupMocks}. */
export interface SetupMocksOptions {
  /** Project name; default "project". */
  project?: string;
  /** Stack name; default "stack". */
  stack?: string;
  /** Run as a preview (unknowns stay unknown); default false. */
  preview?: boolean;
  /**
   * Answers registrations first; return `undefined` to fall back to the default (echo the inputs,
   * plus `arn` for aws resources and the emulated dynamic providers).
   */
  newResource?(
    args: pulumi.runtime.MockResourceArgs,
  ): pulumi.runtime.MockResourceResult | undefined | Promise<pulumi.runtime.MockResourceResult | undefined>;
  /** Answers invokes; return `undefined` for "not mocked", which throws. */
  call?(
    args: pulumi.runtime.MockCallArgs,
  ): pulumi.runtime.MockCallResult | undefined | Promise<pulumi.runtime.MockCallResult | undefined>;
  /**
   * Dynamic providers to run on create, keyed by dynamic resource type. Default: the
   * WireGuardKeyPair provider of components/key.ts and the WireGuardPresharedKeyValue provider of
   * components/preshared-key.ts. Pass `{}` to echo inputs instead.
   */
  dynamicProviders?: Record<string, pulumi.dynamic.ResourceProvider>;
  /** Stack configuration, e.g. `{ "aws:region": "eu-west-1" }`. */
  config?: Record<string, string>;
  /** Keys of `config` that are secret. */
  secretConfigKeys?: string[];
}

/** What {@link setupMocks} returns: the recordings and lookups over them. */
export interface MockRecorder {
  /** Every resource registration, in order. */
  readonly resources: RecordedResource[];
  /** Every invoke, in order. */
  readonly invokes: RecordedInvoke[];
  /** Resources of one type token. */
  byType(type: string): RecordedResource[];
  /** The one resource of `type` (and `name`, if given); throws unless exactly one matches. */
  one(type: string, name?: string): RecordedResource;
  /** Children of the resource with URN `parentUrn`. */
  childrenOf(parentUrn: string): RecordedResource[];
  /** Resolves once every outstanding registration and invoke has reached the mock. */
  settle(): Promise<void>;
  /** Forgets the recordings (the mocks stay installed). */
  reset(): void;
}

/** True when a deserialized mock input is a secret (`{ [specialSigKey]: specialSecretSig, value }`). */
export function isSecretInput(value: unknown): boolean {
  return (
    typeof value === 'object' &&
    value !== null &&
    (value as Record<string, unknown>)[pulumi.runtime.specialSigKey] === pulumi.runtime.specialSecretSig
  );
}

/** A deserialized mock input with every secret wrapper replaced by its value, recursively. */
export function unwrapSecrets<T = any>(value: unknown): T {
  if (isSecretInput(value)) return unwrapSecrets((value as { value: unknown }).value);
  if (Array.isArray(value)) return value.map((v) => unwrapSecrets(v)) as T;
  if (typeof value === 'object' && value !== null && !Buffer.isBuffer(value)) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, unwrapSecrets(v)])) as T;
  }
  return value as T;
}

/** Wraps a value the way the engine marks a secret in state or inputs. */
function secretWrapper(value: unknown): Record<string, unknown> {
  return { [pulumi.runtime.specialSigKey]: pulumi.runtime.specialSecretSig, value };
}

/**
 * The value of an Input/Output once known; rejects when the Output failed (e.g. an `apply` threw).
 * Under mocks every value is known unless `preview` is set; an unknown value (preview) resolves
 * to `undefined`.
 */
export function resolve<T>(value: pulumi.Input<T>): Promise<T> {
  const output = pulumi.output(value) as unknown as {
    promise?: (withUnknowns?: boolean) => Promise<T>;
    isKnown?: Promise<boolean>;
    isSecret?: Promise<boolean>;
  };
  if (typeof output.promise === 'function') {
    // A failed Output also rejects its isKnown/isSecret promises; the rejection is reported here,
    // so don't let those become unhandled rejections that jest pins on the test.
    output.isKnown?.catch(() => undefined);
    output.isSecret?.catch(() => undefined);
    return output.promise();
  }
  return new Promise<T>((res) => {
    pulumi.output(value).apply((v) => {
      res(v as T);
      return v;
    });
  });
}

/** The value and secretness of an Output (or Input) once known. */
export async function resolveWithSecret<T>(value: pulumi.Input<T>): Promise<{ value: T; secret: boolean }> {
  const output = pulumi.output(value);
  const [v, secret] = await Promise.all([resolve(output), pulumi.isSecret(output)]);
  return { value: v as T, secret };
}

interface RegisterRequestLike {
  getType(): string;
  getName(): string;
  getParent(): string;
  getProvider(): string;
  getCustom(): boolean;
  getImportid(): string;
  getAdditionalsecretoutputsList(): string[];
  getReplaceonchangesList(): string[];
  getIgnorechangesList(): string[];
  getDependenciesList(): string[];
  getDeletebeforereplace(): boolean;
  getProtect?(): boolean;
}

/**
 * Installs `pulumi.runtime.setMocks` with a monitor that records every resource and invoke.
 * Call before constructing resources (e.g. at the top of a test file or in `beforeAll`); each call
 * installs fresh mocks and returns fresh recordings.
 */
export function setupMocks(options: SetupMocksOptions = {}): MockRecorder {
  const resources: RecordedResource[] = [];
  const invokes: RecordedInvoke[] = [];
  const dynamicProviders: Record<string, pulumi.dynamic.ResourceProvider> = options.dynamicProviders ?? {
    [WIREGUARD_KEY_PAIR_TYPE]: wireGuardKeyProvider as pulumi.dynamic.ResourceProvider,
    [WIREGUARD_PRESHARED_KEY_TYPE]: wireGuardPresharedKeyProvider as pulumi.dynamic.ResourceProvider,
  };
  let current: RecordedResource | undefined;

  const mocks: pulumi.runtime.Mocks = {
    async newResource(args) {
      const record = current;
      current = undefined;
      if (record) record.inputs = args.inputs;
      const custom = args.custom ?? record?.custom ?? true;
      let answer = options.newResource ? await options.newResource(args) : undefined;
      if (answer === undefined) {
        const provider = dynamicProviders[args.type];
        if (provider && !args.id) {
          const inputs = unwrapSecrets<Record<string, unknown>>(args.inputs);
          delete inputs.__provider;
          const created = await provider.create(inputs);
          answer = { id: created.id, state: { ...(created.outs ?? {}) } };
        } else {
          const state: Record<string, any> = { ...args.inputs };
          if (custom && args.type.startsWith('aws:') && state.arn === undefined) {
            state.arn = `arn:aws:mock:us-east-1:123456789012:${args.type.split(':')[1] ?? 'resource'}/${args.name}`;
          }
          answer = { id: custom ? args.id || `${args.name}-id` : undefined, state };
        }
      }
      const state = { ...answer.state };
      for (const key of record?.additionalSecretOutputs ?? []) {
        if (key in state && !isSecretInput(state[key])) state[key] = secretWrapper(state[key]);
      }
      if (record) {
        record.state = state;
        if (answer.id !== undefined) record.id = answer.id;
      }
      return { id: answer.id, state };
    },
    async call(args) {
      invokes.push({ token: args.token, inputs: args.inputs, provider: args.provider });
      const answer = options.call ? await options.call(args) : undefined;
      if (answer === undefined) throw new Error(`setupMocks: invoke ${args.token} is not mocked (pass options.call)`);
      return answer;
    },
  };

  pulumi.runtime.setMocks(mocks, options.project ?? 'project', options.stack ?? 'stack', options.preview ?? false);
  if (options.config) pulumi.runtime.setAllConfig(options.config, options.secretConfigKeys);

  // The mock's newResource does not see the parent or the resource options: wrap the monitor's
  // registerResource to read them from the request (newResource is called synchronously from it).
  const monitor = pulumi.runtime.getMonitor() as unknown as {
    registerResource(
      req: RegisterRequestLike,
      callback: (err: unknown, response?: { getUrn(): string }) => void,
    ): Promise<void>;
  };
  const registerResource = monitor.registerResource.bind(monitor);
  monitor.registerResource = (req, callback) => {
    const record: RecordedResource = {
      type: req.getType(),
      name: req.getName(),
      inputs: {},
      custom: req.getCustom(),
      additionalSecretOutputs: req.getAdditionalsecretoutputsList(),
      replaceOnChanges: req.getReplaceonchangesList(),
      ignoreChanges: req.getIgnorechangesList(),
      dependencies: req.getDependenciesList(),
      deleteBeforeReplace: req.getDeletebeforereplace(),
      protect: req.getProtect?.() ?? false,
    };
    if (req.getParent()) record.parent = req.getParent();
    if (req.getProvider()) record.provider = req.getProvider();
    if (req.getImportid()) record.importId = req.getImportid();
    resources.push(record);
    current = record;
    return registerResource(req, (err, response) => {
      if (!err && response) record.urn = response.getUrn();
      callback(err, response);
    });
  };
  return {
    resources,
    invokes,
    byType: (type) => resources.filter((r) => r.type === type),
    one(type, name) {
      const found = resources.filter((r) => r.type === type && (name === undefined || r.name === name));
      if (found.length !== 1) {
        throw new Error(
          `expected one ${type}${name ? ` named ${name}` : ''}, found ${found.length}: ${resources.map((r) => `${r.type}::${r.name}`).join(', ')}`,
        );
      }
      return found[0]!;
    },
    childrenOf: (parentUrn) => resources.filter((r) => r.parent === parentUrn),
    settle: () => (pulumi.runtime as unknown as { waitForRPCs(): Promise<void> }).waitForRPCs(),
    reset() {
      resources.length = 0;
      invokes.length = 0;
    },
  };
}
