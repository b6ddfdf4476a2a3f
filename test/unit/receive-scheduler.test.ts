/** The userspace device's receive order under a flood (agent/wg/receive-scheduler.ts). */
import { DatagramClass } from '../../agent/wg/native';
import { ReceiveScheduler, SHED_ALL_AT, SHED_WITHOUT_MAC2_AT } from '../../agent/wg/receive-scheduler';

type Kind = keyof typeof DatagramClass;

interface Run {
  received: number[];
  /** How often the scheduler asked the caller to answer the handshakes without mac2 itself. */
  asked: number;
}

/**
 * Runs one batch of `kinds` with the receive queue `backlog` full; `answers` says whether the caller
 * answers handshakes without mac2 itself (under load) when asked.
 */
function run(scheduler: ReceiveScheduler, kinds: Kind[], backlog = 0, answers = false): Run {
  const classes = Uint8Array.from(kinds.map((kind) => DatagramClass[kind]));
  const received: number[] = [];
  let asked = 0;
  scheduler.run(
    classes,
    kinds.length,
    backlog,
    (index) => received.push(index),
    () => (asked++, answers),
  );
  return { received, asked };
}

describe('ReceiveScheduler', () => {
  const kinds: Kind[] = [
    'withoutMac2Current',
    'other',
    'withMac2',
    'withoutMac2Next',
    'cookieReply',
    'badMac1',
    'other',
  ];

  it('puts transport (and non-handshakes) first, then cookie replies and mac2 handshakes, then the rest, each in arrival order', () => {
    const scheduler = new ReceiveScheduler();
    expect(run(scheduler, kinds).received).toEqual([1, 6, 2, 4, 0, 3]);
    expect(scheduler.dropped).toBe(0);
    expect(run(scheduler, kinds, SHED_WITHOUT_MAC2_AT - 0.01).received).toEqual([1, 6, 2, 4, 0, 3]);
  });

  it('never hands on a handshake without a valid mac1: it is counted', () => {
    const scheduler = new ReceiveScheduler();
    expect(run(scheduler, ['badMac1', 'other', 'badMac1']).received).toEqual([1]);
    expect(scheduler.invalidMac1).toBe(2);
    expect(scheduler.dropped).toBe(0);
  });

  it('lets the caller answer the handshakes without mac2 in one go, and hands them on when it does not', () => {
    const scheduler = new ReceiveScheduler();
    expect(run(scheduler, kinds, 0, true)).toEqual({ received: [1, 6, 2, 4], asked: 1 });
    expect(run(scheduler, kinds, 0, false)).toEqual({ received: [1, 6, 2, 4, 0, 3], asked: 1 });
    expect(run(scheduler, ['other', 'withMac2'], 0, true).asked).toBe(0);
  });

  it('drops handshakes without mac2 once the receive queue is half full, and every handshake at three quarters; never transport', () => {
    const scheduler = new ReceiveScheduler();
    expect(run(scheduler, kinds, SHED_WITHOUT_MAC2_AT, true)).toEqual({ received: [1, 6, 2, 4], asked: 0 });
    expect(scheduler.dropped).toBe(2);
    expect(run(scheduler, kinds, SHED_ALL_AT).received).toEqual([1, 6]);
    expect(scheduler.dropped).toBe(4);
    expect(run(scheduler, ['other'], 1).received).toEqual([0]);
    expect(scheduler.dropped).toBe(0);
  });
});
