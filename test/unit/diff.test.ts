/** planChange (agent/gateway/diff.ts): the UAPI change from the applied configuration to the desired one. */
import { parsePrefix } from '../../common/ip';
import { isEmptyChange, planChange, sameKey } from '../../agent/gateway/diff';
import { bytes, resolvedConfig as config, resolvedPeer as peer } from '../support/resolved-config';

describe('planChange', () => {
  it('first apply replaces everything: interface fields and every peer in full', () => {
    const change = planChange(null, config([peer(2)]));
    expect(change).toMatchObject({ privateKey: bytes(1), listenPort: 51820, fwmark: 0, replacePeers: true });
    expect(change.peers).toEqual([
      {
        publicKey: bytes(2),
        remove: false,
        updateOnly: false,
        presharedKey: null,
        endpoint: '198.18.0.2:51820',
        persistentKeepaliveInterval: 0,
        allowedIps: [{ kind: 'clear' }, { kind: 'add', prefix: parsePrefix('10.0.2.0/24') }],
      },
    ]);
  });

  it('the same configuration again is an empty change', () => {
    const applied = config([peer(2), peer(3)]);
    const change = planChange(applied, config([peer(2), peer(3)]));
    expect(change).toEqual({ replacePeers: false, peers: [] });
    expect(isEmptyChange(change)).toBe(true);
  });

  it('adds and removes peers without touching the others', () => {
    const change = planChange(config([peer(2), peer(3)]), config([peer(3), peer(4)]));
    expect(change.peers.map((p) => [p.publicKey[0], p.remove, p.updateOnly])).toEqual([
      [2, true, false],
      [4, false, false],
    ]);
  });

  it('a changed peer gets only its changed fields, update-only', () => {
    const psk = bytes(9);
    const change = planChange(config([peer(2)]), config([peer(2, { presharedKey: psk, persistentKeepalive: 25 })]));
    expect(change.peers).toEqual([
      {
        publicKey: bytes(2),
        remove: false,
        updateOnly: true,
        allowedIps: [],
        presharedKey: psk,
        persistentKeepaliveInterval: 25,
      },
    ]);
  });

  it('a changed allowed-IP set is replaced as a whole; the same set in another order is no change', () => {
    const two = [parsePrefix('10.0.2.0/24'), parsePrefix('10.9.0.0/16')];
    const applied = config([peer(2, { allowedIps: two })]);
    expect(planChange(applied, config([peer(2, { allowedIps: [...two].reverse() })])).peers).toEqual([]);
    const [changed] = planChange(applied, config([peer(2)])).peers;
    expect(changed!.allowedIps).toEqual([{ kind: 'clear' }, { kind: 'add', prefix: parsePrefix('10.0.2.0/24') }]);
  });

  it('a roamed endpoint we did not configure is left alone; a changed configured one is set', () => {
    expect(planChange(config([peer(2)]), config([peer(2, { endpoint: null })])).peers).toEqual([]);
    expect(planChange(config([peer(2)]), config([peer(2, { endpoint: '198.18.9.9:51820' })])).peers[0]).toMatchObject({
      endpoint: '198.18.9.9:51820',
    });
  });

  it('interface fields are set only when they differ', () => {
    const change = planChange(config([]), config([], { privateKey: bytes(7), listenPort: 51821 }));
    expect(change).toEqual({ replacePeers: false, peers: [], privateKey: bytes(7), listenPort: 51821 });
    expect(isEmptyChange(change)).toBe(false);
  });
});

describe('sameKey', () => {
  it('compares key bytes, null equal only to null', () => {
    expect(sameKey(bytes(1), bytes(1))).toBe(true);
    expect(sameKey(bytes(1), bytes(2))).toBe(false);
    expect(sameKey(null, null)).toBe(true);
    expect(sameKey(bytes(1), null)).toBe(false);
  });
});
