/**
 * The `wiremesh` command: each subcommand is one entry in SUBCOMMANDS with its flags, parsed
 * strictly (./command). Key tools in ./keys, mesh and local-target commands in ./mesh.
 */
import { EXIT_FAILURE, EXIT_OK, parseSubcommand, type CliIo, type Subcommand } from './command';
import { genkeyCommand, genpskCommand, pubkeyCommand } from './keys';
import {
  downCommand,
  execCommand,
  importCommand,
  planCommand,
  renderCommand,
  revokeCommand,
  rotateCommand,
  statusCommand,
  upCommand,
} from './mesh';

const JSON_FLAG = { json: { type: 'boolean' } } as const;
const SPEC = { min: 0, max: 1 };

const SUBCOMMANDS: ReadonlyMap<string, Subcommand> = new Map<string, Subcommand>([
  ['genkey', { summary: 'Generates a new private key and writes it to stdout', usage: '', run: genkeyCommand }],
  [
    'pubkey',
    { summary: 'Reads a private key from stdin and writes its public key to stdout', usage: '', run: pubkeyCommand },
  ],
  ['genpsk', { summary: 'Generates a new preshared key and writes it to stdout', usage: '', run: genpskCommand }],
  [
    'plan',
    {
      summary: "Plans a mesh spec: every gateway's peers and allowed IPs (--json for JSON)",
      usage: '[SPEC] [--json]',
      options: JSON_FLAG,
      positionals: SPEC,
      run: planCommand,
    },
  ],
  [
    'render',
    {
      summary: 'Writes one wg-quick .conf per gateway of a mesh spec (--out DIR)',
      usage: '[SPEC] [--out DIR]',
      options: { out: { type: 'string' } },
      positionals: SPEC,
      run: renderCommand,
    },
  ],
  [
    'import',
    {
      summary: 'Turns existing wg-quick configurations into a mesh spec (YAML; --json)',
      usage: 'FILE.conf... [--json]',
      options: JSON_FLAG,
      positionals: { min: 1, max: Infinity },
      run: importCommand,
    },
  ],
  [
    'up',
    {
      summary:
        "Brings up a mesh spec's local sites in network namespaces (root); --data-plane PLANE or SITE=PLANE,... (default userspace)",
      usage: '[SPEC] [--data-plane PLANE|SITE=PLANE,...]',
      options: { 'data-plane': { type: 'string' } },
      positionals: SPEC,
      run: upCommand,
    },
  ],
  [
    'status',
    {
      summary: 'Shows the local mesh: sites, peers, endpoints, handshakes, traffic (--json)',
      usage: '[--json]',
      options: JSON_FLAG,
      run: statusCommand,
    },
  ],
  [
    'exec',
    {
      summary: "Runs a command in a local site's LAN host: exec SITE -- COMMAND...",
      usage: 'SITE -- COMMAND...',
      positionals: { min: 1, max: 1 },
      passThrough: { leadingPositionals: 1 },
      run: execCommand,
    },
  ],
  [
    'rotate',
    {
      summary:
        "Rotates local sites' keys (all when none is named) with no tunnel down; prints seconds per phase (--json)",
      usage: '[SITE...] [--json]',
      options: JSON_FLAG,
      positionals: { min: 0, max: Infinity },
      run: rotateCommand,
    },
  ],
  [
    'revoke',
    {
      summary: "Revokes a local site's key: every peer drops it and its prefixes",
      usage: 'SITE',
      positionals: { min: 1, max: 1 },
      run: revokeCommand,
    },
  ],
  ['down', { summary: 'Removes every namespace, process and file of the local mesh', usage: '', run: downCommand }],
  ['help', { summary: 'Shows this help', usage: '', run: help }],
]);

async function help(_args: unknown, io: CliIo): Promise<number> {
  io.stdout.write(usage());
  return EXIT_OK;
}

function usage(): string {
  const width = Math.max(...[...SUBCOMMANDS.keys()].map((name) => name.length));
  const lines = [...SUBCOMMANDS].map(([name, { summary }]) => `  ${name.padEnd(width)}  ${summary}`);
  return `Usage: wiremesh <subcommand> [<args>]\n\nSubcommands:\n${lines.join('\n')}\n`;
}

export async function main(argv: readonly string[], io: CliIo): Promise<number> {
  const [name, ...args] = argv;
  if (name === '--help' || name === '-h') return help(args, io);
  const subcommand = name === undefined ? undefined : SUBCOMMANDS.get(name);
  if (!subcommand) {
    if (name !== undefined) io.stderr.write(`Invalid subcommand: \`${name}'\n`);
    io.stderr.write(usage());
    return EXIT_FAILURE;
  }
  const parsed = parseSubcommand(name!, subcommand, args, io);
  return typeof parsed === 'number' ? parsed : subcommand.run(parsed, io);
}

/** Runs `main` on this process's arguments and streams; bin/wiremesh.js calls this. */
export function runAsProcess(): void {
  const io: CliIo = { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr };
  main(process.argv.slice(2), io).then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      process.stderr.write(`error: ${error instanceof Error ? error.message : String(error)}\n`);
      process.exitCode = EXIT_FAILURE;
    },
  );
}

if (require.main === module) runAsProcess();
