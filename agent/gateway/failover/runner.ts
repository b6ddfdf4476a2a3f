/**
 * The I/O shell of the failover controller: finds which member this host is (by its local
 * addresses), probes the other members' /healthz, reads and replaces the group's routes through
 * EC2, and logs and counts what happens. One cloud call at a time; the controller decides.
 */
import { networkInterfaces } from 'node:os';
import type { Logger } from 'pino';
import type { FailoverConfig, FailoverMember } from '../config-types';
import { ConfigError } from '../../../common/validation';
import { FailoverController, type FailoverAction, type FailoverRole } from './controller';
import type { GroupRoutes } from './ec2-routes';
import type * as Ec2RoutesModule from './ec2-routes';
import { probeMember } from './probe';

export const FAILOVER_DEFAULTS = {
  probeIntervalSeconds: 2,
  failedProbes: 3,
  probeTimeoutMs: 1000,
  routeCheckSeconds: 10,
} as const;

/** How often the controller's clock is advanced. */
const TICK_MS = 200;

export interface FailoverHooks {
  log: Logger;
  /** The health port every member listens on (this agent's). */
  healthPort: number;
  onRole(role: FailoverRole): void;
  onTakeover(result: 'succeeded' | 'failed'): void;
  /** Default: EC2 through @aws-sdk/client-ec2. */
  routes?: GroupRoutes;
  /** Default: the addresses of this host's interfaces. */
  localAddresses?: () => string[];
}

/** The member whose address is on this host; exactly one must be. */
export function findSelf(members: readonly FailoverMember[], local: readonly string[]): FailoverMember {
  const mine = members.filter((member) => local.includes(member.address));
  if (mine.length !== 1) {
    throw new ConfigError([
      {
        path: '$.failover.members',
        message:
          mine.length === 0
            ? `no member's address is on this host (it has ${local.join(', ') || 'none'})`
            : `several members' addresses are on this host (${mine.map((member) => member.address).join(', ')})`,
      },
    ]);
  }
  return mine[0]!;
}

function hostAddresses(): string[] {
  return Object.values(networkInterfaces()).flatMap((list) => (list ?? []).map((entry) => entry.address));
}

export class FailoverRunner {
  private readonly controller: FailoverController;
  private readonly routes: GroupRoutes;
  private readonly self: FailoverMember;
  private readonly addresses: Map<string, string>;
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;

  constructor(
    private readonly config: FailoverConfig,
    private readonly hooks: FailoverHooks,
  ) {
    this.self = findSelf(config.members, (hooks.localAddresses ?? hostAddresses)());
    this.addresses = new Map(config.members.map((member) => [member.networkInterfaceId, member.address]));
    this.routes = hooks.routes ?? this.ec2Routes();
    this.controller = new FailoverController(
      {
        self: this.self.networkInterfaceId,
        members: config.members.map((member) => member.networkInterfaceId),
        failedProbes: config.failedProbes ?? FAILOVER_DEFAULTS.failedProbes,
        probeIntervalMs: (config.probeIntervalSeconds ?? FAILOVER_DEFAULTS.probeIntervalSeconds) * 1000,
        routeCheckMs: (config.routeCheckSeconds ?? FAILOVER_DEFAULTS.routeCheckSeconds) * 1000,
      },
      Date.now(),
    );
  }

  // require() keeps the EC2 client out of agents without failover (and out of the idle heap).
  private ec2Routes(): GroupRoutes {
    const { Ec2GroupRoutes } = require('./ec2-routes') as typeof Ec2RoutesModule;
    return new Ec2GroupRoutes(this.config);
  }

  get role(): FailoverRole {
    return this.controller.currentRole;
  }

  start(): void {
    this.hooks.log.info({
      event: 'failover.start',
      self: this.self.networkInterfaceId,
      members: this.config.members.length,
      routes: this.routes.routes.length,
    });
    this.perform(this.controller.tick(Date.now()));
    this.timer = setInterval(() => this.perform(this.controller.tick(Date.now())), TICK_MS);
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  private perform(actions: FailoverAction[]): void {
    if (this.stopped) return; // an answer that came back after stop()
    for (const action of actions) {
      switch (action.type) {
        case 'probe':
          void this.probe(action.member);
          break;
        case 'read-routes':
          this.routes.targets().then(
            (targets) => this.perform(this.controller.routesObserved(targets)),
            (error: Error) => {
              this.hooks.log.warn({ event: 'failover.read-failed', error: error.message });
              this.perform(this.controller.routesObserved([]));
            },
          );
          break;
        case 'replace-routes':
          void this.replace(action.takeoverFrom);
          break;
        case 'role':
          this.hooks.onRole(action.role);
          this.hooks.log.info({
            event: 'failover.role',
            role: action.role,
            previous: action.previous,
            reason: action.reason,
            routeHolder: action.holder,
          });
          break;
      }
    }
  }

  private async probe(member: string): Promise<void> {
    const before = this.controller.failuresOf(member);
    const up = await probeMember(
      this.addresses.get(member)!,
      this.hooks.healthPort,
      this.config.probeTimeoutMs ?? FAILOVER_DEFAULTS.probeTimeoutMs,
    );
    if (this.stopped) return;
    const actions = this.controller.probeResult(member, up);
    const threshold = this.config.failedProbes ?? FAILOVER_DEFAULTS.failedProbes;
    const after = this.controller.failuresOf(member);
    if (before < threshold && after >= threshold)
      this.hooks.log.warn({ event: 'failover.member-down', member, failedProbes: after });
    else if (before >= threshold && after === 0) this.hooks.log.info({ event: 'failover.member-up', member });
    this.perform(actions);
  }

  private async replace(takeoverFrom: string | null): Promise<void> {
    const started = Date.now();
    try {
      await this.routes.pointAt(this.self.networkInterfaceId);
    } catch (error) {
      this.hooks.onTakeover('failed');
      this.hooks.log.error({ event: 'failover.replace-failed', takeoverFrom, error: (error as Error).message });
      this.perform(this.controller.routesReplaced(false, takeoverFrom));
      return;
    }
    if (takeoverFrom !== null) {
      this.hooks.onTakeover('succeeded');
      this.hooks.log.warn({
        event: 'failover.takeover',
        from: takeoverFrom,
        to: this.self.networkInterfaceId,
        routes: this.routes.routes.length,
        apiMs: Date.now() - started,
      });
    } else {
      this.hooks.log.info({ event: 'failover.routes-repaired', routes: this.routes.routes.length });
    }
    this.perform(this.controller.routesReplaced(true, takeoverFrom));
  }
}
