/** UAPI requests (parsed by wiremesh-wg's server) and answers (parsed by the agent as a client). */
import { Errno, UapiError, parseGetResponse, parseSetRequest, type DeviceSnapshot } from '../../agent/wg/uapi';
import { ContractViolation, type FuzzTarget } from '../target';
import { CIDR_TOKENS } from './tokens';

/** A UAPI parser may return, or throw a UapiError with a negative errno (`errnoAllowed`) and a message. */
function uapiOutcome<T>(
  parse: () => T,
  errnoAllowed: (errno: number) => boolean,
  checkResult: (result: T) => void = () => {},
): void {
  let result: T;
  try {
    result = parse();
  } catch (error) {
    if (!(error instanceof UapiError)) throw error;
    if (!errnoAllowed(error.errno)) throw new ContractViolation(`UapiError with errno ${error.errno}`);
    if (error.message === '') throw new ContractViolation('UapiError without a message');
    return;
  }
  checkResult(result);
}

/** What a client reads from a `get` must be usable as is: 32-byte keys, integers that fit. */
function checkSnapshot(snapshot: DeviceSnapshot): void {
  const keys = [snapshot.privateKey, ...snapshot.peers.flatMap((peer) => [peer.publicKey, peer.presharedKey])].filter(
    (k) => k !== null,
  );
  if (keys.some((k) => k.length !== 32)) throw new ContractViolation('a key in the snapshot is not 32 bytes');
  const numbers = [
    snapshot.listenPort,
    snapshot.fwmark,
    ...Object.values(snapshot.drops ?? {}),
    ...snapshot.peers.flatMap((p) => [p.txBytes, p.rxBytes, p.persistentKeepaliveInterval, p.lastHandshakeUnixMs]),
  ];
  if (numbers.some((n) => !Number.isFinite(n) || n < 0))
    throw new ContractViolation(`a number in the snapshot is not a finite count: ${numbers.join(', ')}`);
}

export const uapi: FuzzTarget = {
  name: 'uapi',
  modules: ['agent/wg/uapi.js', 'agent/wg/endpoint.js', 'agent/core/allowedips.js'],
  dictionary: [
    'private_key=',
    'listen_port=',
    'fwmark=',
    'replace_peers=true',
    'public_key=',
    'remove=true',
    'update_only=true',
    'preshared_key=',
    'endpoint=',
    'persistent_keepalive_interval=',
    'replace_allowed_ips=true',
    'allowed_ip=',
    'allowed_ip=-',
    'protocol_version=1',
    'wiremesh_drops_invalid-mac1=',
    'errno=0',
    'errno=',
    'tx_bytes=',
    'last_handshake_time_sec=',
    'last_handshake_time_nsec=',
    '0000000000000000000000000000000000000000000000000000000000000000',
    '[::1]:51820',
    '198.18.0.1:51820',
    '\n',
    ...CIDR_TOKENS,
  ],
  maxLength: 4096,
  /** The first byte picks the side: even, a `set` request we parse as the server; odd, a `get` answer we parse as a client. */
  run(input) {
    const text = input.subarray(1).toString('utf8');
    if ((input[0] ?? 0) % 2 === 0)
      uapiOutcome(
        () => parseSetRequest(text.split('\n').filter((line) => line !== '')),
        (errno) => errno === Errno.EINVAL,
      );
    else
      uapiOutcome(
        () => parseGetResponse(text),
        (errno) => Number.isSafeInteger(errno) && errno < 0,
        checkSnapshot,
      );
  },
};
