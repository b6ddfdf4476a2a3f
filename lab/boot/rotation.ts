/**
 * Key rotation in the boot lab, through the deploys the components need (docs/key-rotation.md,
 * "Through deploys"): from the first deployment's `rotationPlan`, the clock instants at which each
 * site's key enters phase next, switch and retire; one deploy per instant, in order, with the clock
 * moved there; the stores updated as the engine would; then waiting until every gateway's status
 * document shows its new document applied and no rotation half-done, never a fixed sleep. A LAN host
 * pings the other site's LAN host the whole time.
 */
import { parseAgentConfig } from '../../agent/gateway/config';
import type { AgentConfig, KeySource } from '../../agent/gateway/config-types';
import type { AgentStatusDocument } from '../../agent/gateway/status-document';
import { publicKeyFromPrivateKey } from '../../components/key';
import type { KeyRotationPlan } from '../../components/rotation';
import { agentLog, eventAfter, pingOutcome, startPing, type PingOutcome } from './checks';
import type { LabDeployment } from './deployment';
import { runDeployment, type BootLab, type RunningGateway } from './lab';
import type { StoreChanges } from './services/stores';

/** The phase a deploy moves one site's key into. */
export type RotationStepPhase = 'next' | 'switch' | 'retire';

export interface RotationStep {
  site: string;
  phase: RotationStepPhase;
  /** The instant the phase starts (the plan's nextCreatedAt, switchAt or retireAt). */
  at: string;
  /** How far the deploy's clock is moved: just past `at`. */
  clockOffsetMs: number;
}

/** How far past a phase's start its deploy runs (a deploy a minute late is still inside the phase). */
const PAST_PHASE_START_MS = 60_000;

/**
 * The deploys that rotate every key once, in time order: per site, the phases its key has still to
 * enter (steady: next, switch, retire; next: switch, retire; switch: retire), each at its
 * instant from the plan, the clock moved from `nowMs`. Keys of one mesh rotate on staggered days,
 * so the sites' phases interleave.
 */
export function rotationSteps(plan: Record<string, KeyRotationPlan>, nowMs: number): RotationStep[] {
  const steps: RotationStep[] = [];
  for (const [site, key] of Object.entries(plan)) {
    if (key.overlapDays === 0) throw new Error(`rotation: site ${site}'s key has no overlap window: nothing to walk`);
    const remaining: Array<[RotationStepPhase, string]> = [
      ['next', key.nextCreatedAt],
      ['switch', key.switchAt],
      ['retire', key.retireAt],
    ];
    const from = { steady: 0, next: 1, switch: 2 }[key.phase];
    for (const [phase, at] of remaining.slice(from)) {
      steps.push({ site, phase, at, clockOffsetMs: Math.max(0, Date.parse(at) - nowMs + PAST_PHASE_START_MS) });
    }
  }
  return steps.sort((a, b) => Date.parse(a.at) - Date.parse(b.at));
}

/** What a deploy's plan must say of the stepped site's key: the phase entered, the generations. */
export function planMatchesStep(before: KeyRotationPlan, after: KeyRotationPlan, phase: RotationStepPhase): boolean {
  if (phase === 'retire') return after.phase === 'steady' && after.current === before.next;
  return after.phase === phase && after.next !== null;
}

/** What one gateway's document says about keys: its own public keys, and per peer the ones it accepts. */
export interface ExpectedKeys {
  statusFile: string;
  publicKey: string;
  nextPublicKey: string | null;
  peers: Record<string, { publicKey: string; nextPublicKey: string | null }>;
}

/** The private key a document's key reference names, from the deployment's secret versions. */
function privateKeyOf(deployment: LabDeployment, source: KeySource): string {
  const value =
    source.source === 'aws-secrets-manager'
      ? deployment.awsSecrets.find((s) => s.arn === source.secretId && s.versionId === source.versionId)?.value
      : source.source === 'gcp-secret-manager'
        ? deployment.gcpSecrets.find((s) => `${s.name}/versions/${s.version}` === source.name)?.value
        : undefined;
  if (value === undefined) throw new Error(`rotation: the deployment has no secret version ${JSON.stringify(source)}`);
  return value.trim();
}

/** The gateway's configuration document in `deployment`: the config secret its identity may read. */
export function documentOf(deployment: LabDeployment, gateway: string): AgentConfig {
  const g = deployment.gateways.find((x) => x.name === gateway);
  if (!g) throw new Error(`rotation: no gateway ${gateway} in the deployment`);
  const isConfig = (reference: string) => !/-key-secret-/.test(reference);
  const text = g.role
    ? deployment.awsSecrets.find(
        (s) => g.role!.readableSecretArns.filter(isConfig).includes(s.arn) && s.stages.includes('AWSCURRENT'),
      )?.value
    : deployment.gcpSecrets
        .filter((s) => g.serviceAccount!.readableSecretIds.filter(isConfig).includes(s.secretId))
        .sort((a, b) => b.version - a.version)[0]?.value;
  if (text === undefined) throw new Error(`rotation: no configuration document for ${gateway}`);
  return parseAgentConfig(text);
}

export function expectedKeys(deployment: LabDeployment, gateway: string): ExpectedKeys {
  const document = documentOf(deployment, gateway);
  if (!document.statusFile) throw new Error(`rotation: ${gateway}'s document names no statusFile`);
  return {
    statusFile: document.statusFile,
    publicKey: publicKeyFromPrivateKey(privateKeyOf(deployment, document.privateKey)),
    nextPublicKey: document.nextPrivateKey
      ? publicKeyFromPrivateKey(privateKeyOf(deployment, document.nextPrivateKey))
      : null,
    peers: Object.fromEntries(
      document.peers.map((p) => [p.name, { publicKey: p.publicKey, nextPublicKey: p.nextPublicKey ?? null }]),
    ),
  };
}

/** The status document shows `expected` applied: the same own keys, the same peers with the same keys. */
export function statusApplied(status: AgentStatusDocument | undefined, expected: ExpectedKeys): boolean {
  if (status === undefined) return false;
  if (status.publicKey !== expected.publicKey || status.nextPublicKey !== expected.nextPublicKey) return false;
  const peers = Object.entries(expected.peers);
  return (
    status.peers.length === peers.length &&
    peers.every(([name, keys]) =>
      status.peers.some(
        (p) => p.name === name && p.publicKey === keys.publicKey && p.nextPublicKey === keys.nextPublicKey,
      ),
    )
  );
}

async function readStatus(gateway: RunningGateway, path: string): Promise<AgentStatusDocument | undefined> {
  const text = await gateway.vm.exec(['cat', path]);
  try {
    return text === undefined ? undefined : (JSON.parse(text) as AgentStatusDocument);
  } catch {
    return undefined;
  }
}

export interface GatewayStepTiming {
  /** Whether this deploy changed the keys its document names (its own or its peers'). */
  keysChanged: boolean;
  /** Seconds after the push of the agent's `config.applied` (its journal); null: its document did not change. */
  appliedSeconds: number | null;
  /** Seconds after the push of its first completed handshake since it applied the document; null: none in this step. */
  handshakeSeconds: number | null;
  /** Seconds after the push until its status document showed the deploy's keys and no rotation half-done. */
  settledSeconds: number;
}

export interface RotationStepReport extends RotationStep {
  clockOffsetDays: number;
  deploySeconds: number;
  /** The store changes the deploy made (created, restaged, destroyed versions). */
  stores: StoreChanges;
  gateways: Record<string, GatewayStepTiming>;
  /** Pings whose "no answer" fell between this step's push and the next's (never answered). */
  pingsLost: number;
}

export interface RotationWalkReport extends Omit<PingOutcome, 'outageStartSeconds' | 'recoverySeconds'> {
  steps: RotationStepReport[];
  /** Per site: the key generation before and after, and whether the first deploy's key versions are all destroyed. */
  keys: Record<string, { from: number; to: number; oldVersionsDestroyed: boolean }>;
  /** Per gateway, its last status document: rotation state and public key, and whether that is the final deploy's key. */
  final: Record<string, { rotation: string; publicKey: string; isNewKey: boolean }>;
}

/** Seconds a gateway may take to show a step applied: a few polls of the lab's interval and a handshake. */
const STEP_TIMEOUT_MS = 90_000;
const STATUS_POLL_MS = 250;

/**
 * Walks every key of the lab's deployment through its rotation, one deploy per phase
 * ({@link rotationSteps}), pinging from the first site's LAN host to the second's every
 * `pingInterval` s from before the first deploy until after the last step settled.
 */
export async function measureRotationWalk(lab: BootLab, pingInterval = 0.2): Promise<RotationWalkReport> {
  const [from, to] = lab.network.sites;
  if (!from || !to) throw new Error('rotation needs two sites');
  const first = lab.deployment;
  const steps = rotationSteps(first.rotationPlan, Date.now());
  // The gateways the deploys have (not a lab-only instance beside them, BootLabOptions.deniedGatewayBeside).
  const deployed = (deployment: LabDeployment) =>
    lab.gateways.filter((g) => deployment.gateways.some((d) => d.name === g.network.gateway.name));
  const ping = startPing(from.lanHost, to.lanAddress, pingInterval);
  await sleep(3000);
  const startedAt = Date.now() / 1000;
  const reports: RotationStepReport[] = [];
  const pushes: number[] = [];
  const destroyed: string[] = [];
  let deployment = first;
  try {
    for (const step of steps) {
      const previous = deployment;
      const deployStart = Date.now();
      deployment = await runDeployment(first.example, lab.agentArtifact(), step.clockOffsetMs, lab.workDirectory);
      const deploySeconds = (Date.now() - deployStart) / 1000;
      const planned = deployment.rotationPlan[step.site];
      if (!planned || !planMatchesStep(previous.rotationPlan[step.site]!, planned, step.phase)) {
        throw new Error(
          `rotation: the deploy at ${step.at} should put ${step.site}'s key in phase ${step.phase}; its plan says ${JSON.stringify(planned)}`,
        );
      }
      const pushedAt = Date.now();
      pushes.push(pushedAt / 1000);
      const stores = await lab.pushSecrets(deployment);
      destroyed.push(...stores.destroyed);
      const timings: Record<string, GatewayStepTiming> = {};
      for (const [name, timing] of await Promise.all(
        deployed(deployment).map(
          async (g) => [g.network.gateway.name, await waitForStep(g, previous, deployment, pushedAt)] as const,
        ),
      ))
        timings[name] = timing;
      reports.push({
        ...step,
        clockOffsetDays: round(step.clockOffsetMs / 86_400_000),
        deploySeconds: round(deploySeconds),
        stores,
        gateways: timings,
        pingsLost: 0,
      });
      lab.log(`rotation: ${step.site} ${step.phase}: ${JSON.stringify(timings)}`);
    }
    await sleep(3000);
  } catch (error) {
    await ping.stop();
    throw error;
  }
  const endAt = Date.now() / 1000;
  const log = await ping.stop();
  const received = new Set(log.replies.map((r) => r.seq));
  const lostAt = log.missing.filter((m) => !received.has(m.seq)).map((m) => m.at);
  const boundaries = [...pushes, Infinity];
  reports.forEach(
    (r, i) => (r.pingsLost = lostAt.filter((at) => at >= boundaries[i]! && at < boundaries[i + 1]!).length),
  );
  const outcome = pingOutcome(log, log.transmitted ?? log.replies.length, pingInterval, startedAt, endAt);
  const keys: RotationWalkReport['keys'] = {};
  for (const [site, before] of Object.entries(first.rotationPlan)) {
    const oldVersions = keyVersionsOf(first, site);
    keys[site] = {
      from: before.current,
      to: deployment.rotationPlan[site]!.current,
      oldVersionsDestroyed: oldVersions.length > 0 && oldVersions.every((v) => destroyed.includes(v)),
    };
  }
  const final: RotationWalkReport['final'] = {};
  for (const g of deployed(deployment)) {
    const name = g.network.gateway.name;
    const expected = expectedKeys(deployment, name);
    const status = await readStatus(g, expected.statusFile);
    final[name] = {
      rotation: status?.rotation ?? 'unknown',
      publicKey: status?.publicKey ?? '',
      isNewKey: status !== undefined && status.publicKey === expected.publicKey,
    };
  }
  const { outageStartSeconds: _start, recoverySeconds: _recovery, ...overall } = outcome;
  return { ...overall, observedSeconds: round(endAt - startedAt), steps: reports, keys, final };
}

/**
 * Waits until `g`'s status document shows `deployment` applied and settled (polled every
 * STATUS_POLL_MS); then reads from its journal when it applied the document and handshook since.
 */
async function waitForStep(
  g: RunningGateway,
  previous: LabDeployment,
  deployment: LabDeployment,
  pushedAt: number,
): Promise<GatewayStepTiming> {
  const name = g.network.gateway.name;
  const expected = expectedKeys(deployment, name);
  const keysChanged = JSON.stringify(expectedKeys(previous, name)) !== JSON.stringify(expected);
  for (const deadline = pushedAt + STEP_TIMEOUT_MS; ; await sleep(STATUS_POLL_MS)) {
    const status = await readStatus(g, expected.statusFile);
    const seconds = (Date.now() - pushedAt) / 1000;
    if (statusApplied(status, expected) && status!.rotation !== 'in-progress') {
      const log = await agentLog(g);
      const since = pushedAt / 1000;
      const applied = eventAfter(log, 'config.applied', since);
      return {
        keysChanged,
        appliedSeconds: roundOrNull(applied),
        handshakeSeconds:
          applied === null ? null : roundOrNull(eventAfter(log, 'handshake.complete', since, since + applied)),
        settledSeconds: round(seconds),
      };
    }
    if (Date.now() > deadline) {
      throw new Error(
        `rotation: ${name} did not show its new document applied and settled within ${STEP_TIMEOUT_MS / 1000} s; its status: ${JSON.stringify(status)}`,
      );
    }
  }
}

/** The key secret versions of a site in a deployment, as the stores name them (StoreChanges). */
function keyVersionsOf(deployment: LabDeployment, site: string): string[] {
  const gateway = deployment.gateways.find((g) => g.site === site);
  if (!gateway) return [];
  const isKey = (reference: string) => /-key-secret-/.test(reference);
  if (gateway.role) {
    return deployment.awsSecrets
      .filter((s) => gateway.role!.readableSecretArns.filter(isKey).includes(s.arn))
      .map((s) => `${s.arn}@${s.versionId}`);
  }
  return deployment.gcpSecrets
    .filter((s) => gateway.serviceAccount!.readableSecretIds.filter(isKey).includes(s.secretId))
    .map((s) => `${s.name}/versions/${s.version}`);
}

const round = (seconds: number) => Math.round(seconds * 10) / 10;
const roundOrNull = (seconds: number | null) => (seconds === null ? null : round(seconds));

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
