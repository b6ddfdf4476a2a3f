/**
 * HostState: the original value of every host setting the agent changes is on disk (0600, under a
 * 0700 directory) before the change, so a run killed with SIGKILL is put right by the next one.
 * Real files stand in for /proc/sys here; test/interop/agent-faults.test.ts does it with ip_forward
 * in a network namespace.
 */
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HostState } from '../../agent/gateway/host-state';

let dir: string;
let setting: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'wiremesh-state-'));
  setting = join(dir, 'ip_forward');
  writeFileSync(setting, '0\n');
});

afterEach(() => rmSync(dir, { recursive: true, force: true }));

const read = (path: string): string => readFileSync(path, 'utf8').trim();

it('records the original value, privately, before changing the setting; restore puts it back and forgets the file', () => {
  const state = new HostState('wm0', join(dir, 'run'));
  expect(state.setSysctl(setting, '1')).toBe(true);
  expect(read(setting)).toBe('1');
  expect(JSON.parse(readFileSync(state.path, 'utf8'))).toEqual({ sysctls: { [setting]: '0' } });
  expect(statSync(state.path).mode & 0o777).toBe(0o600);
  expect(statSync(join(dir, 'run')).mode & 0o777).toBe(0o700);
  state.restore();
  expect(read(setting)).toBe('0');
  expect(() => statSync(state.path)).toThrow(/ENOENT/);
});

it('after a run that never restored (kill -9), the next run restores the original, and then keeps it as the original', () => {
  new HostState('wm0', dir).setSysctl(setting, '1'); // the killed run
  const next = new HostState('wm0', dir);
  expect(next.restoreLeftovers()).toEqual([`${setting}=0`]);
  expect(read(setting)).toBe('0');
  next.setSysctl(setting, '1');
  next.restore();
  expect(read(setting)).toBe('0');
  expect(new HostState('wm0', dir).restoreLeftovers()).toEqual([]);
});

it('records nothing for a setting already at the value, or missing on this host', () => {
  writeFileSync(setting, '1');
  const state = new HostState('wm0', dir);
  expect(state.setSysctl(setting, '1')).toBe(true);
  expect(state.setSysctl(join(dir, 'no-such-setting'), '1')).toBe(false);
  expect(() => statSync(state.path)).toThrow(/ENOENT/);
  state.restore();
  expect(read(setting)).toBe('1');
});

it('each interface has its own file', () => {
  new HostState('wm0', dir).setSysctl(setting, '1');
  expect(new HostState('wm1', dir).restoreLeftovers()).toEqual([]);
  expect(read(setting)).toBe('1');
});

it('refuses a state file it cannot read, naming it', () => {
  const state = new HostState('wm0', dir);
  writeFileSync(state.path, 'not json');
  expect(() => state.restoreLeftovers()).toThrow(`${state.path}: unreadable state of an earlier run`);
});
