/**
 * The boot lab for examples/hub-spoke-ha and examples/existing-vpc (lab/boot/), with the same checks
 * as aws-gcp (boot.test.ts): every gateway boots from its exact user data to agent.ready, the
 * tunnels handshake, LAN hosts ping across the sites, /healthz answers the site router and /metrics
 * does not.
 * - hub-spoke-ha: the hub is an AWS group of two (one key, active/standby) behind an emulated NLB
 *   (its Elastic IPs forward UDP 51820 to the targets passing its health checks of GET /active; the
 *   spoke resolves the NLB's DNS name through /etc/hosts); the GCP spoke dials it. The standby
 *   boots to agent.ready and holds no tunnel. The branch office (installed over SSH by the program)
 *   is not booted. Last, the failover: the active killed mid-transfer; the transfer completes and
 *   the routes point at the survivor (moved by its agent through the lab's EC2 API).
 * - existing-vpc: one AwsGateway peering with a remote site that runs plain WireGuard
 *   (wireguard-go + `wg setconf` of the program's remotePeerConfig output).
 * Logs of every VM stay under artifacts/test-lab-examples/<example>/.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../../agent/package-root';
import { checkMesh, measureFailover, meshProblems, waitForGateways } from '../../lab/boot/checks';
import type { ExampleName } from '../../lab/boot/deployment';
import { describeWithRoot } from '../support/root-only';
import { BOOT_LAB_COMMANDS, bootedLab } from './lab-support';

const ARTIFACTS = join(packageRoot(), 'artifacts', 'test-lab-examples');

const EXPECTED: Record<Exclude<ExampleName, 'aws-gcp'>, { gateways: string[]; standby: string[]; sites: string[] }> = {
  'hub-spoke-ha': {
    gateways: ['hs-gcp-spoke-0', 'hs-hub-gateway-instance-0', 'hs-hub-gateway-instance-1'],
    standby: ['hs-hub-gateway-instance-1'],
    sites: ['hub', 'gcp-spoke'],
  },
  'existing-vpc': { gateways: ['edge-instance-0'], standby: [], sites: ['edge', 'dc'] },
};

describeWithRoot('boot lab: examples/hub-spoke-ha and examples/existing-vpc booted end to end', BOOT_LAB_COMMANDS)(
  'boot lab examples',
  () => {
    describe.each(Object.entries(EXPECTED))('examples/%s', (example, expected) => {
      const artifacts = join(ARTIFACTS, example);
      const booted = bootedLab({ example: example as ExampleName, artifactsDirectory: artifacts });

      test('every gateway boots through cloud-init, installs the package and reaches agent.ready', async () => {
        const timings = await waitForGateways(booted.lab);
        writeFileSync(
          join(artifacts, 'timings.json'),
          JSON.stringify({ lab: booted.lab.timings, gateways: timings }, null, 2),
        );
        expect(timings.map((t) => t.gateway).sort()).toEqual(expected.gateways);
        expect(booted.lab.gateways.filter((g) => g.network.gateway.standby).map((g) => g.network.gateway.name)).toEqual(
          expected.standby,
        );
      }, 300_000);

      test('LAN hosts ping across the sites, tunnels handshake, /healthz answers the router, /metrics does not', async () => {
        const report = await checkMesh(booted.lab);
        writeFileSync(join(artifacts, 'mesh.json'), JSON.stringify(report, null, 2));
        const [a, b] = expected.sites;
        expect(report.pings).toEqual([
          { from: a, to: b, received: 5, sent: 5 },
          { from: b, to: a, received: 5, sent: 5 },
        ]);
        expect(meshProblems(booted.lab, report)).toEqual([]);
        // The standby holds the key and dials nobody: no tunnel of its own.
        for (const name of expected.standby) expect(report.handshakes[name]).toBe(false);
      }, 180_000);

      if (example === 'hub-spoke-ha') {
        test("the spoke reaches the hub through the NLB's DNS name and Elastic IP, not an instance's address", async () => {
          const [lb] = booted.lab.deployment.loadBalancers;
          const spoke = booted.lab.gatewayNamed('hs-gcp-spoke-0');
          expect(await spoke.vm.exec(['getent', 'hosts', lb!.dnsName])).toMatch(new RegExp(`^${lb!.publicIps[0]} `));
          expect((await spoke.vm.exec(['wg', 'show', 'wm0', 'endpoints']))?.trim()).toMatch(
            new RegExp(`\\s${lb!.publicIps[0]!.replace(/\./g, '\\.')}:${lb!.port}$`),
          );
        }, 30_000);

        test('the active hub gateway killed mid-transfer: the transfer completes, the routes point at the survivor', async () => {
          const report = await measureFailover(booted.lab);
          writeFileSync(join(artifacts, 'failover.json'), JSON.stringify(report, null, 2));
          const { transfer, nlbEvents, ...figures } = report;
          // Figures, not assertions: speed is for the lab run and the READMEs, not a pass criterion.
          console.log(
            `failover: ${JSON.stringify({ ...figures, transfer: { bytes: transfer.received?.bytes, complete: transfer.complete } })}\nNLB after the kill: ${JSON.stringify(nlbEvents)}`,
          );
          expect(report.killed).toBe('hs-hub-gateway-instance-0');
          expect(report.survivor).toBe('hs-hub-gateway-instance-1');
          expect(transfer.complete).toBe(true);
          expect(report.routeTablesAtSurvivor).toBe(true);
          expect(report.routerRoutesAtSurvivor).toBe(true);
        }, 200_000);
      }
    });
  },
);
