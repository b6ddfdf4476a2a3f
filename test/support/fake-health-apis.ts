/**
 * Loopback fakes of the calls a rolling replacement's health gate makes (components/health-gate.ts):
 * ELBv2 DescribeTargetHealth and EC2 DescribeInstanceStatus (AWS Query protocol, XML answers, one
 * server: the Action names the call) and GCP Compute regionBackendServices.getHealth (REST, bearer
 * token of the fake metadata server). Each answers from a script per instance: the next state on
 * every call, the last one repeated, so a test says "initial, initial, healthy".
 */
import type { ServerResponse } from 'node:http';
import { FAKE_ACCESS_TOKEN } from './fake-gcp';
import { startLoopbackServer, sendJson, type LoopbackServer } from './fake-aws';

export const FAKE_DEPLOYER = {
  accessKeyId: 'AKIAFAKEDEPLOYERKEY0',
  secretAccessKey: 'fake-deployer-secret-key-never-printed',
  sessionToken: 'fake-deployer-session-token-never-printed',
};

/** One target health, one instance status, or a service error that answers instead. */
export type TargetState = { State: string; Reason?: string } | { error: string; status: number };
export type InstanceState =
  { state: string; instanceStatus?: string; systemStatus?: string } | { error: string; status: number };

export interface FakeAwsHealthApis extends LoopbackServer {
  /** The target states of one instance, answered in turn (the last repeated). */
  scriptTarget(instanceId: string, states: TargetState[]): void;
  scriptInstance(instanceId: string, states: InstanceState[]): void;
  /** The Action of every request, in order. */
  actions(): string[];
}

function next<T>(scripts: Map<string, T[]>, key: string): T | undefined {
  const states = scripts.get(key);
  if (states === undefined || states.length === 0) return undefined;
  return states.length > 1 ? states.shift() : states[0];
}

function sendXml(response: ServerResponse, status: number, body: string): void {
  response.writeHead(status, { 'content-type': 'text/xml' });
  response.end(`<?xml version="1.0" encoding="UTF-8"?>\n${body}`);
}

const ELB_XMLNS = 'http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/';
const EC2_XMLNS = 'http://ec2.amazonaws.com/doc/2016-11-15/';

/** Only requests signed (SigV4) with the deployer's access key are answered; others get AuthFailure. */
export async function startFakeAwsHealthApis(): Promise<FakeAwsHealthApis> {
  const targets = new Map<string, TargetState[]>();
  const instances = new Map<string, InstanceState[]>();
  const server = await startLoopbackServer((request, response) => {
    const params = new URLSearchParams(request.body);
    const action = params.get('Action');
    const auth = request.headers.authorization ?? '';
    const elb = action === 'DescribeTargetHealth';
    const error = (code: string, status: number) =>
      elb
        ? sendXml(
            response,
            status,
            `<ErrorResponse xmlns="${ELB_XMLNS}"><Error><Type>Sender</Type><Code>${code}</Code><Message>fake ${code}</Message></Error><RequestId>r-1</RequestId></ErrorResponse>`,
          )
        : sendXml(
            response,
            status,
            `<Response><Errors><Error><Code>${code}</Code><Message>fake ${code}</Message></Error></Errors><RequestID>r-1</RequestID></Response>`,
          );
    if (!auth.startsWith(`AWS4-HMAC-SHA256 Credential=${FAKE_DEPLOYER.accessKeyId}/`)) return error('AuthFailure', 401);
    if (elb) {
      const id = params.get('Targets.member.1.Id') ?? '';
      const port = params.get('Targets.member.1.Port') ?? '';
      const state = next(targets, id);
      if (state !== undefined && 'error' in state) return error(state.error, state.status);
      const health =
        state === undefined
          ? '<State>unused</State><Reason>Target.NotRegistered</Reason>'
          : `<State>${state.State}</State>${state.Reason ? `<Reason>${state.Reason}</Reason>` : ''}`;
      return sendXml(
        response,
        200,
        `<DescribeTargetHealthResponse xmlns="${ELB_XMLNS}"><DescribeTargetHealthResult><TargetHealthDescriptions><member>` +
          `<Target><Id>${id}</Id><Port>${port}</Port></Target><HealthCheckPort>9587</HealthCheckPort><TargetHealth>${health}</TargetHealth>` +
          `</member></TargetHealthDescriptions></DescribeTargetHealthResult><ResponseMetadata><RequestId>r-1</RequestId></ResponseMetadata></DescribeTargetHealthResponse>`,
      );
    }
    if (action === 'DescribeInstanceStatus') {
      const id = params.get('InstanceId.1') ?? '';
      const state = next(instances, id);
      if (state !== undefined && 'error' in state) return error(state.error, state.status);
      const item =
        state === undefined
          ? ''
          : `<item><instanceId>${id}</instanceId><instanceState><code>16</code><name>${state.state}</name></instanceState>` +
            `<systemStatus><status>${state.systemStatus ?? 'initializing'}</status></systemStatus>` +
            `<instanceStatus><status>${state.instanceStatus ?? 'initializing'}</status></instanceStatus></item>`;
      return sendXml(
        response,
        200,
        `<DescribeInstanceStatusResponse xmlns="${EC2_XMLNS}"><requestId>r-1</requestId><instanceStatusSet>${item}</instanceStatusSet></DescribeInstanceStatusResponse>`,
      );
    }
    error('InvalidAction', 400);
  });
  return {
    ...server,
    scriptTarget: (instanceId, states) => targets.set(instanceId, [...states]),
    scriptInstance: (instanceId, states) => instances.set(instanceId, [...states]),
    actions: () => server.requests.map((request) => new URLSearchParams(request.body).get('Action') ?? ''),
  };
}

export interface FakeGcpHealthApi extends LoopbackServer {
  /** The health states of one instance (self link) in the backend service, answered in turn. */
  scriptInstance(instance: string, states: string[]): void;
}

/** POST /compute/v1/projects/P/regions/R/backendServices/B/getHealth with the metadata server's token. */
export async function startFakeGcpHealthApi(): Promise<FakeGcpHealthApi> {
  const instances = new Map<string, string[]>();
  const server = await startLoopbackServer((request, response) => {
    if (request.headers.authorization !== `Bearer ${FAKE_ACCESS_TOKEN}`)
      return sendJson(response, 401, { error: { code: 401, status: 'UNAUTHENTICATED', message: 'no token' } });
    if (
      request.method !== 'POST' ||
      !/^\/compute\/v1\/projects\/[^/]+\/regions\/[^/]+\/backendServices\/[^/]+\/getHealth$/.test(request.path)
    )
      return sendJson(response, 404, { error: { code: 404, status: 'NOT_FOUND', message: 'only getHealth is faked' } });
    const { group } = JSON.parse(request.body) as { group?: string };
    if (typeof group !== 'string')
      return sendJson(response, 400, { error: { code: 400, status: 'INVALID_ARGUMENT', message: 'group missing' } });
    const healthStatus = [...instances.keys()].flatMap((instance) => {
      const state = next(instances, instance);
      return state === undefined ? [] : [{ instance, ipAddress: '10.0.0.2', port: 51820, healthState: state }];
    });
    sendJson(response, 200, { kind: 'compute#backendServiceGroupHealth', healthStatus });
  });
  return { ...server, scriptInstance: (instance, states) => instances.set(instance, [...states]) };
}
