/**
 * The agent's observability listener: `GET /metrics` for Prometheus, and for load balancers
 * `GET /healthz`, `GET /ready` and (in a failover group) `GET /active` (HEAD too). Metrics or health
 * can be left out, so one listener can serve both or the agent can put health on the load
 * balancer's network and metrics somewhere narrower.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import type { HealthReport } from './health';

export interface ObservabilityServerOptions {
  host: string;
  /** 0 picks a free port. */
  port: number;
  /** Serves /metrics when given. */
  registry?: Registry;
  /** Serves /healthz when given, and /ready with it (both about this agent). */
  health?: () => HealthReport;
  /** For /ready: 200 once the agent has started (interface up, configuration applied), else 503. */
  ready?: () => boolean;
  /**
   * Serves /active when given: 200 while this member of a gateway group holds the group's routes,
   * 503 while it stands by, no answer at all (the connection closed) while it is not running, and
   * 404 when it is no group member. A group's load balancer checks it, so it sends peers to the
   * active only; a rolling replacement's gate takes a 503 for a standby that serves, so an agent
   * still starting (or refused its key) must not give one.
   */
  active?: () => ActiveState;
}

export type ActiveState = { active: boolean; role: string } | 'not-running' | 'not-a-member';

export interface ObservabilityServer {
  readonly port: number;
  close(): Promise<void>;
}

interface Reply {
  /** null: close the connection without an answer. */
  status: number | null;
  contentType: string;
  body: string;
}

export function startObservabilityServer(options: ObservabilityServerOptions): Promise<ObservabilityServer> {
  const routes = new Map<string, () => Promise<Reply>>();
  const { registry, health } = options;
  if (registry) routes.set('/metrics', () => metricsReply(registry));
  if (health) routes.set('/healthz', async () => healthReply(health));
  const { ready, active } = options;
  if (ready) routes.set('/ready', async () => (ready() ? text(200, 'ready\n') : text(503, 'starting\n')));
  if (active)
    routes.set('/active', async () => {
      const state = active();
      if (state === 'not-running') return { status: null, contentType: '', body: '' };
      if (state === 'not-a-member') return text(404, 'not a failover group member\n');
      return {
        status: state.active ? 200 : 503,
        contentType: 'application/json; charset=utf-8',
        body: `${JSON.stringify(state)}\n`,
      };
    });

  const server = createServer((request, response) => {
    void handle(routes, request, response);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: options.host, port: options.port }, () => {
      server.off('error', reject);
      resolve({
        port: (server.address() as AddressInfo).port,
        close: () => new Promise((done, fail) => server.close((error) => (error ? fail(error) : done()))),
      });
    });
  });
}

async function handle(
  routes: Map<string, () => Promise<Reply>>,
  request: IncomingMessage,
  response: ServerResponse,
): Promise<void> {
  const path = (request.url ?? '/').split('?', 1)[0]!;
  const route = routes.get(path);
  let reply: Reply;
  if (!route) reply = text(404, 'not found\n');
  else if (request.method !== 'GET' && request.method !== 'HEAD') reply = text(405, 'method not allowed\n');
  else reply = await route();
  if (reply.status === null) {
    request.socket.destroy();
    return;
  }

  const headers: Record<string, string | number> = {
    'Content-Type': reply.contentType,
    'Content-Length': Buffer.byteLength(reply.body),
    // Every answer describes this instant; a cached one would hide an outage.
    'Cache-Control': 'no-store',
  };
  if (reply.status === 405) headers['Allow'] = 'GET, HEAD';
  response.writeHead(reply.status, headers);
  response.end(request.method === 'HEAD' ? undefined : reply.body);
}

async function metricsReply(registry: Registry): Promise<Reply> {
  try {
    return { status: 200, contentType: registry.contentType, body: await registry.metrics() };
  } catch (error) {
    return text(500, `metrics collection failed: ${errorMessage(error)}\n`);
  }
}

function healthReply(health: () => HealthReport): Reply {
  let report: HealthReport;
  try {
    report = health();
  } catch (error) {
    // Not knowing is not healthy: the load balancer should try another gateway.
    report = { healthy: false, checks: [{ name: 'evaluation', ok: false, detail: errorMessage(error) }] };
  }
  return {
    status: report.healthy ? 200 : 503,
    contentType: 'application/json; charset=utf-8',
    body: `${JSON.stringify(report)}\n`,
  };
}

function text(status: number, body: string): Reply {
  return { status, contentType: 'text/plain; charset=utf-8', body };
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
