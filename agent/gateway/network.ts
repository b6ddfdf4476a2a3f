/**
 * Addresses, routes and forwarding through iproute2 and sysctl. Everything added is recorded and
 * removed again by `undo()` (on SIGTERM), in reverse order.
 */
import { parsePrefix } from '../../common/ip';
import type { HostState } from './host-state';
import type { CommandRunner } from './plane';

const FORWARDING_SYSCTLS = ['/proc/sys/net/ipv4/ip_forward', '/proc/sys/net/ipv6/conf/all/forwarding'];

export class NetworkSetup {
  private readonly undoSteps: (() => Promise<void>)[] = [];
  private readonly routes = new Set<string>();

  constructor(
    private readonly commands: CommandRunner,
    private readonly device: string,
    private readonly hostState: HostState,
  ) {}

  async addAddress(address: string): Promise<void> {
    const family = parsePrefix(address).family === 6 ? ['nodad'] : [];
    await this.commands.run('ip', ['address', 'add', address, 'dev', this.device, ...family]);
    this.undoSteps.push(() => this.ignoreMissing('ip', ['address', 'del', address, 'dev', this.device]));
  }

  async linkUp(): Promise<void> {
    await this.commands.run('ip', ['link', 'set', 'dev', this.device, 'up']);
  }

  /** Makes the routes into the tunnel exactly `prefixes`, adding and removing the difference. */
  async setRoutes(prefixes: string[]): Promise<void> {
    const wanted = new Set(prefixes);
    for (const route of [...this.routes]) {
      if (wanted.has(route)) continue;
      await this.ignoreMissing('ip', ['route', 'del', route, 'dev', this.device]);
      this.routes.delete(route);
    }
    for (const route of wanted) {
      if (this.routes.has(route)) continue;
      await this.commands.run('ip', ['route', 'replace', route, 'dev', this.device]);
      this.routes.add(route);
    }
  }

  /**
   * Turns IPv4 and IPv6 forwarding on (a setting missing on this host, IPv6 disabled, is skipped).
   * The previous values are persisted first and restored on undo, or by the next start after a crash.
   */
  enableForwarding(): void {
    for (const path of FORWARDING_SYSCTLS) this.hostState.setSysctl(path, '1');
    this.disableRedirects();
    this.undoSteps.push(async () => this.hostState.restore());
  }

  /**
   * A forwarding gateway sends packets back out of the tunnel they came in on (spoke to hub to
   * spoke), and IPv4 would answer each with an ICMP redirect, meaningless on a WireGuard interface.
   * The kernel sends one when conf/all OR conf/<interface> says so, so both are cleared; every other
   * interface keeps its own value and so its behaviour. (IPv6 sends none: the tunnel has no
   * link-local address.) Restored with forwarding, after a crash too.
   */
  private disableRedirects(): void {
    this.hostState.setSysctl('/proc/sys/net/ipv4/conf/all/send_redirects', '0');
    this.hostState.setSysctl(`/proc/sys/net/ipv4/conf/${this.device}/send_redirects`, '0');
  }

  async undo(): Promise<void> {
    for (const route of this.routes) await this.ignoreMissing('ip', ['route', 'del', route, 'dev', this.device]);
    this.routes.clear();
    for (const step of this.undoSteps.reverse()) await step();
    this.undoSteps.length = 0;
  }

  private async ignoreMissing(command: string, args: string[]): Promise<void> {
    try {
      await this.commands.run(command, args);
    } catch {
      // the interface (and with it its addresses and routes) may already be gone
    }
  }
}
