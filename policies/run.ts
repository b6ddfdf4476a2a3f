/**
 * The offline policy runner: runs the wiremesh pack's resource and stack policies over a list of
 * resources, without the Pulumi engine, the CLI or a gRPC server. For unit tests of stacks.
 *
 * ```ts
 * import { runPolicies, fromRecordedResources } from 'wiremesh/policies/run';   // dist/policies/run.js
 * import { setupMocks } from 'wiremesh/components/testing';
 *
 * const mocks = setupMocks(awsMockOptions());
 * new AwsGateway('site-a', { ... });
 * await mocks.settle();
 * const violations = runPolicies(fromRecordedResources(mocks.resources), { now: new Date('2026-01-01') });
 * expect(violations.filter((v) => v.enforcementLevel === 'mandatory')).toEqual([]);
 * ```
 *
 * What it does, as the analyzer server (`@pulumi/policy/server.js`) does:
 * - props are converted exactly as the server converts what the engine sends
 *   (`deserializeProperties` with secrets unwrapped) and wrapped in the same unknown-checking proxy,
 *   so secret-wrapped mock inputs work as they are, and a prop equal to
 *   `pulumi.runtime.unknownValue` behaves as a preview unknown: a resource policy that reads it gives
 *   an advisory "can't run policy ... during preview" violation, as the engine shows;
 * - top-level props starting with `__` are dropped (the engine's `SkipInternalKeys`);
 * - enforcement levels and config come from `options.config`, in the form of a Pulumi policy pack
 *   config (`{ "wiremesh-key-rotation": { enforcementLevel: "advisory", maxAgeDays: 30 } }`, a level
 *   alone, or `all`); disabled policies do not run; `remediate` counts as `mandatory`;
 * - `options.now` sets the clock of every policy that has a `now` parameter (key rotation);
 * - resource policies run on every resource (components included, as the engine analyzes every
 *   registration), stack policies once over all of them, with `parent` linked.
 *
 * Differences from the engine: resource policies see `props` for both inputs and outputs (feed the
 * outputs/state, which under our mocks are the inputs plus computed ids and ARNs); policies must be
 * synchronous (the wiremesh ones are); a resource without `urn` gets one built from its `parent`
 * chain (`parent` may be a URN or the `name` of another resource in the list).
 */
import type { Policies, PolicyResource, ResourceValidationArgs, StackValidationArgs } from '@pulumi/policy';
import { policies as wiremeshPolicies } from './policies';

// Internal modules of @pulumi/policy whose typings are stripped: the server's own conversions.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { deserializeProperties } = require('@pulumi/policy/deserialize') as {
  deserializeProperties(struct: unknown, proxySecrets: boolean): Record<string, unknown>;
};
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { unknownCheckingProxy, UnknownValueError } = require('@pulumi/policy/proxy') as {
  unknownCheckingProxy<T>(value: T): T;
  UnknownValueError: new (...args: any[]) => Error;
};
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { Struct } = require('google-protobuf/google/protobuf/struct_pb') as {
  Struct: { fromJavaScript(value: Record<string, unknown>): unknown };
};

/** One resource for {@link runPolicies}. */
export interface RunnerResource {
  /** Type token, e.g. `aws:ec2/instance:Instance`. */
  type: string;
  /** Logical name. */
  name: string;
  /** The URN; built from the parent chain when absent. */
  urn?: string;
  /** Inputs or outputs; secret wrappers (`{ [sigKey]: secretSig, value }`) are unwrapped as the engine does. */
  props: Record<string, unknown>;
  /** The parent's URN, or its `name` in the same list. */
  parent?: string;
  /**
   * Per prop, the resources (URNs or names in the same list) its value comes from, as the engine
   * reports them to stack policies: how a reference is followed at preview, when ids are unknown.
   */
  propertyDependencies?: Record<string, string[]>;
}

export type Level = 'advisory' | 'mandatory';

/** One reported violation. */
export interface Violation {
  /** The policy that reported it, e.g. `wiremesh-key-rotation`. */
  policyName: string;
  /** `mandatory` fails a `pulumi up`; `advisory` is a warning. */
  enforcementLevel: Level;
  /** What is wrong and what to change. */
  message: string;
  /** The policy's description (the engine prints it above the message). */
  description: string;
  severity?: string;
  /** The resource it is about (resource policies: always; stack policies: when they name one). */
  urn?: string;
  resourceName?: string;
  resourceType?: string;
}

/** Options of {@link runPolicies}. */
export interface RunOptions {
  /** Policy pack config, as in `pulumi config` / `--policy-pack-config`: per policy name, a level or `{ enforcementLevel?, ...params }`; `all` sets every level. */
  config?: Record<string, unknown>;
  /** The clock of the key-age checks (the `now` parameter). Default: the real clock. */
  now?: Date;
  /** Policies to run; default the wiremesh pack. */
  policies?: Policies;
  /** Stack and project names for built URNs; default "stack" and "project". */
  stack?: string;
  project?: string;
}

class NotApplicable extends Error {}

const LEVELS = ['advisory', 'mandatory', 'remediate', 'disabled'];

function levelOf(value: unknown): string | undefined {
  if (typeof value === 'string' && LEVELS.includes(value)) return value;
  const level = (value as { enforcementLevel?: unknown } | undefined)?.enforcementLevel;
  return typeof level === 'string' && LEVELS.includes(level) ? level : undefined;
}

/** The engine's conversion of one resource's properties. */
function convertProps(props: Record<string, unknown>): Record<string, unknown> {
  const plain: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(props ?? {})) {
    if (key.startsWith('__') || value === undefined) continue;
    plain[key] = value;
  }
  const json = JSON.parse(JSON.stringify(plain)) as Record<string, unknown>;
  return unknownCheckingProxy(deserializeProperties(Struct.fromJavaScript(json), false));
}

/** Builds URNs for resources given without one, from their parent chains. */
function withUrns(
  resources: RunnerResource[],
  stack: string,
  project: string,
): Array<RunnerResource & { urn: string }> {
  const byName = new Map(resources.map((r) => [r.name, r]));
  const urns = new Map<RunnerResource, string>();
  const urnOf = (r: RunnerResource, seen: Set<RunnerResource>): string => {
    if (r.urn) return r.urn;
    const known = urns.get(r);
    if (known) return known;
    if (seen.has(r)) throw new Error(`runPolicies: the parent chain of "${r.name}" is a cycle`);
    seen.add(r);
    let chain = r.type;
    const parent = r.parent?.startsWith('urn:pulumi:')
      ? undefined
      : r.parent !== undefined
        ? byName.get(r.parent)
        : undefined;
    const parentUrn = parent ? urnOf(parent, seen) : r.parent?.startsWith('urn:pulumi:') ? r.parent : undefined;
    if (parentUrn) {
      const qualified = parentUrn.slice('urn:pulumi:'.length).split('::')[2];
      if (qualified && !qualified.endsWith('pulumi:pulumi:Stack')) chain = `${qualified}$${r.type}`;
    }
    const urn = `urn:pulumi:${stack}::${project}::${chain}::${r.name}`;
    urns.set(r, urn);
    return urn;
  };
  return resources.map((r) => ({ ...r, urn: urnOf(r, new Set()) }));
}

/**
 * Runs the pack's resource and stack policies over `resources` and returns every violation
 * (nothing for a compliant stack). Synchronous; throws when a policy itself fails.
 */
export function runPolicies(resources: RunnerResource[], options: RunOptions = {}): Violation[] {
  const policies = options.policies ?? wiremeshPolicies;
  const config = options.config ?? {};
  const all = levelOf(config.all);
  const list = withUrns(resources, options.stack ?? 'stack', options.project ?? 'project');
  const converted = list.map((r) => ({ resource: r, props: convertProps(r.props) }));
  const byUrn = new Map(list.map((r) => [r.urn, r]));
  const violations: Violation[] = [];

  for (const policy of policies) {
    const given = config[policy.name];
    let level = levelOf(given) ?? all ?? policy.enforcementLevel ?? 'advisory';
    if (level === 'disabled') continue;
    if (level === 'remediate') level = 'mandatory';
    const params: Record<string, unknown> =
      typeof given === 'object' && given !== null ? { ...(given as Record<string, unknown>) } : {};
    delete params.enforcementLevel;
    if (options.now && params.now === undefined && policy.configSchema?.properties?.now)
      params.now = options.now.toISOString();
    const getConfig = <T extends object>() => params as T;
    const notApplicable = (reason?: string): never => {
      throw new NotApplicable(reason);
    };
    const makeReport =
      (defaultUrn: string | undefined) =>
      (message: unknown, urn?: string): void => {
        let text: string;
        let vLevel = level as Level;
        let vUrn = urn ?? defaultUrn;
        if (typeof message === 'object' && message !== null) {
          const info = message as { message?: string; enforcementLevel?: string; urn?: string };
          text = info.message ?? policy.description;
          if (text.startsWith(`${policy.description}\n`)) text = text.slice(policy.description.length + 1);
          if (info.enforcementLevel === 'advisory' || info.enforcementLevel === 'mandatory')
            vLevel = info.enforcementLevel;
          vUrn = info.urn ?? vUrn;
        } else {
          text = String(message ?? '');
        }
        const target = vUrn ? byUrn.get(vUrn) : undefined;
        violations.push({
          policyName: policy.name,
          enforcementLevel: vLevel,
          message: text,
          description: policy.description,
          ...(policy.severity ? { severity: policy.severity } : {}),
          ...(vUrn ? { urn: vUrn } : {}),
          ...(target ? { resourceName: target.name, resourceType: target.type } : {}),
        });
      };
    const run = (fn: () => unknown, defaultUrn: string | undefined): void => {
      try {
        const result = fn();
        if (result && typeof (result as { then?: unknown }).then === 'function') {
          throw new Error(
            `runPolicies: policy ${policy.name} returned a promise; the runner runs synchronous policies only`,
          );
        }
      } catch (error) {
        if (error instanceof NotApplicable) return;
        if (error instanceof UnknownValueError) {
          violations.push({
            policyName: policy.name,
            enforcementLevel: 'advisory',
            message: `can't run policy '${policy.name}' during preview: ${(error as Error).message}`,
            description: policy.description,
            ...(defaultUrn ? { urn: defaultUrn } : {}),
          });
          return;
        }
        throw new Error(
          `runPolicies: policy ${policy.name} failed${defaultUrn ? ` on ${defaultUrn}` : ''}: ${(error as Error).stack ?? String(error)}`,
        );
      }
    };

    if ('validateResource' in policy && policy.validateResource) {
      const validations = Array.isArray(policy.validateResource) ? policy.validateResource : [policy.validateResource];
      for (const { resource, props } of converted) {
        const args: ResourceValidationArgs = {
          type: resource.type,
          props,
          urn: resource.urn,
          name: resource.name,
          opts: {
            protect: false,
            ignoreChanges: [],
            aliases: [],
            customTimeouts: { createSeconds: 0, updateSeconds: 0, deleteSeconds: 0 },
            additionalSecretOutputs: [],
          },
          stackTags: new Map(),
          isType: (cls: unknown) => (cls as { __pulumiType?: string }).__pulumiType === resource.type,
          asType: ((cls: unknown) =>
            (cls as { __pulumiType?: string }).__pulumiType === resource.type
              ? props
              : undefined) as ResourceValidationArgs['asType'],
          getConfig,
          notApplicable,
        };
        if (resource.parent)
          args.opts.parent =
            byUrn.get(resource.parent)?.urn ?? list.find((r) => r.name === resource.parent)?.urn ?? resource.parent;
        for (const validation of validations) run(() => validation(args, makeReport(resource.urn)), resource.urn);
      }
    }
    if ('validateStack' in policy && policy.validateStack) {
      const stackResources: PolicyResource[] = converted.map(({ resource, props }) => ({
        type: resource.type,
        props,
        urn: resource.urn,
        name: resource.name,
        opts: {
          protect: false,
          ignoreChanges: [],
          aliases: [],
          customTimeouts: { createSeconds: 0, updateSeconds: 0, deleteSeconds: 0 },
          additionalSecretOutputs: [],
        },
        dependencies: [],
        propertyDependencies: {},
        isType: (cls: unknown) => (cls as { __pulumiType?: string }).__pulumiType === resource.type,
        asType: ((cls: unknown) =>
          (cls as { __pulumiType?: string }).__pulumiType === resource.type
            ? props
            : undefined) as PolicyResource['asType'],
      }));
      const find = (ref: string) =>
        stackResources.find((p) => p.urn === ref) ?? stackResources.find((p) => p.name === ref);
      stackResources.forEach((r, i) => {
        const parentRef = list[i]!.parent;
        const parent = parentRef === undefined ? undefined : find(parentRef);
        if (parent) r.parent = parent;
        for (const [prop, refs] of Object.entries(list[i]!.propertyDependencies ?? {})) {
          r.propertyDependencies[prop] = refs.map(find).filter((d): d is PolicyResource => d !== undefined);
          r.dependencies.push(...r.propertyDependencies[prop]!.filter((d) => !r.dependencies.includes(d)));
        }
      });
      const args: StackValidationArgs = { resources: stackResources, getConfig, stackTags: new Map(), notApplicable };
      const validateStack = policy.validateStack;
      run(() => validateStack(args, makeReport(undefined)), undefined);
    }
  }
  return violations;
}

/** A resource as `components/testing.ts` `setupMocks` records it (structurally). */
export interface RecordedResourceLike {
  type: string;
  name: string;
  urn?: string;
  parent?: string;
  custom: boolean;
  id?: string;
  inputs: Record<string, unknown>;
  state?: Record<string, unknown>;
}

/**
 * Runner resources from a mock recording: each resource's returned state (its inputs plus what the
 * mock computed: ids, ARNs, dynamic provider outputs), or its inputs with `use: "inputs"`, and
 * `id` for custom resources. Registrations that never completed (no URN) are left out.
 *
 * URNs are rewritten into the engine's form: the mock monitor puts only the parent's own type
 * before `$`, the engine the parent's whole qualified type (`A$B$C`), which is what lets policies
 * see every ancestor component in a URN.
 */
export function fromRecordedResources(
  records: readonly RecordedResourceLike[],
  options: { use?: 'state' | 'inputs' } = {},
): RunnerResource[] {
  const done = records.filter((r) => r.urn !== undefined);
  const byUrn = new Map(done.map((r) => [r.urn!, r]));
  const engineUrns = new Map<string, string>();
  const engineUrn = (r: RecordedResourceLike, depth = 0): string => {
    const cached = engineUrns.get(r.urn!);
    if (cached) return cached;
    const parent = r.parent !== undefined ? byUrn.get(r.parent) : undefined;
    let urn = r.urn!;
    if (parent && depth < 64) {
      const [head, rest] = [
        urn.slice(0, urn.indexOf('::', urn.indexOf('::') + 2) + 2),
        urn.slice(urn.indexOf('::', urn.indexOf('::') + 2) + 2),
      ];
      const name = rest.slice(rest.indexOf('::') + 2);
      const parentQualified = engineUrn(parent, depth + 1)
        .slice(head.length)
        .split('::')[0]!;
      urn = `${head}${parentQualified}$${r.type}::${name}`;
    }
    engineUrns.set(r.urn!, urn);
    return urn;
  };
  return done.map((r) => {
    const props: Record<string, unknown> = { ...(options.use === 'inputs' ? r.inputs : (r.state ?? r.inputs)) };
    if (r.custom && r.id !== undefined && props.id === undefined) props.id = r.id;
    const parent =
      r.parent !== undefined ? (byUrn.has(r.parent) ? engineUrn(byUrn.get(r.parent)!) : r.parent) : undefined;
    return { type: r.type, name: r.name, urn: engineUrn(r), props, ...(parent ? { parent } : {}) };
  });
}

/** Only the violations at `mandatory` level (what would fail a `pulumi up`). */
export function mandatory(violations: Violation[]): Violation[] {
  return violations.filter((v) => v.enforcementLevel === 'mandatory');
}
