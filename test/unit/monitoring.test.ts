/**
 * examples/monitoring: the alert rules pass `promtool check rules` and their own `promtool test
 * rules` suite, and every expression of the rules and of the Grafana dashboard names only metrics
 * the agent exports (read from a real scrape of its registry).
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { hasCommand } from '../../lab/netns';
import { createAgentMetrics } from '../../agent/observability/metrics';

const DIR = join(__dirname, '..', '..', 'examples', 'monitoring');
const KEY = 'xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=';

interface Panel {
  title: string;
  type: string;
  datasource?: { uid: string };
  targets: { expr: string; refId: string }[];
}

const dashboard = JSON.parse(readFileSync(join(DIR, 'grafana-dashboard.json'), 'utf8')) as {
  panels: Panel[];
  templating: { list: { name: string; definition?: string }[] };
};
const rules = (
  parseYaml(readFileSync(join(DIR, 'alerts.yml'), 'utf8')) as { groups: { rules: { alert: string; expr: string }[] }[] }
).groups.flatMap((group) => group.rules);

/** Every series name the agent's registry exposes, histogram and summary suffixes included. */
async function exportedNames(): Promise<Set<string>> {
  const metrics = createAgentMetrics({
    collect: () => ({
      interfaceUp: true,
      drops: { 'invalid-mac1': 1 },
      peers: [
        {
          name: 'a',
          publicKey: KEY,
          allowedIps: ['10.0.0.0/24'],
          endpoint: null,
          rxBytes: 1,
          txBytes: 1,
          lastHandshakeUnixMs: Date.now(),
        },
      ],
    }),
    interfaceName: 'wm0',
    keyCreatedAtUnixMs: () => Date.now(),
  });
  metrics.recordHandshakeFailure('handshake-gave-up');
  metrics.recordSecretFetchFailure('aws-secrets-manager');
  metrics.setSecretStoreHealthy(true);
  const text = await metrics.registry.metrics();
  return new Set(
    text
      .split('\n')
      .filter((line) => line && !line.startsWith('#'))
      .map((line) => /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(line)![0]),
  );
}

/** The metric names in a PromQL expression: ours and the process/runtime defaults. */
function metricsIn(expr: string): string[] {
  return [...expr.matchAll(/\b(?:wiremesh|process|nodejs)_[a-zA-Z0-9_]+\b/g)].map((match) => match[0]);
}

describe('examples/monitoring', () => {
  let exported: Set<string>;
  beforeAll(async () => {
    exported = await exportedNames();
  });

  const expressions = [
    ...rules.map((rule) => [`alert ${rule.alert}`, rule.expr] as const),
    ...dashboard.panels.flatMap((panel) =>
      panel.targets.map((target) => [`panel "${panel.title}" ${target.refId}`, target.expr] as const),
    ),
    ...dashboard.templating.list
      .filter((variable) => variable.definition)
      .map((variable) => [`variable ${variable.name}`, variable.definition!] as const),
  ];

  test.each(expressions)('%s names only exported metrics', (_where, expr) => {
    const names = metricsIn(expr);
    expect(names.length).toBeGreaterThan(0);
    expect(names.filter((name) => !exported.has(name))).toEqual([]);
  });

  test('the dashboard covers what operators watch, every panel on the chosen data source', () => {
    const titles = dashboard.panels.map((panel) => panel.title);
    for (const wanted of [
      'Handshake failures by reason',
      'Seconds since last handshake',
      'Packet drops by reason',
      'Bytes received per peer',
      'Bytes sent per peer',
    ]) {
      expect(titles).toContain(wanted);
    }
    for (const panel of dashboard.panels) expect(panel.datasource?.uid).toBe('${datasource}');
    expect(new Set(dashboard.panels.map((panel) => (panel as unknown as { id: number }).id)).size).toBe(
      dashboard.panels.length,
    );
  });

  const describePromtool = hasCommand('promtool')
    ? describe
    : process.env.CI === 'true'
      ? (() => {
          throw new Error('CI must run promtool (Debian package prometheus)');
        })()
      : describe.skip;
  describePromtool('promtool', () => {
    test.each([
      ['check rules', ['check', 'rules', 'alerts.yml']],
      ['test rules', ['test', 'rules', 'alerts.test.yml']],
    ])('promtool %s succeeds', (_what, args) => {
      const result = spawnSync('promtool', args, { cwd: DIR, encoding: 'utf8', timeout: 60_000 });
      expect({ status: result.status, output: `${result.stdout}${result.stderr}` }).toMatchObject({ status: 0 });
      expect(result.stdout).toContain('SUCCESS');
    });
  });
});
