/** components/aws/security-group.ts: the ingress rules of an AwsGateway, each range in its family's list. */
import * as pulumi from '@pulumi/pulumi';
import { gatewayIngress, GATEWAY_EGRESS } from '../../components/aws/security-group';
import { resolve, setupMocks } from '../../components/testing';

beforeAll(() => {
  setupMocks({});
});

test('WireGuard from the peers, health from the checkers, forwarding only when asked; IPv4 and IPv6 apart', async () => {
  const rules = gatewayIngress(51820, 9587, {
    peers: ['203.0.113.7/32', '2001:db8::7/128'],
    healthChecks: pulumi.output(['10.0.0.0/16']),
    forwardFrom: [],
  });
  const resolved = await Promise.all(
    rules.map(async (r) => [
      r.protocol,
      r.fromPort,
      r.toPort,
      await resolve(r.cidrBlocks as pulumi.Output<string[]>),
      await resolve(r.ipv6CidrBlocks as pulumi.Output<string[]>),
    ]),
  );
  expect(resolved).toEqual([
    ['udp', 51820, 51820, ['203.0.113.7/32'], ['2001:db8::7/128']],
    ['tcp', 9587, 9587, ['10.0.0.0/16'], []],
  ]);
  const forwarding = gatewayIngress(51820, 9587, {
    peers: ['0.0.0.0/0'],
    healthChecks: pulumi.output(['10.0.0.0/16']),
    forwardFrom: ['10.0.0.0/16'],
  });
  expect(forwarding.map((r) => [r.description, r.protocol])).toEqual([
    ['WireGuard from the peers', 'udp'],
    ['wiremesh-agent health checks', 'tcp'],
    ['Local traffic forwarded to the remote sites', '-1'],
  ]);
  expect(GATEWAY_EGRESS).toEqual([
    {
      description: 'Forwarded traffic and AWS APIs',
      protocol: '-1',
      fromPort: 0,
      toPort: 0,
      cidrBlocks: ['0.0.0.0/0'],
      ipv6CidrBlocks: ['::/0'],
    },
  ]);
});
