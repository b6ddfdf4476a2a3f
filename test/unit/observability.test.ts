/**
 * The agent's observability pieces: /metrics scraped over real loopback HTTP while plane stats and
 * recorded events change, /healthz verdicts, log redaction and the DeviceEvent log lines.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Keypair } from '../../agent/core/keypair';
import { Peer } from '../../agent/core/peer';
import { evaluateHealth, type HealthInputs, type HealthReport } from '../../agent/observability/health';
import { startObservabilityServer, type ActiveState, type ObservabilityServer } from '../../agent/observability/http';
import {
  REDACTED_CENSOR,
  REDACTION_DEPTH,
  createLogger,
  logEvents,
  shortPublicKey,
} from '../../agent/observability/logger';
import { createAgentMetrics, type AgentMetrics } from '../../agent/observability/metrics';
import type { PlaneStats } from '../../agent/observability/stats';

const ALPHA_KEY = 'xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=';
const BETA_KEY = 'TrMvSoP4jYQlY6RIzBgbssQqY3vxI2Pi+y71lOWWXX0=';
const START_UNIX_MS = 1_750_000_000_000;

interface HttpAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

function fetchLocal(port: number, path: string, method = 'GET'): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const outgoing = request({ host: '127.0.0.1', port, path, method, agent: false }, (incoming) => {
      let body = '';
      incoming.setEncoding('utf8');
      incoming.on('data', (chunk: string) => {
        body += chunk;
      });
      incoming.on('end', () => resolve({ status: incoming.statusCode ?? 0, headers: incoming.headers, body }));
    });
    outgoing.on('error', reject);
    outgoing.end();
  });
}

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

function parseExposition(text: string): Sample[] {
  return text
    .split('\n')
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => {
      const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
      if (!match) throw new Error(`unparsable sample line: ${line}`);
      const labels: Record<string, string> = {};
      for (const [, key, value] of (match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[key!] = value!;
      return { name: match[1]!, labels, value: Number(match[3]) };
    });
}

/** The value of the one sample with this name and exactly these labels; undefined when absent. */
function valueOf(samples: Sample[], name: string, labels: Record<string, string> = {}): number | undefined {
  const wanted = JSON.stringify(Object.entries(labels).sort());
  return samples.find((s) => s.name === name && JSON.stringify(Object.entries(s.labels).sort()) === wanted)?.value;
}

function typesOf(text: string): Map<string, string> {
  return new Map([...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => [m[1]!, m[2]!]));
}

function planeStats(): PlaneStats {
  return {
    interfaceUp: true,
    peers: [
      {
        name: 'alpha',
        publicKey: ALPHA_KEY,
        allowedIps: ['10.1.0.0/16', 'fd00:1::/64'],
        endpoint: '192.0.2.1:51820',
        rxBytes: 100,
        txBytes: 200,
        lastHandshakeUnixMs: START_UNIX_MS - 10_000,
        localKey: 'current',
      },
      {
        name: 'beta',
        publicKey: BETA_KEY,
        allowedIps: ['10.2.0.0/16'],
        endpoint: null,
        rxBytes: 0,
        txBytes: 0,
        lastHandshakeUnixMs: 0,
      },
    ],
    drops: { 'invalid-mac1': 2, 'decrypt-failed': 5 },
  };
}

describe('metrics', () => {
  const alpha = { peer: 'alpha', interface: 'wm0', public_key: ALPHA_KEY };
  const beta = { peer: 'beta', interface: 'wm0', public_key: BETA_KEY };
  let stats: PlaneStats;
  let nowUnixMs: number;
  let keyCreatedAtUnixMs: number | null;
  let collectCalls: number;
  let metrics: AgentMetrics;
  let server: ObservabilityServer;

  beforeEach(async () => {
    stats = planeStats();
    nowUnixMs = START_UNIX_MS;
    keyCreatedAtUnixMs = START_UNIX_MS - 3_600_000;
    collectCalls = 0;
    metrics = createAgentMetrics({
      collect: () => {
        collectCalls++;
        return stats;
      },
      interfaceName: 'wm0',
      keyCreatedAtUnixMs: () => keyCreatedAtUnixMs,
      now: () => nowUnixMs,
    });
    server = await startObservabilityServer({ host: '127.0.0.1', port: 0, registry: metrics.registry });
  });

  afterEach(() => server.close());

  async function scrape(): Promise<{ text: string; samples: Sample[] }> {
    const answer = await fetchLocal(server.port, '/metrics');
    expect(answer.status).toBe(200);
    expect(answer.headers['content-type']).toBe(metrics.registry.contentType);
    return { text: answer.body, samples: parseExposition(answer.body) };
  }

  test('names, types and labels, and values that move between two scrapes', async () => {
    const first = await scrape();
    const ours = [...typesOf(first.text)].filter(([name]) => name.startsWith('wiremesh_'));
    expect(Object.fromEntries(ours)).toEqual({
      wiremesh_interface_up: 'gauge',
      wiremesh_peers: 'gauge',
      wiremesh_active_peers: 'gauge',
      wiremesh_handshakes_total: 'counter',
      wiremesh_handshake_failures_total: 'counter',
      wiremesh_packet_drops_total: 'counter',
      wiremesh_peer_receive_bytes_total: 'counter',
      wiremesh_peer_transmit_bytes_total: 'counter',
      wiremesh_peer_last_handshake_age_seconds: 'gauge',
      wiremesh_peer_last_handshake_timestamp_seconds: 'gauge',
      wiremesh_peer_using_next_key: 'gauge',
      wiremesh_key_age_seconds: 'gauge',
      wiremesh_config_applies_total: 'counter',
      wiremesh_config_apply_duration_seconds: 'histogram',
      wiremesh_secret_fetch_failures_total: 'counter',
      wiremesh_secret_store_reachable: 'gauge',
    });
    const s1 = first.samples;
    expect(valueOf(s1, 'wiremesh_interface_up')).toBe(1);
    expect(valueOf(s1, 'wiremesh_peers')).toBe(2);
    expect(valueOf(s1, 'wiremesh_active_peers')).toBe(1);
    expect(valueOf(s1, 'wiremesh_handshakes_total', { ...alpha, role: 'initiator' })).toBe(0);
    expect(valueOf(s1, 'wiremesh_handshakes_total', { ...beta, role: 'responder' })).toBe(0);
    expect(valueOf(s1, 'wiremesh_peer_receive_bytes_total', alpha)).toBe(100);
    expect(valueOf(s1, 'wiremesh_peer_transmit_bytes_total', alpha)).toBe(200);
    expect(valueOf(s1, 'wiremesh_peer_last_handshake_age_seconds', alpha)).toBe(10);
    expect(valueOf(s1, 'wiremesh_peer_last_handshake_age_seconds', beta)).toBeUndefined();
    expect(valueOf(s1, 'wiremesh_peer_using_next_key', alpha)).toBe(0);
    expect(valueOf(s1, 'wiremesh_peer_using_next_key', beta)).toBeUndefined();
    expect(valueOf(s1, 'wiremesh_key_age_seconds')).toBe(3600);
    expect(valueOf(s1, 'wiremesh_packet_drops_total', { reason: 'invalid-mac1' })).toBe(2);
    expect(valueOf(s1, 'wiremesh_packet_drops_total', { reason: 'decrypt-failed' })).toBe(5);
    expect(valueOf(s1, 'wiremesh_handshake_failures_total', { reason: 'invalid-mac1' })).toBe(2);
    expect(valueOf(s1, 'wiremesh_handshake_failures_total', { reason: 'decrypt-failed' })).toBeUndefined();
    expect(valueOf(s1, 'wiremesh_config_applies_total', { result: 'applied' })).toBe(0);
    expect(valueOf(s1, 'wiremesh_config_applies_total', { result: 'failed' })).toBe(0);
    expect(valueOf(s1, 'wiremesh_secret_store_reachable')).toBeUndefined();
    expect(
      s1.filter((sample) => sample.name.startsWith('wiremesh_')).every((sample) => Number.isFinite(sample.value)),
    ).toBe(true);

    metrics.recordHandshake({ name: 'alpha', publicKey: ALPHA_KEY }, 'initiator');
    metrics.recordHandshake({ name: 'beta', publicKey: BETA_KEY }, 'responder');
    metrics.recordHandshakeFailure('handshake-gave-up');
    metrics.recordConfigApply('applied', 0.2);
    metrics.recordSecretFetchFailure('aws-secrets-manager');
    metrics.setSecretStoreHealthy(false);
    nowUnixMs += 30_000;
    stats.peers[0] = { ...stats.peers[0]!, rxBytes: 1500, localKey: 'next' };
    stats.peers[1] = { ...stats.peers[1]!, lastHandshakeUnixMs: START_UNIX_MS };
    // 128 staged packets discarded by one give-up: a drop count, not 128 handshake failures.
    stats.drops = { 'invalid-mac1': 5, 'decrypt-failed': 6, 'handshake-gave-up': 128 };

    const s2 = (await scrape()).samples;
    expect(valueOf(s2, 'wiremesh_active_peers')).toBe(2);
    expect(valueOf(s2, 'wiremesh_handshakes_total', { ...alpha, role: 'initiator' })).toBe(1);
    expect(valueOf(s2, 'wiremesh_handshakes_total', { ...beta, role: 'responder' })).toBe(1);
    expect(valueOf(s2, 'wiremesh_handshakes_total', { ...alpha, role: 'responder' })).toBe(0);
    expect(valueOf(s2, 'wiremesh_peer_receive_bytes_total', alpha)).toBe(1500);
    expect(valueOf(s2, 'wiremesh_peer_last_handshake_age_seconds', alpha)).toBe(40);
    expect(valueOf(s2, 'wiremesh_peer_last_handshake_age_seconds', beta)).toBe(30);
    expect(valueOf(s2, 'wiremesh_peer_using_next_key', alpha)).toBe(1);
    expect(valueOf(s2, 'wiremesh_key_age_seconds')).toBe(3630);
    expect(valueOf(s2, 'wiremesh_packet_drops_total', { reason: 'handshake-gave-up' })).toBe(128);
    expect(valueOf(s2, 'wiremesh_handshake_failures_total', { reason: 'invalid-mac1' })).toBe(5);
    expect(valueOf(s2, 'wiremesh_handshake_failures_total', { reason: 'handshake-gave-up' })).toBe(1);
    expect(valueOf(s2, 'wiremesh_config_applies_total', { result: 'applied' })).toBe(1);
    expect(valueOf(s2, 'wiremesh_config_apply_duration_seconds_bucket', { result: 'applied', le: '0.1' })).toBe(0);
    expect(valueOf(s2, 'wiremesh_config_apply_duration_seconds_bucket', { result: 'applied', le: '0.25' })).toBe(1);
    expect(valueOf(s2, 'wiremesh_config_apply_duration_seconds_count', { result: 'applied' })).toBe(1);
    expect(valueOf(s2, 'wiremesh_config_apply_duration_seconds_sum', { result: 'applied' })).toBe(0.2);
    expect(valueOf(s2, 'wiremesh_secret_fetch_failures_total', { source: 'aws-secrets-manager' })).toBe(1);
    expect(valueOf(s2, 'wiremesh_secret_store_reachable')).toBe(0);
  });

  test("per-peer series carry interface and public_key (the WireGuard exporter's labels) beside the peer name", async () => {
    const { samples } = await scrape();
    const wiremesh = samples.filter((sample) => sample.name.startsWith('wiremesh_'));
    const labelNames = new Set(wiremesh.flatMap((sample) => Object.keys(sample.labels)));
    expect([...labelNames].sort()).toEqual(['interface', 'le', 'peer', 'public_key', 'reason', 'result', 'role']);
    for (const name of [
      'wiremesh_peer_receive_bytes_total',
      'wiremesh_peer_transmit_bytes_total',
      'wiremesh_peer_last_handshake_timestamp_seconds',
    ]) {
      expect(wiremesh.filter((sample) => sample.name === name).map((sample) => sample.labels)).toEqual([alpha, beta]);
    }
  });

  test('the latest handshake is a Unix timestamp, 0 before the first (as wg show); the age is absent then', async () => {
    const { samples } = await scrape();
    expect(valueOf(samples, 'wiremesh_peer_last_handshake_timestamp_seconds', alpha)).toBe(
      (START_UNIX_MS - 10_000) / 1000,
    );
    expect(valueOf(samples, 'wiremesh_peer_last_handshake_timestamp_seconds', beta)).toBe(0);
    expect(valueOf(samples, 'wiremesh_peer_last_handshake_age_seconds', beta)).toBeUndefined();
  });

  test('allowed_ips is a label only when enabled (cardinality)', async () => {
    const withAllowedIps = createAgentMetrics({
      collect: () => stats,
      interfaceName: 'wm0',
      allowedIpsLabel: true,
      keyCreatedAtUnixMs: () => null,
      now: () => nowUnixMs,
    });
    const samples = parseExposition(await withAllowedIps.registry.metrics());
    expect(
      valueOf(samples, 'wiremesh_peer_receive_bytes_total', { ...alpha, allowed_ips: '10.1.0.0/16,fd00:1::/64' }),
    ).toBe(100);
    expect(
      valueOf(samples, 'wiremesh_peer_last_handshake_timestamp_seconds', { ...beta, allowed_ips: '10.2.0.0/16' }),
    ).toBe(0);
    // Handshake counts and rotation state stay per peer, without it.
    expect(valueOf(samples, 'wiremesh_handshakes_total', { ...alpha, role: 'initiator' })).toBe(0);
  });

  test("prom-client's default process metrics are exported", async () => {
    const { text, samples } = await scrape();
    expect(typesOf(text).get('process_resident_memory_bytes')).toBe('gauge');
    expect(valueOf(samples, 'process_resident_memory_bytes')).toBeGreaterThan(0);
    expect(typesOf(text).get('process_cpu_seconds_total')).toBe('counter');
    expect(typesOf(text).has('nodejs_eventloop_lag_seconds')).toBe(true);
  });

  test('the plane is asked for stats once per scrape', async () => {
    await scrape();
    expect(collectCalls).toBe(1);
    await scrape();
    expect(collectCalls).toBe(2);
  });

  test('handshake failures stay monotonic across a plane counter restart', async () => {
    stats.drops = { 'invalid-mac1': 5 };
    expect(valueOf((await scrape()).samples, 'wiremesh_handshake_failures_total', { reason: 'invalid-mac1' })).toBe(5);
    stats.drops = {};
    expect(valueOf((await scrape()).samples, 'wiremesh_handshake_failures_total', { reason: 'invalid-mac1' })).toBe(5);
    stats.drops = { 'invalid-mac1': 2 };
    expect(valueOf((await scrape()).samples, 'wiremesh_handshake_failures_total', { reason: 'invalid-mac1' })).toBe(7);
    // Restarted between two scrapes: 1 is below the last total of 2, so all of it is new.
    stats.drops = { 'invalid-mac1': 1 };
    expect(valueOf((await scrape()).samples, 'wiremesh_handshake_failures_total', { reason: 'invalid-mac1' })).toBe(8);
    // The mirrored drop counter follows the plane, reset included.
    expect(valueOf((await scrape()).samples, 'wiremesh_packet_drops_total', { reason: 'invalid-mac1' })).toBe(1);
  });

  test('a removed peer leaves the per-peer series; an unknown key age is absent', async () => {
    stats.peers = stats.peers.filter((peer) => peer.name !== 'alpha');
    keyCreatedAtUnixMs = null;
    const { samples } = await scrape();
    expect(valueOf(samples, 'wiremesh_peer_receive_bytes_total', alpha)).toBeUndefined();
    expect(valueOf(samples, 'wiremesh_peer_receive_bytes_total', beta)).toBe(0);
    expect(valueOf(samples, 'wiremesh_key_age_seconds')).toBeUndefined();
    expect(valueOf(samples, 'wiremesh_peers')).toBe(1);
  });

  test('a failing plane turns the scrape into a 500', async () => {
    stats = undefined as unknown as PlaneStats;
    const answer = await fetchLocal(server.port, '/metrics');
    expect(answer.status).toBe(500);
    expect(answer.body).toMatch(/^metrics collection failed: /);
  });
});

describe('/active and /ready, for load balancers and rolling-replacement gates', () => {
  let state: ActiveState;
  let ready: boolean;
  let server: ObservabilityServer;

  beforeEach(async () => {
    server = await startObservabilityServer({
      host: '127.0.0.1',
      port: 0,
      health: () => ({ healthy: true, checks: [] }),
      ready: () => ready,
      active: () => state,
    });
  });

  afterEach(() => server.close());

  test('/active: 200 for the route holder, 503 for a standby, 404 for no group member', async () => {
    state = { active: true, role: 'active' };
    expect((await fetchLocal(server.port, '/active')).status).toBe(200);
    state = { active: false, role: 'standby' };
    const standby = await fetchLocal(server.port, '/active');
    expect(standby.status).toBe(503);
    expect(JSON.parse(standby.body)).toEqual({ active: false, role: 'standby' });
    state = 'not-a-member';
    expect((await fetchLocal(server.port, '/active')).status).toBe(404);
  });

  test("/active gives no answer while the agent is not running: a starting agent is not a standby's 503", async () => {
    state = 'not-running';
    await expect(fetchLocal(server.port, '/active')).rejects.toThrow(/socket hang up|ECONNRESET/);
    // The listener stays up for the next check.
    state = { active: true, role: 'active' };
    expect((await fetchLocal(server.port, '/active')).status).toBe(200);
  });

  test('/ready: 503 until the agent runs, then 200 whatever its peers and role', async () => {
    ready = false;
    expect(await fetchLocal(server.port, '/ready')).toMatchObject({ status: 503, body: 'starting\n' });
    ready = true;
    expect(await fetchLocal(server.port, '/ready')).toMatchObject({ status: 200, body: 'ready\n' });
  });
});

describe('healthz', () => {
  let inputs: HealthInputs;
  let server: ObservabilityServer;

  beforeEach(async () => {
    inputs = {
      stats: planeStats(),
      requiredPeers: ['alpha'],
      maxHandshakeAgeSeconds: 180,
      secretStoreHealthy: true,
      nowUnixMs: START_UNIX_MS,
    };
    server = await startObservabilityServer({ host: '127.0.0.1', port: 0, health: () => evaluateHealth(inputs) });
  });

  afterEach(() => server.close());

  async function health(): Promise<{ status: number; report: HealthReport }> {
    const answer = await fetchLocal(server.port, '/healthz');
    expect(answer.headers['content-type']).toBe('application/json; charset=utf-8');
    return { status: answer.status, report: JSON.parse(answer.body) as HealthReport };
  }

  function failing(report: HealthReport): Record<string, string> {
    return Object.fromEntries(report.checks.filter((check) => !check.ok).map((check) => [check.name, check.detail]));
  }

  test('200 when the interface is up and required peers handshook recently', async () => {
    const { status, report } = await health();
    expect(status).toBe(200);
    expect(report).toEqual({
      healthy: true,
      checks: [
        { name: 'interface', ok: true, detail: 'up' },
        { name: 'peer:alpha', ok: true, detail: 'last handshake 10 s ago' },
        { name: 'secret-store', ok: true, detail: 'reachable' },
      ],
    });
  });

  test('503 for a stale handshake', async () => {
    inputs.nowUnixMs = START_UNIX_MS + 171_000;
    const { status, report } = await health();
    expect(status).toBe(503);
    expect(report.healthy).toBe(false);
    expect(failing(report)).toEqual({ 'peer:alpha': 'last handshake 181 s ago, older than 180 s' });
  });

  test('503 when the interface is down, even with fresh handshakes', async () => {
    inputs.stats.interfaceUp = false;
    const { status, report } = await health();
    expect(status).toBe(503);
    expect(failing(report)).toEqual({ interface: 'down' });
  });

  test('503 for a required peer that is missing or never handshook', async () => {
    inputs.requiredPeers = ['alpha', 'beta', 'gamma'];
    const { status, report } = await health();
    expect(status).toBe(503);
    expect(failing(report)).toEqual({
      'peer:beta': 'no handshake completed yet',
      'peer:gamma': 'not configured on the interface',
    });
  });

  test('no required peers: healthy exactly when the interface is up', async () => {
    inputs.requiredPeers = [];
    inputs.stats.peers = [];
    expect((await health()).status).toBe(200);
    inputs.stats.interfaceUp = false;
    expect((await health()).status).toBe(503);
  });

  test('an unreachable secret store is reported but keeps a forwarding gateway healthy', async () => {
    inputs.secretStoreHealthy = false;
    const { status, report } = await health();
    expect(status).toBe(200);
    expect(report.healthy).toBe(true);
    expect(Object.keys(failing(report))).toEqual(['secret-store']);
  });

  test('HEAD answers with the status and headers only', async () => {
    const up = await fetchLocal(server.port, '/healthz', 'HEAD');
    expect([up.status, up.body]).toEqual([200, '']);
    expect(Number(up.headers['content-length'])).toBeGreaterThan(0);
    inputs.stats.interfaceUp = false;
    const down = await fetchLocal(server.port, '/healthz', 'HEAD');
    expect([down.status, down.body]).toEqual([503, '']);
  });

  test('unknown paths, other methods, routes not served, and a failing evaluation', async () => {
    expect((await fetchLocal(server.port, '/nope')).status).toBe(404);
    expect((await fetchLocal(server.port, '/metrics')).status).toBe(404);
    const post = await fetchLocal(server.port, '/healthz', 'POST');
    expect([post.status, post.headers['allow']]).toEqual([405, 'GET, HEAD']);
    expect((await fetchLocal(server.port, '/healthz?verbose=1')).status).toBe(200);
    inputs = undefined as unknown as HealthInputs;
    const { status, report } = await health();
    expect(status).toBe(503);
    expect(report.checks.map((check) => check.name)).toEqual(['evaluation']);
  });

  test('two listeners for one agent: metrics and health on separate ports', async () => {
    const metrics = createAgentMetrics({
      collect: () => inputs.stats,
      interfaceName: 'wm0',
      keyCreatedAtUnixMs: () => null,
    });
    const metricsServer = await startObservabilityServer({ host: '127.0.0.1', port: 0, registry: metrics.registry });
    try {
      expect(metricsServer.port).not.toBe(server.port);
      expect((await fetchLocal(metricsServer.port, '/metrics')).status).toBe(200);
      expect((await fetchLocal(metricsServer.port, '/healthz')).status).toBe(404);
      expect((await fetchLocal(server.port, '/healthz')).status).toBe(200);
    } finally {
      await metricsServer.close();
    }
  });

  test('a port in use rejects the start', async () => {
    await expect(
      startObservabilityServer({ host: '127.0.0.1', port: server.port, health: () => evaluateHealth(inputs) }),
    ).rejects.toMatchObject({ code: 'EADDRINUSE' });
  });
});

describe('logger', () => {
  let directory: string;
  let logFile: string;

  beforeEach(() => {
    directory = mkdtempSync(join(tmpdir(), 'wiremesh-log-'));
    logFile = join(directory, 'logs', 'agent.log');
  });

  afterEach(() => rmSync(directory, { recursive: true, force: true }));

  function lines(): Record<string, unknown>[] {
    return readFileSync(logFile, 'utf8')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
  }

  test('secret-bearing fields are censored at every level, in objects and arrays and child bindings', () => {
    const logger = createLogger({ level: 'info', destination: logFile, name: 'wiremesh-agent' });
    const secrets: string[] = [];
    const secret = (label: string): string => {
      const text = `SECRET-${label}-${secrets.length}`;
      secrets.push(text);
      return text;
    };
    // Each field name, at the top level and nested down to REDACTION_DEPTH objects deep.
    for (const field of ['privateKey', 'presharedKey', 'secret', 'value', 'SecretString']) {
      let nested: Record<string, unknown> = { [field]: secret(field), note: 'kept' };
      for (let depth = 0; depth < REDACTION_DEPTH; depth++) nested = { inner: nested, [field]: secret(field) };
      logger.info(nested, 'nested');
    }
    logger.info({ config: { peers: [{ name: 'alpha', presharedKey: secret('array') }] } }, 'array');
    logger.info({ response: { SecretString: secret('aws'), payload: { data: secret('gcp') } } }, 'secret store answer');
    logger.child({ privateKey: secret('binding'), peer: { presharedKey: secret('binding-nested') } }).info('child');
    logger.error({ err: Object.assign(new Error('fetch failed'), { secret: secret('error') }) }, 'error');

    const text = readFileSync(logFile, 'utf8');
    for (const leaked of secrets) expect(text).not.toContain(leaked);
    expect(text).toContain(REDACTED_CENSOR);
    const parsed = lines();
    expect(parsed).toHaveLength(9);
    expect(parsed[0]).toMatchObject({ name: 'wiremesh-agent', msg: 'nested', privateKey: REDACTED_CENSOR });
    expect(text).toContain('"note":"kept"');
    expect(parsed[5]).toMatchObject({ config: { peers: [{ name: 'alpha', presharedKey: REDACTED_CENSOR }] } });
    expect(parsed[8]).toMatchObject({ level: 50, err: { message: 'fetch failed', secret: REDACTED_CENSOR } });
  });

  test('the level filters lines', () => {
    const logger = createLogger({ level: 'warn', destination: logFile, name: 'wiremesh-agent' });
    logger.info('dropped');
    logger.warn('kept');
    expect(lines().map((line) => line.msg)).toEqual(['kept']);
  });

  test('logEvents writes stable event names and fields, with public keys in short form only', () => {
    const logger = createLogger({ level: 'debug', destination: logFile, name: 'wiremesh-agent' });
    const names = new Map([[ALPHA_KEY, 'alpha']]);
    const log = logEvents(logger, (publicKey) => names.get(publicKey));
    const alpha = new Peer(Buffer.from(ALPHA_KEY, 'base64'));
    alpha.presharedKey = Buffer.alloc(32, 0x5a);
    const stranger = new Peer(Buffer.from(BETA_KEY, 'base64'));
    const endpoint = { address: '192.0.2.7', port: 51820 };

    log({ type: 'handshake-initiated', peer: alpha, retry: false });
    alpha.handshakeAttempts = 2;
    log({ type: 'handshake-initiated', peer: alpha, retry: true });
    log({ type: 'handshake-complete', peer: alpha, role: 'initiator' });
    alpha.current = new Keypair(Buffer.alloc(32, 0x11), Buffer.alloc(32, 0x22), 1, 2, true, 0);
    log({ type: 'handshake-initiated', peer: alpha, retry: false });
    log({ type: 'handshake-complete', peer: stranger, role: 'responder' });
    log({ type: 'endpoint-changed', peer: alpha, endpoint: { address: '2001:db8::1', port: 51821 } });
    log({ type: 'cookie-sent', endpoint });
    log({ type: 'handshake-gave-up', peer: alpha });
    log({ type: 'keys-zeroed', peer: alpha });

    const short = shortPublicKey(ALPHA_KEY);
    expect(short).toBe('xTIB…p8Dg');
    const parsed = lines();
    const pick = (line: Record<string, unknown>): Record<string, unknown> => {
      const { time: _time, pid: _pid, hostname: _hostname, name: _name, msg: _msg, ...rest } = line;
      return rest;
    };
    expect(parsed.map(pick)).toEqual([
      { level: 20, event: 'handshake.initiated', peer: 'alpha', publicKey: short },
      { level: 20, event: 'handshake.retry', peer: 'alpha', publicKey: short, attempt: 2 },
      { level: 30, event: 'handshake.complete', peer: 'alpha', publicKey: short, role: 'initiator' },
      { level: 20, event: 'rekey.initiated', peer: 'alpha', publicKey: short },
      { level: 30, event: 'handshake.complete', publicKey: shortPublicKey(BETA_KEY), role: 'responder' },
      { level: 30, event: 'endpoint.changed', peer: 'alpha', publicKey: short, endpoint: '[2001:db8::1]:51821' },
      { level: 20, event: 'cookie.sent', endpoint: '192.0.2.7:51820' },
      { level: 40, event: 'handshake.gave_up', peer: 'alpha', publicKey: short },
      { level: 30, event: 'keys.zeroed', peer: 'alpha', publicKey: short },
    ]);
    expect(parsed.every((line) => typeof line.msg === 'string' && typeof line.time === 'string')).toBe(true);

    const text = readFileSync(logFile, 'utf8');
    for (const key of [
      alpha.publicKey,
      stranger.publicKey,
      alpha.presharedKey,
      alpha.current.sendKey,
      alpha.current.receiveKey,
    ]) {
      expect(text).not.toContain(key.toString('base64'));
      expect(text).not.toContain(key.toString('hex'));
    }
  });
});
