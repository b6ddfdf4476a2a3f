/**
 * The failover decision of one member of an active/standby gateway group, sans-IO: probe results,
 * route observations and a clock in, actions out (probe a member, read the routes, move the routes
 * here). The shell (agent/failover/runner.ts) does the HTTP probes and the cloud API calls.
 *
 * Who is active is not a local belief but where the group's routes point: the member whose network
 * interface the routes target (read from the cloud at start and every `routeCheckMs`). The rules:
 * - a standby takes over when the route holder has failed `failedProbes` probes in a row and every
 *   member listed before this one (other than the holder) has too: of the live standbys, only the
 *   first in the group's order moves the routes, so two standbys that see the same failures never
 *   both take over;
 * - no preemption: a member that comes back finds the routes at another member and stays standby
 *   while that member answers its probes. Routes move only away from a failing holder, never back
 *   to a recovered one, so a member that flaps does not flap the routes;
 * - a holder that finds some routes elsewhere (a takeover cut short, a hand edit) re-points them
 *   while it still holds the first route; when the first route points at another member it is
 *   a standby from then on.
 */

export interface FailoverSettings {
  /** This member's name (its network interface id). */
  self: string;
  /** Every member in the group's order, `self` among them. */
  members: readonly string[];
  /** How many probes in a row must fail before a member counts as down. */
  failedProbes: number;
  probeIntervalMs: number;
  /** How often the routes are read back (to notice another member's takeover). */
  routeCheckMs: number;
}

export type FailoverRole = 'unknown' | 'active' | 'standby';

/** Why the role changed: found at a route check, or taken over from a failed holder. */
export type RoleChangeReason = 'routes-observed' | 'takeover';

export type FailoverAction =
  | { type: 'probe'; member: string }
  | { type: 'read-routes' }
  /** Point every route of the group at this member (ReplaceRoute is idempotent). */
  | { type: 'replace-routes'; takeoverFrom: string | null }
  | { type: 'role'; role: FailoverRole; previous: FailoverRole; reason: RoleChangeReason; holder: string | null };

export class FailoverController {
  private role: FailoverRole = 'unknown';
  private holder: string | null = null;
  private readonly failures = new Map<string, number>();
  private nextProbeMs: number;
  private nextRouteCheckMs: number;
  /** True while a read or a replace is out: one cloud call at a time. */
  private routeCallPending = false;

  constructor(
    private readonly settings: FailoverSettings,
    nowMs: number,
  ) {
    if (!settings.members.includes(settings.self)) throw new Error(`${settings.self} is not a member of the group`);
    this.nextProbeMs = nowMs;
    this.nextRouteCheckMs = nowMs;
    for (const member of this.others()) this.failures.set(member, 0);
  }

  get currentRole(): FailoverRole {
    return this.role;
  }

  get routeHolder(): string | null {
    return this.holder;
  }

  /** Consecutive failed probes of a member. */
  failuresOf(member: string): number {
    return this.failures.get(member) ?? 0;
  }

  /** Called on a timer: the probes and route check that are due. */
  tick(nowMs: number): FailoverAction[] {
    const actions: FailoverAction[] = [];
    if (nowMs >= this.nextProbeMs) {
      this.nextProbeMs = nowMs + this.settings.probeIntervalMs;
      for (const member of this.others()) actions.push({ type: 'probe', member });
    }
    if (nowMs >= this.nextRouteCheckMs && !this.routeCallPending) {
      this.nextRouteCheckMs = nowMs + this.settings.routeCheckMs;
      this.routeCallPending = true;
      actions.push({ type: 'read-routes' });
    }
    return actions;
  }

  /** The answer of one probe: `up` when the member answered that it runs. */
  probeResult(member: string, up: boolean): FailoverAction[] {
    if (!this.failures.has(member)) return [];
    this.failures.set(member, up ? 0 : this.failuresOf(member) + 1);
    return this.takeoverIfDue();
  }

  /**
   * The member each route points at, in the shell's route order (null: a route pointing at no
   * member, or missing). The first route decides the holder.
   */
  routesObserved(targets: ReadonlyArray<string | null>): FailoverAction[] {
    this.routeCallPending = false;
    const holder = targets[0] ?? null;
    const actions: FailoverAction[] = [];
    if (holder !== null && this.settings.members.includes(holder)) this.holder = holder;
    const role: FailoverRole =
      this.holder === null ? 'unknown' : this.holder === this.settings.self ? 'active' : 'standby';
    actions.push(...this.setRole(role, 'routes-observed'));
    if (role === 'active') {
      if (targets.some((target) => target !== this.settings.self)) actions.push(this.replace(null));
      return actions;
    }
    return [...actions, ...this.takeoverIfDue()];
  }

  /** The result of a `replace-routes` action. */
  routesReplaced(ok: boolean, takeoverFrom: string | null): FailoverAction[] {
    this.routeCallPending = false;
    if (!ok) return []; // still failing: the next probe result or route check tries again
    this.holder = this.settings.self;
    return this.setRole('active', takeoverFrom !== null ? 'takeover' : 'routes-observed');
  }

  private others(): string[] {
    return this.settings.members.filter((member) => member !== this.settings.self);
  }

  private down(member: string): boolean {
    return this.failuresOf(member) >= this.settings.failedProbes;
  }

  private takeoverIfDue(): FailoverAction[] {
    const { self, members } = this.settings;
    if (this.role !== 'standby' || this.holder === null || this.routeCallPending) return [];
    if (!this.down(this.holder)) return [];
    const before = members.slice(0, members.indexOf(self)).filter((member) => member !== this.holder);
    if (!before.every((member) => this.down(member))) return [];
    return [this.replace(this.holder)];
  }

  private replace(takeoverFrom: string | null): FailoverAction {
    this.routeCallPending = true;
    return { type: 'replace-routes', takeoverFrom };
  }

  private setRole(role: FailoverRole, reason: RoleChangeReason): FailoverAction[] {
    if (role === this.role) return [];
    const previous = this.role;
    this.role = role;
    return [{ type: 'role', role, previous, reason, holder: this.holder }];
  }
}
