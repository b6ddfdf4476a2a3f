/**
 * The mesh planner (mesh/planner.ts): exact plans of small meshes (hub-and-spoke with one and two
 * hubs, full-mesh, NAT keepalive, external sites, a full-tunnel hub) and properties of random valid
 * specs (exact reachability, no address under two peers, no widening, own CIDRs never under a peer,
 * determinism).
 */
import fc from 'fast-check';
import { formatPrefix, parsePrefix } from '../../common/ip';
import { validateAgentConfig } from '../../agent/gateway/config';
import { ConfigError } from '../../common/validation';
import { AddressSet, aggregate } from '../../mesh/aggregate';
import { agentConfigFor, planMesh, type GatewayPlan, type MeshPlan } from '../../mesh/planner';
import type { MeshSpec, SiteSpec } from '../../mesh/spec';
import { BOUNDED, testKey as key } from '../support/fixtures';

const fileKey = (path: string) => ({ source: 'file' as const, path });

function keysFor(spec: MeshSpec): Record<string, string> {
  const keys: Record<string, string> = {};
  spec.sites.forEach((site, i) => {
    if (site.provider !== 'external') keys[site.name] = key(100 + i);
  });
  return keys;
}

function gateway(plan: MeshPlan, id: string): GatewayPlan {
  const found = plan.gateways.find((g) => g.id === id);
  if (found === undefined) throw new Error(`no gateway ${id}`);
  return found;
}

/** id -> peer site -> allowed IPs, the shape most assertions compare. */
function allowed(plan: MeshPlan): Record<string, Record<string, string[]>> {
  return Object.fromEntries(
    plan.gateways.map((g) => [g.id, Object.fromEntries(g.peers.map((p) => [p.site, p.allowedIps]))]),
  );
}

describe('planMesh: hub-and-spoke', () => {
  const spec: MeshSpec = {
    name: 'corp',
    topology: { type: 'hub-and-spoke', hubs: ['hub'] },
    sites: [
      { name: 'b', provider: 'local', cidrs: ['10.3.0.0/16', '10.2.0.0/16'], behindNat: true },
      { name: 'hub', provider: 'aws', cidrs: ['10.0.0.0/16'], endpoint: 'hub.example.net:51820' },
      { name: 'a', provider: 'gcp', cidrs: ['10.1.0.0/16'], endpoint: '203.0.113.7:51820' },
    ],
  };
  const publicKeys = { hub: key(1), a: key(2), b: key(3) };
  const plan = planMesh(spec, { publicKeys });

  it('gives every gateway exactly the allowed IPs and routes of the rules', () => {
    expect(plan.gateways.map((g) => g.id)).toEqual(['a', 'b', 'hub']);
    expect(allowed(plan)).toEqual({
      hub: { a: ['10.1.0.0/16'], b: ['10.2.0.0/15'] },
      a: { hub: ['10.0.0.0/16', '10.2.0.0/15'] },
      b: { hub: ['10.0.0.0/15'] },
    });
    expect(gateway(plan, 'hub').routes).toEqual(['10.1.0.0/16', '10.2.0.0/15']);
    expect(gateway(plan, 'a').routes).toEqual(['10.0.0.0/16', '10.2.0.0/15']);
    expect(gateway(plan, 'b').routes).toEqual(['10.0.0.0/15']);
  });

  it('plans addresses, ports, forwarding, endpoints and NAT keepalive', () => {
    expect(gateway(plan, 'hub')).toEqual({
      id: 'hub',
      site: 'hub',
      index: 0,
      address: '10.0.0.1/32',
      listenPort: 51820,
      mtu: 1420,
      forwards: true,
      peers: [
        {
          site: 'a',
          publicKey: key(2),
          endpoint: '203.0.113.7:51820',
          allowedIps: ['10.1.0.0/16'],
          persistentKeepalive: 0,
          presharedKey: false,
        },
        {
          site: 'b',
          publicKey: key(3),
          endpoint: null,
          allowedIps: ['10.2.0.0/15'],
          persistentKeepalive: 0,
          presharedKey: false,
        },
      ],
      routes: ['10.1.0.0/16', '10.2.0.0/15'],
    });
    // b is behind NAT: it keeps its mapping open; its first CIDR is 10.3.0.0/16.
    expect(gateway(plan, 'b')).toMatchObject({ address: '10.3.0.1/32', forwards: false });
    expect(gateway(plan, 'b').peers).toEqual([
      {
        site: 'hub',
        publicKey: key(1),
        endpoint: 'hub.example.net:51820',
        allowedIps: ['10.0.0.0/15'],
        persistentKeepalive: 25,
        presharedKey: false,
      },
    ]);
    expect(gateway(plan, 'a').peers[0]!.persistentKeepalive).toBe(0);
  });

  it('maps a gateway onto a valid agent configuration', () => {
    const config = agentConfigFor(gateway(plan, 'hub'), {
      interfaceName: 'wm0',
      privateKey: fileKey('/etc/wiremesh/private.key'),
      metrics: { listen: '127.0.0.1:9586' },
      dataPlane: 'kernel',
    });
    expect(config).toEqual({
      interface: { name: 'wm0', addresses: ['10.0.0.1/32'], listenPort: 51820, mtu: 1420 },
      privateKey: fileKey('/etc/wiremesh/private.key'),
      peers: [
        { name: 'a', publicKey: key(2), endpoint: '203.0.113.7:51820', allowedIps: ['10.1.0.0/16'] },
        { name: 'b', publicKey: key(3), allowedIps: ['10.2.0.0/15'] },
      ],
      routes: ['10.1.0.0/16', '10.2.0.0/15'],
      forwarding: true,
      dataPlane: 'kernel',
      metrics: { listen: '127.0.0.1:9586' },
    });
    expect(validateAgentConfig(config)).toBe(config);
    const spoke = agentConfigFor(gateway(plan, 'b'), { interfaceName: 'wm0', privateKey: fileKey('/k') });
    expect(spoke.peers).toEqual([
      {
        name: 'hub',
        publicKey: key(1),
        endpoint: 'hub.example.net:51820',
        allowedIps: ['10.0.0.0/15'],
        persistentKeepalive: 25,
      },
    ]);
    expect(() => validateAgentConfig(spoke)).not.toThrow();
  });

  it('sends spoke-to-spoke traffic through the first hub listed, and reaches other hubs directly', () => {
    const two: MeshSpec = {
      name: 'two',
      topology: { type: 'hub-and-spoke', hubs: ['h2', 'h1'] },
      sites: [
        { name: 'h1', provider: 'aws', cidrs: ['10.0.0.0/24'], endpoint: 'h1.example:51820' },
        { name: 'h2', provider: 'gcp', cidrs: ['10.0.1.0/24', 'fd00:2::/48'], endpoint: 'h2.example:51820' },
        { name: 's1', provider: 'aws', cidrs: ['10.1.0.0/24'], endpoint: 's1.example:51820' },
        { name: 's2', provider: 'aws', cidrs: ['10.1.1.0/24'], behindNat: true },
        { name: 's3', provider: 'gcp', cidrs: ['10.1.2.0/24', 'fd00:3::/48'], endpoint: 's3.example:51820' },
      ],
    };
    const p = planMesh(two, { publicKeys: keysFor(two) });
    expect(allowed(p)).toEqual({
      h1: {
        h2: ['10.0.1.0/24', 'fd00:2::/48'],
        s1: ['10.1.0.0/24'],
        s2: ['10.1.1.0/24'],
        s3: ['10.1.2.0/24', 'fd00:3::/48'],
      },
      h2: { h1: ['10.0.0.0/24'], s1: ['10.1.0.0/24'], s2: ['10.1.1.0/24'], s3: ['10.1.2.0/24', 'fd00:3::/48'] },
      s1: { h1: ['10.0.0.0/24'], h2: ['10.0.1.0/24', '10.1.1.0/24', '10.1.2.0/24', 'fd00:2::/48', 'fd00:3::/48'] },
      s2: { h1: ['10.0.0.0/24'], h2: ['10.0.1.0/24', '10.1.0.0/24', '10.1.2.0/24', 'fd00:2::/48', 'fd00:3::/48'] },
      s3: { h1: ['10.0.0.0/24'], h2: ['10.0.1.0/24', '10.1.0.0/23', 'fd00:2::/48'] },
    });
    expect(gateway(p, 'h1').routes).toEqual([
      '10.0.1.0/24',
      '10.1.0.0/23',
      '10.1.2.0/24',
      'fd00:2::/48',
      'fd00:3::/48',
    ]);
    expect(gateway(p, 's3').routes).toEqual(['10.0.0.0/23', '10.1.0.0/23', 'fd00:2::/48']);
    expect(p.gateways.filter((g) => g.forwards).map((g) => g.id)).toEqual(['h1', 'h2']);
    expect(gateway(p, 's2').peers.map((peer) => peer.persistentKeepalive)).toEqual([25, 25]);
    expect(gateway(p, 'h1').address).toBe('10.0.0.1/32');
  });

  it('plans one gateway per index, sharing peers, with consecutive addresses', () => {
    const multi: MeshSpec = { ...spec, sites: spec.sites.map((s) => (s.name === 'hub' ? { ...s, gateways: 3 } : s)) };
    const p = planMesh(multi, { publicKeys });
    expect(p.gateways.map((g) => [g.id, g.index, g.address])).toEqual([
      ['a', 0, '10.1.0.1/32'],
      ['b', 0, '10.3.0.1/32'],
      ['hub-1', 0, '10.0.0.1/32'],
      ['hub-2', 1, '10.0.0.2/32'],
      ['hub-3', 2, '10.0.0.3/32'],
    ]);
    expect(gateway(p, 'hub-3').peers).toEqual(gateway(p, 'hub-1').peers);
    expect(gateway(p, 'hub-3').peers).not.toBe(gateway(p, 'hub-1').peers);
    // The spokes still see one peer per hub site: the gateways share its key.
    expect(gateway(p, 'a').peers.map((peer) => peer.site)).toEqual(['hub']);
  });

  it('takes external sites as peers with their own key and no plan', () => {
    const withPartner: MeshSpec = {
      ...spec,
      sites: [
        ...spec.sites,
        {
          name: 'partner',
          provider: 'external',
          cidrs: ['192.168.50.0/24'],
          endpoint: 'vpn.partner.example:51820',
          publicKey: key(9),
        },
      ],
    };
    const p = planMesh(withPartner, { publicKeys });
    expect(p.gateways.map((g) => g.id)).toEqual(['a', 'b', 'hub']);
    expect(gateway(p, 'hub').peers.find((peer) => peer.site === 'partner')).toEqual({
      site: 'partner',
      publicKey: key(9),
      endpoint: 'vpn.partner.example:51820',
      allowedIps: ['192.168.50.0/24'],
      persistentKeepalive: 0,
      presharedKey: false,
    });
    expect(allowed(p).a).toEqual({ hub: ['10.0.0.0/16', '10.2.0.0/15', '192.168.50.0/24'] });
  });

  it('reaches a full-tunnel hub with 0.0.0.0/0 and ::/0 from spokes only', () => {
    const egress: MeshSpec = {
      name: 'egress',
      topology: { type: 'hub-and-spoke', hubs: ['core', 'exit'] },
      sites: [
        { name: 'core', provider: 'aws', cidrs: ['10.0.0.0/16'], endpoint: 'core.example:51820' },
        { name: 'exit', provider: 'aws', cidrs: ['10.9.0.0/16'], endpoint: 'exit.example:51820', fullTunnel: true },
        { name: 'shop', provider: 'gcp', cidrs: ['10.1.0.0/16'], behindNat: true },
        { name: 'lab', provider: 'gcp', cidrs: ['10.2.0.0/16'], endpoint: 'lab.example:51820' },
      ],
    };
    const p = planMesh(egress, { publicKeys: keysFor(egress) });
    expect(allowed(p)).toEqual({
      core: { exit: ['10.9.0.0/16'], lab: ['10.2.0.0/16'], shop: ['10.1.0.0/16'] },
      exit: { core: ['10.0.0.0/16'], lab: ['10.2.0.0/16'], shop: ['10.1.0.0/16'] },
      lab: { core: ['10.0.0.0/15'], exit: ['0.0.0.0/0', '::/0'] },
      shop: { core: ['10.0.0.0/16', '10.2.0.0/16'], exit: ['0.0.0.0/0', '::/0'] },
    });
    expect(gateway(p, 'shop').routes).toEqual(['0.0.0.0/0', '::/0']);
    const config = agentConfigFor(gateway(p, 'shop'), { interfaceName: 'wm0', privateKey: fileKey('/k') });
    expect(config.peers[1]).toMatchObject({ name: 'exit', allowedIps: ['0.0.0.0/0', '::/0'], fullTunnel: true });
    expect(config.peers[0]!.fullTunnel).toBeUndefined();
    expect(() => validateAgentConfig(config)).not.toThrow();
  });
});

describe('planMesh: full-mesh and inputs', () => {
  const spec: MeshSpec = {
    name: 'flat',
    topology: { type: 'full-mesh' },
    defaults: { listenPort: 51900, mtu: 1380, persistentKeepalive: 15 },
    sites: [
      { name: 'x', provider: 'aws', cidrs: ['10.10.0.0/24', '10.10.1.0/24', 'fd10::/64'], endpoint: 'x.example:51900' },
      { name: 'y', provider: 'gcp', cidrs: ['fd20::/64'], endpoint: '[2001:db8::20]:51900' },
      { name: 'z', provider: 'local', cidrs: ['10.30.0.0/24'], behindNat: true },
    ],
    presharedKeys: [{ sites: ['z', 'x'] }],
  };
  const publicKeys = { x: key(1), y: key(2), z: key(3) };

  it('peers every site with every other, with the defaults and the preshared pair', () => {
    const plan = planMesh(spec, { publicKeys });
    expect(allowed(plan)).toEqual({
      x: { y: ['fd20::/64'], z: ['10.30.0.0/24'] },
      y: { x: ['10.10.0.0/23', 'fd10::/64'], z: ['10.30.0.0/24'] },
      z: { x: ['10.10.0.0/23', 'fd10::/64'], y: ['fd20::/64'] },
    });
    expect(plan.gateways.map((g) => [g.id, g.address, g.listenPort, g.mtu, g.forwards])).toEqual([
      ['x', '10.10.0.1/32', 51900, 1380, false],
      ['y', 'fd20::1/128', 51900, 1380, false],
      ['z', '10.30.0.1/32', 51900, 1380, false],
    ]);
    expect(gateway(plan, 'z').peers.map((p) => [p.site, p.endpoint, p.persistentKeepalive, p.presharedKey])).toEqual([
      ['x', 'x.example:51900', 15, true],
      ['y', '[2001:db8::20]:51900', 15, false],
    ]);
    expect(gateway(plan, 'x').peers.map((p) => [p.site, p.endpoint, p.persistentKeepalive, p.presharedKey])).toEqual([
      ['y', '[2001:db8::20]:51900', 0, false],
      ['z', null, 0, true],
    ]);
  });

  it('asks for preshared keys with the pair sorted, so both ends name the same secret', () => {
    const plan = planMesh(spec, { publicKeys });
    const asked: string[] = [];
    const psk = (a: string, b: string) => {
      asked.push(`${a}+${b}`);
      return fileKey(`/etc/wiremesh/psk-${a}-${b}`);
    };
    const x = agentConfigFor(gateway(plan, 'x'), {
      interfaceName: 'wm0',
      privateKey: fileKey('/k'),
      presharedKey: psk,
    });
    const z = agentConfigFor(gateway(plan, 'z'), {
      interfaceName: 'wm0',
      privateKey: fileKey('/k'),
      presharedKey: psk,
    });
    expect(asked).toEqual(['x+z', 'x+z']);
    expect(x.peers[1]!.presharedKey).toEqual(fileKey('/etc/wiremesh/psk-x-z'));
    expect(z.peers[0]!.presharedKey).toEqual(fileKey('/etc/wiremesh/psk-x-z'));
    expect(() => validateAgentConfig(z)).not.toThrow();
    expect(() => agentConfigFor(gateway(plan, 'x'), { interfaceName: 'wm0', privateKey: fileKey('/k') })).toThrow(
      'gateway x: the tunnel to z has a preshared key, but no presharedKey source was given',
    );
  });

  it('uses endpoint overrides, never for a site behind NAT', () => {
    const plan = planMesh(spec, { publicKeys, endpoints: { y: '192.0.2.2:51900', z: '192.0.2.3:51900' } });
    expect(gateway(plan, 'x').peers.map((p) => p.endpoint)).toEqual(['192.0.2.2:51900', null]);
  });

  it('reports missing public keys, reused keys and local sites without an endpoint', () => {
    const local: MeshSpec = {
      ...spec,
      sites: [...spec.sites, { name: 'w', provider: 'local', cidrs: ['10.40.0.0/24'] }],
    };
    expect(() => planMesh(local, { publicKeys: { x: key(1), y: key(1) } })).toThrow(ConfigError);
    try {
      planMesh(local, { publicKeys: { x: key(1), y: key(1) } });
    } catch (error) {
      expect((error as ConfigError).problems).toEqual([
        { path: 'publicKeys.w', message: 'is missing: every site that is not external needs its public key' },
        {
          path: 'endpoints.w',
          message: 'is missing: a local site not behind NAT gets its endpoint from the local target',
        },
        { path: 'publicKeys.y', message: 'is the same key as site "x"\'s' },
        { path: 'publicKeys.z', message: 'is missing: every site that is not external needs its public key' },
      ]);
      expect((error as Error).message.startsWith('invalid mesh plan input:\n')).toBe(true);
    }
    const ok = planMesh(local, { publicKeys: { ...publicKeys, w: key(4) }, endpoints: { w: '127.0.0.1:51904' } });
    expect(gateway(ok, 'x').peers.find((p) => p.site === 'w')!.endpoint).toBe('127.0.0.1:51904');
  });

  it('validates the spec it plans', () => {
    expect(() =>
      planMesh({ ...spec, sites: [spec.sites[0]!, { ...spec.sites[1]!, name: 'x' }] }, { publicKeys }),
    ).toThrow(ConfigError);
  });
});

// Properties of random valid specs.

/** An independent reference: a prefix list as merged [start, end) bigint ranges, written out. */
function ranges(texts: readonly string[]): string {
  const list = texts.map((text) => {
    const prefix = parsePrefix(text);
    let start = prefix.family === 4 ? 0n : 1n << 200n; // keeps the families apart
    for (const byte of prefix.address) start = start * 256n + BigInt(byte);
    const size = 2n ** BigInt(prefix.address.length * 8 - prefix.bits);
    return [start, start + size] as const;
  });
  list.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const merged: [bigint, bigint][] = [];
  for (const [start, end] of list) {
    const last = merged[merged.length - 1];
    if (last !== undefined && start <= last[1]) last[1] = end > last[1] ? end : last[1];
    else merged.push([start, end]);
  }
  return merged.map(([a, b]) => `${a}-${b}`).join(' ');
}

const ALL = ['0.0.0.0/0', '::/0'];

interface Drawn {
  spec: MeshSpec;
  publicKeys: Record<string, string>;
  endpoints: Record<string, string>;
}

/** A random valid spec: disjoint random CIDRs, random providers, NAT, topology, hubs, full tunnel. */
function drawSpec(g: fc.GeneratorValue): Drawn {
  // Disjoint CIDRs: random candidates, kept greedily when they miss every kept one.
  const candidates = g(
    fc.array,
    fc.record({ v6: fc.boolean(), word: fc.integer({ min: 0, max: 0xffff }), bits: fc.integer({ min: 0, max: 10 }) }),
    {
      minLength: 2,
      maxLength: 40,
    },
  );
  const kept: { text: string; set: AddressSet }[] = [];
  for (const { v6, word, bits } of candidates) {
    const text = v6
      ? formatPrefix(parsePrefix(`fd00:0:0:${word.toString(16)}::/${54 + bits}`))
      : formatPrefix(parsePrefix(`10.${word >> 8}.${word & 255}.0/${14 + bits}`));
    const set = AddressSet.of([parsePrefix(text)]);
    if (kept.every((k) => !k.set.intersects(set))) kept.push({ text, set });
  }
  if (kept.length < 2)
    kept.push({ text: '192.168.0.0/24', set: AddressSet.EMPTY }, { text: '192.168.1.0/24', set: AddressSet.EMPTY });
  const count = g(fc.integer, { min: 2, max: Math.min(8, kept.length) });
  const owners = kept.map((_, i) => (i < count ? i : g(fc.integer, { min: 0, max: count - 1 })));
  const order = g(fc.shuffledSubarray, [...Array(count).keys()], { minLength: count, maxLength: count });
  const fullMesh = g(fc.boolean);
  const hubCount = fullMesh ? 0 : g(fc.integer, { min: 1, max: Math.min(3, count) });
  // Hubs are the first sites drawn in `order`; full-mesh allows one site behind NAT.
  const hubs = order.slice(0, hubCount);
  let natLeft = fullMesh ? 1 : count;
  const fullTunnel = !fullMesh && g(fc.boolean) ? hubs[g(fc.integer, { min: 0, max: hubCount - 1 })] : undefined;
  const publicKeys: Record<string, string> = {};
  const endpoints: Record<string, string> = {};
  const sites: SiteSpec[] = [];
  for (let s = 0; s < count; s++) {
    const name = `site-${String.fromCharCode(97 + ((s * 5) % 26))}${s}`;
    const isHub = hubs.includes(s);
    const provider = isHub
      ? g(fc.constantFrom, 'aws', 'gcp', 'local')
      : g(fc.constantFrom, 'aws', 'gcp', 'local', 'external');
    const behindNat = !isHub && natLeft > 0 && g(fc.boolean);
    if (behindNat) natLeft--;
    const site: SiteSpec = { name, provider, cidrs: kept.filter((_, i) => owners[i] === s).map((k) => k.text) };
    if (behindNat) site.behindNat = true;
    else if (provider === 'local') endpoints[name] = `127.0.0.${s + 1}:51820`;
    else site.endpoint = `${name}.example.net:51820`;
    if (provider === 'external') site.publicKey = key(200 + s);
    else publicKeys[name] = key(100 + s);
    if (provider !== 'external' && g(fc.boolean)) site.gateways = g(fc.integer, { min: 1, max: 2 });
    if (s === fullTunnel) site.fullTunnel = true;
    sites.push(site);
  }
  const spec: MeshSpec = {
    name: 'random',
    topology: fullMesh ? { type: 'full-mesh' } : { type: 'hub-and-spoke', hubs: hubs.map((h) => sites[h]!.name) },
    sites: g(fc.shuffledSubarray, sites, { minLength: count, maxLength: count }),
  };
  if (!fullMesh && hubCount > 0 && g(fc.boolean))
    spec.presharedKeys = [{ sites: [sites[hubs[0]!]!.name, sites[order[count - 1]!]!.name] }];
  if (spec.presharedKeys?.[0]?.sites[0] === spec.presharedKeys?.[0]?.sites[1]) delete spec.presharedKeys;
  return { spec, publicKeys, endpoints };
}

describe('planMesh properties', () => {
  it('reaches exactly the other sites, one peer per address, never wider than assigned, never its own CIDRs', () => {
    fc.assert(
      fc.property(fc.gen(), (g) => {
        const { spec, publicKeys, endpoints } = drawSpec(g);
        const plan = planMesh(spec, { publicKeys, endpoints });
        const sites = new Map(spec.sites.map((s) => [s.name, s]));
        const hubs = spec.topology.type === 'hub-and-spoke' ? spec.topology.hubs : [];
        const isHub = (name: string): boolean => hubs.includes(name);
        const spokes = spec.sites.filter((s) => !isHub(s.name));
        const keepalive = 25;

        const expectedIds = [...spec.sites]
          .filter((s) => s.provider !== 'external')
          .sort((a, b) => (a.name < b.name ? -1 : 1))
          .flatMap((s) =>
            (s.gateways ?? 1) > 1 ? Array.from({ length: s.gateways! }, (_, i) => `${s.name}-${i + 1}`) : [s.name],
          );
        expect(plan.gateways.map((gw) => gw.id)).toEqual(expectedIds);

        for (const gw of plan.gateways) {
          const site = sites.get(gw.site)!;
          const others = spec.sites.filter((s) => s.name !== gw.site);
          const spoke = hubs.length > 0 && !isHub(gw.site);
          const expectedPeers = (spoke ? others.filter((s) => isHub(s.name)) : others).map((s) => s.name).sort();
          expect(gw.peers.map((p) => p.site)).toEqual(expectedPeers);
          expect(gw.forwards).toBe(isHub(gw.site));

          const reachesAll = spoke && hubs.some((h) => sites.get(h)!.fullTunnel);
          const union = gw.peers.flatMap((p) => p.allowedIps);
          expect(ranges(union)).toBe(ranges(reachesAll ? ALL : others.flatMap((s) => s.cidrs)));
          expect(gw.routes).toEqual(aggregate(union.map(parsePrefix)).map(formatPrefix));

          const own = AddressSet.of(site.cidrs.map(parsePrefix));
          const seen: AddressSet[] = [];
          for (const peer of gw.peers) {
            const to = sites.get(peer.site)!;
            // Never wider (nor narrower) than the raw CIDRs the rules assign.
            let raw: string[];
            if (spoke && to.fullTunnel) raw = ALL;
            else if (spoke && peer.site === hubs[0])
              raw = [...to.cidrs, ...spokes.filter((s) => s.name !== gw.site).flatMap((s) => s.cidrs)];
            else raw = to.cidrs;
            expect(ranges(peer.allowedIps)).toBe(ranges(raw));
            // Aggregated: canonical and minimal.
            expect(peer.allowedIps).toEqual(aggregate(peer.allowedIps.map(parsePrefix)).map(formatPrefix));
            expect(peer.persistentKeepalive).toBe(site.behindNat ? keepalive : 0);
            expect(peer.endpoint).toBe(to.behindNat ? null : (endpoints[to.name] ?? to.endpoint));
            if (peer.allowedIps.some((p) => ALL.includes(p))) continue;
            const set = AddressSet.of(peer.allowedIps.map(parsePrefix));
            expect(set.intersects(own)).toBe(false);
            for (const other of seen) expect(set.intersects(other)).toBe(false);
            seen.push(set);
          }
          const config = agentConfigFor(gw, {
            interfaceName: 'wm0',
            privateKey: fileKey('/k'),
            presharedKey: (a, b) => fileKey(`/psk/${a}-${b}`),
          });
          expect(() => validateAgentConfig(config)).not.toThrow();
        }
      }),
      { numRuns: 150, ...BOUNDED },
    );
  });

  it('is deterministic: the same plan for the same spec, a copy of it, or its sites in another order', () => {
    fc.assert(
      fc.property(fc.gen(), (g) => {
        const { spec, publicKeys, endpoints } = drawSpec(g);
        const plan = planMesh(spec, { publicKeys, endpoints });
        expect(planMesh(structuredClone(spec), { publicKeys: { ...publicKeys }, endpoints: { ...endpoints } })).toEqual(
          plan,
        );
        const shuffled = { ...spec, sites: [...spec.sites].reverse() };
        expect(planMesh(shuffled, { publicKeys, endpoints })).toEqual(plan);
        expect(JSON.stringify(planMesh(spec, { publicKeys, endpoints }))).toBe(JSON.stringify(plan));
      }),
      { numRuns: 60, ...BOUNDED },
    );
  });
});
