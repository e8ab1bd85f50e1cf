// The loopback web host behind `mcpassistant-gateway ui`: serves the built renderer and carries the control
// contract over a WebSocket, so the window runs in any browser (Linux desktops without a tray, a headless
// machine over an SSH tunnel, Playwright). Editing mcp.json runs commands on this computer, so nothing but
// the page we opened may reach it:
// - it listens on 127.0.0.1 only (port 0, any free one, by default);
// - `Host` must be 127.0.0.1:<port> or localhost:<port> (a rebinding DNS name is refused, 421);
// - the WebSocket needs the per-run random token (the page gets it in the URL fragment, which browsers never
//   send, and offers it as a subprotocol, so it is in no request line or log) and an `Origin` of this host;
// - every page carries a strict CSP (`default-src 'self'`, connect-src only this host's ws origin);
// - GET of the page's own files only; any other method, path or upgrade is refused.
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, normalize, sep } from 'node:path';
import type { Duplex } from 'node:stream';

import { type WebSocket, WebSocketServer } from 'ws';

import { EVENT_NAMES, type EventName, type HostMessage, HostRequest } from '../../src-shared/control.js';
import {
  CONTROL_PATH,
  CONTROL_PROTOCOL,
  TOKEN_FRAGMENT_KEY,
  TOKEN_PROTOCOL_PREFIX,
} from '../../src-shared/control-host.js';
import { errorMessage } from '../core/errors.js';
import type { Logger } from '../core/logging/log-hub.js';
import type { ControlApi } from './control-api.js';

const MAX_MESSAGE_BYTES = 1024 * 1024;

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
};

export interface WebHostOptions {
  control: ControlApi;
  /** The built renderer (vite's outDir): index.html and assets/. */
  rendererDir: string;
  /** Port on 127.0.0.1; 0 (default) picks a free one. */
  port?: number;
  log: Logger;
  /** The per-run token; random (32 bytes) unless given (tests). */
  token?: string;
}

export class WebHost {
  readonly #server: Server;
  readonly #wss: WebSocketServer;
  readonly #options: WebHostOptions;
  readonly #token: Buffer;
  #port = 0;

  private constructor(options: WebHostOptions) {
    this.#options = options;
    this.#token = Buffer.from(options.token ?? randomBytes(32).toString('base64url'));
    this.#server = createServer((req, res) => void this.#serve(req, res));
    this.#wss = new WebSocketServer({
      noServer: true,
      maxPayload: MAX_MESSAGE_BYTES,
      handleProtocols: (protocols) => (protocols.has(CONTROL_PROTOCOL) ? CONTROL_PROTOCOL : false),
    });
    this.#server.on('upgrade', (req, socket, head) => this.#upgrade(req, socket, head));
  }

  /** Starts listening on 127.0.0.1. Rejects when the port is taken (EADDRINUSE). */
  static async start(options: WebHostOptions): Promise<WebHost> {
    const host = new WebHost(options);
    await new Promise<void>((resolve, reject) => {
      host.#server.once('error', reject);
      host.#server.listen(options.port ?? 0, '127.0.0.1', () => {
        host.#server.off('error', reject);
        resolve();
      });
    });
    host.#port = (host.#server.address() as AddressInfo).port;
    return host;
  }

  /** http://127.0.0.1:<port> */
  get origin(): string {
    return `http://127.0.0.1:${this.#port}`;
  }

  /** The address to open: the page, with the token in the fragment (never sent to any server). */
  get url(): URL {
    return new URL(`${this.origin}/#${TOKEN_FRAGMENT_KEY}=${this.#token.toString()}`);
  }

  /** The Content-Security-Policy of every page. */
  get csp(): string {
    const ws = this.#allowedHosts().map((host) => `ws://${host}`);
    return [
      "default-src 'self'",
      `connect-src ${ws.join(' ')}`,
      "img-src 'self' data:",
      "object-src 'none'",
      "base-uri 'none'",
      "form-action 'none'",
      "frame-ancestors 'none'",
    ].join('; ');
  }

  /** Closes every WebSocket and the listener. */
  async close(): Promise<void> {
    for (const client of this.#wss.clients) client.terminate();
    await new Promise<void>((resolve) => this.#wss.close(() => resolve()));
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #allowedHosts(): string[] {
    return [`127.0.0.1:${this.#port}`, `localhost:${this.#port}`];
  }

  #hostAllowed(req: IncomingMessage): boolean {
    return this.#allowedHosts().includes(req.headers.host ?? '');
  }

  #originAllowed(req: IncomingMessage): boolean {
    return this.#allowedHosts().some((host) => req.headers.origin === `http://${host}`);
  }

  #tokenOffered(req: IncomingMessage): boolean {
    const offered = (req.headers['sec-websocket-protocol'] ?? '')
      .split(',')
      .map((p) => p.trim())
      .find((p) => p.startsWith(TOKEN_PROTOCOL_PREFIX));
    if (!offered) return false;
    const given = Buffer.from(offered.slice(TOKEN_PROTOCOL_PREFIX.length));
    return given.length === this.#token.length && timingSafeEqual(given, this.#token);
  }

  async #serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const headers = {
      'content-security-policy': this.csp,
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'no-referrer',
      'x-frame-options': 'DENY',
      'cross-origin-opener-policy': 'same-origin',
      'cross-origin-resource-policy': 'same-origin',
      'cache-control': 'no-store',
    };
    const refuse = (status: number, text: string) => {
      res.writeHead(status, { ...headers, 'content-type': 'text/plain; charset=utf-8' }).end(`${text}\n`);
    };
    if (!this.#hostAllowed(req))
      return refuse(421, 'Misdirected request: open the address the gateway printed.');
    if (req.method !== 'GET' && req.method !== 'HEAD') return refuse(405, 'Method not allowed.');
    const path = new URL(req.url ?? '/', this.origin).pathname;
    const file = path === '/' || path === '/index.html' ? 'index.html' : path.slice(1);
    const type = TYPES[extname(file)];
    const root = this.#options.rendererDir;
    const full = normalize(join(root, file));
    if (!type || !full.startsWith(root + sep) || (file !== 'index.html' && !file.startsWith('assets/'))) {
      return refuse(404, 'Not found.');
    }
    let body: Buffer;
    try {
      body = await readFile(full);
    } catch {
      return refuse(404, 'Not found.');
    }
    res.writeHead(200, { ...headers, 'content-type': type, 'content-length': body.length });
    res.end(req.method === 'HEAD' ? undefined : body);
  }

  #upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const reject = (status: number, text: string) => {
      socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    };
    const path = new URL(req.url ?? '/', this.origin).pathname;
    if (path !== CONTROL_PATH) return reject(404, 'Not Found');
    if (!this.#hostAllowed(req)) return reject(421, 'Misdirected Request');
    if (!this.#originAllowed(req)) {
      this.#options.log.warn(`refused a control connection from origin ${req.headers.origin ?? '(none)'}`);
      return reject(403, 'Forbidden');
    }
    if (!this.#tokenOffered(req)) {
      this.#options.log.warn('refused a control connection without the right token');
      return reject(401, 'Unauthorized');
    }
    this.#wss.handleUpgrade(req, socket, head, (ws) => this.#session(ws));
  }

  /** One page: calls answered in any order, events for the streams it subscribed to. */
  #session(ws: WebSocket): void {
    const { control, log } = this.#options;
    const subscriptions = new Map<EventName, () => void>();
    const send = (message: HostMessage) => {
      if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(message));
    };
    ws.on('message', (data, isBinary) => {
      let request: HostRequest;
      try {
        const parsed = HostRequest.safeParse(
          isBinary || !Buffer.isBuffer(data) ? undefined : JSON.parse(data.toString('utf8')),
        );
        if (!parsed.success) throw new Error(parsed.error.issues[0]?.message ?? 'invalid message');
        request = parsed.data;
      } catch (error) {
        log.warn(`closing a control connection that sent a malformed message: ${errorMessage(error)}`);
        ws.close(1008, 'malformed message');
        return;
      }
      if (request.type === 'call') {
        void control
          .call(request.name, request.args)
          .then((result) => send({ type: 'result', id: request.id, result }));
        return;
      }
      const event = request.event as EventName;
      if (!EVENT_NAMES.includes(event)) {
        ws.close(1008, `no event ${request.event}`);
        return;
      }
      if (request.type === 'subscribe' && !subscriptions.has(event)) {
        subscriptions.set(
          event,
          control.subscribe(event, (payload) => send({ type: 'event', event, payload })),
        );
      } else if (request.type === 'unsubscribe') {
        subscriptions.get(event)?.();
        subscriptions.delete(event);
      }
    });
    ws.on('close', () => {
      for (const off of subscriptions.values()) off();
      subscriptions.clear();
    });
  }
}
