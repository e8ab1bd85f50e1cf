// The relay: agents connect out to /connect; MCP clients call /{subject}/{server}/mcp, served by the shared
// McpFront (Streamable HTTP). A drop-in for the existing remote (COMPAT.md: its routes, status codes, close
// codes and environment), and stricter by default: every route is authenticated, subjects are isolated,
// sizes and in-flight calls are bounded.
import { createHmac, hkdfSync } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';

import { type WebSocket, WebSocketServer } from 'ws';

import { CLOSE, formatBytes, MAX_FRAME_BYTES, RegisterFrame, RELAY_FEATURES } from '../src-shared/wire.js';
import {
  type AgentChannel,
  AgentConnection,
  type AttachResult,
  type InProcessAgent,
  type InProcessLink,
  socketChannel,
} from './agent-connection.js';
import type { ConsentAgent } from './app-consent.js';
import { AuthorizationServer, type AuthorizationServerOptions } from './authorization-server.js';
import { type Credential, grantCredential } from './credential-requests.js';
import {
  applyCors,
  bearer,
  expectsJsonRpc,
  header,
  HttpError,
  isLoopbackOrigin,
  readJsonObject,
  rpcError,
  sendError,
  sendJson,
} from './http-util.js';
import { McpFront, type McpTarget } from './mcp-front.js';
import { OAuthFlow, type OAuthSettings } from './oauth.js';
import { RedisSessions } from './redis-sessions.js';
import { RedisState } from './redis-state.js';
import { type AgentEndpoint, RelayCluster } from './relay-cluster.js';
import type { RelayLogger } from './relay-log.js';
import { MemoryState, type SharedState } from './shared-state.js';
import { SUBJECT_PATTERN, SUBJECT_RULE, type SubjectRegistry } from './subject-registry.js';
import { allows, TokenAuthority, type Verified } from './token-authority.js';

export interface RelayOptions {
  host: string;
  port: number;
  jwtSecret: string;
  jwtAlgorithm?: string;
  jwtIssuer?: string;
  jwtAudience?: string;
  requestTimeoutMs: number;
  /** Let MCP clients in without a bearer (the existing remote's default; ours is false). */
  allowUnauthMcp?: boolean;
  jwtFallbackEnabled?: boolean;
  /** Browser origins allowed to call the MCP routes. Requests without Origin (non-browser clients) pass. */
  allowedOrigins?: string[];
  /** Also allow any http(s) origin on a loopback host (the embedded local relay). */
  allowLoopbackOrigins?: boolean;
  /** The setting named in the refusal of an Origin: ALLOWED_ORIGINS here, LOCAL_ALLOWED_ORIGINS embedded. */
  allowedOriginsSetting?: string;
  /**
   * More Host header values to accept (`name` for any port, or `name:port`), besides PUBLIC_BASE_URL's host and
   * the listening address (DNS-rebinding protection). The array is read on every request.
   */
  allowedHosts?: string[];
  /** Public base URL for the endpoint URLs the relay reports; default: derived from each request. */
  publicBaseUrl?: string;
  maxBodyBytes?: number;
  maxFrameBytes?: number;
  maxInFlightPerAgent?: number;
  pingIntervalMs?: number;
  keepAliveMs?: number;
  sessionIdleMs?: number;
  registerTimeoutMs?: number;
  /** Sign-in (/manage/oauth/*) with an identity provider; without it those routes answer 404. */
  oauth?: OAuthSettings;
  /**
   * The relay as an MCP authorization server for remote MCP clients (issue 12): on whenever `oauth` is set
   * (the owner of a subject consents after signing in through it); these tune it.
   */
  clientAuthorization?: Pick<
    AuthorizationServerOptions,
    'accessTokenMinutes' | 'refreshTokenDays' | 'clientIdMetadataDocuments' | 'fetch' | 'appConsentTimeoutMs'
  >;
  /**
   * Keep subjects, refresh tokens and revocations in this Redis (redis://[:password@]host:port[/db]), shared by
   * every relay on it and kept across restarts (issue 13). Without it they live in this process only.
   */
  redisUrl?: string;
  /** The prefix of the relay's Redis keys and channel (default "mcpassistant:"). */
  redisKeyPrefix?: string;
  log: RelayLogger;
}

const DEFAULTS = {
  maxBodyBytes: 4 * 1024 * 1024,
  maxFrameBytes: MAX_FRAME_BYTES,
  maxInFlightPerAgent: 256,
  pingIntervalMs: 20_000,
  keepAliveMs: 15_000,
  sessionIdleMs: 30 * 60_000,
  registerTimeoutMs: 10_000,
};

/** Loopback names of a Host header or a listening address. */
const LOOPBACK_HOST = /^(127\.\d+\.\d+\.\d+|localhost|::1|\[::1\])$/;

/** Default lifetime of a client token from /manage/client-token: 30 days. */
const CLIENT_TOKEN_MINUTES = 30 * 24 * 60;

const MCP_ROUTE = /^\/([^/]+)\/([^/]+)\/(mcp|sse)\/?$/;

export class RelayServer {
  readonly tokens: TokenAuthority;
  readonly #http: Server;
  readonly #wss: WebSocketServer;
  readonly #agents = new Map<string, AgentConnection>();
  readonly #front: McpFront;
  /** Subjects, refresh tokens, revocations: in memory, or in Redis shared with other relays. */
  readonly #state: SharedState;
  /** Subjects this relay has issued tokens for: never handed to anyone else. */
  readonly #subjects: SubjectRegistry;
  /** With Redis: the other relays, and calls routed to the agents connected to them (relay-cluster.ts). */
  readonly #cluster: RelayCluster | undefined;
  readonly #sessionShare: RedisSessions | undefined;
  readonly #oauth: OAuthFlow | undefined;
  /** The authorization server for MCP clients: created by listen() (its issuer is the relay's URL). */
  #authorization: AuthorizationServer | undefined;
  readonly #options: RelayOptions & typeof DEFAULTS;
  /** PUBLIC_BASE_URL parsed once: every request compares its host (a parse per request showed in profiles). */
  readonly #publicUrl: URL | undefined;
  readonly #log: RelayLogger;
  #timers: NodeJS.Timeout[] = [];

  constructor(options: RelayOptions) {
    this.#options = { ...DEFAULTS, ...stripUndefined(options) } as RelayOptions & typeof DEFAULTS;
    this.#publicUrl = options.publicBaseUrl ? new URL(options.publicBaseUrl) : undefined;
    this.#log = options.log;
    this.#state = options.redisUrl
      ? new RedisState({ url: options.redisUrl, keyPrefix: options.redisKeyPrefix, log: options.log })
      : new MemoryState();
    this.#subjects = this.#state.subjects;
    this.#cluster =
      options.redisUrl === undefined
        ? undefined
        : new RelayCluster({
            url: options.redisUrl,
            keyPrefix: options.redisKeyPrefix,
            log: options.log,
            host: {
              agent: (subject) => this.#agents.get(subject),
              notify: (subject, server, payload) => this.#front.notify(subject, server, payload, false),
              missedNotifications: () => this.#front.missedNotifications(),
              supersede: (agent) => {
                if (this.#agents.get(agent.subject) === agent) agent.close(CLOSE.superseded, 'superseded');
              },
            },
          });
    this.tokens = new TokenAuthority({
      revocations: this.#state.revocations,
      secret: options.jwtSecret,
      algorithm: options.jwtAlgorithm,
      issuer: options.jwtIssuer,
      audience: options.jwtAudience,
      defaultIssuer: () =>
        options.publicBaseUrl?.replace(/\/+$/, '') ?? (this.#http.listening ? this.url.origin : undefined),
    });
    this.#oauth =
      options.oauth &&
      new OAuthFlow({
        settings: options.oauth,
        tokens: this.tokens,
        subjects: this.#subjects,
        log: options.log,
        refreshTokens: this.#state.refreshTokens({
          lifetimeMs: (options.oauth.refreshTokenDays ?? 30) * 24 * 3600_000,
          now: options.oauth.now ?? Date.now,
        }),
        loginSessions: this.#state.loginSessions(),
      });
    // With Redis, 2025-era sessions live there: a client's requests may reach any node (redis-sessions.ts).
    this.#sessionShare =
      this.#cluster &&
      new RedisSessions({
        url: options.redisUrl!,
        keyPrefix: options.redisKeyPrefix,
        node: this.#cluster.nodeId,
        idleMs: this.#options.sessionIdleMs,
        log: options.log,
      });
    this.#front = new McpFront({
      sessionShare: this.#sessionShare,
      requestTimeoutMs: this.#options.requestTimeoutMs,
      maxBodyBytes: this.#options.maxBodyBytes,
      sessionIdleMs: this.#options.sessionIdleMs,
      // Several relays on one Redis sign a 2026-07-28 requestState alike: a client's retry may reach another.
      requestStateKey:
        this.#cluster && createHmac('sha256', options.jwtSecret).update('requestState').digest(),
      target: (subject, server, { session, sessionful }) => {
        const target = (agent: AgentEndpoint | undefined): McpTarget => {
          // An MCP client that sees 404 in a session starts a new one: "no agent" must be 503 for it.
          if (!agent) throw new HttpError(sessionful ? 503 : 404, `no agent is connected for "${subject}"`);
          if (!agent.capabilities.has(server)) {
            throw new HttpError(404, `the agent for "${subject}" does not serve "${server}"`);
          }
          // Calls are scoped by the client's session (sessionless callers share one scope per subject): a
          // cancel names a JSON-RPC id, which every client picks for itself (issue 8, item 1).
          const scope = session?.id ?? '';
          return {
            invoke: (message, options) => agent.invoke(server, message, { ...options, scope }),
            // An agent that understands `cancel` gets a cancel frame or nothing; an older one gets the
            // notification as it is (the existing remote's behaviour).
            cancel: (rpcId, reason) => {
              if (!agent.features.has('cancel')) return false;
              agent.cancelByRpcId(server, scope, rpcId, reason);
              return true;
            },
          };
        };
        const agent = this.#agents.get(subject);
        // With several relays, an agent connected to another one is reached through it.
        if (agent || !this.#cluster) return target(agent);
        return this.#cluster.locate(subject).then(target);
      },
    });
    this.#http = createServer((req, res) => void this.#route(req, res));
    this.#http.on('upgrade', (req, socket, head) => {
      // A store call can fail (Redis away): answer 503, never leave an unhandled rejection.
      this.#upgrade(req, socket, head).catch((error: unknown) => {
        this.#log.warn(`an agent connection failed: ${(error as Error).message}`);
        const body = JSON.stringify({ ok: false, error: 'the relay cannot check this token now; try again' });
        socket.end(
          `HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n` +
            `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
        );
      });
    });
    this.#http.on('clientError', (_error, socket) => socket.destroy());
    this.#wss = new WebSocketServer({
      noServer: true,
      maxPayload: this.#options.maxFrameBytes,
      perMessageDeflate: false,
    });
    this.tokens.onRevoke((id) => {
      for (const agent of this.#agents.values())
        if (agent.tokenId === id) agent.close(CLOSE.unauthorized, 'token revoked');
      // Streams and calls the revoked token (or OAuth grant, `grant:<id>`) opened end too (issue 12).
      this.#front.revokeCredential(id, 'the client token was revoked');
    });
  }

  /**
   * Starts listening; resolves with the base URL (port 0 picks a free port). Rejects (without listening) when
   * Redis cannot be reached (an Error naming REDIS_URL without its password, and the fix) or the sign-in
   * provider's startup check fails.
   */
  async listen(): Promise<URL> {
    await this.#state.connect();
    try {
      await this.#cluster?.start();
      await this.#sessionShare?.start();
      await this.tokens.init();
      await this.#oauth?.init();
    } catch (error) {
      await this.#cluster?.close();
      await this.#sessionShare?.close();
      await this.#state.close();
      throw error;
    }
    try {
      await new Promise<void>((resolve, reject) => {
        this.#http.once('error', reject);
        this.#http.listen(this.#options.port, this.#options.host, () => {
          this.#http.off('error', reject);
          resolve();
        });
      });
    } catch (error) {
      await this.#cluster?.close();
      await this.#sessionShare?.close();
      await this.#state.close();
      throw error;
    }
    if (this.#oauth) {
      const authorization = new AuthorizationServer({
        issuer: this.#options.publicBaseUrl ?? this.url.origin,
        signIn: this.#oauth,
        subjects: this.#subjects,
        log: this.#log,
        refreshTokenDays: this.#options.oauth?.refreshTokenDays,
        store: this.#state.authorizationStore(),
        // The same on every relay and across restarts: a browser's next step may reach another relay.
        cookieKey: Buffer.from(
          hkdfSync('sha256', this.#options.jwtSecret, '', 'mcpassistant authorization-server cookies', 32),
        ).toString('base64url'),
        sharedValue: (name, make) => this.#state.sharedValue(name, make),
        agentOf: (subject) => this.#consentAgentOf(subject),
        appConsentStore: this.#state.appConsents(),
        // Announced like a token's revocation (over Redis to every relay): each one ends the grant's streams.
        onGrantRevoked: (grantId, expiresAt) => this.tokens.revokeId(grantCredential(grantId), expiresAt),
        ...this.#options.clientAuthorization,
      });
      await authorization.init();
      this.#authorization = authorization;
      if (this.#publicUrl && this.#publicUrl.pathname.length > 1)
        this.#log.warn(
          'PUBLIC_BASE_URL has a path, which MCP client authorization does not support (its endpoints are ' +
            'served at the root of the origin); give the relay its own host name (https://relay.example.com)',
        );
      if (!this.#options.publicBaseUrl && !LOOPBACK_HOST.test(this.#options.host))
        this.#log.warn(
          `MCP clients are told to get tokens from ${authorization.issuer}, which only this machine can reach; ` +
            'set PUBLIC_BASE_URL to the URL clients use (https://relay.example.com)',
        );
      this.#timers.push(setInterval(() => authorization.tick(), 60_000).unref());
    }
    this.#timers.push(setInterval(() => this.#front.tick(), this.#options.keepAliveMs).unref());
    this.#timers.push(setInterval(() => this.#pingAgents(), this.#options.pingIntervalMs).unref());
    if (this.#oauth) this.#timers.push(setInterval(() => this.#oauth?.tick(), 60_000).unref());
    return this.url;
  }

  get url(): URL {
    const { port } = this.#http.address() as AddressInfo;
    const host = this.#options.host.includes(':') ? `[${this.#options.host}]` : this.#options.host;
    return new URL(`http://${host === '0.0.0.0' || host === '[::]' ? '127.0.0.1' : host}:${port}`);
  }

  /** The authorization server for MCP clients, once listening with sign-in configured (tests, embedding). */
  get authorization(): AuthorizationServer | undefined {
    return this.#authorization;
  }

  /** Open SSE streams of MCP clients (for /healthz and tests). */
  openStreams(): number {
    return this.#front.openStreams();
  }

  /** Connected agents, for /agents and tests. */
  agents(): AgentConnection[] {
    return [...this.#agents.values()];
  }

  async close(): Promise<void> {
    for (const timer of this.#timers) clearInterval(timer);
    this.#authorization?.close();
    for (const agent of this.#agents.values()) agent.close(1001, 'relay shutting down');
    this.#agents.clear();
    this.#front.close();
    for (const client of this.#wss.clients) client.terminate();
    this.#wss.close();
    this.#http.closeAllConnections();
    await new Promise<void>((resolve) => this.#http.close(() => resolve()));
    await this.#cluster?.close();
    await this.#sessionShare?.close();
    await this.#state.close();
  }

  /** Where the relay's state lives and whether it is reachable (reported by /healthz). */
  stateHealth(): ReturnType<SharedState['health']> {
    return this.#state.health();
  }

  // ── /connect ──────────────────────────────────────────────────────────────────────────────────────────

  async #upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    // Node removes the socket's error listener before 'upgrade': a client that resets the connection while
    // we verify its token must not crash the relay with an unhandled ECONNRESET.
    socket.on('error', () => socket.destroy());
    const reject = (status: number, error: string) => {
      const body = JSON.stringify({ ok: false, error });
      socket.end(
        `HTTP/1.1 ${status} ${status === 401 ? 'Unauthorized' : status === 404 ? 'Not Found' : 'Forbidden'}\r\n` +
          `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
      );
    };
    const path = new URL(req.url ?? '/', 'http://relay').pathname;
    if (path !== '/connect') return reject(404, 'WebSocket upgrades are served at /connect only');
    if (!this.#hostAllowed(req)) return reject(403, 'unexpected Host header');
    const verified = await this.#verifyAgent(bearer(req));
    if (!verified.ok) return reject(verified.status, verified.error);
    const base = this.#baseUrl(req);
    this.#wss.handleUpgrade(req, socket, head, (ws) => this.#agentConnected(ws, verified.verified, base));
  }

  /**
   * Checks an agent's token as /connect does: present, valid, and an agent token. Only agent tokens register:
   * a client token (or one without a role) must not let an MCP client take over the subject's agent (issue 8).
   */
  async #verifyAgent(
    token: string | undefined,
  ): Promise<
    { ok: true; verified: Extract<Verified, { ok: true }> } | { ok: false; status: number; error: string }
  > {
    const refuse = (status: number, error: string) => {
      this.#log.warn(`refused an agent connection: ${error}`);
      return { ok: false as const, status, error };
    };
    if (!token) return refuse(401, 'missing bearer token');
    if (!token.includes('.') && (await this.#authorization?.isAccessToken(token)))
      return refuse(
        403,
        'an MCP client\'s OAuth access token cannot register an agent; /connect needs an agent token (role "agent")',
      );
    const verified = await this.tokens.verify(token);
    if (!verified.ok) return refuse(401, verified.error);
    if (verified.claims.role !== 'agent') {
      return refuse(
        403,
        `a ${verified.claims.role ?? 'role-less'} token cannot register an agent; /connect needs an agent token (role "agent")`,
      );
    }
    return { ok: true, verified };
  }

  /**
   * Attaches an agent that runs in this process (a gateway that embeds this relay as its local endpoint,
   * issue 11): the frames and rules of /connect (docs/protocol.md: register first, refusals with the same
   * close codes, supersession, revocation), handed over as objects instead of JSON text over a loopback
   * WebSocket. `token` is an agent token of this relay. Resolves with the relay's end of the link, or with
   * the refusal an upgrade would get.
   */
  async attachAgent(token: string, peer: InProcessAgent): Promise<AttachResult> {
    const verified = await this.#verifyAgent(token);
    if (!verified.ok) return verified;
    let agent: AgentConnection | undefined;
    let open = true;
    // Every frame and the close go through the microtask queue, in order: neither side runs inside the other's
    // call stack (as with a socket), and a frame sent before close arrives before it.
    const end = (code: number, reason: string) => {
      if (!open) return;
      open = false;
      queueMicrotask(() => {
        if (agent) this.#agentGone(agent, 'the agent disconnected', code);
        peer.closed(code, reason);
      });
    };
    const channel: AgentChannel = {
      send: (frame) => {
        if (open) queueMicrotask(() => peer.receive(frame));
      },
      close: end,
    };
    const base = this.#options.publicBaseUrl ?? this.url.href;
    const link: InProcessLink = {
      send: (frame) => {
        if (!open) return;
        queueMicrotask(() => {
          if (!open) return;
          if (agent) return void agent.handleFrame(frame);
          const register = RegisterFrame.safeParse(frame);
          if (!register.success) return end(CLOSE.policy, 'the first frame must be register');
          agent = this.#register(channel, register.data, verified.verified, base);
        });
      },
      close: end,
    };
    return { ok: true, link };
  }

  #agentConnected(ws: WebSocket, verified: Extract<Verified, { ok: true }>, base: string): void {
    let agent: AgentConnection | undefined;
    const registerTimer = setTimeout(
      () => ws.close(CLOSE.policy, 'no register frame'),
      this.#options.registerTimeoutMs,
    );
    let alive = true;
    /** The agent sent a frame over maxFrameBytes (ws then closes with 1009). */
    let tooBig = false;
    ws.on('pong', () => (alive = true));
    (ws as unknown as { isAlive: () => boolean; markPing: () => void }).isAlive = () => alive;
    (ws as unknown as { markPing: () => void }).markPing = () => (alive = false);
    const channel = socketChannel(ws);

    ws.on('message', (data, isBinary) => {
      const text = isBinary ? '' : (data as Buffer).toString('utf8');
      if (agent) {
        if (!agent.handleText(text)) ws.close(CLOSE.policy, 'malformed frame');
        return;
      }
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch {
        return ws.close(CLOSE.policy, 'malformed frame');
      }
      const register = RegisterFrame.safeParse(json);
      if (!register.success) return ws.close(CLOSE.policy, 'the first frame must be register');
      clearTimeout(registerTimer);
      agent = this.#register(channel, register.data, verified, base);
    });
    ws.on('close', (code) => {
      clearTimeout(registerTimer);
      if (!agent) return;
      // The first cause, not just "disconnected": an older agent that sent a result over the frame limit
      // made the relay close the link, and every call on it learns why.
      this.#agentGone(
        agent,
        tooBig
          ? `the agent sent a message over the relay's ${formatBytes(this.#options.maxFrameBytes)} frame limit, which closed its connection`
          : 'the agent disconnected',
        code,
      );
    });
    ws.on('error', (error: Error & { code?: string }) => {
      // ws closes with 1009 itself; the close event may carry the peer's code instead, so remember why.
      if (error.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') tooBig = true;
      this.#log.debug(`agent socket error: ${error.message}`);
    });
  }

  /**
   * A register frame on a new link: checks subject and scope against the token (refusing with 4403), makes
   * the agent the subject's (superseding an older one with 1012) and answers `registered`. Returns the agent,
   * or undefined when refused (the link is closed).
   */
  #register(
    channel: AgentChannel,
    frame: RegisterFrame,
    verified: Extract<Verified, { ok: true }>,
    base: string,
  ): AgentConnection | undefined {
    const claims = verified.claims;
    // Refusals are logged here too: the agent says why it stopped, and so must the relay's operator.
    const forbid = (reason: string, detail: string) => {
      this.#log.warn(`refused the registration of subject "${frame.subject}": ${reason} (${detail})`);
      channel.close(CLOSE.forbidden, reason);
      return undefined;
    };
    if (frame.subject !== claims.sub) {
      return forbid('subject mismatch', `the token is for "${claims.sub}"`);
    }
    const outOfScope = claims.capabilities.includes('*')
      ? []
      : frame.capabilities.filter((c) => !claims.capabilities.includes(c));
    if (outOfScope.length) {
      return forbid('capability scope violation', `not in the token: ${outOfScope.join(', ')}`);
    }
    const agent = new AgentConnection(channel, frame, verified.id, {
      log: this.#log,
      maxInFlight: this.#options.maxInFlightPerAgent,
      onServerNotification: (from, server, payload) => {
        this.#front.notify(from.subject, server, payload);
        this.#cluster?.publishNotification(from.subject, server, payload);
      },
      onConsentAnswer: (from, answer) =>
        void this.#authorization?.appConsent
          ?.answered(this.#consentAgent(from), answer)
          .catch((error: Error) => this.#log.warn(`a consent answer was lost: ${error.message}`)),
    });
    const previous = this.#agents.get(frame.subject);
    this.#agents.set(frame.subject, agent);
    if (previous) previous.close(CLOSE.superseded, 'superseded');
    this.#cluster?.agentUp(agent);
    const endpoints = Object.fromEntries(
      frame.capabilities.map((server) => [server, this.#endpoint(base, frame.subject, server)]),
    );
    // max_frame_bytes (extension): the agent fails one call whose result would not fit, instead of sending
    // it and having the connection closed (1009) with every call on it.
    channel.send({
      type: 'registered',
      subject: frame.subject,
      endpoints,
      // `consent` only where MCP clients sign in here (issue 12): elsewhere nobody would ask.
      features: RELAY_FEATURES.filter((feature) => feature !== 'consent' || this.#oauth),
      max_frame_bytes: this.#options.maxFrameBytes,
    });
    this.#log.info(`agent ${frame.subject} connected with ${frame.capabilities.join(', ') || 'no servers'}`);
    return agent;
  }

  /** An agent connected here as app consent addresses it: its key names this node and when it connected. */
  #consentAgent(agent: AgentConnection): ConsentAgent {
    return {
      subject: agent.subject,
      features: agent.features,
      key: `${this.#cluster?.nodeId ?? 'local'}:${agent.connectedAt}`,
      send: (frame) => agent.send(frame),
    };
  }

  /** The agent of `subject` for app consent: connected here, else (several relays) on another node. */
  async #consentAgentOf(subject: string): Promise<ConsentAgent | undefined> {
    const agent = this.#agents.get(subject);
    if (agent || !this.#cluster) return agent && this.#consentAgent(agent);
    const remote = await this.#cluster.locate(subject);
    if (!remote) return undefined;
    const { node, connected_at: connectedAt } = remote.location;
    const cluster = this.#cluster;
    return {
      subject,
      features: remote.features,
      key: `${node}:${connectedAt}`,
      send: (frame) => {
        if (frame.type === 'consent_request' || frame.type === 'consent_closed')
          cluster.sendToAgent(node, subject, frame);
      },
    };
  }

  /** An agent's link ended: its calls fail with `reason`, and it stops being its subject's agent. */
  #agentGone(agent: AgentConnection, reason: string, code: number): void {
    agent.closed(reason);
    if (this.#agents.get(agent.subject) === agent) {
      this.#agents.delete(agent.subject);
      this.#cluster?.agentDown(agent.subject);
      this.#log.info(`agent ${agent.subject} disconnected (${code})`);
    }
  }

  #pingAgents(): void {
    for (const ws of this.#wss.clients) {
      const tracked = ws as unknown as { isAlive?: () => boolean; markPing?: () => void };
      if (tracked.isAlive && !tracked.isAlive()) {
        ws.terminate();
        continue;
      }
      tracked.markPing?.();
      ws.ping();
    }
  }

  /**
   * The base of the endpoint URLs reported to a request: PUBLIC_BASE_URL, else the Host the request came to
   * (https when a TLS-terminating proxy says so), so that a relay listening on 0.0.0.0 does not report
   * 127.0.0.1 to remote agents. Host is already checked against allowedHosts when that is set.
   */
  #baseUrl(req: IncomingMessage): string {
    if (this.#options.publicBaseUrl) return this.#options.publicBaseUrl;
    const host = header(req, 'host');
    if (!host || !/^[A-Za-z0-9.-]+(:\d+)?$|^\[[0-9A-Fa-f:.]+\](:\d+)?$/.test(host)) return this.url.href;
    const proto = header(req, 'x-forwarded-proto')?.split(',')[0]?.trim().toLowerCase();
    return `${proto === 'https' ? 'https' : 'http'}://${host}/`;
  }

  #endpoint(base: string, subject: string, server: string): string {
    return new URL(
      `${encodeURIComponent(subject)}/${encodeURIComponent(server)}/mcp`,
      base.endsWith('/') ? base : `${base}/`,
    ).href;
  }

  // ── HTTP routes ─────────────────────────────────────────────────────────────────────────────────────────

  async #route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      const path = requestPath(req.url);
      const url = () => new URL(req.url ?? '/', 'http://relay');
      // A health probe (a load balancer's, by IP) may name any host: it reads only counts.
      if (path !== '/healthz' && !this.#hostAllowed(req))
        throw new HttpError(
          403,
          `unexpected Host header; add it to ALLOWED_HOSTS if this relay is reached by that name`,
        );
      if (path === '/healthz' && req.method === 'GET') {
        // A relay that cannot reach its shared state must not get traffic: it would miss revocations.
        // ... nor one cut off from the other relays (their calls and notifications come over Redis too).
        const connected = this.#state.health().connected && (this.#cluster?.connected() ?? true);
        const state = { ...this.#state.health(), connected };
        return sendJson(res, state.connected ? 200 : 503, {
          ok: state.connected,
          state: state.backend,
          ...(state.backend === 'redis' && { redis: state.connected ? 'connected' : 'disconnected' }),
          agents: this.#agents.size,
          sessions: this.#front.sessions.size,
          streams: this.openStreams(),
          // With Redis: this node's id, and the calls in flight to other nodes' agents and from other nodes.
          ...(this.#cluster && { cluster: { node: this.#cluster.nodeId, ...this.#cluster.inFlight() } }),
        });
      }
      // Browsers may send simple cross-site POSTs without a preflight (a text/plain /manage/jwt/issue would
      // claim a subject): every route but /healthz checks Origin, as the MCP routes do.
      this.#checkOrigin(req);
      if (applyCors(req, res)) return;
      if (path === '/agents' && req.method === 'GET') return await this.#listAgents(req, res);
      if (path === '/manage/jwt/issue' && req.method === 'POST') return await this.#issue(req, res);
      if (path === '/manage/jwt/revoke' && req.method === 'POST') return await this.#revoke(req, res);
      if (path === '/manage/client-token' && req.method === 'POST') return await this.#clientToken(req, res);
      if (path === '/manage/client-grants' || path === '/manage/client-grants/revoke')
        return await this.#clientGrants(req, res, path);
      if (path.startsWith('/manage/oauth/')) {
        if (!this.#oauth) {
          // The agent reads 404 here as "no sign-in on this relay" and falls back to /manage/jwt/issue.
          throw new HttpError(
            404,
            'sign-in is not configured on this relay (set USERS_FILE or OIDC_ISSUER); tokens come from /manage/jwt/issue',
          );
        }
        const base = this.#baseUrl(req);
        return await this.#oauth.handle(req, res, url(), new URL(base.endsWith('/') ? base : `${base}/`));
      }
      // The authorization server for MCP clients (issue 12): its metadata, endpoints and consent pages.
      if (this.#authorization?.handles(path)) return await this.#authorization.handle(req, res, url());
      const match = MCP_ROUTE.exec(path);
      if (match) {
        const [, subject, server, kind] = match as unknown as [string, string, string, 'mcp' | 'sse'];
        return await this.#mcp(req, res, decodePathSegment(subject), decodePathSegment(server), kind);
      }
      throw new HttpError(404, `no route for ${req.method} ${path}`);
    } catch (error) {
      // The path only: a query may hold a sign-in code or state.
      const path = new URL(req.url ?? '/', 'http://relay').pathname;
      // MCP clients read JSON-RPC errors; /manage, /agents and plain-JSON callers keep {"ok": false, "error"}.
      const jsonRpc = MCP_ROUTE.test(path) && expectsJsonRpc(req);
      if (sendError(res, error, jsonRpc)) return;
      if (!this.#state.health().connected) {
        // Redis is away (ioredis reconnects by itself): a temporary failure, not a bug.
        const message = 'the relay cannot reach its shared state (Redis) right now; try again shortly';
        this.#log.warn(`${req.method} ${path}: ${message} (${(error as Error).message})`);
        return sendJson(res, 503, jsonRpc ? rpcError(null, -32603, message) : { ok: false, error: message });
      }
      this.#log.error(`unexpected error on ${req.method} ${path}:`, error);
      sendJson(
        res,
        500,
        jsonRpc ? rpcError(null, -32603, 'internal error') : { ok: false, error: 'internal error' },
      );
    }
  }

  /**
   * DNS-rebinding protection (spec 2025-11-25, "Security Warning" of Streamable HTTP): the Host must name this
   * relay: PUBLIC_BASE_URL's host, an ALLOWED_HOSTS entry, or the listening address (on a loopback or wildcard
   * address, any loopback name: 127.0.0.1, localhost, [::1], whatever the port, as a local tunnel or proxy
   * gives). A relay on a wildcard address (0.0.0.0, ::) with neither PUBLIC_BASE_URL nor ALLOWED_HOSTS does not
   * know its names, and accepts any Host.
   */
  #hostAllowed(req: IncomingMessage): boolean {
    const host = (req.headers.host ?? '').toLowerCase();
    const hostname = host.replace(/:\d+$/, '');
    const { allowedHosts = [], publicBaseUrl } = this.#options;
    const listen = this.#options.host.toLowerCase();
    const wildcard = listen === '0.0.0.0' || listen === '::';
    if (wildcard && !publicBaseUrl && allowedHosts.length === 0) return true;
    if (allowedHosts.some((entry) => entry.toLowerCase() === (entry.includes(':') ? host : hostname)))
      return true;
    if (this.#publicUrl?.host === host) return true;
    if ((wildcard || LOOPBACK_HOST.test(listen)) && LOOPBACK_HOST.test(hostname)) return true;
    return hostname === (listen.includes(':') ? `[${listen}]` : listen);
  }

  #checkOrigin(req: IncomingMessage): void {
    const origin = req.headers.origin;
    if (!origin) return;
    let parsed: URL;
    try {
      parsed = new URL(origin);
    } catch {
      throw new HttpError(403, 'invalid Origin header');
    }
    if (this.#options.allowedOrigins?.includes(origin) || parsed.host === req.headers.host) return;
    // The relay's own pages behind a proxy that rewrites Host (the built-in sign-in form posts back).
    if (this.#publicUrl?.origin === parsed.origin) return;
    if (this.#options.allowLoopbackOrigins && isLoopbackOrigin(parsed)) return;
    throw new HttpError(
      403,
      `Origin ${origin} is not allowed; add it to ${this.#options.allowedOriginsSetting ?? 'ALLOWED_ORIGINS'}`,
    );
  }

  /**
   * Verifies the bearer of a client route for `subject` (and `server`). Resolves with the credential: the id
   * its revocation would name (a JWT's TokenAuthority.idOf, or `grant:<id>` for an OAuth access token) and
   * its expiry; undefined when the relay lets unauthenticated callers in.
   */
  async #authorize(req: IncomingMessage, subject: string, server?: string): Promise<Credential | undefined> {
    if (this.#options.allowUnauthMcp) return undefined;
    const token = bearer(req);
    const authorization = server === undefined ? undefined : this.#authorization;
    // With the authorization server on, a 401 names its resource metadata (RFC 9728 section 5.1): that is how
    // an MCP client discovers where to get a token.
    // Built only for a refusal: it parses a URL, which showed in the bench's profile of every call (issue 11).
    const challenge = () => ({
      'WWW-Authenticate': authorization?.challenge(subject, server!) ?? 'Bearer realm="mcpassistant-relay"',
    });
    if (!token) throw new HttpError(401, 'missing bearer token', challenge());
    if (authorization && !token.includes('.')) {
      // Not a JWT: an OAuth access token, looked up on every request (expired or revoked ones fail at once).
      const checked = await authorization.verify(token, subject, server!);
      let failure = checked.ok ? '' : checked.error;
      if (checked.ok) {
        const id = grantCredential(checked.grantId);
        // The grant's revocation may have been announced while its token was checked (after the store was
        // read): from here to the request's tracking nothing awaits, so a revocation is seen here or ends it.
        if (!this.tokens.isRevoked(id)) return { id, expiresAt: checked.expiresAt };
        failure = 'the access token was revoked';
      }
      const error = { code: 'invalid_token', description: failure };
      throw new HttpError(401, failure, {
        'WWW-Authenticate': authorization.challenge(subject, server!, error),
      });
    }
    const verified = await this.tokens.verify(token);
    if (!verified.ok) throw new HttpError(401, verified.error, challenge());
    if (verified.claims.sub !== subject) throw new HttpError(403, 'this token is not for that subject');
    if (server !== undefined && !allows(verified.claims.capabilities, server)) {
      throw new HttpError(403, `this token does not allow server "${server}"`);
    }
    const { exp } = verified.claims;
    return { id: verified.id, ...(exp !== undefined && { expiresAt: exp * 1000 }) };
  }

  async #listAgents(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const token = bearer(req);
    if (!token) throw new HttpError(401, 'missing bearer token');
    const verified = await this.tokens.verify(token);
    if (!verified.ok) throw new HttpError(401, verified.error);
    // A client token reaches only its servers: the agent's others, their endpoints and its activity are not its
    // business (issue 12).
    if (verified.claims.role === 'client')
      throw new HttpError(403, 'a client token cannot list the agent; /agents needs the agent token');
    const agent = this.#agents.get(verified.claims.sub);
    const base = this.#baseUrl(req);
    // With several relays: the subject's agent may be connected to another node (its location in Redis). While
    // Redis is away, this node's own agents only.
    const remote =
      agent || !this.#cluster
        ? undefined
        : await this.#cluster.locate(verified.claims.sub).catch(() => undefined);
    if (remote) {
      const { location } = remote;
      const agents = [
        {
          subject: remote.subject,
          capabilities: location.capabilities,
          connected_at: new Date(location.connected_at).toISOString(),
          node: location.node,
          endpoints: Object.fromEntries(
            location.capabilities.map((s) => [s, this.#endpoint(base, remote.subject, s)]),
          ),
        },
      ];
      return sendJson(res, 200, { agents });
    }
    const agents = agent
      ? [
          {
            subject: agent.subject,
            capabilities: [...agent.capabilities],
            agent: agent.agent,
            servers: agent.servers,
            connected_at: new Date(agent.connectedAt).toISOString(),
            in_flight: agent.inFlight,
            endpoints: Object.fromEntries(
              [...agent.capabilities].map((s) => [s, this.#endpoint(base, agent.subject, s)]),
            ),
          },
        ]
      : [];
    sendJson(res, 200, { agents });
  }

  async #issue(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (!this.#options.jwtFallbackEnabled) {
      throw new HttpError(
        404,
        'token issuing is disabled on this relay. Use the built-in sign-in instead (set USERS_FILE or ' +
          'OIDC_ISSUER on the relay, then `mcpassistant-gateway login`). JWT_FALLBACK_ENABLED=true would ' +
          'enable this route, but then anyone who can reach the relay can mint a token for a new subject.',
      );
    }
    const body = await readJsonObject(req, 64 * 1024);
    const subject =
      body['subject'] === undefined ? `agent-${crypto.randomUUID().slice(0, 8)}` : body['subject'];
    const minutes = body['expiry_minutes'] === undefined ? 60 : body['expiry_minutes'];
    const capabilities = body['capabilities'] === undefined ? ['*'] : body['capabilities'];
    if (typeof subject !== 'string' || !SUBJECT_PATTERN.test(subject)) {
      throw new HttpError(400, `subject: ${SUBJECT_RULE}`);
    }
    if (typeof minutes !== 'number' || !Number.isInteger(minutes) || minutes < 1 || minutes > 1440) {
      throw new HttpError(400, 'expiry_minutes: a whole number from 1 to 1440');
    }
    if (!Array.isArray(capabilities) || !capabilities.every((c) => typeof c === 'string' && c)) {
      throw new HttpError(400, 'capabilities: a list of server names, or ["*"]');
    }
    // A subject that is taken is only re-issued to its holder (a valid token for it in Authorization).
    let holder = false;
    if ((await this.#subjects.owner(subject)) !== undefined || this.#agents.has(subject)) {
      const token = bearer(req);
      const verified = token ? await this.tokens.verify(token) : undefined;
      // An agent token: a client token must not be exchanged for one (it would then register, issue 8).
      if (!verified?.ok || verified.claims.sub !== subject || verified.claims.role !== 'agent')
        throw new HttpError(409, `subject "${subject}" is already taken`);
      holder = true;
    }
    // Atomic on a shared store: of two relays handing out a new subject at once, one wins, the other says 409.
    // "jwt" stands for any anonymous caller: a caller that is not the holder must be the one that binds it.
    if (!(await this.#subjects.claim(subject, 'jwt', !holder)) && !holder)
      throw new HttpError(409, `subject "${subject}" is already taken`);
    const token = await this.tokens.issue(subject, capabilities as string[], minutes);
    sendJson(res, 200, { token, subject, expiry_minutes: minutes, capabilities, auth_mode: 'jwt_fallback' });
  }

  /**
   * `POST /manage/client-token` (extension): the agent's holder gets a client token for MCP clients
   * (role `client`: refused on /connect, so a client that has it cannot impersonate the agent). Bearer: an
   * agent token; the client token has its subject and at most its capabilities.
   * Body `{expiry_minutes?: 1–525600 (default 30 days), capabilities?: [server…]}`.
   */
  async #clientToken(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const token = bearer(req);
    if (!token) throw new HttpError(401, 'missing bearer token: send the agent token');
    const verified = await this.tokens.verify(token);
    if (!verified.ok) throw new HttpError(401, verified.error);
    if (verified.claims.role !== 'agent')
      throw new HttpError(403, 'only an agent token can ask for a client token');
    const body = await readJsonObject(req, 64 * 1024);
    const minutes = body['expiry_minutes'] ?? CLIENT_TOKEN_MINUTES;
    if (typeof minutes !== 'number' || !Number.isInteger(minutes) || minutes < 1 || minutes > 525_600) {
      throw new HttpError(400, 'expiry_minutes: a whole number from 1 to 525600 (one year)');
    }
    const held = verified.claims.capabilities;
    const capabilities = body['capabilities'] ?? held;
    if (!Array.isArray(capabilities) || !capabilities.every((c) => typeof c === 'string' && c)) {
      throw new HttpError(400, 'capabilities: a list of server names, or ["*"]');
    }
    const beyond = (capabilities as string[]).filter(
      (c) => !(c === '*' ? held.includes('*') : allows(held, c)),
    );
    if (beyond.length) throw new HttpError(403, `the agent token does not allow: ${beyond.join(', ')}`);
    const subject = verified.claims.sub;
    const issued = await this.tokens.issue(subject, capabilities as string[], minutes, 'client');
    sendJson(res, 200, { token: issued, subject, role: 'client', capabilities, expiry_minutes: minutes });
  }

  /**
   * `GET /manage/client-grants` → `{grants: ClientGrant[]}`, and `POST /manage/client-grants/revoke`
   * `{client_id?}` → `{revoked: <count>}`: the MCP clients the owner allowed on the subject of the bearer (an
   * agent token), and ending their grants (issue 12). 404 without sign-in (no authorization server).
   */
  async #clientGrants(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    const authorization = this.#authorization;
    if (!authorization)
      throw new HttpError(
        404,
        'MCP client authorization is not configured on this relay (set USERS_FILE or OIDC_ISSUER)',
      );
    const revoke = path.endsWith('/revoke');
    if (req.method !== (revoke ? 'POST' : 'GET'))
      throw new HttpError(405, `use ${revoke ? 'POST' : 'GET'} ${path}`, { Allow: revoke ? 'POST' : 'GET' });
    const token = bearer(req);
    if (!token) throw new HttpError(401, 'missing bearer token: send the agent token');
    const verified = await this.tokens.verify(token);
    if (!verified.ok) throw new HttpError(401, verified.error);
    if (verified.claims.role !== 'agent')
      throw new HttpError(403, "only the agent's token can list or revoke the MCP clients of its subject");
    const subject = verified.claims.sub;
    if (!revoke) return sendJson(res, 200, { grants: await authorization.grantsOf(subject) });
    const body = await readJsonObject(req, 64 * 1024);
    const clientId = body['client_id'];
    if (clientId !== undefined && (typeof clientId !== 'string' || !clientId))
      throw new HttpError(
        400,
        'client_id: a client id from GET /manage/client-grants, or leave it out for all',
      );
    sendJson(res, 200, { revoked: await authorization.revokeGrants(subject, clientId) });
  }

  async #revoke(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readJsonObject(req, 64 * 1024);
    if (typeof body['token'] !== 'string') throw new HttpError(400, 'token: required');
    if (!(await this.tokens.revoke(body['token'])))
      throw new HttpError(400, 'that token was not issued by this relay');
    sendJson(res, 200, { revoked: true });
  }

  // ── MCP ───────────────────────────────────────────────────────────────────────────────────────────────

  async #mcp(
    req: IncomingMessage,
    res: ServerResponse,
    subject: string,
    server: string,
    kind: 'mcp' | 'sse',
  ): Promise<void> {
    const credential = await this.#authorize(req, subject, server);
    await this.#front.handle(req, res, subject, server, kind, credential);
  }
}

/**
 * The path of a request target, as `new URL(target, 'http://relay').pathname` reads it. A plain path (segments of
 * letters, digits and `-._~`, none starting with a dot, no query: what MCP clients send) is one the URL parser
 * leaves as it is, so it is taken without parsing, which showed in the bench's profile of every call (issue 11).
 */
function requestPath(target: string | undefined): string {
  if (target !== undefined && PLAIN_PATH.test(target)) return target;
  return new URL(target ?? '/', 'http://relay').pathname;
}

const PLAIN_PATH = /^(?:\/[\w~-][\w.~-]*)*\/?$/;

/** A percent-encoded path segment, decoded; 400 when it is not valid percent-encoding (`/%zz/…`). */
function decodePathSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new HttpError(400, `the path segment "${segment.slice(0, 100)}" is not valid percent-encoding`);
  }
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
