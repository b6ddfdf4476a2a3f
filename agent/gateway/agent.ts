/**
 * wiremesh-agent: brings up a gateway's WireGuard interface from its configuration and keeps it
 * right. It fetches keys from their stores, applies the configuration through the chosen data
 * plane, installs addresses and routes, re-applies changes as diffs (file watch, cloud polling,
 * SIGHUP), drives zero-downtime key rotation on every data plane, and reports through metrics,
 * health checks and structured logs. Everything it added is removed by `stop()`.
 */
import { rmSync, watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as delay } from 'node:timers/promises';
import type { Logger } from 'pino';
import { splitHostPort } from '../../common/hostport';
import { formatPrefix } from '../../common/ip';
import { keyToBase64 } from '../crypto/keys';
import { publicKeyOf } from '../crypto/primitives';
import type { DeviceEvent } from '../core/device';
import {
  DEFAULT_MAX_HANDSHAKE_AGE_SECONDS,
  evaluateHealth,
  startingHealth,
  type HealthReport,
} from '../observability/health';
import { startObservabilityServer, type ActiveState, type ObservabilityServer } from '../observability/http';
import { logEvents } from '../observability/logger';
import { createAgentMetrics, type AgentMetrics, type ConfigApplyResult } from '../observability/metrics';
import type { PlaneStats } from '../observability/stats';
import {
  ExposedKeyFileError,
  fetchWithRetry,
  SecretAccessError,
  secretSource,
  type RetryOptions,
  type SecretSourceOptions,
} from '../secrets';
import { DEFAULT_METRICS_LISTEN, parseAgentConfig, restartOnlyChanges } from './config';
import { ConfigError } from '../../common/validation';
import type { AgentConfig, ConfigSourceConfig, DataPlaneKind, LogConfig } from './config-types';
import { isEmptyChange, planChange, sameKey } from './diff';
import { HostState } from './host-state';
import { NetworkSetup } from './network';
import type { CommandRunner, DataPlane, DataPlaneName, KeyRotation } from './plane';
import { releaseMemory } from '../wg/heap';
import type { DeviceSnapshot } from '../wg/uapi';
import type * as UserspaceModule from './planes/userspace';
import type * as WgQuickModule from './wg-quick';
import type * as FailoverModule from './failover/runner';
import { resolveConfig, type ResolvedConfig, type ResolvedPeer } from './resolve';
import { peerKeyPhase, writeStatusDocument, type AgentStatusDocument } from './status-document';
import { configAt, nextSwitchAt } from './switch-schedule';

/** The logger's settings: a level, and the file it writes to (absent: stderr). */
export type LogSettings = Required<Pick<LogConfig, 'level'>> & Pick<LogConfig, 'file'>;

export interface AgentOptions {
  configPath: string;
  logger: Logger;
  /**
   * How `logger` was opened and what applies where the configuration is silent. With it, every
   * configuration's `log` is applied: its level at once, its file refused when it differs from the
   * one open (a restart opens another). Without it (tests), `log` is left to the caller.
   */
  logging?: { defaults: LogSettings; opened: LogSettings };
  commands: CommandRunner;
  /** Builds the plane for a kind; the userspace plane is built in, the others come from planes/. */
  createPlane: (kind: Exclude<DataPlaneName, 'userspace'>) => DataPlane;
  /** Which plane `auto` means on this host. */
  autoPlane: () => DataPlaneName;
  secretOptions?: SecretSourceOptions;
  retry?: RetryOptions;
  /** Where host changes are recorded for the next run (default /run/wiremesh). */
  stateDir?: string;
}

const DEFAULT_RETRY: RetryOptions = { attempts: 8, baseDelayMs: 500, maxDelayMs: 30_000 };
const ROTATION_CHECK_MS = 1000;
/**
 * While a rotation is in progress, how often an out-of-process plane (which tells of handshakes
 * only in a snapshot) is asked whether peers moved, so the status document says so promptly.
 */
const ROTATION_POLL_MS = 200;
/** How often a gateway whose secret read was refused tries again: fixing the grant needs no restart. */
const REFUSED_READ_RETRY_MS = 30_000;
const RELOAD_DEBOUNCE_MS = 200;
/** The longest delay setTimeout takes (2^31 - 1 ms). */
const MAX_TIMER_MS = 2 ** 31 - 1;
const DEFAULT_POLL_SECONDS = 60;

/** Reads the configuration the agent was pointed at: YAML/JSON, or a wg-quick `.conf`. */
export async function readConfigFile(path: string, secretOptions?: SecretSourceOptions): Promise<AgentConfig> {
  if (path.endsWith('.conf')) {
    // A .conf holds keys, so it is read with the same rules as a key file (0600, owned by root).
    const { value } = await secretSource({ source: 'file', path }, secretOptions).fetch();
    const { parseWgQuickConfig } = require('./wg-quick') as typeof WgQuickModule;
    return parseWgQuickConfig(value.toString('utf8'), basename(path, '.conf'), path);
  }
  return parseAgentConfig(await readFile(path, 'utf8'));
}

export class GatewayAgent {
  private plane: DataPlane | null = null;
  private network: NetworkSetup | null = null;
  private applied: ResolvedConfig | null = null;
  /** The resolved document, scheduled switches included; `applied` is what it says now (switch-schedule.ts). */
  private document: ResolvedConfig | null = null;
  private switchTimer: NodeJS.Timeout | null = null;
  private config: AgentConfig | null = null;
  private metrics: AgentMetrics | null = null;
  private servers: ObservabilityServer[] = [];
  private watcher: FSWatcher | null = null;
  private timers: NodeJS.Timeout[] = [];
  private reloading: Promise<void> = Promise.resolve();
  private documentVersion: string | null = null;
  private secretStoreHealthy = true;
  private keyCreatedAtUnixMs: number | null = null;
  private keyAgeUnknown: string | null = null;
  private rotationReported = false;
  private stopping: Promise<void> | null = null;
  private writtenStatus: string | null = null;
  /** What start() is doing, while it has not finished; null once the agent is ready. */
  private startingReason: string | null = null;
  /** True while start() waits on a refused secret read (reported as such on /healthz). */
  private startRefused = false;
  private readonly startCancel = new AbortController();
  private failover: FailoverModule.FailoverRunner | null = null;
  private readonly peerNames = new Map<string, string>();
  private readonly log: Logger;

  constructor(private readonly options: AgentOptions) {
    this.log = options.logger;
  }

  /** Reads the configuration and, when it names a cloud document, that document (one try). */
  async loadConfig(): Promise<AgentConfig> {
    return this.withDocument(await readConfigFile(this.options.configPath, this.options.secretOptions));
  }

  /** The document `bootstrap.configSource` names, or `bootstrap` itself when it names none. */
  private async withDocument(bootstrap: AgentConfig, retry?: RetryOptions): Promise<AgentConfig> {
    const source = storeDocumentSource(bootstrap);
    if (!source) return bootstrap;
    const store = secretSource(source, this.options.secretOptions);
    const document = retry ? await fetchWithRetry(store, retry) : await store.fetch();
    this.documentVersion = document.version;
    const config = parseAgentConfig(document.value.toString('utf8'));
    return { ...config, configSource: source };
  }

  async start(): Promise<void> {
    const bootstrap = await readConfigFile(this.options.configPath, this.options.secretOptions);
    this.applyLogConfig(bootstrap.log);
    this.config = bootstrap;
    // Listening before anything is fetched (with the bootstrap file's listeners when a document
    // follows): until ready, /healthz answers 503 with the reason, never a refused connection.
    this.startingReason = storeDocumentSource(bootstrap)
      ? 'fetching the configuration document from its store'
      : 'fetching keys from their stores';
    this.timers.push(setInterval(() => void this.pollStats().catch(() => undefined), 1000));
    await this.startObservability(bootstrap);
    try {
      const config = await this.untilReadable(() =>
        this.withDocument(bootstrap, this.retryReporting('fetching the configuration document')),
      );
      if (config === null) {
        await this.stop();
        return;
      }
      if (config !== bootstrap) {
        this.applyLogConfig(config.log);
        this.config = config;
        if (observabilityOf(config) !== observabilityOf(bootstrap)) {
          await this.closeServers();
          await this.startObservability(config);
        }
        this.startingReason = 'fetching keys from their stores';
      }
      const resolved = await this.untilReadable(() => this.resolve(config));
      if (resolved === null) {
        await this.stop();
        return;
      }
      this.startingReason = 'creating the interface';
      const hostState = new HostState(resolved.interfaceName, this.options.stateDir);
      const restored = hostState.restoreLeftovers();
      if (restored.length > 0)
        this.log.warn(
          { event: 'host.restored', settings: restored },
          'an earlier run ended without cleaning up; restored what it changed',
        );
      const kind = this.planeKind(config.dataPlane ?? 'auto');
      this.log.info({
        event: 'agent.start',
        dataPlane: kind,
        interface: resolved.interfaceName,
        peers: resolved.peers.length,
      });
      this.plane = kind === 'userspace' ? this.userspacePlane(config.threads) : this.options.createPlane(kind);
      await this.plane.create(resolved.interfaceName, resolved.mtu);
      this.network = new NetworkSetup(this.options.commands, resolved.interfaceName, hostState);
      for (const address of resolved.addresses) await this.network.addAddress(address);
      const applyStarted = performance.now();
      await this.applyDocument(resolved, 'start');
      this.metrics?.recordConfigApply('applied', (performance.now() - applyStarted) / 1000);
      await this.network.linkUp();
      await this.network.setRoutes(resolved.routes);
      if (config.forwarding ?? true) this.network.enableForwarding();
      await this.pollStats();
      this.watchConfig(config.configSource);
      this.startFailover(config);
      this.timers.push(setInterval(() => this.checkRotation(), ROTATION_CHECK_MS));
      this.timers.push(setInterval(() => void this.pollRotation().catch(() => undefined), ROTATION_POLL_MS));
      this.writeStatus();
      this.startingReason = null;
      this.log.info({ event: 'agent.ready', interface: resolved.interfaceName, routes: resolved.routes.length });
      // What start-up built and dropped (parsed documents, validation, module set-up; for 10,000
      // peers, tens of MB) would otherwise stay resident while the agent idles.
      releaseMemory();
    } catch (error) {
      await this.stop();
      throw error;
    }
  }

  /**
   * A stop requested while start() waits to retry a refused secret read: start() cleans up and
   * returns without a tunnel (a stop during any other part of start waits for it to finish).
   */
  cancelStart(): void {
    this.startCancel.abort();
  }

  /**
   * A refused read (access denied, no such secret, a value that is not a key) does not pass on a
   * quick retry, but an operator may fix the grant: the agent stays up without a tunnel, /healthz
   * answers 503 with the refusal, and it tries again every REFUSED_READ_RETRY_MS until stopped.
   * A key file others can read is not waited on: start fails (the key may be exposed already).
   * Null when start was cancelled meanwhile.
   */
  private async untilReadable<T>(read: () => Promise<T>): Promise<T | null> {
    for (;;) {
      try {
        const result = await read();
        this.startRefused = false;
        return result;
      } catch (error) {
        if (!(error instanceof SecretAccessError) || error.retryable || error instanceof ExposedKeyFileError)
          throw error;
        this.startRefused = true;
        this.startingReason = `${error.message}; no tunnel; trying again every ${REFUSED_READ_RETRY_MS / 1000} s`;
        this.log.error(
          { event: 'secret.refused', error: error.message, retryInMs: REFUSED_READ_RETRY_MS },
          'a secret read was refused: no tunnel until it can be read',
        );
        try {
          await delay(REFUSED_READ_RETRY_MS, undefined, { signal: this.startCancel.signal });
        } catch {
          return null;
        }
      }
    }
  }

  // Loaded only for this plane: the engine (protocol core, device, batch buffers) is no part
  // of an agent that drives the kernel module or wireguard-go. require() rather than import(): the
  // build emits CommonJS (as in agent/secrets).
  private userspacePlane(threads: number | undefined): DataPlane {
    const { UserspacePlane } = require('./planes/userspace') as typeof UserspaceModule;
    return new UserspacePlane(this.deviceLog(), (event) => this.onDeviceEvent(event), threads);
  }

  /** Re-reads the configuration and applies the difference; a bad one is refused and changes nothing. */
  reload(reason: string): Promise<void> {
    this.reloading = this.reloading.then(() => this.reloadNow(reason));
    return this.reloading;
  }

  private async reloadNow(reason: string): Promise<void> {
    const started = performance.now();
    let result: ConfigApplyResult = 'applied';
    try {
      const config = await this.loadConfig();
      const restartOnly = restartOnlyChanges(this.config!, config);
      if (restartOnly.length > 0) throw new ConfigError(restartOnly);
      this.checkLogConfig(config.log);
      const resolved = await this.resolve(config);
      result = (await this.applyDocument(resolved, reason)) ? 'applied' : 'unchanged';
      this.applyLogConfig(config.log);
      await this.network!.setRoutes(resolved.routes);
      const failoverChanged = JSON.stringify(config.failover) !== JSON.stringify(this.config!.failover);
      this.config = config;
      if (failoverChanged) this.startFailover(config);
      this.writeStatus();
    } catch (error) {
      result = error instanceof ConfigError ? 'rejected' : 'failed';
      this.log.error(
        { event: 'config.rejected', reason, error: (error as Error).message },
        'configuration not applied; the running one stays',
      );
    } finally {
      this.metrics?.recordConfigApply(result, (performance.now() - started) / 1000);
    }
  }

  /**
   * Removes everything the agent installed, once: a second call (a repeated stop signal, a failed
   * start's own cleanup) waits for the same cleanup rather than starting another.
   */
  stop(): Promise<void> {
    this.stopping ??= this.stopNow();
    return this.stopping;
  }

  private async stopNow(): Promise<void> {
    for (const timer of this.timers) clearInterval(timer);
    this.timers = [];
    if (this.switchTimer) clearTimeout(this.switchTimer);
    this.switchTimer = null;
    this.watcher?.close();
    this.watcher = null;
    this.failover?.stop();
    this.failover = null;
    await this.closeServers();
    await this.network?.undo();
    await this.plane?.destroy();
    if (this.config?.statusFile) rmSync(this.config.statusFile, { force: true });
    this.network = null;
    this.plane = null;
    this.log.info({ event: 'agent.stop' });
  }

  /** A `log.file` other than the open one cannot be honoured without a restart: refused. */
  private checkLogConfig(log: LogConfig | undefined): void {
    const logging = this.options.logging;
    if (!logging) return;
    const file = log?.file ?? logging.defaults.file;
    if (file !== logging.opened.file) {
      throw new ConfigError([
        {
          path: '$.log.file',
          message: `cannot change while the agent runs (it writes to ${logging.opened.file ?? 'stderr'}); restart it`,
        },
      ]);
    }
  }

  private applyLogConfig(log: LogConfig | undefined): void {
    const logging = this.options.logging;
    if (!logging) return;
    this.checkLogConfig(log);
    const level = log?.level ?? logging.defaults.level;
    const from = this.log.level;
    if (from === level) return;
    // Announced at info while the more verbose of the two levels is in force, so it is written.
    const announce = (): void => void this.log.info({ event: 'log.level', from, to: level });
    const louder = this.log.levels.values[level]! < this.log.levels.values[from]!;
    if (!louder) announce();
    this.log.level = level;
    if (louder) announce();
  }

  /**
   * (Re)starts the failover runner of a group member (components/README.md, "AWS failover"),
   * loaded only when the configuration has a `failover` section. A member that cannot tell which member it is keeps
   * running as a plain gateway and says so.
   */
  private startFailover(config: AgentConfig): void {
    this.failover?.stop();
    this.failover = null;
    const failover = config.failover;
    if (!failover || !config.health) return;
    const { FailoverRunner } = require('./failover/runner') as typeof FailoverModule;
    try {
      this.failover = new FailoverRunner(failover, {
        log: this.log,
        healthPort: splitHostPort(config.health.listen).port,
        onRole: (role) => this.metrics?.setFailoverRole(role),
        onTakeover: (result) => this.metrics?.recordFailoverTakeover(result),
      });
    } catch (error) {
      this.log.error({ event: 'failover.disabled', error: (error as Error).message }, 'failover not started');
      return;
    }
    this.metrics?.setFailoverRole('unknown');
    this.failover.start();
  }

  /** This member's failover role; null without failover. */
  get failoverRole(): FailoverModule.FailoverRunner['role'] | null {
    return this.failover?.role ?? null;
  }

  get dataPlane(): DataPlane | null {
    return this.plane;
  }

  // ---- applying ---------------------------------------------------------------------------------

  private planeKind(kind: DataPlaneKind): DataPlaneName {
    return kind === 'auto' ? this.options.autoPlane() : kind;
  }

  private async resolve(config: AgentConfig): Promise<ResolvedConfig> {
    try {
      const resolved = await resolveConfig(config, {
        retry: this.retryReporting('fetching keys'),
        ...(this.options.secretOptions && { secrets: this.options.secretOptions }),
      });
      this.secretStoreHealthy = true;
      this.metrics?.setSecretStoreHealthy(true);
      return resolved;
    } catch (error) {
      if (error instanceof SecretAccessError) {
        this.secretStoreHealthy = false;
        this.metrics?.setSecretStoreHealthy(false);
      }
      throw error;
    }
  }

  /** Retries of a secret store read, each reported (log, metrics, and /healthz while starting). */
  private retryReporting(what: string): RetryOptions {
    return {
      ...(this.options.retry ?? DEFAULT_RETRY),
      onRetry: (error, attempt, delayMs) => {
        if (this.startingReason !== null)
          this.startingReason = `${what}: ${error.message}; retry ${attempt} in ${Math.round(delayMs)} ms`;
        this.secretStoreHealthy = false;
        this.metrics?.setSecretStoreHealthy(false);
        this.metrics?.recordSecretFetchFailure('secret-store');
        this.log.warn({ event: 'secret.retry', attempt, delayMs, error: error.message });
      },
    };
  }

  /** Applies a document as it stands now and arms its next scheduled switch; false when nothing changed. */
  private async applyDocument(document: ResolvedConfig, reason: string): Promise<boolean> {
    this.document = document;
    const changed = await this.applyResolved(this.documentNow(), reason);
    this.armSwitch();
    return changed;
  }

  private documentNow(): ResolvedConfig {
    return configAt(this.document!, Date.now(), this.plane!.rotation.acceptsPeerNextKeys);
  }

  /** The timer of the document's next scheduled switch (none while stopping or with nothing scheduled). */
  private armSwitch(): void {
    if (this.switchTimer) clearTimeout(this.switchTimer);
    this.switchTimer = null;
    if (this.stopping) return;
    const at = this.nextSwitch();
    if (at === null) return;
    this.log.info({ event: 'rotation.scheduled', switchAt: new Date(at).toISOString() }, 'a key switch is scheduled');
    // A timer holds at most MAX_TIMER_MS (24.8 days); one that fires early re-arms for the rest.
    this.switchTimer = setTimeout(
      () => {
        this.reloading = this.reloading.then(() => this.switchNow());
      },
      Math.min(at - Date.now(), MAX_TIMER_MS),
    );
  }

  /** Applies what the document says at this instant (a scheduled switch that is due). */
  private async switchNow(): Promise<void> {
    if (!this.document || !this.plane || this.stopping) return;
    try {
      await this.applyResolved(this.documentNow(), 'scheduled switch');
      this.writeStatus();
    } catch (error) {
      this.log.error(
        { event: 'rotation.switch-failed', error: (error as Error).message },
        'the scheduled key switch was not applied',
      );
    }
    this.armSwitch();
  }

  /** Applies `desired` as a diff against what was applied; returns false when nothing changed. */
  private async applyResolved(desired: ResolvedConfig, reason: string): Promise<boolean> {
    const plane = this.plane!;
    const previous = this.applied ? await this.prepareRotation(plane.rotation, this.applied, desired) : null;
    const change = planChange(previous, desired);
    this.peerNames.clear();
    for (const peer of desired.peers) {
      this.peerNames.set(keyToBase64(peer.publicKey), peer.name);
      if (peer.nextPublicKey) this.peerNames.set(keyToBase64(peer.nextPublicKey), peer.name);
    }
    const empty = isEmptyChange(change);
    if (!empty) await plane.apply(change);
    this.trackKeyAge(desired.privateKeyCreated);
    this.applied = desired;
    await this.applyRotationState(plane.rotation, desired);
    this.log.info({ event: 'config.applied', reason, changedPeers: change.peers.length, unchanged: empty });
    return !empty;
  }

  /** wiremesh_key_age_seconds counts from the key's creation in its store, not from when it was loaded. */
  private trackKeyAge(created: ResolvedConfig['privateKeyCreated']): void {
    if ('unixMs' in created) {
      this.keyCreatedAtUnixMs = created.unixMs;
      this.keyAgeUnknown = null;
      return;
    }
    this.keyCreatedAtUnixMs = null;
    if (this.keyAgeUnknown !== created.unknown) {
      this.log.warn(
        { event: 'key.age-unknown', reason: created.unknown },
        "wiremesh_key_age_seconds is absent: the key's creation time is unknown",
      );
    }
    this.keyAgeUnknown = created.unknown;
  }

  /**
   * A key that completes a rotation is not a new key: our next key
   * becoming the private key, or a peer's next key becoming its public key, keeps the sessions.
   * This rewrites the applied state accordingly before the diff.
   */
  private async prepareRotation(
    rotation: KeyRotation,
    applied: ResolvedConfig,
    desired: ResolvedConfig,
  ): Promise<ResolvedConfig> {
    let privateKey = applied.privateKey;
    if (applied.nextPrivateKey && desired.privateKey.equals(applied.nextPrivateKey)) {
      await rotation.complete();
      privateKey = desired.privateKey;
      this.log.info({ event: 'rotation.promoted' }, 'the next private key is now the private key');
    }
    const peers: ResolvedPeer[] = [];
    for (const peer of applied.peers) {
      const renamed = desired.peers.find((d) => peer.nextPublicKey && d.publicKey.equals(peer.nextPublicKey));
      if (renamed) await rotation.promotePeerNextKey(peer.publicKey);
      peers.push(renamed ? { ...peer, publicKey: renamed.publicKey, nextPublicKey: null } : peer);
    }
    return { ...applied, privateKey, peers };
  }

  private async applyRotationState(rotation: KeyRotation, desired: ResolvedConfig): Promise<void> {
    for (const peer of desired.peers) await rotation.setPeerNextKey(peer.publicKey, peer.nextPublicKey);
    if (desired.nextPrivateKey) {
      if (!sameKey(rotation.nextPublicKey, publicKeyOf(desired.nextPrivateKey))) {
        this.rotationReported = false;
        await rotation.begin(desired.nextPrivateKey);
        this.log.info({ event: 'rotation.begin', nextPublicKey: keyToBase64(rotation.nextPublicKey!).slice(0, 8) });
      }
    } else if (rotation.nextPublicKey) {
      await rotation.abort();
      this.log.info({ event: 'rotation.aborted' });
    }
  }

  private async pollRotation(): Promise<void> {
    const plane = this.plane;
    if (!plane?.rotation.nextPublicKey || plane.liveSnapshot) return;
    await this.pollStats();
    this.checkRotation();
  }

  private checkRotation(): void {
    this.writeStatus();
    const rotation = this.plane?.rotation;
    if (!rotation) return;
    const status = rotation.status();
    if (status.complete && !this.rotationReported) {
      this.rotationReported = true;
      this.log.info(
        { event: 'rotation.complete', peers: status.peers },
        'every peer uses the next key; set it as privateKey to finish',
      );
    }
  }

  /** Where each peer's key rotation stands, for the status document. */
  statusDocument(): AgentStatusDocument | null {
    const applied = this.applied;
    const plane = this.plane;
    if (!applied || !plane) return null;
    const rotation = plane.rotation;
    const nextPublicKey = rotation.nextPublicKey;
    const stats = new Map(this.currentStats().peers.map((peer) => [peer.publicKey, peer]));
    const peers = applied.peers.map((peer) => {
      const key = keyToBase64(peer.publicKey);
      const localKey = rotation.localKeyOf(peer.publicKey) ?? null;
      return {
        name: peer.name,
        publicKey: key,
        nextPublicKey: peer.nextPublicKey && keyToBase64(peer.nextPublicKey),
        localKey,
        phase: peerKeyPhase(nextPublicKey !== null, localKey, peer.nextPublicKey !== null),
        lastHandshakeUnixMs: stats.get(key)?.lastHandshakeUnixMs ?? 0,
      };
    });
    const done = peers.every((peer) => peer.phase === 'on-next');
    return {
      interface: applied.interfaceName,
      dataPlane: plane.kind,
      documentVersion: this.documentVersion,
      publicKey: keyToBase64(publicKeyOf(applied.privateKey)),
      nextPublicKey: nextPublicKey && keyToBase64(nextPublicKey),
      acceptsPeerNextKeys: rotation.acceptsPeerNextKeys,
      switchAt: this.scheduledSwitch(),
      rotation: nextPublicKey === null ? 'none' : done ? 'complete' : 'in-progress',
      peers,
    };
  }

  /** The next scheduled key switch (ISO 8601), or null. */
  private scheduledSwitch(): string | null {
    const at = this.nextSwitch();
    return at === null ? null : new Date(at).toISOString();
  }

  /** When the applied document next changes what applies (switch-schedule.ts), or null. */
  private nextSwitch(): number | null {
    if (!this.document || !this.plane) return null;
    return nextSwitchAt(this.document, Date.now(), this.plane.rotation.acceptsPeerNextKeys);
  }

  /** Rewrites the status document when it changed; a failed write is logged, never fatal. */
  private writeStatus(): void {
    const path = this.config?.statusFile;
    const document = path ? this.statusDocument() : null;
    if (!path || !document) return;
    const text = JSON.stringify(document);
    if (text === this.writtenStatus) return;
    try {
      writeStatusDocument(path, document);
      this.writtenStatus = text;
    } catch (error) {
      this.log.warn({ event: 'status.write-failed', path, error: (error as Error).message });
    }
  }

  // ---- observability ----------------------------------------------------------------------------

  private deviceLog(): { debug(m: string): void; info(m: string): void; error(m: string): void } {
    return {
      debug: (message) => this.log.debug(message),
      info: (message) => this.log.info(message),
      error: (message) => this.log.error(message),
    };
  }

  private readonly logDeviceEvent = (event: DeviceEvent): void => {
    logEvents(this.log, (key) => this.peerNames.get(key))(event);
  };

  private onDeviceEvent(event: DeviceEvent): void {
    this.logDeviceEvent(event);
    if (event.type === 'handshake-complete') {
      const publicKey = keyToBase64(event.peer.publicKey);
      this.metrics?.recordHandshake({ name: this.peerNames.get(publicKey) ?? 'unknown', publicKey }, event.role);
      if (this.plane?.rotation.nextPublicKey) this.writeStatus(); // a peer may have moved: say so now, not within a second
    } else if (event.type === 'handshake-gave-up') {
      this.metrics?.recordHandshakeFailure('handshake-gave-up');
    }
  }

  /** The last polled stats of an out-of-process plane (its snapshot needs a UAPI or `wg` round trip). */
  private polledStats: PlaneStats = { interfaceUp: false, peers: [], drops: {} };

  /** What metrics and health see: live for the in-process plane, at most a second old otherwise. */
  private currentStats(): PlaneStats {
    const plane = this.plane;
    return plane?.liveSnapshot ? this.statsOf(plane.liveSnapshot()) : this.polledStats;
  }

  private statsOf(snapshot: DeviceSnapshot): PlaneStats {
    const plane = this.plane;
    const rotation = plane?.rotation;
    return {
      interfaceUp: plane !== null,
      drops: plane?.drops() ?? {},
      peers: snapshot.peers.map((peer) => {
        const key = keyToBase64(peer.publicKey);
        const localKey = rotation?.localKeyOf(peer.publicKey);
        return {
          name: this.peerNames.get(key) ?? key.slice(0, 8),
          publicKey: key,
          allowedIps: peer.allowedIps.map(formatPrefix),
          endpoint: peer.endpoint,
          rxBytes: peer.rxBytes,
          txBytes: peer.txBytes,
          lastHandshakeUnixMs: peer.lastHandshakeUnixMs,
          ...(localKey && { localKey }),
        };
      }),
    };
  }

  private async pollStats(): Promise<void> {
    if (this.plane && !this.plane.liveSnapshot) this.polledStats = this.statsOf(await this.plane.snapshot());
  }

  private async closeServers(): Promise<void> {
    await Promise.all(this.servers.map((server) => server.close()));
    this.servers = [];
  }

  private async startObservability(config: AgentConfig): Promise<void> {
    this.metrics = createAgentMetrics({
      collect: () => this.currentStats(),
      interfaceName: config.interface.name,
      allowedIpsLabel: config.metrics?.allowedIpsLabel ?? false,
      keyCreatedAtUnixMs: () => this.keyCreatedAtUnixMs,
    });
    this.metrics.setSecretStoreHealthy(this.secretStoreHealthy);
    const health = (): HealthReport =>
      this.startingReason !== null
        ? startingHealth(this.startingReason, this.startRefused ? 'refused' : 'starting')
        : evaluateHealth({
            stats: this.currentStats(),
            requiredPeers: this.config?.health?.requiredPeers ?? [],
            maxHandshakeAgeSeconds: this.config?.health?.maxHandshakeAgeSeconds ?? DEFAULT_MAX_HANDSHAKE_AGE_SECONDS,
            secretStoreHealthy: this.secretStoreHealthy,
            nowUnixMs: Date.now(),
          });
    const running = (): boolean => this.startingReason === null && this.plane !== null;
    // /active: for a group's load balancer, which must send peers to the route holder only. Not
    // gated on peer handshakes: a member that just took over has none until peers reach it.
    const active = (): ActiveState => {
      if (!running()) return 'not-running';
      if (!this.config?.failover) return 'not-a-member';
      const role = this.failover?.role ?? 'unknown';
      return { active: role === 'active', role };
    };
    const metricsListen = config.metrics ? splitHostPort(config.metrics.listen ?? DEFAULT_METRICS_LISTEN) : null;
    const healthListen = config.health ? splitHostPort(config.health.listen) : null;
    if (
      metricsListen &&
      healthListen &&
      metricsListen.host === healthListen.host &&
      metricsListen.port === healthListen.port
    ) {
      this.servers.push(
        await startObservabilityServer({
          ...metricsListen,
          registry: this.metrics.registry,
          health,
          ready: running,
          active,
        }),
      );
      return;
    }
    if (metricsListen)
      this.servers.push(await startObservabilityServer({ ...metricsListen, registry: this.metrics.registry }));
    if (healthListen)
      this.servers.push(await startObservabilityServer({ ...healthListen, health, ready: running, active }));
  }

  /** Ports actually listened on (metrics first), for tests that ask for port 0. */
  get listeningPorts(): number[] {
    return this.servers.map((server) => server.port);
  }

  // ---- configuration sources ----------------------------------------------------------------------

  private watchConfig(source: ConfigSourceConfig | undefined): void {
    if (source && source.source !== 'file') {
      const pollMs = (source.pollSeconds ?? DEFAULT_POLL_SECONDS) * 1000;
      const document = secretSource(source, this.options.secretOptions);
      this.timers.push(
        setInterval(() => {
          document.fetch().then(
            (value) => {
              if (value.version !== this.documentVersion)
                void this.reload(`new version ${value.version} of ${document.description}`);
            },
            (error: Error) => {
              this.metrics?.recordSecretFetchFailure('config-source');
              this.log.warn({ event: 'config.poll-failed', error: error.message });
            },
          );
        }, pollMs),
      );
      return;
    }
    const path = source?.path ?? this.options.configPath;
    let pending: NodeJS.Timeout | null = null;
    // Watch the directory: editors and config management replace files rather than rewrite them.
    this.watcher = watch(dirname(path), (_event, file) => {
      if (file !== basename(path)) return;
      if (pending) clearTimeout(pending);
      pending = setTimeout(() => void this.reload('configuration file changed'), RELOAD_DEBOUNCE_MS);
    });
  }
}

/** The secret store holding the document `config` points at; undefined for none or a file. */
function storeDocumentSource(config: AgentConfig): ConfigSourceConfig | undefined {
  const source = config.configSource;
  return source && source.source !== 'file' ? source : undefined;
}

/** What the observability listeners are made from: a document that changes it gets new listeners. */
function observabilityOf(config: AgentConfig): string {
  return JSON.stringify([config.interface.name, config.metrics ?? null, config.health?.listen ?? null]);
}
