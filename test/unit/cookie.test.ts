/** mac1, mac2 and cookie replies (agent/core/cookie.ts; docs/protocol.md 1.5), checker against generator. */
import { generatePrivateKey, publicKeyOf } from '../../agent/crypto/primitives';
import { CookieChecker, CookieGenerator } from '../../agent/core/cookie';
import { COOKIE_SECRET_LATENCY, COOKIE_SECRET_MAX_AGE } from '../../agent/core/constants';
import { INITIATION_LENGTH } from '../../agent/core/messages';

const responderKey = publicKeyOf(generatePrivateKey());
const SOURCE = Buffer.from([198, 18, 0, 1, 0xca, 0x6c]); // 198.18.0.1 port 51820
const OTHER_SOURCE = Buffer.from([198, 18, 0, 2, 0xca, 0x6c]);

function initiation(fill = 7): Buffer {
  return Buffer.alloc(INITIATION_LENGTH, fill);
}

/** A responder and an initiator that got a cookie from it at time 0. */
function withCookie(): { checker: CookieChecker; generator: CookieGenerator } {
  const checker = new CookieChecker(responderKey);
  const generator = new CookieGenerator(responderKey);
  const first = initiation();
  generator.addMacs(first, 0);
  generator.consumeReply(checker.createReply(first, 1, SOURCE, 0), 0);
  return { checker, generator };
}

describe('cookies', () => {
  it('mac1 is keyed by the responder public key; another key or one changed byte fails', () => {
    const message = initiation();
    new CookieGenerator(responderKey).addMacs(message, 0);
    expect(new CookieChecker(responderKey).isMac1Valid(message)).toBe(true);
    expect(new CookieChecker(publicKeyOf(generatePrivateKey())).isMac1Valid(message)).toBe(false);
    message[10]! ^= 1;
    expect(new CookieChecker(responderKey).isMac1Valid(message)).toBe(false);
  });

  it('without a cookie mac2 is zero and invalid; after a cookie reply it is valid, for that source only', () => {
    const checker = new CookieChecker(responderKey);
    const generator = new CookieGenerator(responderKey);
    const first = initiation();
    generator.addMacs(first, 1000);
    expect(first.subarray(INITIATION_LENGTH - 16).every((b) => b === 0)).toBe(true);
    expect(checker.isMac2Valid(first, SOURCE, 1000)).toBe(false);

    const reply = checker.createReply(first, 0x01020304, SOURCE, 1000);
    expect(reply).toHaveLength(64);
    expect(reply.readUInt32LE(4)).toBe(0x01020304);
    expect(generator.consumeReply(reply, 1001)).toBe(true);
    expect(generator.consumeReply(reply, 1002)).toBe(false); // one reply per mac1 sent

    const second = initiation(8);
    generator.addMacs(second, 1002);
    expect(checker.isMac2Valid(second, SOURCE, 1002)).toBe(true);
    expect(checker.isMac2Valid(second, OTHER_SOURCE, 1002)).toBe(false);
  });

  it('a cookie reply made for another message does not decrypt', () => {
    const checker = new CookieChecker(responderKey);
    const generator = new CookieGenerator(responderKey);
    const sent = initiation();
    generator.addMacs(sent, 0);
    const elsewhere = initiation(9);
    new CookieGenerator(responderKey).addMacs(elsewhere, 0);
    expect(generator.consumeReply(checker.createReply(elsewhere, 1, SOURCE, 0), 0)).toBe(false);
  });

  it('the sender stops using a cookie older than 120 - 5 s; the responder renews its secret every 120 s', () => {
    const { checker, generator } = withCookie();

    const late = initiation(8);
    generator.addMacs(late, COOKIE_SECRET_MAX_AGE - COOKIE_SECRET_LATENCY);
    expect(late.subarray(INITIATION_LENGTH - 16).every((b) => b === 0)).toBe(true);

    const fresh = initiation(9);
    generator.addMacs(fresh, 1);
    expect(checker.isMac2Valid(fresh, SOURCE, 1)).toBe(true);
    expect(checker.isMac2Valid(fresh, SOURCE, COOKIE_SECRET_MAX_AGE)).toBe(false); // new secret
  });

  it('clear forgets the cookie', () => {
    const { checker, generator } = withCookie();
    generator.clear();
    const next = initiation(8);
    generator.addMacs(next, 1);
    expect(checker.isMac2Valid(next, SOURCE, 1)).toBe(false);
  });
});
