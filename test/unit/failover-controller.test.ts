/** The failover decision (agent/failover/controller.ts) driven by a fake clock: probe results and route reads in, actions out. */
import { FailoverController, type FailoverAction } from '../../agent/gateway/failover/controller';
import { memberIsUp } from '../../agent/gateway/failover/probe';
import { findSelf } from '../../agent/gateway/failover/runner';
import { groupRoutes } from '../../agent/gateway/failover/ec2-routes';
import { parseAgentConfig } from '../../agent/gateway/config';
import { ConfigError } from '../../common/validation';

const A = 'eni-0000000a';
const B = 'eni-0000000b';
const C = 'eni-0000000c';

function controller(self: string, members = [A, B]): { c: FailoverController; now: { ms: number } } {
  const now = { ms: 1_000_000 };
  const c = new FailoverController(
    { self, members, failedProbes: 3, probeIntervalMs: 2000, routeCheckMs: 10_000 },
    now.ms,
  );
  return { c, now };
}

const types = (actions: FailoverAction[]) => actions.map((action) => action.type);

describe('FailoverController', () => {
  test('probes the other members each interval and reads the routes at start', () => {
    const { c, now } = controller(B);
    expect(c.tick(now.ms)).toEqual([{ type: 'probe', member: A }, { type: 'read-routes' }]);
    expect(c.tick(now.ms + 1000)).toEqual([]);
    expect(c.tick(now.ms + 2000)).toEqual([{ type: 'probe', member: A }]);
  });

  test('the role is where the routes point', () => {
    const { c, now } = controller(B);
    c.tick(now.ms);
    expect(c.routesObserved([A, A])).toEqual([
      { type: 'role', role: 'standby', previous: 'unknown', reason: 'routes-observed', holder: A },
    ]);
    expect(c.currentRole).toBe('standby');
  });

  test('a standby takes over after exactly failedProbes failures of the holder, once', () => {
    const { c, now } = controller(B);
    c.tick(now.ms);
    c.routesObserved([A]);
    expect(c.probeResult(A, false)).toEqual([]);
    expect(c.probeResult(A, false)).toEqual([]);
    expect(c.probeResult(A, false)).toEqual([{ type: 'replace-routes', takeoverFrom: A }]);
    // While the replace is out, more failures ask for nothing more.
    expect(c.probeResult(A, false)).toEqual([]);
    expect(c.routesReplaced(true, A)).toEqual([
      { type: 'role', role: 'active', previous: 'standby', reason: 'takeover', holder: B },
    ]);
    expect(c.routeHolder).toBe(B);
    expect(c.probeResult(A, false)).toEqual([]);
  });

  test('a success in between resets the count', () => {
    const { c, now } = controller(B);
    c.tick(now.ms);
    c.routesObserved([A]);
    c.probeResult(A, false);
    c.probeResult(A, false);
    c.probeResult(A, true);
    c.probeResult(A, false);
    expect(c.probeResult(A, false)).toEqual([]);
    expect(types(c.probeResult(A, false))).toEqual(['replace-routes']);
  });

  test('no takeover before the routes have been read', () => {
    const { c, now } = controller(B);
    c.tick(now.ms);
    for (let i = 0; i < 5; i++) expect(c.probeResult(A, false)).toEqual([]);
    // The read then finds A holding and A long down: take over at once.
    expect(types(c.routesObserved([A]))).toEqual(['role', 'replace-routes']);
  });

  test('a refused replace is retried at the next failed probe', () => {
    const { c, now } = controller(B);
    c.tick(now.ms);
    c.routesObserved([A]);
    for (let i = 0; i < 3; i++) c.probeResult(A, false);
    expect(c.routesReplaced(false, A)).toEqual([]);
    expect(c.currentRole).toBe('standby');
    expect(c.probeResult(A, false)).toEqual([{ type: 'replace-routes', takeoverFrom: A }]);
  });

  test('no preemption: the old active comes back as a standby and leaves the routes', () => {
    const { c: a, now } = controller(A);
    a.tick(now.ms);
    // A restarts after B took over: the routes point at B.
    expect(a.routesObserved([B])).toEqual([
      { type: 'role', role: 'standby', previous: 'unknown', reason: 'routes-observed', holder: B },
    ]);
    for (let i = 0; i < 10; i++) expect(a.probeResult(B, true)).toEqual([]);
  });

  test('an active that finds the routes moved becomes a standby', () => {
    const { c, now } = controller(A);
    c.tick(now.ms);
    c.routesObserved([A]);
    expect(c.tick(now.ms + 10_000)).toContainEqual({ type: 'read-routes' });
    expect(c.routesObserved([B, B])).toEqual([
      { type: 'role', role: 'standby', previous: 'active', reason: 'routes-observed', holder: B },
    ]);
  });

  test('the holder re-points routes it finds elsewhere (a takeover cut short)', () => {
    const { c, now } = controller(A);
    c.tick(now.ms);
    expect(c.routesObserved([A, B, null])).toEqual([
      { type: 'role', role: 'active', previous: 'unknown', reason: 'routes-observed', holder: A },
      { type: 'replace-routes', takeoverFrom: null },
    ]);
    expect(c.routesReplaced(true, null)).toEqual([]);
  });

  test('three members: only the first live standby takes over', () => {
    const { c: b, now } = controller(B, [A, B, C]);
    const { c: c3 } = controller(C, [A, B, C]);
    for (const x of [b, c3]) {
      x.tick(now.ms);
      x.routesObserved([A]);
    }
    for (let i = 0; i < 3; i++) {
      b.probeResult(A, false);
      c3.probeResult(A, false);
      c3.probeResult(B, true);
    }
    expect(b.currentRole).toBe('standby');
    expect(b.routeHolder).toBe(A);
    // B took over (its third probe); C, with B alive, did not.
    expect(c3.probeResult(A, false)).toEqual([]);
    // When B is down too, C takes over.
    c3.probeResult(B, false);
    c3.probeResult(B, false);
    expect(c3.probeResult(B, false)).toEqual([{ type: 'replace-routes', takeoverFrom: A }]);
  });

  test('a member not in the group is refused', () => {
    expect(() => controller(C)).toThrow(/not a member/);
  });
});

describe('member probes', () => {
  const report = (checks: object[]) => JSON.stringify({ healthy: false, checks });
  test('up: interface up, even with a stale required peer (503)', () => {
    expect(memberIsUp(200, report([{ name: 'interface', ok: true }]))).toBe(true);
    expect(
      memberIsUp(
        503,
        report([
          { name: 'interface', ok: true },
          { name: 'peer:hub', ok: false },
        ]),
      ),
    ).toBe(true);
  });
  test('down: starting, interface down, no JSON, other statuses', () => {
    expect(memberIsUp(503, report([{ name: 'start', ok: false }]))).toBe(false);
    expect(memberIsUp(503, report([{ name: 'interface', ok: false }]))).toBe(false);
    expect(memberIsUp(200, 'ok')).toBe(false);
    expect(memberIsUp(500, report([{ name: 'interface', ok: true }]))).toBe(false);
  });
});

describe('failover configuration', () => {
  const base = {
    interface: { name: 'wm0', addresses: ['10.99.0.1/24'] },
    privateKey: { source: 'file', path: '/etc/wiremesh/key' },
    peers: [],
    health: { listen: '0.0.0.0:9587' },
  };
  const failover = {
    provider: 'aws-ec2',
    region: 'eu-west-1',
    members: [
      { networkInterfaceId: A, address: '10.0.1.10' },
      { networkInterfaceId: B, address: '10.0.2.10' },
    ],
    routeTableIds: ['rtb-0000000a'],
    destinations: ['10.20.0.0/16', 'fd00:20::/48'],
  };
  const problems = (document: object): string[] => {
    try {
      parseAgentConfig(JSON.stringify(document));
      return [];
    } catch (error) {
      return (error as ConfigError).problems.map((p) => `${p.path}: ${p.message}`);
    }
  };

  test('a valid section', () => {
    expect(problems({ ...base, failover })).toEqual([]);
    expect(groupRoutes(failover)).toEqual([
      { routeTableId: 'rtb-0000000a', destination: '10.20.0.0/16', family: 4 },
      { routeTableId: 'rtb-0000000a', destination: 'fd00:20::/48', family: 6 },
    ]);
  });

  test('errors name the field', () => {
    const bad = {
      ...failover,
      members: [
        { networkInterfaceId: 'i-123', address: '10.0.1.10' },
        { networkInterfaceId: B, address: 'ten' },
      ],
      routeTableIds: ['rtb-0000000a', 'rtb-0000000a'],
      destinations: ['10.20.0.0/33'],
      failedProbes: 0,
    };
    const found = problems({ ...base, failover: bad });
    expect(found).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^\$\.failover\.members\[0\]\.networkInterfaceId: must be an ENI id/),
        expect.stringMatching(/^\$\.failover\.failedProbes: /),
      ]),
    );
    // Past the schema: the rules it cannot say.
    const more = problems({
      ...base,
      failover: {
        ...failover,
        members: [failover.members[0], { ...failover.members[0], address: 'ten' }],
        routeTableIds: ['rtb-0000000a', 'rtb-0000000a'],
        destinations: ['10.20.0.0/33'],
      },
    });
    expect(more).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^\$\.failover\.destinations\[0\]: /),
        expect.stringMatching(/^\$\.failover\.members\[1\]\.address: invalid IP address/),
        '$.failover.members[1].networkInterfaceId: duplicates $.failover.members[0].networkInterfaceId',
        '$.failover.routeTableIds[1]: is listed twice',
      ]),
    );
  });

  test('failover needs the health listener', () => {
    const { health: _health, ...noHealth } = base;
    expect(problems({ ...noHealth, failover })).toEqual([
      "$.failover: needs $.health: the members probe each other's /healthz",
    ]);
  });

  test('an agent finds itself by its addresses', () => {
    expect(findSelf(failover.members, ['127.0.0.1', '10.0.2.10']).networkInterfaceId).toBe(B);
    expect(() => findSelf(failover.members, ['127.0.0.1'])).toThrow(/no member's address is on this host/);
  });
});
