/**
 * The health gate of a rolling replacement: `HealthGate` (a `pulumi.dynamic.Resource` of type
 * `pulumi-nodejs:dynamic/wiremesh:HealthGate`) whose create and update return only once one gateway
 * instance serves, or fail after `timeoutSeconds` with an error naming the instance. The next
 * instance of the gateway depends on the gate, so the engine replaces it only when the previous
 * replacement serves, not merely when it is running (aws/instances.ts, gcp/instances.ts).
 *
 * What "serves" means, per check:
 * - `aws-target-health`: ELBv2 DescribeTargetHealth of the instance's target in the group's target
 *   group is `healthy`; with `standbyAnswers`, a standby's answer counts too: the target group of a
 *   failover group asks `GET /active`, which a standby agent answers 503, reported as
 *   `unhealthy` / `Target.ResponseCodeMismatch` (the agent is up and answering, it only does not hold
 *   the routes). A timeout or a refused connection is never serving, and an agent that is not
 *   running yet (starting, or refused its key) closes `/active` checks without an answer, so it is
 *   never taken for a standby.
 * - `aws-instance-status`: EC2 DescribeInstanceStatus: running, instance and system status checks `ok`
 *   (for instances that are no load balancer target; needs only `ec2:DescribeInstanceStatus`).
 * - `gcp-backend-health`: the backend service's getHealth for the instance's group reports that
 *   instance `HEALTHY` (the load balancer's own health check of the agent's health port).
 *
 * The provider runs in the engine's dynamic-provider host from its closure-serialized text, not from
 * this file: it captures only the function declarations below and loads the cloud SDKs with
 * `require` when it runs (nothing of this repository, so nothing here may import local modules for
 * the provider's use). Credentials are the deployer's: the AWS SDK's default chain (`AWS_PROFILE`,
 * environment, SSO...) and GCP Application Default Credentials, as the Pulumi providers use by
 * default. No credential or answer body is ever in a message: errors carry the service's error
 * name, status and message only.
 */
import * as pulumi from '@pulumi/pulumi';

/** The dynamic resource type of a health gate. */
export const HEALTH_GATE_TYPE = 'pulumi-nodejs:dynamic/wiremesh:HealthGate';

/** How the gate tells that its instance serves. `endpoint` overrides the service's (a VPC endpoint, a local fake). */
export type HealthCheck =
  | {
      kind: 'aws-target-health';
      region: string;
      instanceId: string;
      targetGroupArn: string;
      port: number;
      standbyAnswers: boolean;
      endpoint?: string;
    }
  | { kind: 'aws-instance-status'; region: string; instanceId: string; endpoint?: string }
  | {
      kind: 'gcp-backend-health';
      /** The backend service's self link (`.../projects/P/regions/R/backendServices/B`). */
      backendService: string;
      /** The instance group's self link (the `group` of the getHealth request). */
      instanceGroup: string;
      /** The instance's self link, as getHealth names it. */
      instance: string;
      /** Its numeric id: new for every VM, also one replaced under the same name. */
      instanceId: string;
      endpoint?: string;
    };

/** Inputs of a gate (plain values; no secrets). */
export interface HealthGateInputs {
  /** The instance's logical name (e.g. `site-a-gateway-instance-1`), for messages. */
  label: string;
  check: HealthCheck;
  /** How long create/update wait at most; default {@link DEFAULT_GATE_TIMEOUT_SECONDS}. */
  timeoutSeconds: number;
  /** Seconds between observations. */
  pollSeconds: number;
}

/** State of a gate: its inputs and when the instance was first seen serving. */
export interface HealthGateOutputs extends HealthGateInputs {
  servingAt: string;
}

/** Time to boot a VM, install Node.js and the agent, and pass two health checks; generous on purpose. */
export const DEFAULT_GATE_TIMEOUT_SECONDS = 900;
export const DEFAULT_GATE_POLL_SECONDS = 10;

/** One look at the instance: serving or not, what was seen (for the timeout message), and whether waiting is pointless. */
export interface Observation {
  serving: boolean;
  seen: string;
  final?: boolean;
}

/** DescribeTargetHealth's answer for one target (pure). */
export function targetHealthObservation(
  health: { State?: string; Reason?: string; Description?: string } | undefined,
  standbyAnswers: boolean,
): Observation {
  const state = health?.State ?? 'no answer';
  const seen = `target ${state}${health?.Reason ? ` (${health.Reason})` : ''}`;
  if (state === 'healthy') return { serving: true, seen };
  // A standby's 503 to GET /active: its agent answers, it just does not hold the routes.
  return { serving: standbyAnswers && state === 'unhealthy' && health?.Reason === 'Target.ResponseCodeMismatch', seen };
}

/** DescribeInstanceStatus's answer for one instance (pure); a stopped or terminated instance never serves. */
export function instanceStatusObservation(
  status:
    | { InstanceState?: { Name?: string }; InstanceStatus?: { Status?: string }; SystemStatus?: { Status?: string } }
    | undefined,
): Observation {
  const state = status?.InstanceState?.Name ?? 'not reported yet';
  const instance = status?.InstanceStatus?.Status ?? 'unknown';
  const system = status?.SystemStatus?.Status ?? 'unknown';
  const seen = `instance ${state}, instance status ${instance}, system status ${system}`;
  const final = ['shutting-down', 'terminated', 'stopping', 'stopped'].includes(state);
  return { serving: state === 'running' && instance === 'ok' && system === 'ok', seen, final };
}

/** A backend service's getHealth answer, for one instance (pure). */
export function backendHealthObservation(
  answer: { healthStatus?: Array<{ instance?: string; healthState?: string }> } | undefined,
  instance: string,
): Observation {
  const entry = answer?.healthStatus?.find((status) => sameSelfLink(status.instance, instance));
  const state = entry?.healthState ?? 'not reported';
  return { serving: state === 'HEALTHY', seen: `backend ${state}` };
}

/** Self links compare by their path from `projects/` (the API host and version may differ). */
function sameSelfLink(a: string | undefined, b: string): boolean {
  const tail = (link: string) => link.slice(Math.max(0, link.indexOf('projects/')));
  return a !== undefined && tail(a) === tail(b);
}

/**
 * An error after which waiting cannot help (denied, unknown target group, no SDK). A marked Error,
 * not a subclass: the closure serializer rewrites classes as functions, and a serialized subclass
 * of Error loses its message.
 */
function permanentGateError(message: string): Error {
  return Object.assign(new Error(message), { permanentGate: true });
}

function isPermanentGateError(error: unknown): boolean {
  return (error as { permanentGate?: boolean } | null)?.permanentGate === true;
}

/** The error names of AWS answers that the same call will keep getting. */
const PERMANENT_AWS_ERRORS = [
  'AccessDenied',
  'AccessDeniedException',
  'UnauthorizedOperation',
  'AuthFailure',
  'InvalidClientTokenId',
  'UnrecognizedClientException',
  'SignatureDoesNotMatch',
  'TargetGroupNotFound',
  'TargetGroupNotFoundException',
];

/** What an SDK error says, without its request or response (which carry signed headers). */
function errorSummary(error: unknown): string {
  const e = error as { name?: string; message?: string; $metadata?: { httpStatusCode?: number }; status?: number };
  const status = e.$metadata?.httpStatusCode ?? e.status;
  const message = String(e.message ?? error).slice(0, 300);
  return `${e.name ?? 'Error'}${status !== undefined ? ` (HTTP ${status})` : ''}: ${message}`;
}

/**
 * A cloud SDK module, or a permanent error naming the package when the deploying program does not
 * have it (the ELBv2 client is an optional peer dependency: only deployers of AWS groups need it).
 */
function loadSdk<T>(packageName: string, load: () => T): T {
  try {
    return load();
  } catch (error) {
    if ((error as { code?: string }).code !== 'MODULE_NOT_FOUND') throw error;
    throw permanentGateError(`${packageName} is not installed beside the Pulumi program: npm install ${packageName}`);
  }
}

/** One request through an AWS SDK client made for it, destroyed afterwards (its sockets closed). */
async function sendOnce<Client extends { destroy(): void }, Answer>(
  client: Client,
  send: (client: Client) => Promise<Answer>,
): Promise<Answer> {
  try {
    return await send(client);
  } finally {
    client.destroy();
  }
}

/** AWS SDK client options of one gate request: one attempt, within the gate's request timeout. */
function awsClientOptions(check: { region: string; endpoint?: string }, requestTimeoutMs: number) {
  const requestHandler = { connectionTimeout: requestTimeoutMs, requestTimeout: requestTimeoutMs };
  return { region: check.region, endpoint: check.endpoint, maxAttempts: 1, requestHandler };
}

/** Asks the cloud once how the instance is doing. */
async function observe(check: HealthCheck, requestTimeoutMs: number): Promise<Observation> {
  try {
    if (check.kind === 'aws-target-health') {
      const elb = loadSdk(
        '@aws-sdk/client-elastic-load-balancing-v2',
        () =>
          require('@aws-sdk/client-elastic-load-balancing-v2') as typeof import('@aws-sdk/client-elastic-load-balancing-v2'),
      );
      const client = new elb.ElasticLoadBalancingV2Client(awsClientOptions(check, requestTimeoutMs));
      const answer = await sendOnce(client, (c) =>
        c.send(
          new elb.DescribeTargetHealthCommand({
            TargetGroupArn: check.targetGroupArn,
            Targets: [{ Id: check.instanceId, Port: check.port }],
          }),
        ),
      );
      return targetHealthObservation(answer.TargetHealthDescriptions?.[0]?.TargetHealth, check.standbyAnswers);
    }
    if (check.kind === 'aws-instance-status') {
      const ec2 = require('@aws-sdk/client-ec2') as typeof import('@aws-sdk/client-ec2');
      const client = new ec2.EC2Client(awsClientOptions(check, requestTimeoutMs));
      const answer = await sendOnce(client, (c) =>
        c.send(new ec2.DescribeInstanceStatusCommand({ InstanceIds: [check.instanceId], IncludeAllInstances: true })),
      );
      return instanceStatusObservation(answer.InstanceStatuses?.[0]);
    }
    const { GoogleAuth } = require('google-auth-library') as typeof import('google-auth-library');
    const auth = new GoogleAuth({ scopes: ['https://www.googleapis.com/auth/compute.readonly'] });
    const path = check.backendService.slice(check.backendService.indexOf('projects/'));
    const answer = await auth.request<{ healthStatus?: Array<{ instance?: string; healthState?: string }> }>({
      url: `${check.endpoint ?? 'https://compute.googleapis.com'}/compute/v1/${path}/getHealth`,
      method: 'POST',
      data: { group: check.instanceGroup },
      timeout: requestTimeoutMs,
      retry: false,
    });
    return backendHealthObservation(answer.data, check.instance);
  } catch (error) {
    if (isPermanentGateError(error)) throw error;
    const summary = errorSummary(error);
    const name = (error as { name?: string }).name ?? '';
    const status = (error as { status?: number }).status;
    if (PERMANENT_AWS_ERRORS.includes(name) || status === 401 || status === 403) throw permanentGateError(summary);
    return { serving: false, seen: summary };
  }
}

/** What the gate waits for, in words. */
function gateSubject(inputs: HealthGateInputs): string {
  const { check } = inputs;
  if (check.kind === 'aws-target-health')
    return `instance ${check.instanceId} (${inputs.label}) as target of ${check.targetGroupArn} on port ${check.port}`;
  if (check.kind === 'aws-instance-status') return `instance ${check.instanceId} (${inputs.label})`;
  return `instance ${check.instance} (${inputs.label}) in ${check.backendService}`;
}

/**
 * Observes every `pollSeconds` until the instance serves; throws once `timeoutSeconds` have passed,
 * or at once on a denied call or a stopped instance. Returns when it was first seen serving.
 */
async function waitUntilServing(inputs: HealthGateInputs): Promise<string> {
  const startedAt = Date.now();
  const deadline = startedAt + inputs.timeoutSeconds * 1000;
  const pollMs = inputs.pollSeconds * 1000;
  const requestTimeoutMs = Math.max(1000, Math.min(10_000, inputs.timeoutSeconds * 1000));
  const stop = (why: string) =>
    new Error(
      `wiremesh health gate: ${gateSubject(inputs)} ${why}. The rolling replacement stops here: the instances after it are not replaced. ` +
        `Look at the instance's agent (journalctl -u wiremesh-agent, cloud-init-output.log), then run pulumi up again.`,
    );
  for (;;) {
    let seen: Observation;
    try {
      seen = await observe(inputs.check, requestTimeoutMs);
    } catch (error) {
      throw stop(`cannot be checked: ${(error as Error).message}`);
    }
    if (seen.serving) return new Date().toISOString();
    if (seen.final) throw stop(`will not serve: ${seen.seen}`);
    const left = deadline - Date.now();
    if (left <= 0) throw stop(`did not serve within ${inputs.timeoutSeconds} s (last seen: ${seen.seen})`);
    await new Promise((resolve) => setTimeout(resolve, Math.min(pollMs, left)));
  }
}

/** What identifies the gated instance: a change of it replaces the gate (a new instance to wait for). */
function gatedInstance(check: HealthCheck): string {
  return check.kind === 'gcp-backend-health' ? `${check.instance}#${check.instanceId}` : check.instanceId;
}

/**
 * The gate's provider: create and update wait until the instance serves; a new instance (a replaced
 * one) replaces the gate; delete has nothing to undo. Exported for tests.
 */
export const healthGateProvider: pulumi.dynamic.ResourceProvider<HealthGateInputs, HealthGateOutputs> = {
  async create(inputs: HealthGateInputs) {
    const servingAt = await waitUntilServing(inputs);
    const instance = inputs.check.kind === 'gcp-backend-health' ? inputs.check.instance : inputs.check.instanceId;
    return { id: `health-gate-${instance.split('/').pop()}`, outs: { ...inputs, servingAt } };
  },
  async diff(_id: string, olds: HealthGateOutputs, news: HealthGateInputs) {
    if (gatedInstance(olds.check) !== gatedInstance(news.check)) return { changes: true, replaces: ['check'] };
    const changes =
      JSON.stringify([olds.check, olds.timeoutSeconds, olds.pollSeconds, olds.label]) !==
      JSON.stringify([news.check, news.timeoutSeconds, news.pollSeconds, news.label]);
    return { changes };
  },
  async update(_id: string, _olds: HealthGateOutputs, news: HealthGateInputs) {
    return { outs: { ...news, servingAt: await waitUntilServing(news) } };
  },
};

/** Arguments of {@link HealthGate}: the check's values may be Outputs (the instance's id). */
export interface HealthGateArgs {
  label: string;
  check: pulumi.Input<HealthCheck>;
  timeoutSeconds?: number;
  pollSeconds?: number;
}

/** Waits, on create and update, until one instance serves (see the file header). */
export class HealthGate extends pulumi.dynamic.Resource {
  declare public readonly servingAt: pulumi.Output<string>;

  constructor(name: string, args: HealthGateArgs, opts: pulumi.CustomResourceOptions) {
    super(
      healthGateProvider,
      name,
      {
        label: args.label,
        check: args.check,
        timeoutSeconds: args.timeoutSeconds ?? DEFAULT_GATE_TIMEOUT_SECONDS,
        pollSeconds: args.pollSeconds ?? DEFAULT_GATE_POLL_SECONDS,
        servingAt: undefined,
      },
      opts,
      'wiremesh',
      'HealthGate',
    );
  }
}
