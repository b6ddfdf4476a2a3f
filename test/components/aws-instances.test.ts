/** components/aws/instances.ts: the routes of one subnet's route tables (pure part). */
import { subnetRoutes } from '../../components/aws/instances';
import { checkCidr } from '../../components/aws/validation';

test('subnetRoutes: one route per remote CIDR per route table, named by subnet, table and CIDR', () => {
  const cidrs = ['10.20.0.0/16', 'fd20::/48'].map((c, i) => checkCidr('t', `remoteCidrs[${i}]`, c));
  expect(
    subnetRoutes('gw', 1, ['rtb-a', 'rtb-b'], cidrs).map((r) => [r.name, r.routeTableId, r.destination.text]),
  ).toEqual([
    ['gw-route-1-0-10-20-0-0-16', 'rtb-a', '10.20.0.0/16'],
    ['gw-route-1-0-fd20---48', 'rtb-a', 'fd20::/48'],
    ['gw-route-1-1-10-20-0-0-16', 'rtb-b', '10.20.0.0/16'],
    ['gw-route-1-1-fd20---48', 'rtb-b', 'fd20::/48'],
  ]);
  expect(subnetRoutes('gw', 0, [], cidrs)).toEqual([]);
});
