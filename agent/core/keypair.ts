/** One session's transport keys and counters (kernel struct noise_keypair). */
import { wipe } from '../crypto/primitives';
import { REJECT_AFTER_MESSAGES, REJECT_AFTER_TIME } from './constants';
import { ReplayWindow } from './replay';

/** Which of our static keys: the current one, or the next one during a key rotation. */
export type KeySlot = 'current' | 'next';

export class Keypair {
  sendCounter = 0n;
  readonly replay = new ReplayWindow();
  /** False once the keys are wiped. */
  valid = true;
  /** False once a new private key retired this keypair for sending (it may still receive). */
  private sendable = true;
  /** Which of our static keys the handshake behind this session used. */
  localKey: KeySlot = 'current';

  constructor(
    readonly sendKey: Buffer,
    readonly receiveKey: Buffer,
    /** Our index: the receiver index of packets the peer sends us under this keypair. */
    readonly localIndex: number,
    /** The peer's index, written into every packet we send under this keypair. */
    readonly remoteIndex: number,
    readonly isInitiator: boolean,
    readonly createdAt: number,
  ) {}

  canSend(now: number): boolean {
    return (
      this.valid &&
      this.sendable &&
      now - this.createdAt < REJECT_AFTER_TIME &&
      this.sendCounter < REJECT_AFTER_MESSAGES
    );
  }

  canReceive(now: number): boolean {
    return this.valid && now - this.createdAt < REJECT_AFTER_TIME;
  }

  ageAt(now: number): number {
    return now - this.createdAt;
  }

  expireForSending(): void {
    this.sendable = false;
  }

  wipe(): void {
    this.valid = false;
    wipe(this.sendKey);
    wipe(this.receiveKey);
  }
}
