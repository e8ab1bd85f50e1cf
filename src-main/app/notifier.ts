// Desktop notifications, few and useful: when the link has been down for more than a few seconds (not for
// every reconnect blip), and when a server keeps failing. Each kind at most once per `minIntervalMs`; all
// of them can be turned off in the preferences.
import type { ServerInfo, Status } from '../../src-shared/control.js';

export interface NotifierOptions {
  notify(title: string, body: string): void;
  enabled(): boolean;
  /** How long the link must stay down before saying so (default 10 s). */
  dropAfterMs?: number;
  /** The least time between two notifications of one kind (default 5 min). */
  minIntervalMs?: number;
  /** A server that restarted this many times is "failing" (default 3). */
  failingRestarts?: number;
  now?(): number;
}

export class Notifier {
  readonly #options: Required<Omit<NotifierOptions, 'notify' | 'enabled'>> & NotifierOptions;
  readonly #last = new Map<string, number>();
  #dropTimer: NodeJS.Timeout | undefined;
  #wasConnected = false;

  constructor(options: NotifierOptions) {
    this.#options = {
      dropAfterMs: 10_000,
      minIntervalMs: 5 * 60_000,
      failingRestarts: 3,
      now: () => Date.now(),
      ...options,
    };
  }

  /** Feeds a status event. */
  status(status: Status): void {
    const state = status.link.state;
    if (state === 'connected') {
      this.#wasConnected = true;
      clearTimeout(this.#dropTimer);
      this.#dropTimer = undefined;
    } else if (state === 'stopped') {
      // The user disconnected (or the app is quitting): nothing to report.
      this.#wasConnected = false;
      clearTimeout(this.#dropTimer);
      this.#dropTimer = undefined;
    } else if (this.#wasConnected && !this.#dropTimer) {
      this.#dropTimer = setTimeout(() => {
        this.#dropTimer = undefined;
        const why = status.link.state === 'connecting' ? status.link.lastError : undefined;
        this.#send(
          'link',
          'Connection lost',
          `The link to the relay is down${why ? `: ${why}` : ''}. Retrying.`,
        );
      }, this.#options.dropAfterMs);
      this.#dropTimer.unref();
    }
  }

  /** Feeds a servers event. */
  servers(servers: ServerInfo[]): void {
    for (const server of servers) {
      if (server.state === 'error' || server.restarts >= this.#options.failingRestarts) {
        if (server.state === 'running') continue;
        this.#send(
          `server:${server.name}`,
          `${server.name} keeps failing`,
          server.lastError ?? `It restarted ${server.restarts} times. Open the log folder for details.`,
        );
      }
    }
  }

  dispose(): void {
    clearTimeout(this.#dropTimer);
  }

  #send(kind: string, title: string, body: string): void {
    if (!this.#options.enabled()) return;
    const now = this.#options.now();
    const last = this.#last.get(kind);
    if (last !== undefined && now - last < this.#options.minIntervalMs) return;
    this.#last.set(kind, now);
    this.#options.notify(title, body);
  }
}
