/** components/gcp/firewall.ts: which rules a GcpGateway gets and what each allows (pure). */
import { gatewayFirewallRules } from '../../components/gcp/firewall';

const ports = { listenPort: 51820, healthPort: 9587 };

describe('gatewayFirewallRules', () => {
  test('a single gateway: WireGuard from its peers only', () => {
    expect(
      gatewayFirewallRules('gw', ports, {
        peerCidrs: ['203.0.113.7/32'],
        allowFromAnywhere: false,
        healthCheckRanges: [],
        forwardFromCidrs: [],
      }),
    ).toEqual([
      {
        name: 'gw-wg',
        description: 'wiremesh gateway gw: WireGuard UDP 51820 from its peers',
        allows: [{ protocol: 'udp', ports: ['51820'] }],
        sourceRanges: ['203.0.113.7/32'],
      },
    ]);
  });

  test('behind a load balancer, with forwarding: the health rule from the probes, the forwarding rule from the local ranges', () => {
    const rules = gatewayFirewallRules(
      'gw',
      { listenPort: 51821, healthPort: 8080 },
      {
        peerCidrs: [],
        allowFromAnywhere: true,
        healthCheckRanges: ['35.191.0.0/16'],
        forwardFromCidrs: ['10.40.0.0/24'],
      },
    );
    expect(rules.map((r) => [r.name, r.allows, r.sourceRanges])).toEqual([
      ['gw-wg', [{ protocol: 'udp', ports: ['51821'] }], ['0.0.0.0/0']],
      ['gw-health', [{ protocol: 'tcp', ports: ['8080'] }], ['35.191.0.0/16']],
      ['gw-fwd', [{ protocol: 'all' }], ['10.40.0.0/24']],
    ]);
  });
});
