/** components/aws/network.ts: the subnets of a VPC an AwsGateway creates (pure part). */
import { carveSubnetCidrs } from '../../components/aws/network';

describe('carveSubnetCidrs', () => {
  test('consecutive /24s from a large block, smaller equal blocks from a small one', () => {
    expect(carveSubnetCidrs('10.40.0.0/16', 3)).toEqual(['10.40.0.0/24', '10.40.1.0/24', '10.40.2.0/24']);
    expect(carveSubnetCidrs('172.16.8.0/22', 1)).toEqual(['172.16.8.0/24']);
    expect(carveSubnetCidrs('10.0.5.0/24', 2)).toEqual(['10.0.5.0/25', '10.0.5.128/25']);
    expect(carveSubnetCidrs('10.0.5.0/24', 3)).toEqual(['10.0.5.0/26', '10.0.5.64/26', '10.0.5.128/26']);
    expect(carveSubnetCidrs('10.0.5.0/27', 2)).toEqual(['10.0.5.0/28', '10.0.5.16/28']);
    expect(carveSubnetCidrs('10.0.5.0/28', 2)).toBeUndefined();
    expect(carveSubnetCidrs('192.168.255.0/24', 1)).toEqual(['192.168.255.0/24']);
  });
});
