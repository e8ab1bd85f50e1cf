// An HTTP reverse proxy on 127.0.0.1:0 that sends each request (not each connection) to the next relay node in
// turn: a load balancer without sticky sessions, so that consecutive steps of a browser's or a client's flow
// reach different nodes. It records which node served each request. Bodies and answers (SSE too) are streamed.
// MCP requests (paths ending in /mcp) all go to the first target: this proxy spreads sign-in and authorization
// steps, not the calls of one MCP session.
import { once } from 'node:events';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Routed {
  method: string;
  /** The path without its query (a query may hold a code). */
  path: string;
  /** The port of the node that served it. */
  port: number;
}

export class RoundRobinProxy {
  /** Every request carried, in order. */
  readonly routed: Routed[] = [];
  #ports: number[] = [];
  #next = 0;
  readonly #server: Server;

  private constructor() {
    this.#server = createServer((req, res) => {
      const mcp = (req.url ?? '/').split('?')[0]!.endsWith('/mcp');
      const port = mcp ? this.#ports[0] : this.#ports[this.#next++ % this.#ports.length];
      if (port === undefined) {
        res.writeHead(502).end('no nodes');
        return;
      }
      this.routed.push({ method: req.method ?? 'GET', path: (req.url ?? '/').split('?')[0]!, port });
      const upstream = request(
        { host: '127.0.0.1', port, method: req.method, path: req.url, headers: req.headers },
        (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
        },
      );
      upstream.on('error', () => res.destroy());
      res.on('close', () => upstream.destroy());
      req.pipe(upstream);
    });
  }

  /** Starts the proxy; `targets()` sets the nodes (ports) it sends to, in turn. */
  static async start(): Promise<RoundRobinProxy> {
    const proxy = new RoundRobinProxy();
    proxy.#server.listen(0, '127.0.0.1');
    await once(proxy.#server, 'listening');
    return proxy;
  }

  /** The nodes to send to, in turn, from now on. */
  targets(ports: number[]): void {
    this.#ports = [...ports];
    this.#next = 0;
  }

  /** http://127.0.0.1:<port> (no trailing slash) */
  get origin(): string {
    return `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
  }

  async close(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}
