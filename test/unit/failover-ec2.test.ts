/**
 * The agent's EC2 route calls (agent/gateway/failover/ec2-routes.ts) through the real
 * @aws-sdk/client-ec2 against the local EC2 Query-API emulator, which checks every request's
 * SigV4 signature and the emulated role's ReplaceRoute grant.
 */
import { Ec2GroupRoutes } from '../../agent/gateway/failover/ec2-routes';
import type { FailoverConfig } from '../../agent/gateway/config-types';
import { startEc2Emulator, type Ec2Emulator, type Ec2EmulatorState } from '../support/fake-ec2';

const A = 'eni-0000000a';
const B = 'eni-0000000b';
const CREDENTIALS = {
  accessKeyId: 'ASIAFAKEWIREMESHEC2',
  secretAccessKey: 'fake-ec2-secret-for-tests-only',
  sessionToken: 'fake-ec2-session-token',
};

function state(): Ec2EmulatorState {
  return {
    region: 'eu-west-1',
    credentials: CREDENTIALS,
    routeTables: {
      'rtb-0000000a': [
        { destination: '10.20.0.0/16', networkInterfaceId: A },
        { destination: 'fd00:20::/48', networkInterfaceId: A },
      ],
      'rtb-0000000b': [{ destination: '10.20.0.0/16', networkInterfaceId: A }],
      'rtb-0000000c': [{ destination: '10.20.0.0/16', networkInterfaceId: A }],
    },
    replaceAllowed: ['rtb-0000000a', 'rtb-0000000b'],
  };
}

function failover(emulator: Ec2Emulator, routeTableIds = ['rtb-0000000a', 'rtb-0000000b']): FailoverConfig {
  return {
    provider: 'aws-ec2',
    region: 'eu-west-1',
    endpoint: emulator.url,
    members: [
      { networkInterfaceId: A, address: '198.18.0.1' },
      { networkInterfaceId: B, address: '198.18.0.2' },
    ],
    routeTableIds,
    destinations: ['10.20.0.0/16'],
  };
}

describe('EC2 group routes through the SDK', () => {
  let emulator: Ec2Emulator;
  const saved = { ...process.env };
  beforeEach(async () => {
    emulator = await startEc2Emulator(state());
    process.env.AWS_ACCESS_KEY_ID = CREDENTIALS.accessKeyId;
    process.env.AWS_SECRET_ACCESS_KEY = CREDENTIALS.secretAccessKey;
    process.env.AWS_SESSION_TOKEN = CREDENTIALS.sessionToken;
  });
  afterEach(async () => {
    process.env = { ...saved };
    await emulator.close();
  });

  test('reads the targets, then points every route at this member (signed requests)', async () => {
    const routes = new Ec2GroupRoutes(failover(emulator));
    expect(await routes.targets()).toEqual([A, A]);
    await routes.pointAt(B);
    expect(await routes.targets()).toEqual([B, B]);
    // The IPv6 route of the first table was not the group's: untouched.
    expect(emulator.state.routeTables['rtb-0000000a']![1]!.networkInterfaceId).toBe(A);
    expect(emulator.calls.map((call) => `${call.action} ${call.result}`)).toEqual([
      'DescribeRouteTables ok',
      'ReplaceRoute ok',
      'ReplaceRoute ok',
      'DescribeRouteTables ok',
    ]);
  });

  test('IPv6 destinations use DestinationIpv6CidrBlock', async () => {
    const routes = new Ec2GroupRoutes({ ...failover(emulator, ['rtb-0000000a']), destinations: ['fd00:20::/48'] });
    await routes.pointAt(B);
    expect(await routes.targets()).toEqual([B]);
  });

  test('a wrong secret is AuthFailure (the emulator recomputes the signature)', async () => {
    process.env.AWS_SECRET_ACCESS_KEY = 'not-the-secret';
    const routes = new Ec2GroupRoutes(failover(emulator));
    await expect(routes.targets()).rejects.toThrow('EC2 DescribeRouteTables: AuthFailure (HTTP 401)');
    expect(emulator.calls).toEqual([expect.objectContaining({ result: 'AuthFailure' })]);
  });

  test('a route table outside the grant is UnauthorizedOperation, and the message names the call', async () => {
    const routes = new Ec2GroupRoutes(failover(emulator, ['rtb-0000000c']));
    await expect(routes.pointAt(B)).rejects.toThrow(
      'EC2 ReplaceRoute rtb-0000000c 10.20.0.0/16: UnauthorizedOperation (HTTP 403)',
    );
    expect(emulator.state.routeTables['rtb-0000000c']![0]!.networkInterfaceId).toBe(A);
  });

  test('a missing route reads as null', async () => {
    const routes = new Ec2GroupRoutes({ ...failover(emulator), destinations: ['10.30.0.0/16'] });
    expect(await routes.targets()).toEqual([null, null]);
  });
});
