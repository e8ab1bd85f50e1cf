// Several relays on one Redis (issue 13): which node holds each subject's agent socket, and calls carried from
// the node a client reached (A) to the node holding the agent (B) and back, over Redis pub/sub (ioredis).
// Messages are src-shared/cluster.ts's schemas. Keys and channels, under the relay's prefix:
//   agent:<subject>      string (AgentLocation JSON), with a TTL the holder refreshes while the agent stays;
//                        deleted by the holder when the agent leaves (only if still its own)
//   node:<node id>       channel: calls and their answers for that node (NodeMessage)
//   cluster              channel: heartbeats, server-wide notifications, agents arriving and leaving
// A node that dies stops its heartbeats: after `staleAfterMs` the others treat it as gone (its location entries
// are ignored until they expire or the agent registers elsewhere), and the calls they had in flight on it fail.
// Without REDIS_URL none of this exists: the relay serves the agents connected to it, as before.
import { randomUUID } from 'node:crypto';

import { Redis } from 'ioredis';

import { AgentLocation, ClusterMessage, NodeMessage } from '../src-shared/cluster.js';
import type { ConsentClosedFrame, ConsentRequestFrame, JsonRpcMessage } from '../src-shared/wire.js';
import { type AgentConnection, InvokeError, type InvokeOptions } from './agent-connection.js';
import { redactRedisUrl } from './redis-state.js';
import type { RelayLogger } from './relay-log.js';

/**
 * What the fronts use of a subject's agent, wherever its socket is: an AgentConnection on this node, or a
 * RemoteAgent that carries each call to the node that holds it.
 */
export interface AgentEndpoint {
  readonly capabilities: ReadonlySet<string>;
  readonly features: ReadonlySet<string>;
  /** Sends one JSON-RPC message to `server`; resolves with the agent's result object, rejects with InvokeError. */
  invoke(server: string, payload: JsonRpcMessage, options: InvokeOptions): Promise<Record<string, unknown>>;
  /** Cancels (at the agent) the call of `server` in client session `scope` with JSON-RPC id `rpcId`. */
  cancelByRpcId(server: string, scope: string, rpcId: unknown, reason: string): boolean;
}

/** What the cluster needs of the relay it belongs to. */
export interface ClusterHost {
  /** The agent of `subject` connected to this node, if any. */
  agent(subject: string): AgentConnection | undefined;
  /** Hands a server-wide notification of an agent on another node to this node's clients of that server. */
  notify(subject: string, server: string, payload: JsonRpcMessage): void;
  /** `agent`, connected here, registered again on another node: its socket here closes (1012), if still current. */
  supersede(agent: AgentConnection): void;
  /**
   * This node's subscription dropped and is back: server-wide notifications of other nodes' agents sent
   * meanwhile were lost (pub/sub delivers at most once), so the streams that wait for them should end.
   */
  missedNotifications(): void;
}

export interface RelayClusterOptions {
  /** redis:// or rediss:// URL (its password is never logged). */
  url: string;
  /** Prefix of keys and channels (default "mcpassistant:"). */
  keyPrefix?: string;
  host: ClusterHost;
  log: RelayLogger;
  /** How often a node says it is alive, in ms (default 1,000). */
  heartbeatMs?: number;
  /** How long a node may be silent before it counts as dead, in ms (default 5 heartbeats). */
  staleAfterMs?: number;
  /** TTL of a location entry, in ms (default 30,000); refreshed every third of it. */
  locationTtlMs?: number;
}

/** How long a looked-up location is trusted without asking Redis again (ms); arrivals update it at once. */
const LOCATION_CACHE_MS = 2000;

// Deletes a location entry only if it is still the one this node wrote (the agent may have moved meanwhile).
const DELETE_IF_OURS = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`;

// Refreshes a location entry if it is still the one this node wrote, or writes it if it is gone; returns 1, or
// the entry another node wrote since (left as it is). KEYS: the entry. ARGV: this node's value, TTL in ms.
const REFRESH_IF_OURS = `
local current = redis.call('GET', KEYS[1])
if current and current ~= ARGV[1] then return current end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
`;

// Replaces a location entry if it is still ARGV[1] (a dead node's). ARGV: expected, this node's value, TTL ms.
const REPLACE_IF = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1
`;

/** A call this node sent to another node (A's side). */
interface OutgoingCall {
  node: string;
  subject: string;
  server: string;
  scope: string;
  rpcId: unknown;
  onNotification: InvokeOptions['onNotification'];
  onServerRequest: InvokeOptions['onServerRequest'];
  onStreamClosed: InvokeOptions['onStreamClosed'];
  resolve(result: Record<string, unknown>): void;
  reject(error: InvokeError): void;
  /** Rejects, and tells the node to abort the call (in case it is only slow, not dead). */
  fail(error: InvokeError): void;
}

/** A call another node sent to an agent here (B's side). */
interface IncomingCall {
  from: string;
  agent: AgentConnection;
  server: string;
  scope: string;
  rpcId: unknown;
  controller: AbortController;
  /** The call's server requests waiting for the client's answer, by ask id. */
  asks: Map<string, (response: JsonRpcMessage) => void>;
}

/** A subject's agent on another node, as the fronts use it (AgentEndpoint): each call goes there and back. */
export class RemoteAgent implements AgentEndpoint {
  readonly capabilities: ReadonlySet<string>;
  readonly features: ReadonlySet<string>;

  constructor(
    private readonly cluster: RelayCluster,
    readonly subject: string,
    readonly location: AgentLocation,
  ) {
    this.capabilities = new Set(location.capabilities);
    this.features = new Set(location.features);
  }

  invoke(server: string, payload: JsonRpcMessage, options: InvokeOptions): Promise<Record<string, unknown>> {
    return this.cluster.call(this.location.node, this.subject, server, payload, options);
  }

  cancelByRpcId(server: string, scope: string, rpcId: unknown, reason: string): boolean {
    return this.cluster.cancelByRpcId(this.location.node, server, scope, rpcId, reason, this.subject);
  }
}

/** This node's part in a cluster of relays on one Redis (see the top of this file). */
export class RelayCluster {
  /** This relay process's id in the cluster. */
  readonly nodeId = randomUUID();
  readonly #client: Redis;
  readonly #subscriber: Redis;
  readonly #prefix: string;
  readonly #host: ClusterHost;
  readonly #log: RelayLogger;
  readonly #heartbeatMs: number;
  readonly #staleAfterMs: number;
  readonly #locationTtlMs: number;
  readonly #startedAt = Date.now();
  /** When each other node was last heard (epoch ms). */
  readonly #lastSeen = new Map<string, number>();
  readonly #outgoing = new Map<string, OutgoingCall>();
  readonly #incoming = new Map<string, IncomingCall>();
  /** Looked-up locations by subject (undefined: nobody holds it), with when they were learned. */
  readonly #locations = new Map<string, { location: AgentLocation | undefined; at: number }>();
  /** The location entries this node wrote, by subject: refreshed while the agents stay. */
  readonly #held = new Map<string, string>();
  #timers: NodeJS.Timeout[] = [];
  #closed = false;

  constructor(options: RelayClusterOptions) {
    this.#prefix = options.keyPrefix ?? 'mcpassistant:';
    this.#host = options.host;
    this.#log = options.log;
    this.#heartbeatMs = options.heartbeatMs ?? 1000;
    this.#staleAfterMs = options.staleAfterMs ?? 5 * this.#heartbeatMs;
    this.#locationTtlMs = options.locationTtlMs ?? 30_000;
    // Calls of one event-loop turn leave in one write (auto-pipelining): the hot path is one PUBLISH per call.
    // Named, so that an operator tells them apart in CLIENT LIST.
    this.#client = new Redis(options.url, {
      lazyConnect: true,
      maxRetriesPerRequest: 1,
      enableAutoPipelining: true,
      connectionName: 'mcpassistant-cluster',
    });
    this.#subscriber = new Redis(options.url, {
      lazyConnect: true,
      connectionName: 'mcpassistant-cluster-sub',
    });
    const where = redactRedisUrl(options.url);
    // ignore: RedisState reports the state of the same Redis (and /healthz says it); one warning is enough.
    this.#client.on('error', () => undefined);
    // Back after Redis went away: it may have restarted empty (no persistence), and the other nodes would answer
    // "no agent" for the agents here until the next refresh (a third of the TTL): write their locations now.
    this.#client.on('ready', () => this.#refreshLocations());
    let ready = false;
    this.#subscriber.on('error', (error: Error) =>
      this.#log.debug(`cluster: Redis at ${where}: ${error.message}`),
    );
    // Answers published to this node while its subscriber is away are lost (pub/sub delivers at most once), and
    // the holding node gives no other sign: the calls in flight fail now rather than at their timeout.
    this.#subscriber.on('close', () => {
      if (this.#closed) return;
      for (const call of [...this.#outgoing.values()])
        call.fail(
          new InvokeError(
            'disconnected',
            `the relay lost its connection to Redis while the agent of "${call.subject}" (on another relay node) ` +
              'had the call, so its answer may be lost; try again shortly',
          ),
        );
    });
    this.#subscriber.on('ready', () => {
      // Arrivals and departures, and notifications, may have been missed while away: look locations up again,
      // and let the streams that wait for notifications know.
      if (ready) {
        this.#locations.clear();
        this.#host.missedNotifications();
      }
      ready = true;
    });
    this.#subscriber.on('messageBuffer', (channel: Buffer, message: Buffer) =>
      this.#receive(channel.toString('utf8'), message.toString('utf8')),
    );
  }

  #key(name: string): string {
    return this.#prefix + name;
  }

  /** Connects and subscribes; rejects when Redis cannot be reached. */
  async start(): Promise<void> {
    await this.#client.connect();
    await this.#subscriber.connect();
    await this.#subscriber.subscribe(this.#key(`node:${this.nodeId}`), this.#key('cluster'));
    this.#heartbeat();
    this.#timers.push(setInterval(() => this.#heartbeat(), this.#heartbeatMs).unref());
    this.#timers.push(setInterval(() => this.#refreshLocations(), this.#locationTtlMs / 3).unref());
    this.#log.info(`cluster: node ${this.nodeId.slice(0, 8)} joined`);
  }

  /** Whether both connections are up (calls to and from other nodes work). */
  connected(): boolean {
    return this.#client.status === 'ready' && this.#subscriber.status === 'ready';
  }

  /** Calls this node has in flight on other nodes, and calls of other nodes in flight here (tests, soak). */
  inFlight(): { outgoing: number; incoming: number } {
    return { outgoing: this.#outgoing.size, incoming: this.#incoming.size };
  }

  /** Leaves the cluster: calls in flight either way fail, this node's location entries are deleted. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const timer of this.#timers) clearInterval(timer);
    for (const call of [...this.#outgoing.values()])
      call.reject(new InvokeError('disconnected', 'the relay is shutting down'));
    const leaving =
      'the relay holding the agent is shutting down; try again shortly (the agent reconnects to another)';
    // Their callers are told now, not when this node's heartbeats are missed (awaited before QUIT below).
    const told = [...this.#incoming].map(([callId, call]) => {
      call.controller.abort(leaving);
      return this.#publish(call.from, {
        type: 'failure',
        call_id: callId,
        kind: 'disconnected',
        message: leaving,
      });
    });
    if (this.#client.status === 'ready') {
      await Promise.all(told);
      // The other nodes stop routing here at once (not when their cached locations expire).
      const deleting = [...this.#held].map(([subject, value]) => {
        this.#broadcast({ type: 'agent_down', node: this.nodeId, subject });
        return this.#client.eval(DELETE_IF_OURS, 1, this.#key(`agent:${subject}`), value);
      });
      await Promise.allSettled(deleting);
      await this.#client.quit().catch(() => undefined); // ignore: closing anyway
    } else this.#client.disconnect();
    this.#held.clear();
    this.#subscriber.disconnect();
  }

  // ── where agents are ──────────────────────────────────────────────────────────────────────────────────

  /** An agent registered here: its location goes to Redis, and other nodes drop an older socket of it. */
  agentUp(agent: AgentConnection): void {
    const location: AgentLocation = {
      node: this.nodeId,
      capabilities: [...agent.capabilities],
      features: [...agent.features],
      connected_at: agent.connectedAt,
    };
    const value = JSON.stringify(location);
    this.#held.set(agent.subject, value);
    this.#locations.set(agent.subject, { location, at: Date.now() });
    this.#client
      .set(this.#key(`agent:${agent.subject}`), value, 'PX', this.#locationTtlMs)
      .catch((error: Error) =>
        this.#log.warn(`cluster: cannot record agent ${agent.subject}: ${error.message}`),
      );
    this.#broadcast({ type: 'agent_up', subject: agent.subject, location });
    this.#moved(agent.subject, this.nodeId);
  }

  /**
   * The agent of `subject` registered on `node` while one is connected here: the one registered last keeps the
   * subject, as on one relay. "Last" is the order of the two nodes' writes of the location entry in Redis (each
   * node writes it before it announces the agent), not their clocks: both nodes read the same entry, so exactly one
   * socket stays.
   */
  #supersede(subject: string, node: string): void {
    const local = this.#host.agent(subject);
    if (!local) return;
    this.#client.get(this.#key(`agent:${subject}`)).then(
      (raw) => {
        if (raw !== null && parseLocation(raw)?.node === node) this.#host.supersede(local);
      },
      (error: Error) => this.#log.debug(`cluster: cannot read where ${subject} is: ${error.message}`),
    );
  }

  /** The agent of `subject` registered on `node`: calls still waiting on the node that held it before fail now. */
  #moved(subject: string, node: string): void {
    for (const call of [...this.#outgoing.values()])
      if (call.subject === subject && call.node !== node)
        call.fail(
          new InvokeError(
            'disconnected',
            `the agent of "${subject}" reconnected to another relay node; try again`,
          ),
        );
  }

  /** The subject's agent left this node: its location entry goes (unless another node holds it by now). */
  agentDown(subject: string): void {
    const value = this.#held.get(subject);
    if (value === undefined) return;
    this.#held.delete(subject);
    this.#locations.delete(subject);
    this.#client
      .eval(DELETE_IF_OURS, 1, this.#key(`agent:${subject}`), value)
      .catch((error: Error) => this.#log.debug(`cluster: cannot clear agent ${subject}: ${error.message}`));
    this.#broadcast({ type: 'agent_down', node: this.nodeId, subject });
  }

  /**
   * The agent of `subject` on another live node, or undefined when no node holds it (or its node is dead).
   * Rejects when Redis cannot be reached.
   */
  async locate(subject: string): Promise<RemoteAgent | undefined> {
    let known = this.#locations.get(subject);
    if (!known || Date.now() - known.at > LOCATION_CACHE_MS) {
      const raw = await this.#client.get(this.#key(`agent:${subject}`));
      known = { location: raw === null ? undefined : parseLocation(raw), at: Date.now() };
      this.#locations.set(subject, known);
    }
    const location = known.location;
    if (!location || location.node === this.nodeId || !this.#alive(location.node)) return undefined;
    return new RemoteAgent(this, subject, location);
  }

  /** A server-wide notification of an agent here, for the clients of that server on the other nodes. */
  publishNotification(subject: string, server: string, payload: JsonRpcMessage): void {
    this.#broadcast({ type: 'server_notification', node: this.nodeId, subject, server, payload });
  }

  #alive(node: string): boolean {
    const seen = this.#lastSeen.get(node);
    // A node heard of before this one's first heartbeats came in: give it the benefit of the doubt.
    if (seen === undefined) return Date.now() - this.#startedAt < this.#staleAfterMs;
    return Date.now() - seen < this.#staleAfterMs;
  }

  // ── calls, A's side ───────────────────────────────────────────────────────────────────────────────────

  /** Carries one call to the agent of `subject` on `node` (RemoteAgent.invoke). */
  call(
    node: string,
    subject: string,
    server: string,
    payload: JsonRpcMessage,
    options: InvokeOptions,
  ): Promise<Record<string, unknown>> {
    if (this.#closed) return Promise.reject(new InvokeError('disconnected', 'the relay is shutting down'));
    const callId = randomUUID();
    const { signal } = options;
    return new Promise((resolve, reject) => {
      let done = false;
      const end = () => {
        done = true;
        this.#outgoing.delete(callId);
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
      };
      const call: OutgoingCall = {
        node,
        subject,
        server,
        scope: options.scope ?? '',
        rpcId: payload.id,
        onNotification: options.onNotification,
        onServerRequest: options.onServerRequest,
        onStreamClosed: options.onStreamClosed,
        resolve: (result) => {
          if (done) return;
          end();
          resolve(result);
        },
        reject: (error) => {
          if (done) return;
          end();
          reject(error);
        },
        fail: (error) => {
          if (done) return;
          call.reject(error);
          abort(error.message);
        },
      };
      const abort = (reason: string) => this.#send(node, { type: 'abort', call_id: callId, reason });
      const timer = setTimeout(() => {
        call.reject(
          new InvokeError(
            'timeout',
            `the agent did not answer within ${Math.round(options.timeoutMs / 1000)} s`,
          ),
        );
        abort('timed out');
      }, options.timeoutMs);
      const onAbort = () => {
        const reason = String(signal?.reason ?? 'cancelled by the client');
        call.reject(new InvokeError('disconnected', reason));
        abort(reason);
      };
      this.#outgoing.set(callId, call);
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#client
        .publish(
          this.#key(`node:${node}`),
          JSON.stringify({
            type: 'invoke',
            call_id: callId,
            from: this.nodeId,
            subject,
            server,
            scope: call.scope,
            payload,
            timeout_ms: Math.max(1, Math.round(options.timeoutMs)),
            ask: options.onServerRequest !== undefined,
            ...(options.clientEra === 'modern' ? { client_era: 'modern' } : {}),
            ...(options.onStreamClosed && { stream_close: true }),
          } satisfies NodeMessage),
        )
        .then(
          (receivers) => {
            // Nobody listens on that node's channel: it is gone (Redis saw its connection close).
            if (receivers === 0) call.reject(new InvokeError('disconnected', nodeGone(subject)));
          },
          (error: Error) =>
            call.reject(
              new InvokeError(
                'disconnected',
                `the relay cannot reach the node holding the agent of "${subject}" (Redis: ${error.message}); try again shortly`,
              ),
            ),
        );
      if (signal?.aborted) onAbort();
    });
  }

  /**
   * RemoteAgent.cancelByRpcId: finds the call and asks its node to cancel it at the agent. A call of a shared
   * session (`subject` given) that went through another node is cancelled by its id at the agent's node.
   */
  cancelByRpcId(
    node: string,
    server: string,
    scope: string,
    rpcId: unknown,
    reason: string,
    subject?: string,
  ): boolean {
    for (const [callId, call] of this.#outgoing) {
      if (call.node === node && call.server === server && call.scope === scope && call.rpcId === rpcId) {
        this.#send(node, { type: 'cancel', call_id: callId, reason });
        return true;
      }
    }
    if (subject === undefined || scope === '' || (typeof rpcId !== 'string' && typeof rpcId !== 'number'))
      return false;
    this.#send(node, { type: 'cancel_rpc', subject, server, scope, rpc_id: rpcId, reason });
    return true;
  }

  /** Sends a consent frame to the agent of `subject` on `node` (NodeAgentFrame). */
  sendToAgent(node: string, subject: string, frame: ConsentRequestFrame | ConsentClosedFrame): void {
    this.#send(node, { type: 'agent_frame', subject, frame });
  }

  // ── messages ──────────────────────────────────────────────────────────────────────────────────────────

  #send(node: string, message: NodeMessage): void {
    void this.#publish(node, message);
  }

  /** Publishes `message` to `node`; resolves once Redis has it (never rejects: a failure is logged). */
  #publish(node: string, message: NodeMessage): Promise<void> {
    return this.#client.publish(this.#key(`node:${node}`), JSON.stringify(message)).then(
      () => undefined,
      (error: Error) => this.#log.debug(`cluster: cannot reach node ${node.slice(0, 8)}: ${error.message}`),
    );
  }

  #broadcast(message: ClusterMessage): void {
    this.#client
      .publish(this.#key('cluster'), JSON.stringify(message))
      .catch((error: Error) => this.#log.debug(`cluster: cannot publish ${message.type}: ${error.message}`));
  }

  #receive(channel: string, text: string): void {
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      return this.#log.warn(`cluster: ignoring a message that is not JSON on ${channel}`);
    }
    if (channel === this.#key('cluster')) {
      const parsed = ClusterMessage.safeParse(json);
      if (!parsed.success) return this.#log.warn(`cluster: ignoring a malformed cluster message`);
      return this.#clusterMessage(parsed.data);
    }
    const parsed = NodeMessage.safeParse(json);
    if (!parsed.success) return this.#log.warn(`cluster: ignoring a malformed node message`);
    this.#nodeMessage(parsed.data);
  }

  #clusterMessage(message: ClusterMessage): void {
    switch (message.type) {
      case 'heartbeat':
        if (message.node !== this.nodeId) this.#lastSeen.set(message.node, Date.now());
        return;
      case 'server_notification':
        if (message.node !== this.nodeId) this.#host.notify(message.subject, message.server, message.payload);
        return;
      case 'agent_up': {
        const { subject, location } = message;
        if (location.node === this.nodeId) return;
        this.#lastSeen.set(location.node, Date.now());
        this.#locations.set(subject, { location, at: Date.now() });
        this.#supersede(subject, location.node);
        // Calls on the node that held it before end now: that node lost the agent (or died).
        this.#moved(subject, location.node);
        return;
      }
      case 'agent_down':
        if (this.#locations.get(message.subject)?.location?.node === message.node)
          this.#locations.delete(message.subject);
    }
  }

  #nodeMessage(message: NodeMessage): void {
    switch (message.type) {
      case 'agent_frame': {
        const agent = this.#host.agent(message.subject);
        if (agent?.features.has('consent')) agent.send(message.frame);
        return;
      }
      case 'invoke':
        return this.#invoked(message);
      case 'abort':
        return void this.#incoming.get(message.call_id)?.controller.abort(message.reason);
      case 'cancel': {
        const call = this.#incoming.get(message.call_id);
        call?.agent.cancelByRpcId(call.server, call.scope, call.rpcId, message.reason);
        return;
      }
      case 'cancel_rpc':
        return void this.#host
          .agent(message.subject)
          ?.cancelByRpcId(message.server, message.scope, message.rpc_id, message.reason);
      case 'server_response': {
        const call = this.#incoming.get(message.call_id);
        const answer = call?.asks.get(message.ask_id);
        call?.asks.delete(message.ask_id);
        return answer?.(message.payload);
      }
      case 'result':
        return this.#outgoing.get(message.call_id)?.resolve(message.result);
      case 'failure': {
        const call = this.#outgoing.get(message.call_id);
        if (!call) return;
        if (message.kind === 'absent') this.#locations.delete(call.subject);
        return call.reject(
          new InvokeError(message.kind === 'absent' ? 'disconnected' : message.kind, message.message),
        );
      }
      case 'notification':
        return this.#outgoing.get(message.call_id)?.onNotification?.(message.payload);
      case 'stream_closed':
        return this.#outgoing.get(message.call_id)?.onStreamClosed?.();
      case 'server_request': {
        const call = this.#outgoing.get(message.call_id);
        if (!call) return;
        const answer = (payload: JsonRpcMessage) =>
          this.#send(call.node, {
            type: 'server_response',
            call_id: message.call_id,
            ask_id: message.ask_id,
            payload,
          });
        const ask = call.onServerRequest;
        if (!ask)
          return answer({
            jsonrpc: '2.0',
            id: message.payload.id ?? null,
            error: { code: -32603, message: 'the client of this call cannot be asked' },
          });
        ask(message.payload, message.input_key).then(answer, (error: unknown) =>
          answer({
            jsonrpc: '2.0',
            id: message.payload.id ?? null,
            error: { code: -32603, message: error instanceof Error ? error.message : String(error) },
          }),
        );
      }
    }
  }

  /** B's side: a call from another node for an agent here. */
  #invoked(message: Extract<NodeMessage, { type: 'invoke' }>): void {
    const { call_id: callId, from, subject, server, scope, payload } = message;
    const fail = (kind: 'timeout' | 'disconnected' | 'busy' | 'absent', text: string) =>
      this.#send(from, { type: 'failure', call_id: callId, kind, message: text });
    const agent = this.#host.agent(subject);
    if (!agent) return fail('absent', `no agent is connected for "${subject}"`);
    if (!agent.capabilities.has(server))
      return fail('absent', `the agent for "${subject}" does not serve "${server}"`);
    const call: IncomingCall = {
      from,
      agent,
      server,
      scope,
      rpcId: payload.id,
      controller: new AbortController(),
      asks: new Map(),
    };
    this.#incoming.set(callId, call);
    const onServerRequest = message.ask
      ? (request: JsonRpcMessage, inputKey?: string) =>
          new Promise<JsonRpcMessage>((resolve) => {
            const askId = randomUUID();
            call.asks.set(askId, resolve);
            this.#send(from, {
              type: 'server_request',
              call_id: callId,
              ask_id: askId,
              payload: request,
              ...(inputKey === undefined ? {} : { input_key: inputKey }),
            });
          })
      : undefined;
    agent
      .invoke(server, payload, {
        timeoutMs: message.timeout_ms,
        scope,
        signal: call.controller.signal,
        onNotification: (notification) =>
          this.#send(from, { type: 'notification', call_id: callId, payload: notification }),
        onServerRequest,
        ...(message.client_era === 'modern' ? { clientEra: 'modern' as const } : {}),
        onStreamClosed: message.stream_close
          ? () => this.#send(from, { type: 'stream_closed', call_id: callId })
          : undefined,
      })
      .then(
        (result) => this.#send(from, { type: 'result', call_id: callId, result }),
        (error: unknown) => {
          // An abort came from the caller, who is not waiting for an answer.
          if (call.controller.signal.aborted) return;
          const failure =
            error instanceof InvokeError ? error : new InvokeError('disconnected', String(error));
          fail(failure.kind, failure.message);
        },
      )
      .finally(() => this.#incoming.delete(callId));
  }

  // ── liveness ──────────────────────────────────────────────────────────────────────────────────────────

  #heartbeat(): void {
    this.#broadcast({ type: 'heartbeat', node: this.nodeId });
    const now = Date.now();
    for (const call of [...this.#outgoing.values()])
      if (!this.#alive(call.node)) call.fail(new InvokeError('disconnected', nodeGone(call.subject)));
    this.#checkListeners();
    for (const call of this.#incoming.values())
      if (!this.#alive(call.from)) call.controller.abort('the relay node of the client stopped answering');
    for (const [node, seen] of this.#lastSeen)
      if (now - seen > 10 * this.#staleAfterMs) this.#lastSeen.delete(node);
    for (const [subject, known] of this.#locations)
      if (now - known.at > LOCATION_CACHE_MS) this.#locations.delete(subject);
  }

  /**
   * Asks Redis whether the nodes this one has calls in flight on still listen (PUBSUB NUMSUB): a node killed
   * outright is gone from Redis at once, long before its heartbeats are missed, and its calls fail now.
   */
  #checkListeners(): void {
    const nodes = new Set([...this.#outgoing.values()].map((call) => call.node));
    if (nodes.size === 0) return;
    const channels = [...nodes].map((node) => this.#key(`node:${node}`));
    this.#client.pubsub('NUMSUB', ...channels).then(
      (reply) => {
        const counts = reply as (string | number)[];
        for (let i = 0; i + 1 < counts.length; i += 2) {
          if (Number(counts[i + 1]) > 0) continue;
          const node = String(counts[i]).slice(this.#key('node:').length);
          for (const call of [...this.#outgoing.values()])
            if (call.node === node) call.fail(new InvokeError('disconnected', nodeGone(call.subject)));
        }
      },
      (error: Error) => this.#log.debug(`cluster: cannot check the other nodes: ${error.message}`),
    );
  }

  /**
   * Refreshes the TTL of the location entries this node wrote, or writes them again where they are gone (Redis
   * restarted empty, an entry expired) or where a node that is no longer alive wrote them. An entry a live node
   * wrote since means the agent registered there after it did here and this node missed its agent_up (pub/sub
   * delivers at most once): it is left to that node (taking it back every refresh would flip calls between two
   * sockets). The socket here is not closed on that ground: a superseded gateway stops for good, and after a
   * Redis outage "live" is uncertain for a heartbeat; it is written again once that node's entry is gone.
   */
  #refreshLocations(): void {
    if (this.#held.size === 0) return;
    const held = [...this.#held];
    const pipeline = this.#client.pipeline();
    for (const [subject, value] of held)
      pipeline.eval(REFRESH_IF_OURS, 1, this.#key(`agent:${subject}`), value, this.#locationTtlMs);
    pipeline.exec().then(
      (replies) =>
        replies?.forEach(([error, current], i) => {
          const [subject, value] = held[i]!;
          if (error || typeof current !== 'string' || this.#held.get(subject) !== value) return;
          const holder = parseLocation(current);
          if (holder && this.#alive(holder.node)) {
            this.#log.debug(`cluster: agent ${subject} registered on node ${holder.node.slice(0, 8)} since`);
            return;
          }
          this.#client
            .eval(REPLACE_IF, 1, this.#key(`agent:${subject}`), current, value, this.#locationTtlMs)
            .catch((e: Error) => this.#log.debug(`cluster: cannot record agent ${subject}: ${e.message}`));
        }),
      (error: Error) => this.#log.debug(`cluster: cannot refresh locations: ${error.message}`),
    );
  }
}

/** The message of a call whose node died. */
function nodeGone(subject: string): string {
  return (
    `the relay node that holds the agent of "${subject}" stopped answering (it may have crashed); ` +
    'the agent reconnects to another node: try again shortly'
  );
}

/** A location entry read from Redis, or undefined when it is not one (written by another version, say). */
function parseLocation(raw: string): AgentLocation | undefined {
  try {
    const parsed = AgentLocation.safeParse(JSON.parse(raw));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}
