/** components/gcp/routes.ts: the routes of a GcpGateway, per instance or through the internal LB (pure part). */
import { gatewayRouteSpecs } from '../../components/gcp/routes';

describe('gatewayRouteSpecs', () => {
  test('one route per remote CIDR per instance, named after the CIDR', () => {
    expect(gatewayRouteSpecs('gw', ['10.10.0.0/16', '10.11.0.0/16'], 2, false)).toEqual([
      {
        name: 'gw-r0-10-10-0-0-16',
        destRange: '10.10.0.0/16',
        description: 'wiremesh: 10.10.0.0/16 via gateway gw instance 0',
        instance: 0,
      },
      {
        name: 'gw-r0-10-11-0-0-16',
        destRange: '10.11.0.0/16',
        description: 'wiremesh: 10.11.0.0/16 via gateway gw instance 0',
        instance: 0,
      },
      {
        name: 'gw-r1-10-10-0-0-16',
        destRange: '10.10.0.0/16',
        description: 'wiremesh: 10.10.0.0/16 via gateway gw instance 1',
        instance: 1,
      },
      {
        name: 'gw-r1-10-11-0-0-16',
        destRange: '10.11.0.0/16',
        description: 'wiremesh: 10.11.0.0/16 via gateway gw instance 1',
        instance: 1,
      },
    ]);
  });

  test('through the internal load balancer: one route per remote CIDR, no instance next hop', () => {
    expect(gatewayRouteSpecs('gw', ['10.10.0.0/16'], 3, true)).toEqual([
      {
        name: 'gw-ilb-r-10-10-0-0-16',
        destRange: '10.10.0.0/16',
        description: 'wiremesh: 10.10.0.0/16 via gateway gw (internal LB)',
      },
    ]);
  });
});
