/** The responder's cookie checker (agent/core/cookie.ts) against the initiator's generator. */
import { CookieChecker, CookieGenerator } from '../../agent/core/cookie';
import { COOKIE_SECRET_LATENCY, COOKIE_SECRET_MAX_AGE } from '../../agent/core/constants';
import { INITIATION_LENGTH } from '../../agent/core/messages';
import type { Endpoint } from '../../agent/core/peer';
import { generatePrivateKey, publicKeyOf, randomBytes } from '../../agent/crypto/primitives';

const responderKey = publicKeyOf(generatePrivateKey());

function initiation(generator: CookieGenerator, now: number): Buffer {
  const message = randomBytes(INITIATION_LENGTH);
  message.writeUInt32LE(1, 0);
  generator.addMacs(message, now);
  return message;
}

/** One cookie round trip: the generator's next initiation carries mac2 from `source`'s cookie. */
function withCookie(checker: CookieChecker, source: Endpoint, now: number): Buffer {
  const generator = new CookieGenerator(responderKey);
  const first = initiation(generator, now);
  expect(checker.hasValidMac2(first, source, now)).toBe(false); // all-zero mac2: none sent
  expect(generator.consumeReply(Buffer.from(checker.createReply(first, 7, source, now)!), now)).toBe(true);
  return initiation(generator, now);
}

describe('CookieChecker', () => {
  it('accepts mac1 for its own key only', () => {
    const checker = new CookieChecker(responderKey);
    expect(checker.isMac1Valid(initiation(new CookieGenerator(responderKey), 0))).toBe(true);
    expect(checker.isMac1Valid(initiation(new CookieGenerator(publicKeyOf(generatePrivateKey())), 0))).toBe(false);
  });

  it('accepts mac2 from the source the cookie was made for, not from another address or port', () => {
    const checker = new CookieChecker(responderKey);
    const source = { address: '198.18.0.1', port: 40000 };
    const retry = withCookie(checker, source, 1000);
    expect(checker.hasValidMac2(retry, source, 1000)).toBe(true);
    expect(checker.hasValidMac2(retry, { address: '198.18.0.1', port: 40000 }, 1000)).toBe(true); // a new object, same source
    expect(checker.hasValidMac2(retry, { address: '198.18.0.1', port: 40001 }, 1000)).toBe(false);
    expect(checker.hasValidMac2(retry, { address: '198.18.0.2', port: 40000 }, 1000)).toBe(false);
    expect(checker.hasValidMac2(retry, { address: 'fd00::1', port: 40000 }, 1000)).toBe(false);
  });

  it('stops accepting a cookie once its secret is replaced (every 120 s), even from the cache', () => {
    const checker = new CookieChecker(responderKey);
    const source = { address: '198.18.0.1', port: 40000 };
    const retry = withCookie(checker, source, 1000);
    expect(checker.hasValidMac2(retry, source, 1000 + COOKIE_SECRET_MAX_AGE - 1)).toBe(true);
    expect(checker.hasValidMac2(retry, source, 1000 + COOKIE_SECRET_MAX_AGE)).toBe(false);
    expect(
      checker.hasValidMac2(
        withCookie(checker, source, 1000 + COOKIE_SECRET_MAX_AGE),
        source,
        1000 + COOKIE_SECRET_MAX_AGE,
      ),
    ).toBe(true);
  });

  it('rejects a tampered mac2 and makes no cookie for an address it cannot read', () => {
    const checker = new CookieChecker(responderKey);
    const source = { address: '198.18.0.1', port: 40000 };
    const retry = withCookie(checker, source, 0);
    retry[INITIATION_LENGTH - 1]! ^= 1;
    expect(checker.hasValidMac2(retry, source, 0)).toBe(false);
    expect(checker.createReply(retry, 1, { address: 'not an address', port: 1 }, 0)).toBeNull();
  });
});

const SOURCE: Endpoint = { address: '198.18.0.1', port: 51820 };
const OTHER_SOURCE: Endpoint = { address: '198.18.0.2', port: 51820 };

function filledInitiation(fill = 7): Buffer {
  return Buffer.alloc(INITIATION_LENGTH, fill);
}

/** A responder and an initiator that got a cookie from it at time 0. */
function checkerWithCookie(): { checker: CookieChecker; generator: CookieGenerator } {
  const checker = new CookieChecker(responderKey);
  const generator = new CookieGenerator(responderKey);
  const first = filledInitiation();
  generator.addMacs(first, 0);
  generator.consumeReply(checker.createReply(first, 1, SOURCE, 0)!, 0);
  return { checker, generator };
}

describe('CookieGenerator against the checker', () => {
  it('mac1 is keyed by the responder public key; another key or one changed byte fails', () => {
    const message = filledInitiation();
    new CookieGenerator(responderKey).addMacs(message, 0);
    expect(new CookieChecker(responderKey).isMac1Valid(message)).toBe(true);
    expect(new CookieChecker(publicKeyOf(generatePrivateKey())).isMac1Valid(message)).toBe(false);
    message[10]! ^= 1;
    expect(new CookieChecker(responderKey).isMac1Valid(message)).toBe(false);
  });

  it('without a cookie mac2 is zero and invalid; after a cookie reply it is valid, for that source only', () => {
    const checker = new CookieChecker(responderKey);
    const generator = new CookieGenerator(responderKey);
    const first = filledInitiation();
    generator.addMacs(first, 1000);
    expect(first.subarray(INITIATION_LENGTH - 16).every((b) => b === 0)).toBe(true);
    expect(checker.hasValidMac2(first, SOURCE, 1000)).toBe(false);

    const reply = checker.createReply(first, 0x01020304, SOURCE, 1000)!;
    expect(reply).toHaveLength(64);
    expect(reply.readUInt32LE(4)).toBe(0x01020304);
    expect(generator.consumeReply(reply, 1001)).toBe(true);
    expect(generator.consumeReply(reply, 1002)).toBe(false); // one reply per mac1 sent

    const second = filledInitiation(8);
    generator.addMacs(second, 1002);
    expect(checker.hasValidMac2(second, SOURCE, 1002)).toBe(true);
    expect(checker.hasValidMac2(second, OTHER_SOURCE, 1002)).toBe(false);
  });

  it('a cookie reply made for another message does not decrypt', () => {
    const checker = new CookieChecker(responderKey);
    const generator = new CookieGenerator(responderKey);
    const sent = filledInitiation();
    generator.addMacs(sent, 0);
    const elsewhere = filledInitiation(9);
    new CookieGenerator(responderKey).addMacs(elsewhere, 0);
    expect(generator.consumeReply(checker.createReply(elsewhere, 1, SOURCE, 0)!, 0)).toBe(false);
  });

  it('the sender stops using a cookie older than 120 - 5 s; the responder renews its secret every 120 s', () => {
    const { checker, generator } = checkerWithCookie();

    const late = filledInitiation(8);
    generator.addMacs(late, COOKIE_SECRET_MAX_AGE - COOKIE_SECRET_LATENCY);
    expect(late.subarray(INITIATION_LENGTH - 16).every((b) => b === 0)).toBe(true);

    const fresh = filledInitiation(9);
    generator.addMacs(fresh, 1);
    expect(checker.hasValidMac2(fresh, SOURCE, 1)).toBe(true);
    expect(checker.hasValidMac2(fresh, SOURCE, COOKIE_SECRET_MAX_AGE)).toBe(false); // new secret
  });

  it('clear forgets the cookie', () => {
    const { checker, generator } = checkerWithCookie();
    generator.clear();
    const next = filledInitiation(8);
    generator.addMacs(next, 1);
    expect(checker.hasValidMac2(next, SOURCE, 1)).toBe(false);
  });
});
