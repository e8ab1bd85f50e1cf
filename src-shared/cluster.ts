// Relay ⇄ relay messages (issue 13): several relays on one Redis route a client's call from the node it reached
// (A) to the node that holds the subject's agent socket (B), over Redis pub/sub. Each node listens on its own
// channel (`<prefix>node:<node id>`) for NodeMessage and on one shared channel (`<prefix>cluster`) for
// ClusterMessage. A call keeps the shape it has between a relay and its agent (src-shared/wire.ts): a JSON-RPC
// payload out, a result object back, with the notifications and server requests tied to it in between.
// docs: README, "Shared state in Redis: restarts and several relays".
import { z } from 'zod';

import { ConsentClosedFrame, ConsentRequestFrame, JsonRpcMessage } from './wire.js';

/** A node's id: random per relay process (a restarted relay is a new node). */
const NodeId = z.string().min(1).max(64);
const CallId = z.string().min(1).max(64);

/**
 * Where a subject's agent is connected: the value of `<prefix>agent:<subject>` (JSON), written by that node
 * with a TTL it refreshes while the agent stays, deleted when the agent leaves. `capabilities` and `features`
 * are the agent's register frame's, so that the node a client reached can answer 404 and route cancels
 * without asking the holder.
 */
export const AgentLocation = z.object({
  node: NodeId,
  capabilities: z.array(z.string()),
  features: z.array(z.string()),
  /** When the agent registered (epoch ms, the holder's clock): for operators; no decision rests on it. */
  connected_at: z.number(),
});
export type AgentLocation = z.infer<typeof AgentLocation>;

// ── A → B: the node the client reached, to the node holding the agent ───────────────────────────────────────

/**
 * A client's call for the agent of `subject`. `scope` is the client session on A ('' sessionless): cancels by
 * JSON-RPC id stay within it. `timeout_ms` is the caller's; `ask` says whether the caller can answer the local
 * server's requests (sampling, elicitation, roots), else B answers them with an error at once.
 */
export const NodeInvoke = z.object({
  type: z.literal('invoke'),
  call_id: CallId,
  from: NodeId,
  subject: z.string().min(1),
  server: z.string().min(1),
  scope: z.string(),
  payload: JsonRpcMessage,
  timeout_ms: z.number().int().positive(),
  ask: z.boolean(),
  /** The caller's protocol era, `modern` for a 2026-07-28 client (InvokeFrame's `client_era`); else absent. */
  client_era: z.string().optional(),
  /**
   * The caller wants to hear when the local server closes the call's stream before its answer
   * (NodeStreamClosed). Absent from older nodes, which do not understand that message either.
   */
  stream_close: z.boolean().optional(),
});

/** The caller gave up (its timeout, its stream closed, an input-required round ended): B aborts the call. */
export const NodeAbort = z.object({ type: z.literal('abort'), call_id: CallId, reason: z.string() });

/**
 * The client sent notifications/cancelled for the call: B cancels it at the agent (a `cancel` frame) and the
 * call stays until the agent's answer, as on one node.
 */
export const NodeCancel = z.object({ type: z.literal('cancel'), call_id: CallId, reason: z.string() });

/**
 * The client sent notifications/cancelled to a node that did not carry the call (a session's requests may reach
 * any node): the node holding the agent cancels the call of `scope` with JSON-RPC id `rpc_id`, whichever node
 * it came through.
 */
export const NodeCancelRpc = z.object({
  type: z.literal('cancel_rpc'),
  subject: z.string().min(1),
  server: z.string().min(1),
  scope: z.string(),
  rpc_id: z.union([z.string(), z.number()]),
  reason: z.string(),
});

/** The client's answer to a server request of the call (its `id` is `ask_id`'s request's, restored by B). */
export const NodeServerResponse = z.object({
  type: z.literal('server_response'),
  call_id: CallId,
  ask_id: z.string().min(1),
  payload: JsonRpcMessage,
});

// ── B → A ─────────────────────────────────────────────────────────────────────────────────────────────────

/** The agent's result object for the call (as in ResultFrame). */
export const NodeResult = z.object({
  type: z.literal('result'),
  call_id: CallId,
  result: z.record(z.string(), z.unknown()),
});

/**
 * The call failed at B: the agent's timeout, disconnection or in-flight limit (InvokeError's kinds), or
 * `absent`: B does not hold the subject's agent (any more).
 */
export const NodeFailure = z.object({
  type: z.literal('failure'),
  call_id: CallId,
  kind: z.enum(['timeout', 'disconnected', 'busy', 'absent']),
  message: z.string(),
});

/** A notification tied to the call (progress, a log message while it runs). */
export const NodeNotification = z.object({
  type: z.literal('notification'),
  call_id: CallId,
  payload: JsonRpcMessage,
});

/** A local server's request to the call's client; A answers with NodeServerResponse under the same ask_id. */
export const NodeServerRequest = z.object({
  type: z.literal('server_request'),
  call_id: CallId,
  ask_id: z.string().min(1),
  payload: JsonRpcMessage,
  /** The local server's input key for it (ServerRequestFrame's `input_key`), when the agent gave one. */
  input_key: z.string().optional(),
});

/**
 * The local server closed the call's SSE stream before its answer (the agent's `stream_closed` frame); the call
 * goes on. Sent only for an invoke that carried `stream_close`.
 */
export const NodeStreamClosed = z.object({ type: z.literal('stream_closed'), call_id: CallId });

/**
 * A frame for the agent of `subject` on the receiving node (consent from the app, issue 12: the consent page is
 * served by another node than the one holding the owner's agent). The receiver sends it to its agent of that
 * subject when it announced `consent`, else drops it. The app's answer comes back through the shared record.
 */
export const NodeAgentFrame = z.object({
  type: z.literal('agent_frame'),
  subject: z.string().min(1),
  frame: z.discriminatedUnion('type', [ConsentRequestFrame, ConsentClosedFrame]),
});

/** What arrives on a node's own channel. */
export const NodeMessage = z.discriminatedUnion('type', [
  NodeInvoke,
  NodeAbort,
  NodeCancel,
  NodeCancelRpc,
  NodeServerResponse,
  NodeResult,
  NodeFailure,
  NodeNotification,
  NodeServerRequest,
  NodeAgentFrame,
  NodeStreamClosed,
]);
export type NodeMessage = z.infer<typeof NodeMessage>;

// ── every node → every node ───────────────────────────────────────────────────────────────────────────────

/** A node is alive; sent every heartbeat interval. A node silent for longer than the stale limit is dead. */
export const NodeHeartbeat = z.object({ type: z.literal('heartbeat'), node: NodeId });

/**
 * A server-wide notification of an agent on `node` (list_changed, resources/updated …): every node hands it to
 * its clients of that server (2025 sessions' GET streams, 2026-07-28 listen streams).
 */
export const ClusterServerNotification = z.object({
  type: z.literal('server_notification'),
  node: NodeId,
  subject: z.string().min(1),
  server: z.string().min(1),
  payload: JsonRpcMessage,
});

/** An agent registered on `node`: another node with an older socket for the subject closes it (1012). */
export const ClusterAgentUp = z.object({
  type: z.literal('agent_up'),
  subject: z.string().min(1),
  location: AgentLocation,
});

/** An agent left `node`. */
export const ClusterAgentDown = z.object({
  type: z.literal('agent_down'),
  node: NodeId,
  subject: z.string().min(1),
});

/** What arrives on the shared channel. */
export const ClusterMessage = z.discriminatedUnion('type', [
  NodeHeartbeat,
  ClusterServerNotification,
  ClusterAgentUp,
  ClusterAgentDown,
]);
export type ClusterMessage = z.infer<typeof ClusterMessage>;

// ── 2025-era MCP sessions shared by every node (src-relay/redis-sessions.ts) ─────────────────────────────────

const SessionId = z.string().min(1).max(128);

/** A session ended (DELETE on `node`): every node closes its streams of it and forgets it. */
export const SessionEnded = z.object({ type: z.literal('session_end'), node: NodeId, session: SessionId });

/** `node` now holds the session's standalone GET stream: any other node ends its own (one GET stream each). */
export const SessionStreamTaken = z.object({
  type: z.literal('session_stream'),
  node: NodeId,
  session: SessionId,
});

/**
 * A server-wide notification, already logged (for Last-Event-ID replay) in each listed session's log under the
 * given event id (`seq`): the node holding that session's GET stream writes it there, the others ignore it.
 */
export const SessionEvent = z.object({
  type: z.literal('session_event'),
  /** session id, event id, session id, event id … */
  events: z.array(z.union([SessionId, z.number().int().nonnegative()])),
  /** The JSON-RPC message, as JSON text (written to the streams as it is). */
  data: z.string(),
});

/**
 * A client's answer to a server request (sampling, elicitation, roots) sent on a session's stream by another
 * node: the node that asked (the one whose front issued the request id) hands it to the call waiting for it.
 */
export const SessionAnswer = z.object({
  type: z.literal('session_answer'),
  node: NodeId,
  session: SessionId,
  payload: JsonRpcMessage,
});

/** What arrives on `<prefix>sessions`. */
export const SessionMessage = z.discriminatedUnion('type', [
  SessionEnded,
  SessionStreamTaken,
  SessionEvent,
  SessionAnswer,
]);
export type SessionMessage = z.infer<typeof SessionMessage>;
