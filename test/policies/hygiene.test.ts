/**
 * wiremesh-wireguard-hygiene: on the agent configuration documents of the recorded component stack
 * (in their secret versions), on documents the mesh planner produces, on a mesh spec given to a
 * `wiremesh:` component, and on violating variants.
 */
import type { AgentConfig } from '../../agent/gateway/config-types';
import { wireGuardKeyPairFromEntropy } from '../../components/key';
import { unwrapSecrets } from '../../components/testing';
import { agentConfigFor, planMesh } from '../../mesh/planner';
import type { MeshSpec } from '../../mesh/spec';
import { runPolicies, type RunnerResource, type Violation } from '../../policies/run';
import { componentStack, PEER_PUBLIC_KEY, withProps } from './stacks';

const P = 'wiremesh-wireguard-hygiene';
let stack: RunnerResource[];
let now: Date;

beforeAll(async () => ({ stack, now } = await componentStack()), 60_000);

function run(resources: RunnerResource[], config: Record<string, unknown> = {}): Violation[] {
  return runPolicies(resources, { now, config }).filter((v) => v.policyName === P);
}
const messages = (violations: Violation[]) => violations.map((v) => v.message);

const SPEC: MeshSpec = {
  name: 'corp',
  topology: { type: 'hub-and-spoke', hubs: ['hub'] },
  sites: [
    { name: 'hub', provider: 'aws', cidrs: ['10.1.0.0/16'], endpoint: '198.51.100.1:51820' },
    { name: 'branch', provider: 'gcp', cidrs: ['10.2.0.0/16'], behindNat: true },
    {
      name: 'dc',
      provider: 'external',
      cidrs: ['10.3.0.0/16'],
      endpoint: '203.0.113.3:51820',
      publicKey: PEER_PUBLIC_KEY,
    },
  ],
};

/** The planner's agent configuration of each gateway, stored as the components store it. */
function plannedDocuments(spec: MeshSpec): RunnerResource[] {
  const keys = spec.sites
    .filter((s) => s.provider !== 'external')
    .map((s, i) => [s.name, wireGuardKeyPairFromEntropy(new Uint8Array(32).fill(40 + i)).publicKey]);
  const plan = planMesh(spec, { publicKeys: Object.fromEntries(keys) });
  return plan.gateways.map((gw) => {
    const config: AgentConfig = agentConfigFor(gw, {
      interfaceName: 'wm0',
      privateKey: {
        source: 'aws-secrets-manager',
        secretId: `arn:aws:secretsmanager:eu-west-1:123456789012:secret:${gw.id}-AbCdEf`,
      },
    });
    return {
      type: 'aws:secretsmanager/secretVersion:SecretVersion',
      name: `${gw.id}-config-version`,
      props: { secretString: JSON.stringify(config, null, 2) },
    };
  });
}

function configDoc(resources: RunnerResource[], name: string): Record<string, any> {
  const r = resources.find((x) => x.name === name)!;
  // Recorded secret inputs are still wrapped as secrets; the runner (like the engine) unwraps them.
  return JSON.parse(String(unwrapSecrets(r.props.secretString ?? r.props.secretData)));
}

describe('wiremesh-wireguard-hygiene', () => {
  test('the component stack passes: its agent configuration documents are sound', () => {
    expect(run(stack)).toEqual([]);
    expect(configDoc(stack, 'site-a-config-version').peers[0].persistentKeepalive).toBe(25); // the documents are read
  });

  test("planner documents pass, including a declared full-tunnel hub and the NAT side's keepalive", () => {
    expect(run(plannedDocuments(SPEC))).toEqual([]);
    const fullTunnel: MeshSpec = {
      ...SPEC,
      sites: SPEC.sites.map((s) => (s.name === 'hub' ? { ...s, fullTunnel: true } : s)),
    };
    const docs = plannedDocuments(fullTunnel);
    expect(configDoc(docs, 'branch-config-version').peers[0]).toMatchObject({
      allowedIps: ['0.0.0.0/0', '::/0'],
      fullTunnel: true,
      persistentKeepalive: 25,
    });
    expect(run(docs)).toEqual([]);
    expect(messages(run(docs, { [P]: { allowFullTunnel: false } }))).toEqual([
      expect.stringContaining('peer "hub" has allowedIps 0.0.0.0/0, ::/0: that routes all traffic to one peer'),
    ]);
  });

  test('a recorded AWS config document with 0.0.0.0/0, keepalive 60 and MTU 1500 is reported with what to change', () => {
    const bad = withProps(stack, 'site-a-config-version', (p) => {
      const doc = JSON.parse(unwrapSecrets(p.secretString));
      doc.interface.mtu = 1500;
      doc.peers[0].allowedIps = ['0.0.0.0/0'];
      doc.peers[0].persistentKeepalive = 60;
      return { ...p, secretString: JSON.stringify(doc) };
    });
    expect(messages(run(bad))).toEqual([
      'SecretVersion "site-a-config-version" secretString (agent configuration): interface.mtu 1500 exceeds the underlay MTU 1500 minus the WireGuard overhead 80: ' +
        'set interface.mtu to at most 1420 (larger packets are fragmented or dropped on the underlay).',
      'SecretVersion "site-a-config-version" secretString (agent configuration): peer "site-b" has allowedIps 0.0.0.0/0: that routes all traffic to one peer and accepts any source from it; ' +
        "list the peer site's prefixes instead, or, for a deliberate full-tunnel egress hub, declare it with fullTunnel: true.",
      'SecretVersion "site-a-config-version" secretString (agent configuration): peer "site-b" has persistentKeepalive 60: set it from 15 to 30 seconds (25 is usual): ' +
        'shorter wastes traffic, longer lets NAT and load balancer UDP mappings expire.',
    ]);
  });

  test('a recorded GCP config document (secretData) with ::/0; the underlay MTU is configurable', () => {
    const bad = withProps(stack, 'site-b-config-version', (p) => {
      const doc = JSON.parse(unwrapSecrets(p.secretData));
      doc.peers[0].allowedIps = ['10.10.0.0/16', '::/0'];
      return { ...p, secretData: JSON.stringify(doc) };
    });
    expect(messages(run(bad))).toEqual([
      expect.stringMatching(
        /^SecretVersion "site-b-config-version" secretData \(agent configuration\): peer "site-a" has allowedIps ::\/0/,
      ),
    ]);
    // GCP's default VPC MTU is 1460: a 1420 tunnel MTU no longer fits (1460 - 80 = 1380).
    const mtu = withProps(stack, 'site-b-config-version', (p) => {
      const doc = JSON.parse(unwrapSecrets(p.secretData));
      return { ...p, secretData: JSON.stringify({ ...doc, interface: { ...doc.interface, mtu: 1420 } }) };
    });
    // site-a's AWS document sets mtu 1420 as well.
    const found = run(mtu, { [P]: { underlayMtu: 1460 } });
    expect(found.map((v) => v.resourceName)).toEqual(['site-a-config-version', 'site-b-config-version']);
    expect(found[1]!.message).toContain('set interface.mtu to at most 1380');
  });

  test('a hand-written YAML document in a secret version', () => {
    const yaml = [
      'interface:',
      '  name: wg0',
      '  addresses: [10.99.0.5/24]',
      '  mtu: 1480',
      'peers:',
      '  - name: hq',
      `    publicKey: ${PEER_PUBLIC_KEY}`,
      '    allowedIps: [0.0.0.0/0]',
      '    persistentKeepalive: 5',
      '',
    ].join('\n');
    const found = run([
      { type: 'gcp:secretmanager/secretVersion:SecretVersion', name: 'manual', props: { secretData: yaml } },
    ]);
    expect(found.map((v) => v.message.split(': ')[1])).toEqual([
      'interface.mtu 1480 exceeds the underlay MTU 1500 minus the WireGuard overhead 80',
      'peer "hq" has allowedIps 0.0.0.0/0',
      'peer "hq" has persistentKeepalive 5',
    ]);
  });

  test("a mesh spec in a wiremesh component's inputs: site CIDRs, NAT keepalive and MTU", () => {
    const mesh = (spec: unknown): RunnerResource => ({ type: 'wiremesh:mesh:Mesh', name: 'corp', props: { spec } });
    expect(run([mesh(SPEC)])).toEqual([]);
    const bad = {
      ...SPEC,
      defaults: { mtu: 1440, persistentKeepalive: 45 },
      sites: [...SPEC.sites, { name: 'internet', provider: 'aws', cidrs: ['0.0.0.0/0'] }],
    };
    expect(messages(run([mesh(bad)]))).toEqual([
      'Mesh "corp" spec (mesh spec): the mesh MTU 1440 exceeds the underlay MTU 1500 minus the WireGuard overhead 80: set defaults.mtu to at most 1420.',
      expect.stringContaining(
        'Mesh "corp" spec (mesh spec): site "internet" has cidrs 0.0.0.0/0; they become its peers\' allowed IPs: list the site\'s own prefixes, or declare a full-tunnel egress hub',
      ),
      'Mesh "corp" spec (mesh spec): sites behind NAT (branch) keep their tunnels open with defaults.persistentKeepalive 45: set it from 15 to 30 seconds (25 is usual).',
    ]);
    // The default MTU (1420) checked against a smaller underlay.
    expect(messages(run([mesh(SPEC)], { [P]: { underlayMtu: 1460 } }))).toEqual([
      expect.stringContaining('the mesh MTU 1420 (the default) exceeds the underlay MTU 1460'),
    ]);
  });

  test('an unknown document (preview) is skipped; other resource types are not applicable', () => {
    const preview: RunnerResource = {
      type: 'aws:secretsmanager/secretVersion:SecretVersion',
      name: 'v',
      props: { secretString: '04da6b54-80e4-46f7-96ec-b56ff0331ba9' },
    };
    expect(runPolicies([preview], { now })).toEqual([]);
  });
});
