/** Mesh spec validation (mesh/validate.ts): every error with its JSON path and message. */
import fc from 'fast-check';
import { formatPrefix, parsePrefix } from '../../common/ip';
import { ConfigError } from '../../common/validation';
import { AddressSet } from '../../mesh/aggregate';
import { SITE_NAME_MESSAGE } from '../../mesh/spec-schema';
import { parseMeshSpec, validateMeshSpec } from '../../mesh/validate';
import { BOUNDED, testKey as key } from '../support/fixtures';

/** A valid spec touching every feature the checks look at. */
function base(): Record<string, any> {
  return {
    name: 'corp',
    topology: { type: 'hub-and-spoke', hubs: ['hub'] },
    sites: [
      { name: 'hub', provider: 'aws', cidrs: ['10.0.0.0/16'], endpoint: 'hub.example.net:51820' },
      { name: 'branch', provider: 'gcp', cidrs: ['10.1.0.0/16'], endpoint: '203.0.113.7:51820' },
      { name: 'home', provider: 'local', cidrs: ['10.2.0.0/24'], behindNat: true },
      {
        name: 'partner',
        provider: 'external',
        cidrs: ['192.168.50.0/24'],
        endpoint: 'vpn.partner.example:51820',
        publicKey: key(9),
      },
    ],
  };
}

function problemsOf(change: (d: Record<string, any>) => void): { path: string; message: string }[] {
  const d = base();
  change(d);
  try {
    validateMeshSpec(d);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    return error.problems;
  }
  return [];
}

const NAT_PAIR =
  'is behind NAT like $.sites[1] ("branch"): full-mesh makes them peer directly and neither can reach the other; give one an endpoint, or use hub-and-spoke';
const NO_ENDPOINT =
  'is required for a site not behind NAT (host:port where its peers reach it); or set "behindNat": true';

const ROWS: [string, (d: Record<string, any>) => void, { path: string; message: string }[]][] = [
  [
    'duplicate site names',
    (d) => (d.sites[2].name = 'branch'),
    [{ path: '$.sites[2].name', message: 'duplicates $.sites[1].name' }],
  ],
  [
    'a CIDR that does not parse',
    (d) => (d.sites[1].cidrs = ['10.1.0.0/33', 'lan']),
    [
      { path: '$.sites[1].cidrs[0]', message: 'invalid IP prefix "10.1.0.0/33": IPv4 prefix length must be 0 to 32' },
      { path: '$.sites[1].cidrs[1]', message: 'invalid IP prefix "lan": not an IPv4 or IPv6 address' },
    ],
  ],
  [
    'a CIDR with host bits',
    (d) => (d.sites[1].cidrs = ['10.1.0.1/16']),
    [{ path: '$.sites[1].cidrs[0]', message: 'has host bits set: the network is 10.1.0.0/16' }],
  ],
  [
    'CIDRs overlapping between sites',
    (d) => (d.sites[1].cidrs = ['10.1.0.0/16', '10.0.128.0/17']),
    [
      {
        path: '$.sites[1].cidrs[1]',
        message: 'overlaps $.sites[0].cidrs[0] (10.0.0.0/16 of site "hub"); sites\' CIDRs must be disjoint',
      },
    ],
  ],
  [
    "a CIDR containing another site's, and equal IPv6 CIDRs",
    (d) => {
      d.sites[0].cidrs = ['10.0.0.0/16', 'fd00::/64'];
      d.sites[1].cidrs = ['10.0.0.0/8'];
      d.sites[2].cidrs = ['10.2.0.0/24', 'FD00::/64'];
    },
    [
      {
        path: '$.sites[0].cidrs[0]',
        message: 'overlaps $.sites[1].cidrs[0] (10.0.0.0/8 of site "branch"); sites\' CIDRs must be disjoint',
      },
      {
        path: '$.sites[2].cidrs[0]',
        message: 'overlaps $.sites[1].cidrs[0] (10.0.0.0/8 of site "branch"); sites\' CIDRs must be disjoint',
      },
      {
        path: '$.sites[2].cidrs[1]',
        message: 'overlaps $.sites[0].cidrs[1] (fd00::/64 of site "hub"); sites\' CIDRs must be disjoint',
      },
    ],
  ],
  [
    'an unknown hub',
    (d) => d.topology.hubs.push('nowhere'),
    [{ path: '$.topology.hubs[1]', message: 'no site is named "nowhere"' }],
  ],
  [
    'a hub listed twice',
    (d) => d.topology.hubs.push('hub'),
    [{ path: '$.topology.hubs[1]', message: 'duplicates $.topology.hubs[0]' }],
  ],
  [
    'an external hub',
    (d) => d.topology.hubs.push('partner'),
    [
      {
        path: '$.topology.hubs[1]',
        message: '"partner" is an external site; a hub must be a wiremesh gateway (aws, gcp or local)',
      },
    ],
  ],
  [
    'hub-and-spoke with no hubs',
    (d) => (d.topology.hubs = []),
    [{ path: '$.topology.hubs', message: 'hub-and-spoke needs at least one hub (a site name)' }],
  ],
  [
    'hub-and-spoke without hubs',
    (d) => delete d.topology.hubs,
    [{ path: '$.topology.hubs', message: 'hub-and-spoke needs at least one hub (a site name)' }],
  ],
  [
    'full-mesh with hubs',
    (d) => {
      d.topology.type = 'full-mesh';
      d.sites[2].endpoint = 'home.example:51820';
      delete d.sites[2].behindNat;
    },
    [{ path: '$.topology.hubs', message: 'is only for hub-and-spoke' }],
  ],
  [
    'a hub behind NAT',
    (d) => {
      d.sites[0].behindNat = true;
      delete d.sites[0].endpoint;
    },
    [{ path: '$.sites[0].behindNat', message: 'a hub cannot be behind NAT: every spoke must be able to reach it' }],
  ],
  [
    'an external site without publicKey',
    (d) => delete d.sites[3].publicKey,
    [
      {
        path: '$.sites[3].publicKey',
        message: 'is required for an external site (it runs plain WireGuard with its own key)',
      },
    ],
  ],
  [
    'a non-external site with a publicKey',
    (d) => (d.sites[1].publicKey = key(7)),
    [{ path: '$.sites[1].publicKey', message: 'is only for external sites; wiremesh generates the keys of gcp sites' }],
  ],
  [
    'two sites behind NAT in a full mesh',
    (d) => {
      d.topology = { type: 'full-mesh' };
      d.sites[1].behindNat = true;
      delete d.sites[1].endpoint;
    },
    [{ path: '$.sites[2].behindNat', message: NAT_PAIR }],
  ],
  [
    'a NATed site with an endpoint',
    (d) => (d.sites[2].endpoint = 'home.example:51820'),
    [
      {
        path: '$.sites[2].endpoint',
        message: 'must be absent for a site behind NAT (nothing can reach it from outside)',
      },
    ],
  ],
  [
    'a cloud site without an endpoint',
    (d) => delete d.sites[1].endpoint,
    [{ path: '$.sites[1].endpoint', message: NO_ENDPOINT }],
  ],
  [
    'an external site without an endpoint',
    (d) => delete d.sites[3].endpoint,
    [{ path: '$.sites[3].endpoint', message: NO_ENDPOINT }],
  ],
  [
    'an endpoint on port 0',
    (d) => (d.sites[1].endpoint = '203.0.113.7:0'),
    [{ path: '$.sites[1].endpoint', message: 'port 0 is out of range (1 to 65535)' }],
  ],
  [
    'presharedKeys naming an unknown site',
    (d) => (d.presharedKeys = [{ sites: ['hub', 'ghost'] }]),
    [{ path: '$.presharedKeys[0].sites[1]', message: 'no site is named "ghost"' }],
  ],
  [
    'presharedKeys naming a site with itself',
    (d) => (d.presharedKeys = [{ sites: ['hub', 'hub'] }]),
    [
      {
        path: '$.presharedKeys[0].sites[1]',
        message: 'names the same site twice; a preshared key is for a pair of sites',
      },
    ],
  ],
  [
    'presharedKeys listing a pair twice',
    (d) => (d.presharedKeys = [{ sites: ['hub', 'home'] }, { sites: ['home', 'hub'] }]),
    [{ path: '$.presharedKeys[1].sites', message: 'duplicates $.presharedKeys[0].sites' }],
  ],
  [
    'presharedKeys for two spokes',
    (d) => (d.presharedKeys = [{ sites: ['branch', 'home'] }]),
    [
      {
        path: '$.presharedKeys[0].sites',
        message: '"branch" and "home" are both spokes, which have no tunnel between them',
      },
    ],
  ],
  ['gateways < 1', (d) => (d.sites[1].gateways = 0), [{ path: '$.sites[1].gateways', message: 'must be >= 1' }]],
  [
    'more gateways than the first CIDR holds',
    (d) => {
      d.sites[1].cidrs = ['10.1.0.0/30', '10.1.1.0/24'];
      d.sites[1].gateways = 3;
    },
    [
      {
        path: '$.sites[1].gateways',
        message: '3 gateways do not fit in $.sites[1].cidrs[0] (10.1.0.0/30), which holds their tunnel addresses',
      },
    ],
  ],
  [
    'a site named like the gateway of another',
    (d) => {
      d.sites[0].gateways = 2;
      d.sites[1].name = 'hub-2';
    },
    [{ path: '$.sites[1].name', message: 'is also the id of gateway 2 of $.sites[0] ("hub" has 2 gateways)' }],
  ],
  [
    'fullTunnel on a non-hub',
    (d) => (d.sites[1].fullTunnel = true),
    [
      {
        path: '$.sites[1].fullTunnel',
        message: 'only a hub can be a full-tunnel egress (a site listed in $.topology.hubs)',
      },
    ],
  ],
  [
    'two full-tunnel hubs',
    (d) => {
      d.topology.hubs.push('branch');
      d.sites[0].fullTunnel = true;
      d.sites[1].fullTunnel = true;
    },
    [
      {
        path: '$.sites[1].fullTunnel',
        message: '$.sites[0] is already the full-tunnel hub; spokes send 0.0.0.0/0 to one peer only',
      },
    ],
  ],
  // The schema's own problems.
  [
    'a site name with an underscore',
    (d) => (d.sites[1].name = 'branch_1'),
    [{ path: '$.sites[1].name', message: SITE_NAME_MESSAGE }],
  ],
  ['a mesh name too long', (d) => (d.name = 'a'.repeat(33)), [{ path: '$.name', message: SITE_NAME_MESSAGE }]],
  [
    'an unknown provider, a missing field and an unknown field',
    (d) => {
      d.sites[1].provider = 'azure';
      delete d.sites[2].cidrs;
      d.sites[3].region = 'eu';
    },
    [
      { path: '$.sites[1].provider', message: 'must be one of: aws, gcp, local, external' },
      { path: '$.sites[2].cidrs', message: 'is required' },
      { path: '$.sites[3].region', message: 'is not a known field' },
    ],
  ],
  [
    'a malformed endpoint',
    (d) => (d.sites[1].endpoint = 'no-port'),
    [{ path: '$.sites[1].endpoint', message: 'must be host:port or [IPv6]:port' }],
  ],
  [
    'a malformed external key',
    (d) => (d.sites[3].publicKey = 'short'),
    [{ path: '$.sites[3].publicKey', message: 'must be a base64 WireGuard key (44 characters ending in "=")' }],
  ],
  [
    'a site without CIDRs',
    (d) => (d.sites[1].cidrs = []),
    [{ path: '$.sites[1].cidrs', message: 'must NOT have fewer than 1 items' }],
  ],
  [
    'an unknown topology',
    (d) => (d.topology.type = 'ring'),
    [{ path: '$.topology.type', message: 'must be one of: hub-and-spoke, full-mesh' }],
  ],
  [
    'several semantic problems at once, all listed',
    (d) => {
      d.sites[2].name = 'branch';
      delete d.sites[1].endpoint;
      d.topology.hubs.push('ghost');
      d.sites[3].cidrs = ['10.1.2.0/24'];
    },
    [
      { path: '$.sites[2].name', message: 'duplicates $.sites[1].name' },
      { path: '$.topology.hubs[1]', message: 'no site is named "ghost"' },
      { path: '$.sites[1].endpoint', message: NO_ENDPOINT },
      {
        path: '$.sites[3].cidrs[0]',
        message: 'overlaps $.sites[1].cidrs[0] (10.1.0.0/16 of site "branch"); sites\' CIDRs must be disjoint',
      },
    ],
  ],
];

describe('validateMeshSpec', () => {
  it('accepts the base spec, a local site without an endpoint and an external site behind NAT', () => {
    expect(problemsOf(() => undefined)).toEqual([]);
    expect(
      problemsOf((d) => {
        d.sites[2].behindNat = false;
        d.sites[3].behindNat = true;
        delete d.sites[3].endpoint;
      }),
    ).toEqual([]);
  });

  it.each(ROWS)('rejects %s', (_name, change, expected) => {
    expect(problemsOf(change)).toEqual(expected);
  });

  it('parses YAML and JSON, and reports unreadable or empty text', () => {
    const yaml = [
      'name: corp',
      'topology: { type: full-mesh }',
      'sites:',
      '  - { name: a, provider: aws, cidrs: [10.0.0.0/24], endpoint: "a.example:51820" }',
      '  - { name: b, provider: local, cidrs: ["fd00::/64"] }',
    ].join('\n');
    expect(parseMeshSpec(yaml).sites.map((s) => s.name)).toEqual(['a', 'b']);
    expect(parseMeshSpec(JSON.stringify(base())).name).toBe('corp');
    expect(() => parseMeshSpec('name: [')).toThrow(/^invalid mesh spec:\n {2}\$: is not valid YAML or JSON: /);
    try {
      parseMeshSpec('');
    } catch (error) {
      expect((error as ConfigError).problems).toEqual([
        { path: '$', message: 'is empty: expected an object with name, topology and sites' },
      ]);
    }
    expect(() => parseMeshSpec('{"name": "x"}')).toThrow(
      'invalid mesh spec:\n  $.topology: is required\n  $.sites: is required',
    );
  });

  it('reports, for every two overlapping CIDRs of different sites, the contained one against a container', () => {
    const prefix = fc.record({
      word: fc.integer({ min: 0, max: 255 }),
      bits: fc.integer({ min: 20, max: 28 }),
      site: fc.integer({ min: 0, max: 3 }),
    });
    fc.assert(
      fc.property(fc.array(prefix, { minLength: 1, maxLength: 12 }), (drawn) => {
        const sites = [0, 1, 2, 3].map((s) => ({ name: `s${s}`, provider: 'local', cidrs: [] as string[] }));
        drawn.forEach(({ word, bits, site }) =>
          sites[site]!.cidrs.push(formatPrefix(parsePrefix(`10.0.${word}.0/${bits}`))),
        );
        const spec = { name: 'm', topology: { type: 'full-mesh' }, sites: sites.filter((s) => s.cidrs.length > 0) };
        const cidrs = spec.sites.flatMap((site, i) =>
          site.cidrs.map((text, j) => ({
            path: `$.sites[${i}].cidrs[${j}]`,
            site: i,
            set: AddressSet.of([parsePrefix(text)]),
          })),
        );
        const byPath = new Map(cidrs.map((c) => [c.path, c]));
        const reports = new Map<string, string>();
        try {
          validateMeshSpec(spec);
        } catch (error) {
          for (const p of (error as ConfigError).problems) {
            expect(reports.has(p.path)).toBe(false);
            reports.set(p.path, /^overlaps (\$\.sites\[\d+\]\.cidrs\[\d+\]) /.exec(p.message)![1]!);
          }
        }
        for (const [path, against] of reports) {
          const [x, y] = [byPath.get(path)!, byPath.get(against)!];
          expect(x.site).not.toBe(y.site);
          expect(x.set.minus(y.set).isEmpty).toBe(true); // y contains x
        }
        for (const x of cidrs) {
          for (const y of cidrs) {
            if (x.site < y.site && x.set.intersects(y.set))
              expect(reports.has(x.path) || reports.has(y.path)).toBe(true);
          }
        }
      }),
      { numRuns: 300, ...BOUNDED },
    );
  });
});
