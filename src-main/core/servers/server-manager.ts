// All configured servers. apply() takes a freshly loaded mcp.json and reconciles: new servers start, removed
// ones stop, changed ones restart, untouched ones are left alone. Servers start independently, so one that
// hangs or fails never blocks or delays the others.
import { EventEmitter } from 'node:events';

import type { Client, Notification } from '@modelcontextprotocol/client';

import type { McpConfig } from '../config/mcp-config.js';
import type { Logger } from '../logging/log-hub.js';
import type { Redactor } from '../logging/redactor.js';
import {
  type BackoffOptions,
  killAll,
  ManagedServer,
  processTree,
  type ServerStatus,
} from './managed-server.js';

export interface ServerManagerOptions {
  log: Logger;
  redactor: Redactor;
  clientInfo: { name: string; version: string };
  /** START_MCP_SERVERS: when false, servers are listed but none is started. */
  autoStart?: boolean;
  backoff?: BackoffOptions;
  startTimeoutMs?: number;
}

export class ServerManager extends EventEmitter<{
  status: [ServerStatus];
  removed: [name: string];
  /** A notification sent by a running server (list_changed, logging, resources/updated …). */
  notification: [name: string, notification: Notification];
}> {
  readonly #servers = new Map<string, ManagedServer>();
  #closed = false;

  constructor(private readonly options: ServerManagerOptions) {
    super();
  }

  /** Reconciles the running servers with `config`. Resolves once every stop has finished; starts run on. */
  async apply(config: McpConfig): Promise<void> {
    if (this.#closed) return;
    const work: Promise<void>[] = [];
    for (const [name, server] of this.#servers) {
      if (!config.servers.has(name)) {
        this.#servers.delete(name);
        this.options.log.info(`${name}: removed from ${config.path}`);
        work.push(server.stop().then(() => void this.emit('removed', name)));
      }
    }
    for (const [name, entry] of config.servers) {
      const existing = this.#servers.get(name);
      if (existing) {
        work.push(existing.update(entry, this.options.autoStart !== false));
        continue;
      }
      const server = new ManagedServer(entry, {
        log: this.options.log.child(name),
        redactor: this.options.redactor,
        clientInfo: this.options.clientInfo,
        backoff: this.options.backoff,
        startTimeoutMs: this.options.startTimeoutMs,
      });
      server.on('status', (status) => this.emit('status', status));
      server.on('notification', (notification) => this.emit('notification', name, notification));
      this.#servers.set(name, server);
      if (this.options.autoStart === false) this.emit('status', server.status);
      else server.start();
    }
    await Promise.all(work);
  }

  list(): ServerStatus[] {
    return [...this.#servers.values()].map((server) => server.status);
  }

  get(name: string): ManagedServer | undefined {
    return this.#servers.get(name);
  }

  /** The SDK client of a running server. */
  client(name: string): Client | undefined {
    return this.#servers.get(name)?.client;
  }

  /** SIGKILLs every server process and its descendants now: the path of a forced quit. */
  async kill(): Promise<void> {
    const trees = await Promise.all(this.pids().map((pid) => processTree(pid)));
    killAll(trees.flat());
  }

  /**
   * Pids of every child process we currently own, a server still starting included: the last-resort kill
   * list for a process exit.
   */
  pids(): number[] {
    return [...this.#servers.values()].flatMap((server) =>
      server.processId === undefined ? [] : [server.processId],
    );
  }

  /** Resolves when no server is starting or restarting (each is running, stopped, or failed), or on timeout. */
  async settled(timeoutMs: number): Promise<void> {
    const busy = () => this.list().some((s) => s.state === 'starting' || s.state === 'restarting');
    if (!busy()) return;
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.off('status', check);
        resolve();
      };
      const check = () => !busy() && done();
      const timer = setTimeout(done, timeoutMs);
      this.on('status', check);
    });
  }

  async close(): Promise<void> {
    this.#closed = true;
    await Promise.all([...this.#servers.values()].map((server) => server.stop()));
  }
}
