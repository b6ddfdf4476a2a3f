/**
 * A local emulator of the EC2 Query API's route calls (DescribeRouteTables, ReplaceRoute), for the
 * agent's failover. Every request must carry a valid AWS Signature Version 4 for the known
 * credentials (recomputed here from the canonical request, compared in constant time), and
 * ReplaceRoute is allowed only on the route tables the emulated IAM policy names, as the gateway
 * role grants it: anything else is AuthFailure or UnauthorizedOperation, as EC2 answers.
 *
 * Run as a script (`node -r ./lab/boot/ts-register.js test/support/fake-ec2.ts LISTEN STATE_JSON`) it serves inside a
 * network namespace and prints one JSON line per route change, so a namespace test can apply
 * the change to the emulated VPC router (`onReplace`).
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Ec2Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

export interface EmulatedRoute {
  destination: string;
  networkInterfaceId: string;
}

export interface Ec2EmulatorState {
  region: string;
  credentials: Ec2Credentials;
  routeTables: Record<string, EmulatedRoute[]>;
  /** The route tables ec2:ReplaceRoute is allowed on (the role's policy). */
  replaceAllowed: string[];
}

export interface Ec2Call {
  action: string;
  /** `ok`, or the error code answered. */
  result: string;
  atMs: number;
}

export interface Ec2Emulator {
  readonly url: string;
  readonly calls: Ec2Call[];
  readonly state: Ec2EmulatorState;
  close(): Promise<void>;
}

const XMLNS = 'http://ec2.amazonaws.com/doc/2016-11-15/';
const MAX_CLOCK_SKEW_MS = 5 * 60_000;

const sha256 = (data: string): string => createHash('sha256').update(data, 'utf8').digest('hex');
const hmac = (key: Buffer | string, data: string): Buffer => createHmac('sha256', key).update(data, 'utf8').digest();

/** RFC 3986 encoding as SigV4 wants it. */
const uriEncode = (text: string): string =>
  encodeURIComponent(text).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

/** Why the request's SigV4 signature is not valid, or null when it is. */
export function signatureProblem(
  request: { method: string; url: string; headers: IncomingMessage['headers']; body: string },
  credentials: Ec2Credentials,
  region: string,
  nowMs = Date.now(),
): string | null {
  const auth = request.headers.authorization;
  const match =
    typeof auth === 'string'
      ? /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, ?SignedHeaders=([^,]+), ?Signature=([0-9a-f]{64})$/.exec(
          auth,
        )
      : null;
  if (!match) return 'no AWS4-HMAC-SHA256 Authorization header';
  const [, keyId, date, scopeRegion, service, signedHeaders, signature] = match as unknown as string[];
  if (keyId !== credentials.accessKeyId) return 'unknown access key';
  if (scopeRegion !== region || service !== 'ec2') return `scope ${scopeRegion}/${service}, expected ${region}/ec2`;
  const amzDate = request.headers['x-amz-date'];
  if (typeof amzDate !== 'string' || !amzDate.startsWith(date!)) return 'x-amz-date missing or not the scope date';
  const when = Date.parse(amzDate.replace(/^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/, '$1-$2-$3T$4:$5:$6Z'));
  if (!(Math.abs(nowMs - when) <= MAX_CLOCK_SKEW_MS)) return 'request time too far from now';
  const names = signedHeaders!.split(';');
  if (!names.includes('host') || !names.includes('x-amz-date')) return 'host and x-amz-date must be signed';
  if (credentials.sessionToken !== undefined) {
    if (request.headers['x-amz-security-token'] !== credentials.sessionToken) return 'wrong session token';
    if (!names.includes('x-amz-security-token')) return 'the session token must be signed';
  }
  const [path, query = ''] = request.url.split('?', 2) as [string, string?];
  const canonicalQuery = query
    .split('&')
    .filter(Boolean)
    .map((pair) => pair.split('=', 2).map((part) => uriEncode(decodeURIComponent(part ?? ''))))
    .sort(([a, x], [b, y]) => (a! < b! ? -1 : a! > b! ? 1 : x! < y! ? -1 : 1))
    .map(([key, value]) => `${key}=${value ?? ''}`)
    .join('&');
  const headerLines = names.map((name) => {
    const value = request.headers[name];
    const text = Array.isArray(value) ? value.join(',') : (value ?? '');
    return `${name}:${text.trim().replace(/\s+/g, ' ')}\n`;
  });
  const canonicalRequest = [
    request.method,
    path
      .split('/')
      .map((segment) => uriEncode(decodeURIComponent(segment)))
      .join('/') || '/',
    canonicalQuery,
    headerLines.join(''),
    signedHeaders,
    sha256(request.body),
  ].join('\n');
  const scope = `${date}/${region}/ec2/aws4_request`;
  const stringToSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256(canonicalRequest)].join('\n');
  const key = ['ec2', 'aws4_request'].reduce(
    (k, part) => hmac(k, part),
    hmac(hmac(`AWS4${credentials.secretAccessKey}`, date!), region),
  );
  const expected = hmac(key, stringToSign);
  return timingSafeEqual(expected, Buffer.from(signature!, 'hex')) ? null : 'signature does not match';
}

function xml(response: ServerResponse, status: number, body: string): void {
  response.writeHead(status, { 'content-type': 'text/xml;charset=UTF-8' });
  response.end(`<?xml version="1.0" encoding="UTF-8"?>\n${body}`);
}

function ec2Error(response: ServerResponse, status: number, code: string, message: string): void {
  xml(
    response,
    status,
    `<Response><Errors><Error><Code>${code}</Code><Message>${message}</Message></Error></Errors><RequestID>fake</RequestID></Response>`,
  );
}

function describeRouteTables(state: Ec2EmulatorState, ids: string[]): string {
  const tables = ids
    .map((id) => {
      const routes = (state.routeTables[id] ?? [])
        .map((route) => {
          const field = route.destination.includes(':') ? 'destinationIpv6CidrBlock' : 'destinationCidrBlock';
          return `<item><${field}>${route.destination}</${field}><networkInterfaceId>${route.networkInterfaceId}</networkInterfaceId><origin>CreateRoute</origin><state>active</state></item>`;
        })
        .join('');
      return `<item><routeTableId>${id}</routeTableId><vpcId>vpc-0fa4e000</vpcId><routeSet>${routes}</routeSet></item>`;
    })
    .join('');
  return `<DescribeRouteTablesResponse xmlns="${XMLNS}"><requestId>fake</requestId><routeTableSet>${tables}</routeTableSet></DescribeRouteTablesResponse>`;
}

export interface Ec2EmulatorHooks {
  /** Each route moved, after the state changed. */
  onReplace?(routeTableId: string, route: EmulatedRoute): void;
  onCall?(call: Ec2Call): void;
}

/** Serves the emulator. */
export async function startEc2Emulator(
  state: Ec2EmulatorState,
  listen: { host: string; port: number } = { host: '127.0.0.1', port: 0 },
  hooks: Ec2EmulatorHooks = {},
): Promise<Ec2Emulator> {
  const calls: Ec2Call[] = [];
  const handle = (request: IncomingMessage, body: string, response: ServerResponse): void => {
    const params = new URLSearchParams(body);
    const action = params.get('Action') ?? '';
    const record = (result: string): void => {
      const call = { action, result, atMs: Date.now() };
      calls.push(call);
      hooks.onCall?.(call);
    };
    const problem = signatureProblem(
      { method: request.method ?? '', url: request.url ?? '/', headers: request.headers, body },
      state.credentials,
      state.region,
    );
    if (problem !== null) {
      record('AuthFailure');
      return ec2Error(
        response,
        401,
        'AuthFailure',
        `AWS was not able to validate the provided access credentials (${problem})`,
      );
    }
    if (action === 'DescribeRouteTables') {
      const ids = [...params.entries()].filter(([key]) => /^RouteTableId\.\d+$/.test(key)).map(([, id]) => id);
      const unknown = ids.find((id) => !(id in state.routeTables));
      if (unknown) {
        record('InvalidRouteTableID.NotFound');
        return ec2Error(response, 400, 'InvalidRouteTableID.NotFound', `The routeTable ID '${unknown}' does not exist`);
      }
      record('ok');
      return xml(response, 200, describeRouteTables(state, ids));
    }
    if (action === 'ReplaceRoute') {
      const tableId = params.get('RouteTableId') ?? '';
      const destination = params.get('DestinationCidrBlock') ?? params.get('DestinationIpv6CidrBlock') ?? '';
      const target = params.get('NetworkInterfaceId') ?? '';
      if (!state.replaceAllowed.includes(tableId)) {
        record('UnauthorizedOperation');
        return ec2Error(response, 403, 'UnauthorizedOperation', 'You are not authorized to perform this operation.');
      }
      const route = (state.routeTables[tableId] ?? []).find((candidate) => candidate.destination === destination);
      if (!route) {
        record('InvalidRoute.NotFound');
        return ec2Error(response, 400, 'InvalidRoute.NotFound', `no route to ${destination} in ${tableId}`);
      }
      route.networkInterfaceId = target;
      record('ok');
      hooks.onReplace?.(tableId, route);
      return xml(
        response,
        200,
        `<ReplaceRouteResponse xmlns="${XMLNS}"><requestId>fake</requestId><return>true</return></ReplaceRouteResponse>`,
      );
    }
    record('InvalidAction');
    ec2Error(response, 400, 'InvalidAction', `the emulator does not do ${action}`);
  };
  const server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => handle(request, Buffer.concat(chunks).toString('utf8'), response));
  });
  await new Promise<void>((resolve) => server.listen(listen.port, listen.host, resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${listen.host}:${port}`,
    calls,
    state,
    close: () =>
      new Promise((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}

// As a script: serve at LISTEN (host:port) with the state in STATE_JSON, one JSON line per change.
if (require.main === module) {
  const print = (line: object): void => void process.stdout.write(`${JSON.stringify(line)}\n`);
  const [listen, stateJson] = process.argv.slice(2) as [string, string];
  const at = listen.lastIndexOf(':');
  void startEc2Emulator(
    JSON.parse(stateJson) as Ec2EmulatorState,
    { host: listen.slice(0, at), port: Number(listen.slice(at + 1)) },
    {
      onReplace: (routeTableId, route) => print({ replaced: { routeTableId, ...route }, atMs: Date.now() }),
      onCall: (call) => print({ call }),
    },
  ).then(() => print({ listening: listen }));
}
