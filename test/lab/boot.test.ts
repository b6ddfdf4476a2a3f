/**
 * The boot lab for examples/aws-gcp (lab/boot/): the gateways' real bootstrap, booted end to end.
 * The example runs under Pulumi mocks; its exact user data boots a cached Debian 12 image under
 * systemd-nspawn; cloud-init downloads the packed package (the agent artifact) from the emulated S3 /
 * Cloud Storage with the instance's own credentials, checks its sha256 and installs it (its
 * dependencies from the lab's npm registry); the agent gets
 * credentials from the emulated metadata services and its key and configuration from the emulated
 * secret stores. Beside the two gateways, a third instance with the AWS gateway's user data but a
 * role that may not read the key secret must fail visibly without disturbing the others. Last,
 * every key rotates through its phases, one deploy per phase (lab/boot/rotation.ts), while a LAN
 * host pings the other site's: no ping lost, both keys rotated, their old versions destroyed.
 * Needs root, debootstrap (network on the first run; the image is cached), systemd-nspawn, nft.
 * Logs of every VM stay under artifacts/test-lab-boot/.
 */
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../../agent/package-root';
import { checkMesh, waitForGateways } from '../../lab/boot/checks';
import { measureRotationWalk } from '../../lab/boot/rotation';
import { deniedName, StepFailure } from '../../lab/boot/lab';
import { describeWithRoot } from '../support/root-only';
import { BOOT_LAB_COMMANDS, bootedLab } from './lab-support';

const ARTIFACTS = join(packageRoot(), 'artifacts', 'test-lab-boot');
const AWS_GATEWAY = 'aws-gcp-aws-eu-instance-0';
const DENIED = deniedName(AWS_GATEWAY);

describeWithRoot('boot lab: examples/aws-gcp booted end to end', BOOT_LAB_COMMANDS)('boot lab', () => {
  const booted = bootedLab({ example: 'aws-gcp', artifactsDirectory: ARTIFACTS, deniedGatewayBeside: AWS_GATEWAY });
  const healthy = () => booted.lab.gateways.filter((g) => g.network.gateway.name !== DENIED);

  test('every gateway boots through cloud-init, installs the package and reaches agent.ready', async () => {
    const timings = await waitForGateways(booted.lab, healthy());
    writeFileSync(
      join(ARTIFACTS, 'timings.json'),
      JSON.stringify({ lab: booted.lab.timings, gateways: timings }, null, 2),
    );
    expect(timings.map((t) => t.gateway).sort()).toEqual([AWS_GATEWAY, 'aws-gcp-gcp-eu-0']);
    for (const t of timings)
      expect(Object.keys(t.steps)).toEqual(
        expect.arrayContaining(['boot', 'cloud-init modules', 'install', 'unit start', 'agent.ready']),
      );
  }, 300_000);

  test('each gateway installed the agent artifact from its bucket, read with its own identity, sha256 checked', async () => {
    const packed = createHash('sha256').update(readFileSync(booted.lab.agentArtifact())).digest('hex');
    for (const gateway of booted.lab.deployment.gateways) expect(gateway.userData).toContain(`AGENT_SHA256=${packed}`);
    const downloads = (await booted.lab.objectAccesses()).filter((a) => a.status === 200);
    expect(new Set(downloads.map((a) => `${a.instance} ${a.store}`))).toEqual(
      new Set([`${AWS_GATEWAY} s3`, `${DENIED} s3`, 'aws-gcp-gcp-eu-0 gcs']),
    );
    for (const gateway of healthy()) {
      const installed = await gateway.vm.exec(['sha256sum', '/var/lib/wiremesh/wiremesh-agent.tgz']);
      expect(installed?.split(' ')[0]).toBe(packed);
    }
  });

  test('LAN hosts ping across the sites, tunnels handshake, /healthz answers the router, /metrics does not', async () => {
    const report = await checkMesh(booted.lab, healthy());
    writeFileSync(join(ARTIFACTS, 'mesh.json'), JSON.stringify(report, null, 2));
    expect(report.pings).toEqual([
      { from: 'aws-eu', to: 'gcp-eu', received: 5, sent: 5 },
      { from: 'gcp-eu', to: 'aws-eu', received: 5, sent: 5 },
    ]);
    expect(report.handshakes).toEqual({ [AWS_GATEWAY]: true, 'aws-gcp-gcp-eu-0': true });
    for (const health of Object.values(report.health)) {
      expect(health.status).toBe(200);
      expect(JSON.parse(health.body!)).toMatchObject({ healthy: true });
    }
    expect(Object.values(report.metricsFromOutside)).toEqual([{ error: 'ECONNREFUSED' }, { error: 'ECONNREFUSED' }]);
  }, 120_000);

  test('the instance whose role may not read its key secret fails at "secret read": logged without key, /healthz 503 with the reason, no tunnel, alone', async () => {
    const denied = booted.lab.gatewayNamed(DENIED);
    const failure = await booted.lab.follow(denied, 'agent.ready', 180_000).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(failure).toBeInstanceOf(StepFailure);
    expect((failure as StepFailure).step).toBe('secret read');
    // The store refused exactly that instance's read of the key secret.
    const refusals = (await booted.lab.accesses()).filter((a) => a.instance === DENIED && a.status !== 200);
    expect(refusals.length).toBeGreaterThan(0);
    expect(new Set(refusals.map((a) => a.error))).toEqual(new Set(['AccessDeniedException']));
    expect(refusals.every((a) => /-key-secret-/.test(a.secret))).toBe(true);
    // The agent logs the denial, and no key: neither private key of the deployment is in its journal.
    const log = (await denied.vm.exec(['journalctl', '-u', 'wiremesh-agent', '-o', 'cat', '--no-pager'])) ?? '';
    expect(log).toMatch(/AccessDeniedException/);
    const privateKeys = [
      ...booted.lab.deployment.awsSecrets.filter((s) => /-key-secret-/.test(s.arn)).map((s) => s.value),
      ...booted.lab.deployment.gcpSecrets.filter((s) => /-key-secret-/.test(s.name)).map((s) => s.value),
    ];
    for (const key of privateKeys) expect(log.includes(key)).toBe(false);
    expect(log).toContain('"event":"secret.refused"');
    // No tunnel; /healthz, where the load balancer probes, says 503 and why (and holds no key).
    expect(await denied.vm.exec(['ip', 'link', 'show', 'wm0'])).toBeUndefined();
    const health = await booted.lab.httpFrom(denied.network.site.router, booted.lab.healthUrl(denied.network));
    expect(health.status).toBe(503);
    const report = JSON.parse(health.body!) as { status: string; healthy: boolean; reason: string };
    expect(report).toMatchObject({ status: 'refused', healthy: false });
    expect(report.reason).toMatch(
      /^AWS Secrets Manager secret arn:aws:secretsmanager:[^ ]*-key-secret-[^ ]*( version [^ ]+)?: AccessDeniedException/,
    );
    for (const key of privateKeys) expect(health.body!.includes(key)).toBe(false);
    writeFileSync(
      join(ARTIFACTS, 'denied.json'),
      JSON.stringify({ failure: (failure as Error).message, health, refusals: refusals.length }, null, 2),
    );
    // Nothing else noticed: the LANs still ping, the other gateways stay healthy with their tunnels.
    expect(
      await booted.lab.ping(booted.lab.network.sites[0]!.lanHost, booted.lab.network.sites[1]!.lanAddress, 3),
    ).toBe(3);
    for (const g of healthy()) {
      expect((await booted.lab.httpFrom(g.network.site.router, booted.lab.healthUrl(g.network))).status).toBe(200);
      expect((await booted.lab.handshakes(g)).every((t) => t > 0)).toBe(true);
    }
  }, 240_000);

  test('key rotation through every phase, one deploy each (next, switch, retire of both keys): 0 pings lost, both keys rotated, old versions destroyed', async () => {
    const report = await measureRotationWalk(booted.lab);
    writeFileSync(join(ARTIFACTS, 'rotation.json'), JSON.stringify(report, null, 2));
    console.log(`boot lab rotation: ${JSON.stringify(report)}`);
    // Both keys, three phases each, interleaved by their staggered epochs.
    expect(report.steps.map((s) => `${s.site} ${s.phase}`).sort()).toEqual(
      ['aws-eu', 'gcp-eu'].flatMap((site) => ['next', 'retire', 'switch'].map((phase) => `${site} ${phase}`)).sort(),
    );
    for (const [site, key] of Object.entries(report.keys)) {
      expect({ site, ...key }).toEqual({ site, from: key.from, to: key.from + 1, oldVersionsDestroyed: true });
    }
    for (const [gateway, status] of Object.entries(report.final)) {
      expect({ gateway, ...status }).toMatchObject({ gateway, rotation: 'none', isNewKey: true });
    }
    expect(report.sent).toBeGreaterThan(0);
    expect(report.lost).toBe(0);
  }, 900_000);
});
