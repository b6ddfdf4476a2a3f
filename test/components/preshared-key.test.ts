/**
 * components/preshared-key.ts: the dynamic provider's create/diff/update as the engine drives them,
 * and the component under mocks (secret key, plain creation time, the mocks run the provider).
 */
import {
  WIREGUARD_PRESHARED_KEY_TYPE,
  WireGuardPresharedKey,
  generatePresharedKey,
  wireGuardPresharedKeyProvider,
  type WireGuardPresharedKeyOutputs,
} from '../../components/preshared-key';
import { rotationEpoch } from '../../components/key';
import { isSecretInput, resolve, resolveWithSecret, setupMocks, unwrapSecrets } from '../../components/testing';

const KEY = /^[A-Za-z0-9+/]{43}=$/;

describe('the preshared-key provider', () => {
  test('create: 32 fresh random bytes (wg genpsk format), an id naming no part of the key, createdAt = the epoch start', async () => {
    const inputs = { epoch: 3, epochStart: '1970-09-28T00:00:00.000Z', maxAgeDays: 90 };
    const a = await wireGuardPresharedKeyProvider.create(inputs);
    const b = await wireGuardPresharedKeyProvider.create(inputs);
    expect(a.outs!.presharedKey).toMatch(KEY);
    expect(Buffer.from(a.outs!.presharedKey, 'base64')).toHaveLength(32);
    expect(a.outs!.presharedKey).not.toBe(b.outs!.presharedKey);
    expect(a.outs!).toMatchObject({ ...inputs, createdAt: inputs.epochStart });
    expect(a.outs!.presharedKey).not.toContain(a.id.replace(/^wgpsk-/, ''));
    expect(generatePresharedKey()).toMatch(KEY);
  });

  test('diff replaces exactly when the epoch start changes; update keeps the key', async () => {
    const olds: WireGuardPresharedKeyOutputs = {
      epoch: 1,
      epochStart: '1970-04-01T00:00:00.000Z',
      maxAgeDays: 90,
      createdAt: '1970-04-01T00:00:00.000Z',
      presharedKey: generatePresharedKey(),
    };
    expect(
      await wireGuardPresharedKeyProvider.diff!('id', olds, {
        epoch: 2,
        epochStart: '1970-06-30T00:00:00.000Z',
        maxAgeDays: 90,
      }),
    ).toEqual({
      changes: true,
      replaces: ['epochStart'],
      deleteBeforeReplace: false,
    });
    expect(
      await wireGuardPresharedKeyProvider.diff!('id', olds, { epoch: 1, epochStart: olds.epochStart, maxAgeDays: 90 }),
    ).toEqual({ changes: false });
    const updated = await wireGuardPresharedKeyProvider.update!('id', olds, {
      epoch: 9,
      epochStart: olds.epochStart,
      maxAgeDays: 10,
    });
    expect(updated.outs).toEqual({ ...olds, epoch: 9, maxAgeDays: 10 });
  });
});

describe('WireGuardPresharedKey under mocks', () => {
  test('a secret key from the provider, no key in any input, the epoch of the clock', async () => {
    const mocks = setupMocks();
    const psk = new WireGuardPresharedKey('a-b', { maxAgeDays: 30, now: () => new Date('2025-03-15T12:00:00Z') });
    const { value, secret } = await resolveWithSecret(psk.presharedKey);
    expect(secret).toBe(true);
    expect(value).toMatch(KEY);
    const epoch = rotationEpoch(new Date('2025-03-15T12:00:00Z'), 30);
    expect(await resolve(psk.createdAt)).toBe(epoch.start);
    expect(await resolve(psk.rotationDeadline)).toBe(epoch.end);
    await mocks.settle();
    const child = mocks.one(WIREGUARD_PRESHARED_KEY_TYPE, 'a-b-value');
    expect(child.parent).toBe(mocks.one('wiremesh:keys:WireGuardPresharedKey', 'a-b').urn);
    expect(child.additionalSecretOutputs).toEqual(['presharedKey']);
    expect(child.replaceOnChanges).toEqual(['epochStart']);
    expect(isSecretInput(child.state!.presharedKey)).toBe(true);
    expect(unwrapSecrets(child.state!.presharedKey)).toBe(value);
    for (const r of mocks.resources) expect(JSON.stringify(unwrapSecrets(r.inputs))).not.toContain(value);
  });

  test('an invalid maxAgeDays registers nothing', () => {
    const mocks = setupMocks();
    expect(() => new WireGuardPresharedKey('x', { maxAgeDays: 0 })).toThrow(/maxAgeDays must be a whole number/);
    expect(mocks.resources).toEqual([]);
  });
});
