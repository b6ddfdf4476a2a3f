/** components/gcp/load-balancer.ts: health checks (pure parts). */
import { agentHealthCheckArgs } from '../../components/gcp/load-balancer';

test('agentHealthCheckArgs: TCP on the agent health port, 5 s interval, 2 up / 2 down', () => {
  expect(agentHealthCheckArgs('p', 'europe-west1', 'd', 9587)).toEqual({
    project: 'p',
    region: 'europe-west1',
    description: 'd',
    httpHealthCheck: { port: 9587, requestPath: '/ready' },
    checkIntervalSec: 5,
    timeoutSec: 5,
    healthyThreshold: 2,
    unhealthyThreshold: 2,
  });
});
