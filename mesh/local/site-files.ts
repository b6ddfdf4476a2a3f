/**
 * The files of one local site: its key versions (<site>.v<N>.key, 0600, never rewritten), its
 * agent's configuration document and the status document the agent writes back.
 */
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml, stringify as toYaml } from 'yaml';
import { keyToBase64 } from '../../agent/crypto/keys';
import type { AgentConfig } from '../../agent/gateway/config-types';
import type { AgentStatusDocument } from '../../agent/gateway/status-document';

export interface SiteFiles {
  configFile: string;
  statusFile: string;
}

/** The key file of one key version of a site: versions are never rewritten, only added and deleted. */
export function keyFile(stateDir: string, site: string, version: number): string {
  return join(stateDir, `${site}.v${version}.key`);
}

export function writeKeyVersion(stateDir: string, site: string, version: number, privateKey: Buffer): void {
  writeFileSync(keyFile(stateDir, site, version), `${keyToBase64(privateKey)}\n`, { mode: 0o600 });
}

export function readAgentConfig(site: SiteFiles): AgentConfig {
  return parseYaml(readFileSync(site.configFile, 'utf8')) as AgentConfig;
}

/** Replaces the document in one rename, so the watching agent never reads half of it. */
export function writeAgentConfig(site: SiteFiles, config: AgentConfig): void {
  const temporary = `${site.configFile}.tmp`;
  writeFileSync(temporary, toYaml(config), { mode: 0o600 });
  renameSync(temporary, site.configFile);
}

export function readStatusDocument(site: SiteFiles): AgentStatusDocument | null {
  if (!existsSync(site.statusFile)) return null;
  try {
    return JSON.parse(readFileSync(site.statusFile, 'utf8')) as AgentStatusDocument;
  } catch {
    return null; // replaced while read: the next look sees the whole document
  }
}
