// A TCP proxy on 127.0.0.1:0 in front of a relay: it counts connection attempts (one per WebSocket
// upgrade), and can freeze the connections it carries — bytes stop flowing both ways while both sockets
// stay open, which is what a dead NAT mapping or a laptop waking on another network looks like.
// With no target it accepts and resets every connection: a relay that is unreachable.
import type { AddressInfo } from 'node:net';
import { connect, createServer, type Server, type Socket } from 'node:net';

export class TcpProxy {
  /** Connections accepted so far. */
  attempts = 0;
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  readonly #pairs = new Set<[Socket, Socket]>();

  private constructor(target: { host: string; port: number } | undefined) {
    this.#server = createServer((client) => {
      this.attempts++;
      this.#track(client);
      if (!target) return void client.resetAndDestroy();
      const upstream = connect(target.port, target.host);
      this.#track(upstream);
      const pair: [Socket, Socket] = [client, upstream];
      this.#pairs.add(pair);
      client.pipe(upstream);
      upstream.pipe(client);
      const drop = () => {
        this.#pairs.delete(pair);
        client.destroy();
        upstream.destroy();
      };
      client.on('close', drop);
      upstream.on('close', drop);
    });
  }

  /** Proxies to `target` (a relay URL), or resets every connection when there is none. */
  static async start(target?: URL): Promise<TcpProxy> {
    const proxy = new TcpProxy(target && { host: target.hostname, port: Number(target.port) });
    await new Promise<void>((resolve) => proxy.#server.listen(0, '127.0.0.1', resolve));
    return proxy;
  }

  get port(): number {
    return (this.#server.address() as AddressInfo).port;
  }

  /** ws://127.0.0.1:<port>/connect */
  get wsUrl(): string {
    return `ws://127.0.0.1:${this.port}/connect`;
  }

  /** Stops forwarding on every connection open now; later connections are carried normally. */
  freeze(): void {
    for (const [client, upstream] of this.#pairs) {
      client.unpipe(upstream);
      upstream.unpipe(client);
      client.pause();
      upstream.pause();
    }
    this.#pairs.clear();
  }

  async close(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #track(socket: Socket): void {
    this.#sockets.add(socket);
    socket.on('error', () => undefined); // ignore: resets are what this proxy is for
    socket.on('close', () => this.#sockets.delete(socket));
  }
}
