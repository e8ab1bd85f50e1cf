// Several `mcpassistant-relay` processes (the built bin/mcpassistant-relay.js) on one Redis, each on 127.0.0.1 and
// a port of its own, and a failover TCP proxy in front of them for agents: what a load balancer with
// `proxy_next_upstream` does (a connection goes to the first node that accepts it), so that an agent whose node
// dies reconnects to another one.
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';

import { ROOT } from './cli.js';

export interface RelayNode {
  /** http://127.0.0.1:<port>/ */
  url: URL;
  child: ChildProcess;
  /** What the relay wrote to stderr so far (its log). */
  log(): string;
  /** SIGKILL: the node dies without closing anything (no goodbye to Redis, to agents or to clients). */
  kill(): Promise<void>;
  /** SIGTERM, awaited. */
  close(): Promise<void>;
}

/**
 * Starts `mcpassistant-relay` with REDIS_URL and resolves once it listens. `env` adds settings (JWT_SECRET is
 * required). Rejects with the relay's output when it exits first.
 */
export async function startRelayNode(redisUrl: string, env: Record<string, string>): Promise<RelayNode> {
  const child = spawn(process.execPath, [join(ROOT, 'bin', 'mcpassistant-relay.js')], {
    cwd: ROOT,
    env: {
      PATH: process.env['PATH'],
      HOST: '127.0.0.1',
      PORT: '0',
      REDIS_URL: redisUrl,
      LOG_LEVEL: 'info',
      ...env,
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let output = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  const exited = once(child, 'exit');
  const url = await new Promise<URL>((resolve, reject) => {
    const check = (): void => {
      const match = /listening on (http:\/\/\S+\/) /.exec(output);
      if (match) return resolve(new URL(match[1]!));
    };
    child.stderr.on('data', check);
    void exited.then(() => reject(new Error(`mcpassistant-relay exited before listening:\n${output}`)));
  });
  const stop = async (signal: NodeJS.Signals) => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill(signal);
    await exited;
  };
  return { url, child, log: () => output, kill: () => stop('SIGKILL'), close: () => stop('SIGTERM') };
}

/**
 * A TCP proxy on 127.0.0.1:0 that carries each connection to the first of `ports` that accepts it, in order (a
 * refused connection tries the next). `connections` counts what it carried, by port.
 */
export class FailoverProxy {
  readonly connections = new Map<number, number>();
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();

  private constructor(readonly ports: number[]) {
    this.#server = createServer((client) => {
      this.#track(client);
      client.pause();
      const attempt = (index: number): void => {
        const port = this.ports[index];
        if (port === undefined) return void client.destroy();
        const upstream = connect(port, '127.0.0.1');
        this.#track(upstream);
        upstream.once('error', () => attempt(index + 1));
        upstream.once('connect', () => {
          this.connections.set(port, (this.connections.get(port) ?? 0) + 1);
          upstream.removeAllListeners('error');
          upstream.on('error', () => undefined); // ignore: a reset ends the pair below
          client.pipe(upstream);
          upstream.pipe(client);
          client.resume();
          const drop = () => {
            client.destroy();
            upstream.destroy();
          };
          client.on('close', drop);
          upstream.on('close', drop);
        });
      };
      attempt(0);
    });
  }

  static async start(ports: number[]): Promise<FailoverProxy> {
    const proxy = new FailoverProxy(ports);
    await new Promise<void>((resolve) => proxy.#server.listen(0, '127.0.0.1', resolve));
    return proxy;
  }

  /** ws://127.0.0.1:<port>/connect */
  get wsUrl(): string {
    return `ws://127.0.0.1:${(this.#server.address() as AddressInfo).port}/connect`;
  }

  async close(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #track(socket: Socket): void {
    this.#sockets.add(socket);
    socket.on('error', () => undefined); // ignore: resets are part of failover
    socket.on('close', () => this.#sockets.delete(socket));
  }
}
