/**
 * The standalone wiremesh-wg reports its drops by reason in the UAPI `get` answer, as
 * `wiremesh_drops_<reason>=<count>` keys that the real `wg` skips: `wg show` and `wg showconf`
 * keep working unchanged, and any UAPI client (here the project's own) reads the counts.
 */
import { execFileSync } from 'node:child_process';
import { keyToBase64 } from '../../agent/crypto/keys';
import { generatePrivateKey, publicKeyOf } from '../../agent/crypto/primitives';
import { uapiGet } from '../../agent/wg/uapi-client';
import { Lab } from '../../lab/netns';
import { describeWithRoot } from '../support/root-only';

jest.setTimeout(60_000);

describeWithRoot('the wiremesh-wg drop counter tests', ['wg'])('wiremesh-wg drop counters over UAPI', () => {
  const lab = new Lab(`wd${process.pid % 10000}`);
  afterAll(() => lab.cleanup());

  it('counts malformed datagrams by reason in `get`, and `wg show` / `wg showconf` ignore the extra keys', async () => {
    const ns = lab.namespace('n');
    const iface = lab.name('wm');
    await lab.wireguard(ns, 'wiremesh', iface);
    const privateKey = keyToBase64(generatePrivateKey());
    const peer = keyToBase64(publicKeyOf(generatePrivateKey()));
    const conf = `[Interface]\nPrivateKey = ${privateKey}\nListenPort = 51820\n\n[Peer]\nPublicKey = ${peer}\nAllowedIPs = 198.19.90.0/24\nEndpoint = 198.18.90.2:51820\n`;
    lab.wgConfig(ns, 'setconf', iface, conf);
    lab.run(ns, 'ip', ['link', 'set', iface, 'up']);

    // Hostile datagrams to its port: 5 of an unknown type, 3 initiations of the wrong size, 2 initiations whose mac1 is wrong.
    const send = (datagrams: Buffer[]): void => {
      const script = `const s = require('node:dgram').createSocket('udp4');
        const list = ${JSON.stringify(datagrams.map((d) => d.toString('hex')))};
        let i = 0; const next = () => i < list.length ? s.send(Buffer.from(list[i++], 'hex'), 51820, '127.0.0.1', next) : s.close(); next();`;
      lab.run(ns, process.execPath, ['-e', script]);
    };
    const initiation = (length: number): Buffer =>
      Buffer.concat([Buffer.from([1, 0, 0, 0]), Buffer.alloc(length - 4, 0x5a)]);
    send([
      ...Array.from({ length: 5 }, () => Buffer.from([9, 0, 0, 0, 1, 2, 3])),
      initiation(100),
      initiation(100),
      initiation(100),
      initiation(148),
      initiation(148),
    ]);

    const socket = `/var/run/wireguard/${iface}.sock`;
    let drops: Record<string, number> = {};
    for (let tries = 0; tries < 50 && (drops['invalid-mac1'] ?? 0) < 2; tries++) {
      drops = (await uapiGet(socket)).drops ?? {};
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(drops).toMatchObject({ 'unknown-type': 5, 'invalid-size': 3, 'invalid-mac1': 2 });

    // The real wg reads the same answer and neither fails nor shows the extra keys.
    const show = lab.wg(ns, ['show', iface]);
    expect(show).toContain(`peer: ${peer}`);
    expect(show).toContain('listening port: 51820');
    expect(show).not.toContain('wiremesh_drops');
    const showconf = lab.wg(ns, ['showconf', iface]);
    expect(showconf).toContain(`PrivateKey = ${privateKey}`);
    expect(showconf).toContain(`PublicKey = ${peer}`);
    expect(showconf).toContain('AllowedIPs = 198.19.90.0/24');
    expect(showconf).not.toContain('wiremesh');
    expect(lab.wg(ns, ['show', iface, 'listen-port']).trim()).toBe('51820');
    expect(execFileSync('ip', ['netns', 'exec', ns, 'wg', 'show', 'all', 'dump'], { encoding: 'utf8' })).toContain(
      peer,
    );
  });
});
