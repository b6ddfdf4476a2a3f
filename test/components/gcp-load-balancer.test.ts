/** components/gcp/load-balancer.ts: instance groups per zone, backends and health checks (pure parts). */
import { agentHealthCheckArgs, instancesByZone } from '../../components/gcp/load-balancer';

test('instancesByZone: one group per zone in use, in first-use order, round-robin members', () => {
  expect(
    instancesByZone(['i0', 'i1', 'i2', 'i3'], ['europe-west1-c', 'europe-west1-b', 'europe-west1-c', 'europe-west1-b']),
  ).toEqual([
    { zone: 'europe-west1-c', members: ['i0', 'i2'] },
    { zone: 'europe-west1-b', members: ['i1', 'i3'] },
  ]);
});

test('agentHealthCheckArgs: TCP on the agent health port, 5 s interval, 2 up / 2 down', () => {
  expect(agentHealthCheckArgs('p', 'europe-west1', 'd', 9587)).toEqual({
    project: 'p',
    region: 'europe-west1',
    description: 'd',
    tcpHealthCheck: { port: 9587 },
    checkIntervalSec: 5,
    timeoutSec: 5,
    healthyThreshold: 2,
    unhealthyThreshold: 2,
  });
});
