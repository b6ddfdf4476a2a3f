/**
 * The EC2 Query API calls a failover group's agents make (agent/gateway/failover/ec2-routes.ts),
 * at `ec2.REGION.amazonaws.com`, over the VPC route tables of the mocks graph:
 * - `DescribeRouteTables` (`RouteTableId.N`): each table with its routes and their network
 *   interface and instance;
 * - `ReplaceRoute` (`RouteTableId`, `DestinationCidrBlock` / `DestinationIpv6CidrBlock`,
 *   `NetworkInterfaceId`): moves an existing route, and the site router's routing with it.
 * As EC2 does (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/Query-Requests.html,
 * .../errors-overview.html): form-encoded POST, SigV4 over the body with the IMDS-issued credentials
 * and session token, scope `REGION/ec2`; IAM before existence: ReplaceRoute needs the role to allow
 * it on `arn:aws:ec2:REGION:ACCOUNT:route-table/ID`, DescribeRouteTables on `*` (it has no resource
 * types), else 403 `UnauthorizedOperation`; errors as `<Response><Errors><Error>` XML. Every call and
 * every route moved is recorded with its time.
 */
import { randomUUID } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import type { LabRouteTable } from '../deployment';
import type { LabRequest, Handler } from './http';
import { verifySigV4 } from './sigv4';
import { AWS_ACCOUNT, type AwsInstanceIdentity, type World } from './world';

const XMLNS = 'http://ec2.amazonaws.com/doc/2016-11-15/';

export interface Ec2Call {
  action: string;
  instance?: string;
  status: number;
  error?: string;
  at: string;
}

export interface RouteChange {
  routeTableId: string;
  destination: string;
  from: string;
  to: string;
  /** The instance whose credentials made the call. */
  by: string;
  at: string;
}

/** Applies a moved route to the emulated network (the site router's table), if the lab realizes that table. */
export type RouteApplier = (routeTableId: string, destination: string, privateIp: string) => Promise<void>;

const escapeXml = (text: string) =>
  text.replace(/[<>&'"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;' })[c]!);

class Ec2Error extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export class Ec2Api {
  readonly calls: Ec2Call[] = [];
  readonly changes: RouteChange[] = [];
  /** Route table id -> destination -> network interface id. */
  private readonly tables = new Map<string, Map<string, string>>();

  constructor(
    private readonly world: World,
    private readonly region: string,
    private readonly apply: RouteApplier,
  ) {
    for (const table of world.routeTables)
      this.tables.set(table.id, new Map(table.routes.map((r) => [r.destination, r.networkInterfaceId])));
  }

  /** The tables as they are now. */
  routeTables(): LabRouteTable[] {
    return this.world.routeTables.map((table) => ({
      ...table,
      routes: [...this.tables.get(table.id)!].map(([destination, networkInterfaceId]) => ({
        destination,
        networkInterfaceId,
      })),
    }));
  }

  handler(): Handler {
    return async (request: LabRequest, response: ServerResponse) => {
      const input = new URLSearchParams(request.body);
      const action = input.get('Action') ?? '';
      let caller: AwsInstanceIdentity | undefined;
      try {
        if (request.method !== 'POST')
          throw new Ec2Error(400, 'InvalidAction', 'The lab serves POST Query requests only');
        caller = this.authenticate(request);
        const body =
          action === 'DescribeRouteTables'
            ? this.describeRouteTables(caller, input)
            : action === 'ReplaceRoute'
              ? await this.replaceRoute(caller, input)
              : undefined;
        if (body === undefined)
          throw new Ec2Error(400, 'InvalidAction', `The action ${action} is not valid for this web service.`);
        this.record({ action, instance: caller.name, status: 200 });
        response.writeHead(200, { 'content-type': 'text/xml;charset=UTF-8' });
        response.end(`<?xml version="1.0" encoding="UTF-8"?>\n${body}`);
      } catch (error) {
        if (!(error instanceof Ec2Error)) throw error;
        this.record({ action, status: error.status, error: error.code, ...(caller && { instance: caller.name }) });
        response.writeHead(error.status, { 'content-type': 'text/xml;charset=UTF-8' });
        response.end(
          `<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>${error.code}</Code><Message>${escapeXml(error.message)}</Message></Error></Errors><RequestID>${randomUUID()}</RequestID></Response>`,
        );
      }
    };
  }

  private record(call: Omit<Ec2Call, 'at'>): void {
    this.calls.push({ ...call, at: new Date().toISOString() });
  }

  private authenticate(request: LabRequest): AwsInstanceIdentity {
    const signature = verifySigV4(
      request,
      (id) => this.world.awsInstances.find((i) => i.accessKeyId === id)?.secretAccessKey,
    );
    if (!signature.ok)
      throw new Ec2Error(401, 'AuthFailure', 'AWS was not able to validate the provided access credentials');
    const caller = this.world.awsInstances.find((i) => i.accessKeyId === signature.accessKeyId)!;
    if (request.headers['x-amz-security-token'] !== caller.sessionToken)
      throw new Ec2Error(401, 'AuthFailure', 'AWS was not able to validate the provided access credentials');
    if (signature.service !== 'ec2' || signature.region !== this.region)
      throw new Ec2Error(
        401,
        'AuthFailure',
        `Credential should be scoped to a valid region (${this.region}) and service ec2`,
      );
    return caller;
  }

  private unauthorized(caller: AwsInstanceIdentity, action: string, resource?: string): Ec2Error {
    return new Ec2Error(
      403,
      'UnauthorizedOperation',
      `You are not authorized to perform this operation. User: arn:aws:sts::${AWS_ACCOUNT}:assumed-role/${caller.roleName}/${caller.instanceId} is not authorized to perform: ec2:${action}${resource ? ` on resource: ${resource}` : ''} because no identity-based policy allows the ec2:${action} action`,
    );
  }

  private table(id: string): Map<string, string> {
    const table = this.tables.get(id);
    if (table === undefined)
      throw new Ec2Error(400, 'InvalidRouteTableID.NotFound', `The routeTable ID '${id}' does not exist`);
    return table;
  }

  private describeRouteTables(caller: AwsInstanceIdentity, input: URLSearchParams): string {
    if (!caller.describesRouteTables) throw this.unauthorized(caller, 'DescribeRouteTables');
    const ids = [...input.keys()].filter((k) => /^RouteTableId\.\d+$/.test(k)).map((k) => input.get(k)!);
    if ([...input.keys()].some((k) => k.startsWith('Filter.')))
      throw new Ec2Error(400, 'InvalidParameterValue', 'the lab serves DescribeRouteTables by RouteTableId only');
    const items = (ids.length > 0 ? ids : [...this.tables.keys()]).map((id) => {
      const routes = [...this.table(id)].map(([destination, eni]) => {
        const instanceId = this.world.networkInterfaces.find((n) => n.id === eni)?.instanceId;
        const field = destination.includes(':') ? 'destinationIpv6CidrBlock' : 'destinationCidrBlock';
        return `<item><${field}>${destination}</${field}><networkInterfaceId>${eni}</networkInterfaceId>${instanceId ? `<instanceId>${instanceId}</instanceId><instanceOwnerId>${AWS_ACCOUNT}</instanceOwnerId>` : ''}<state>active</state><origin>CreateRoute</origin></item>`;
      });
      return `<item><routeTableId>${id}</routeTableId><ownerId>${AWS_ACCOUNT}</ownerId><routeSet>${routes.join('')}</routeSet><associationSet/><propagatingVgwSet/><tagSet/></item>`;
    });
    return `<DescribeRouteTablesResponse xmlns="${XMLNS}"><requestId>${randomUUID()}</requestId><routeTableSet>${items.join('')}</routeTableSet></DescribeRouteTablesResponse>`;
  }

  private async replaceRoute(caller: AwsInstanceIdentity, input: URLSearchParams): Promise<string> {
    const routeTableId = input.get('RouteTableId') ?? '';
    const arn = `arn:aws:ec2:${this.region}:${AWS_ACCOUNT}:route-table/${routeTableId}`;
    if (!caller.replaceableRouteTableArns.includes(arn)) throw this.unauthorized(caller, 'ReplaceRoute', arn);
    const destination = input.get('DestinationCidrBlock') ?? input.get('DestinationIpv6CidrBlock') ?? '';
    const to = input.get('NetworkInterfaceId') ?? '';
    const table = this.table(routeTableId);
    const from = table.get(destination);
    if (from === undefined)
      throw new Ec2Error(
        400,
        'InvalidParameterValue',
        `There is no route defined for '${destination}' in the route table. Use CreateRoute instead.`,
      );
    const target = this.world.networkInterfaces.find((n) => n.id === to);
    if (target === undefined)
      throw new Ec2Error(400, 'InvalidNetworkInterfaceID.NotFound', `The networkInterface ID '${to}' does not exist`);
    await this.apply(routeTableId, destination, target.privateIp);
    table.set(destination, to);
    if (from !== to)
      this.changes.push({ routeTableId, destination, from, to, by: caller.name, at: new Date().toISOString() });
    return `<ReplaceRouteResponse xmlns="${XMLNS}"><requestId>${randomUUID()}</requestId><return>true</return></ReplaceRouteResponse>`;
  }
}
