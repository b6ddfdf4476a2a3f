/**
 * components/key.ts: pure X25519 generation (RFC 7748 vectors, `wg pubkey` when installed), the
 * rotation epoch, the dynamic provider's create/diff as the engine drives them, and the component
 * under mocks (secret private key, plain public key, replacement exactly after maxAgeDays).
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as pulumi from '@pulumi/pulumi';
import {
  DEFAULT_MAX_KEY_AGE_DAYS,
  WIREGUARD_KEY_PAIR_TYPE,
  WireGuardKey,
  generateWireGuardKeyPair,
  publicKeyFromPrivateKey,
  rotationDeadline,
  rotationEpoch,
  wireGuardKeyPairFromEntropy,
  wireGuardKeyProvider,
  type WireGuardKeyPairOutputs,
} from '../../components/key';
import { generationCreatedAt, keyRotationPlan } from '../../components/rotation';
import { clampPrivateKey } from '../../common/keys';
import { isSecretInput, resolve, resolveWithSecret, setupMocks, type MockRecorder } from '../../components/testing';

const DAY = 86_400_000;
const hex = (s: string): Buffer => Buffer.from(s, 'hex');
const b64 = (s: string): string => hex(s).toString('base64');
const KEY = /^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw480]=$/;

// RFC 7748 section 6.1 (private keys as printed there, i.e. before clamping).
const alice = {
  private: '77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a',
  public: '8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a',
};
const bob = {
  private: '5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb',
  public: 'de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f',
};

describe('pure key generation', () => {
  it.each([
    ['Alice', alice],
    ['Bob', bob],
  ])('RFC 7748 6.1: %s public key from her/his private key', (_who, v) => {
    const pair = wireGuardKeyPairFromEntropy(hex(v.private));
    expect(pair.publicKey).toBe(b64(v.public));
    expect(Buffer.from(pair.privateKey, 'base64')).toEqual(Buffer.from(clampPrivateKey(hex(v.private))));
    expect(publicKeyFromPrivateKey(pair.privateKey)).toBe(b64(v.public));
  });

  it('clamps like wg genkey (bits 0-2 and 255 cleared, bit 254 set) without touching the input', () => {
    const input = new Uint8Array(32).fill(0xff);
    const key = clampPrivateKey(input);
    expect(key[0]).toBe(0xf8);
    expect(key[31]).toBe(0x7f);
    expect(clampPrivateKey(new Uint8Array(32))[31]).toBe(0x40);
    expect(input[0]).toBe(0xff);
    expect(() => clampPrivateKey(new Uint8Array(31))).toThrow('32 bytes');
  });

  it('generates distinct, clamped, wg-format keys', () => {
    const a = generateWireGuardKeyPair();
    const b = generateWireGuardKeyPair();
    expect(a.privateKey).not.toBe(b.privateKey);
    for (const pair of [a, b]) {
      expect(pair.privateKey).toMatch(KEY);
      expect(pair.publicKey).toMatch(KEY);
      const bytes = Buffer.from(pair.privateKey, 'base64');
      expect(bytes[0]! & 7).toBe(0);
      expect(bytes[31]! & 0xc0).toBe(0x40);
      expect(publicKeyFromPrivateKey(pair.privateKey)).toBe(pair.publicKey);
    }
  });

  it('refuses a malformed private key without echoing it', () => {
    expect(() => publicKeyFromPrivateKey('not-a-key-but-a-secret')).toThrow(/^a WireGuard private key must be/);
    try {
      publicKeyFromPrivateKey('not-a-key-but-a-secret');
    } catch (error) {
      expect((error as Error).message).not.toContain('secret');
    }
  });

  const wg = '/usr/bin/wg';
  (existsSync(wg) ? it : it.skip)('matches wg pubkey for generated keys', () => {
    for (let i = 0; i < 3; i++) {
      const pair = generateWireGuardKeyPair();
      expect(
        execFileSync(wg, ['pubkey'], { input: `${pair.privateKey}\n` })
          .toString()
          .trim(),
      ).toBe(pair.publicKey);
    }
  });
});

describe('rotation epoch and deadline', () => {
  const start = Date.UTC(2025, 0, 9); // day 20097, a multiple of... whatever: computed below
  it('blocks of maxAgeDays UTC days since 1970-01-01', () => {
    const e = rotationEpoch(new Date(start), 90);
    expect(e.index).toBe(Math.floor(Math.floor(start / DAY) / 90));
    expect(Date.parse(e.start) % (90 * DAY)).toBe(0);
    expect(Date.parse(e.end) - Date.parse(e.start)).toBe(90 * DAY);
    expect(rotationDeadline(e.start, 90)).toBe(e.end);
    expect(rotationDeadline(new Date(e.start), 90)).toBe(e.end);
  });

  it('changes exactly at the epoch end', () => {
    const e = rotationEpoch(new Date(start), 30);
    const end = Date.parse(e.end);
    expect(rotationEpoch(new Date(end - 1), 30).index).toBe(e.index);
    expect(rotationEpoch(new Date(end), 30).index).toBe(e.index + 1);
  });

  it('validates its arguments', () => {
    expect(() => rotationEpoch(new Date(start), 0)).toThrow(
      'maxAgeDays must be a whole number of days from 1 to 3650, got 0',
    );
    expect(() => rotationEpoch(new Date(start), 1.5)).toThrow('got 1.5');
    expect(() => rotationEpoch(new Date('nope'), 90)).toThrow('now() must return a valid Date');
    expect(() => rotationDeadline('yesterday', 90)).toThrow('createdAt must be an ISO 8601 date');
  });
});

describe('wireGuardKeyProvider (driven as the engine does)', () => {
  const inputs = (now: number, maxAgeDays = 90) => {
    const e = rotationEpoch(new Date(now), maxAgeDays);
    return { epoch: e.index, epochStart: e.start, maxAgeDays };
  };
  const epochStart = Date.parse(rotationEpoch(new Date(Date.UTC(2025, 5, 1)), 90).start);

  it('create generates a key pair whose createdAt is the epoch start', async () => {
    const created = await wireGuardKeyProvider.create(inputs(epochStart + 5 * DAY));
    const outs = created.outs as WireGuardKeyPairOutputs;
    expect(outs.createdAt).toBe(new Date(epochStart).toISOString());
    expect(outs.privateKey).toMatch(KEY);
    expect(publicKeyFromPrivateKey(outs.privateKey)).toBe(outs.publicKey);
    expect(created.id).not.toContain(outs.privateKey.slice(0, 12));
  });

  it('keeps the key on day 89 and replaces it on day 91 (and exactly at day 90)', async () => {
    const { outs } = await wireGuardKeyProvider.create(inputs(epochStart));
    const diff = (day: number) =>
      wireGuardKeyProvider.diff!('id', outs as WireGuardKeyPairOutputs, inputs(epochStart + day * DAY));
    expect(await diff(0)).toEqual({ changes: false });
    expect(await diff(89)).toEqual({ changes: false });
    expect(await diff(89.999)).toEqual({ changes: false });
    expect(await diff(90)).toEqual({ changes: true, replaces: ['epochStart'], deleteBeforeReplace: false });
    expect(await diff(91)).toEqual({ changes: true, replaces: ['epochStart'], deleteBeforeReplace: false });
  });

  it('update never changes the key', async () => {
    const { outs } = await wireGuardKeyProvider.create(inputs(epochStart));
    const updated = await wireGuardKeyProvider.update!('id', outs as WireGuardKeyPairOutputs, {
      ...inputs(epochStart),
      epoch: 7,
    });
    expect(updated.outs?.privateKey).toBe((outs as WireGuardKeyPairOutputs).privateKey);
    expect(updated.outs?.epoch).toBe(7);
  });
});

describe('WireGuardKey under mocks', () => {
  let mocks: MockRecorder;
  beforeEach(() => {
    mocks = setupMocks();
  });

  const epochStart = Date.parse(rotationEpoch(new Date(Date.UTC(2025, 5, 1)), DEFAULT_MAX_KEY_AGE_DAYS).start);

  it('registers the component and a dynamic key pair child (its generation) with secret private key', async () => {
    const key = new WireGuardKey('gw', { now: () => new Date(epochStart + 3 * DAY) });
    const plan = keyRotationPlan('gw', new Date(epochStart + 3 * DAY));
    expect(key.rotation).toEqual(plan);
    const priv = await resolveWithSecret(key.privateKey);
    const pub = await resolveWithSecret(key.publicKey);
    expect(priv.secret).toBe(true);
    expect(pub.secret).toBe(false);
    expect(priv.value).toMatch(KEY);
    expect(publicKeyFromPrivateKey(priv.value)).toBe(pub.value);
    expect(await resolve(key.createdAt)).toBe(generationCreatedAt(plan.current, 90, plan.offsetDays, 7));
    expect(await resolve(key.rotationDeadline)).toBe(plan.retireAt);
    expect(await pulumi.isSecret(key.createdAt)).toBe(false);
    await mocks.settle();

    const component = mocks.one('wiremesh:keys:WireGuardKey', 'gw');
    expect(component.custom).toBe(false);
    expect(component.urn).toBe('urn:pulumi:stack::project::wiremesh:keys:WireGuardKey::gw');
    const pairs = mocks.byType(WIREGUARD_KEY_PAIR_TYPE);
    const pair = mocks.one(WIREGUARD_KEY_PAIR_TYPE, `gw-g${plan.current}`);
    expect(pairs.length).toBe(plan.next === null ? 1 : 2);
    expect(pair.parent).toBe(component.urn);
    expect(pair.additionalSecretOutputs).toEqual(['privateKey']);
    expect(pair.replaceOnChanges).toEqual(['epochStart']);
    // Inputs: the generation's schedule only, never key material; the provider is closure-serialized.
    expect(Object.keys(pair.inputs).sort()).toEqual([
      '__provider',
      'createdAt',
      'epoch',
      'epochStart',
      'maxAgeDays',
      'overlapDays',
    ]);
    expect(pair.inputs.__provider).toEqual(expect.stringContaining('exports.handler'));
    expect(pair.inputs.__provider).toContain('require("@noble/curves/ed25519.js")');
    expect(pair.inputs.__provider).not.toContain('@pulumi/pulumi');
    expect(JSON.stringify(pair.inputs)).not.toContain(priv.value);
    // The state the engine would store: privateKey secret, publicKey plain.
    expect(isSecretInput(pair.state!.privateKey)).toBe(true);
    expect(isSecretInput(pair.state!.publicKey)).toBe(false);
  });

  it('next exists exactly in the overlap: a second child, never a replacement of the current one', async () => {
    const children = (name: string) =>
      mocks
        .byType(WIREGUARD_KEY_PAIR_TYPE)
        .filter((r) => r.name.startsWith(`${name}-g`))
        .map((r) => r.name);
    // A day after a retirement the key is steady, whatever the name's offset.
    const steadyAt = (name: string) => new Date(Date.parse(keyRotationPlan(name, new Date(epochStart)).retireAt) + DAY);
    const before = keyRotationPlan('rk-a', steadyAt('rk-a'));
    expect(before.phase).toBe('steady');
    const steady = new WireGuardKey('rk-a', { now: () => steadyAt('rk-a') });
    expect(steady.next).toBeUndefined();
    const plan = keyRotationPlan('rk-b', steadyAt('rk-b'));
    const offering = new WireGuardKey('rk-b', { now: () => new Date(plan.nextCreatedAt) });
    expect(offering.rotation).toMatchObject({ phase: 'next', current: plan.current, next: plan.current + 1 });
    expect(offering.next!.generation).toBe(plan.current + 1);
    expect(await resolve(offering.next!.createdAt)).toBe(plan.nextCreatedAt);
    expect(await pulumi.isSecret(offering.next!.privateKey)).toBe(true);
    expect(await resolve(offering.next!.publicKey)).not.toBe(await resolve(offering.publicKey));
    await Promise.all([steady, offering].flatMap((k) => [resolve(k.publicKey), resolve(k.rotationDeadline)]));
    await mocks.settle();
    expect(children('rk-a')).toEqual([`rk-a-g${before.current}`]);
    expect(children('rk-b')).toEqual([`rk-b-g${plan.current}`, `rk-b-g${plan.current + 1}`]);
  });

  it('honours maxAgeDays and validates arguments early', async () => {
    const key = new WireGuardKey('short', { maxAgeDays: 7, now: () => new Date(epochStart) });
    expect(key.rotation).toMatchObject({ maxAgeDays: 7, overlapDays: 1 }); // the default overlap stays under 7 / 4
    expect(await resolve(key.rotationDeadline)).toBe(key.rotation.retireAt);
    expect(key.maxAgeDays).toBe(7);
    expect(() => new WireGuardKey('bad3', { maxAgeDays: 8, overlapDays: 2 })).toThrow(
      'overlapDays must be 0 or a whole number of days under maxAgeDays / 4 (8 / 4), got 2',
    );
    expect(() => new WireGuardKey('bad', { maxAgeDays: 0 })).toThrow(
      'maxAgeDays must be a whole number of days from 1 to 3650, got 0',
    );
    expect(() => new WireGuardKey('bad2', { now: () => 'today' as unknown as Date })).toThrow(
      'now() must return a Date',
    );
    await mocks.settle();
    // Nothing was registered for the refused keys.
    expect(mocks.resources.filter((r) => r.name.startsWith('bad'))).toEqual([]);
  });
});
