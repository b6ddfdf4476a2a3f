/** The responder's cookie checker (agent/core/cookie.ts) against the initiator's generator. */
import { CookieChecker, CookieGenerator } from '../../agent/core/cookie';
import { COOKIE_SECRET_MAX_AGE } from '../../agent/core/constants';
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
    expect(checker.hasValidMac2(withCookie(checker, source, 1000 + COOKIE_SECRET_MAX_AGE), source, 1000 + COOKIE_SECRET_MAX_AGE)).toBe(true);
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
