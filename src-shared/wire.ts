// The relay ⇄ agent wire protocol: JSON text frames over the /connect WebSocket, each with a `type`.
// The compat frames (register, invoke, result) are exactly those of the existing Python agent and remote
// (../shared/COMPAT.md). Our extensions are new frame types and optional fields that an old peer ignores:
// it logs and drops frame types it does not know, and never reads fields it does not know.
// docs/protocol.md describes every frame and how the two generations interoperate.
import { z } from 'zod';

/**
 * A JSON-RPC 2.0 message: request, notification or response. Kept loose: the relay forwards it verbatim. Its
 * `params`, when present, is an object, and so is `params._meta` (MCP's JSONRPCRequest and RequestParams;
 * JSON-RPC 2.0 §4.2 also allows an array, which no MCP method takes): a server's SDK drops a message of another
 * shape without an answer, so the call would hang until its timeout.
 */
export const JsonRpcMessage = z.looseObject({
  jsonrpc: z.literal('2.0'),
  id: z.union([z.string(), z.number()]).nullable().optional(),
  method: z.string().optional(),
  params: z.looseObject({ _meta: z.record(z.string(), z.unknown()).optional() }).optional(),
  result: z.unknown().optional(),
  error: z.unknown().optional(),
});
export type JsonRpcMessage = z.infer<typeof JsonRpcMessage>;

/** Whether `value` is a JSON object: not null, not an array. */
export const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * Whether `value` has JsonRpcMessage's shape, checked by hand with the schema's rules but without the schema's
 * copy of the object, which showed in the bench's profile on the relay's and the agent's hot paths (issue 11).
 * A `false` is not a verdict: parse with the schema then, which decides and says why.
 */
export function isPlainJsonRpcMessage(value: unknown): value is JsonRpcMessage {
  if (!isObject(value) || value['jsonrpc'] !== '2.0') return false;
  const { id, method, params } = value;
  if (id !== undefined && id !== null && typeof id !== 'string' && typeof id !== 'number') return false;
  if (method !== undefined && typeof method !== 'string') return false;
  if (params === undefined) return true;
  return isObject(params) && (params['_meta'] === undefined || isObject(params['_meta']));
}

/** Features an agent can announce in `register.features`; a relay uses a feature only if announced. */
export const AGENT_FEATURES = ['activity', 'cancel', 'consent', 'notifications', 'progress'] as const;
export type AgentFeature = (typeof AGENT_FEATURES)[number];

/** What the agent tells the relay about one server (extension). */
export const ServerSummary = z.looseObject({
  name: z.string().min(1),
  state: z.string().optional(),
  title: z.string().optional(),
  description: z.string().optional(),
  tools: z.number().int().nonnegative().optional(),
  resources: z.number().int().nonnegative().optional(),
  prompts: z.number().int().nonnegative().optional(),
});
export type ServerSummary = z.infer<typeof ServerSummary>;

// ── agent → relay ────────────────────────────────────────────────────────────────────────────────────────

/** First frame. Compat: `subject` and `capabilities`. Extensions: `agent`, `features`, `servers`. */
export const RegisterFrame = z.looseObject({
  type: z.literal('register'),
  subject: z.string().min(1),
  capabilities: z.array(z.string().min(1)),
  agent: z.looseObject({ name: z.string(), version: z.string() }).optional(),
  features: z.array(z.string()).optional(),
  servers: z.array(ServerSummary).optional(),
});
export type RegisterFrame = z.infer<typeof RegisterFrame>;

/**
 * The answer to an invoke. Compat: for a JSON-RPC request, the full JSON-RPC response; for a notification,
 * `{}`; for an agent-level failure, `{"ok": false, "error": "…"}`.
 */
export const ResultFrame = z.looseObject({
  type: z.literal('result'),
  request_id: z.string().min(1),
  result: z.record(z.string(), z.unknown()),
});
export type ResultFrame = z.infer<typeof ResultFrame>;

/**
 * Extension: a JSON-RPC notification from a local server. With `request_id` it belongs to that invoke
 * (progress, log messages while a call runs); without, to the server (list_changed, resources/updated).
 */
export const NotificationFrame = z.looseObject({
  type: z.literal('notification'),
  mcp_server: z.string().min(1),
  request_id: z.string().min(1).optional(),
  payload: JsonRpcMessage,
});
export type NotificationFrame = z.infer<typeof NotificationFrame>;

/** Extension: the agent's servers changed (started, stopped, counts). Same summaries as in register. */
export const ServersFrame = z.looseObject({
  type: z.literal('servers'),
  servers: z.array(ServerSummary),
});
export type ServersFrame = z.infer<typeof ServersFrame>;

/** The longest input key (characters) a `server_request` frame carries (`input_key`). */
export const MAX_INPUT_KEY_CHARS = 256;

/**
 * Extension: a local server's request to the client of one invoke (`sampling/createMessage`,
 * `elicitation/create`, `roots/list`), 2025 era. `payload.id` is `server_request_id`, chosen by the agent. Sent
 * only to relays whose `registered` frame lists the `server-requests` feature.
 */
export const ServerRequestFrame = z.looseObject({
  type: z.literal('server_request'),
  request_id: z.string().min(1),
  mcp_server: z.string().min(1),
  server_request_id: z.string().min(1),
  payload: JsonRpcMessage,
  /**
   * Extension: the input key a 2026-07-28 local server gave this request in its `input_required` result
   * (SEP-2322: the server names its input requests, and reads the answers under the same keys). A relay that
   * turns the request into an input-required result for a 2026-07-28 client uses it as the key there, so the
   * client sees the server's own names; without it (a 2025-era server request, an old agent) the relay names
   * the request itself. Keys over MAX_INPUT_KEY_CHARS are not sent.
   */
  input_key: z.string().min(1).max(MAX_INPUT_KEY_CHARS).optional(),
});
export type ServerRequestFrame = z.infer<typeof ServerRequestFrame>;

/**
 * Extension: the local server closed the SSE stream of invoke `request_id` before its answer (spec 2025-11-25
 * "Resumability and Redelivery", SEP-1699: a server MAY close a stream mid-call, and the client resumes it with
 * Last-Event-ID). The call goes on: its result frame follows when the agent has it. A relay may close its own
 * client's stream of that call in turn, for a client that can resume it. Sent only to relays whose
 * `registered` frame lists the `stream-close` feature.
 */
export const StreamClosedFrame = z.looseObject({
  type: z.literal('stream_closed'),
  request_id: z.string().min(1),
  mcp_server: z.string().min(1),
});
export type StreamClosedFrame = z.infer<typeof StreamClosedFrame>;

/**
 * Extension: the owner's answer, given in the app, to a `consent_request` (issue 12). `allow: true` lets the
 * client in as if the owner had clicked Allow on the relay's consent page; `false` sends it `access_denied`.
 * The first answer wins (the page's buttons or the app): a late one is ignored. Sent only for a request the
 * relay made, so only to relays that announce `consent`.
 */
export const ConsentAnswerFrame = z.looseObject({
  type: z.literal('consent_answer'),
  consent_id: z.string().min(1).max(128),
  allow: z.boolean(),
});
export type ConsentAnswerFrame = z.infer<typeof ConsentAnswerFrame>;

export const AgentFrame = z.discriminatedUnion('type', [
  RegisterFrame,
  ResultFrame,
  NotificationFrame,
  ServersFrame,
  ServerRequestFrame,
  ConsentAnswerFrame,
  StreamClosedFrame,
]);
export type AgentFrame = z.infer<typeof AgentFrame>;

// ── relay → agent ────────────────────────────────────────────────────────────────────────────────────────

/** Compat: a call for one server. Older remotes name the server `capability`. */
export const InvokeFrame = z
  .looseObject({
    type: z.literal('invoke'),
    request_id: z.string().min(1),
    mcp_server: z.string().min(1).optional(),
    capability: z.string().min(1).optional(),
    payload: JsonRpcMessage,
    /**
     * Extension: a short opaque label of the client session the call comes from (a hash of it, never the
     * Mcp-Session-Id itself), so the agent's Activity view can tell clients apart. Sent only to agents that
     * announce the `activity` feature; absent for sessionless callers and from the existing remote.
     */
    client_session: z.string().min(1).max(64).optional(),
    /**
     * Extension: the protocol era of the client the call comes from, `modern` for a 2026-07-28 client (the
     * relay's modern front); absent for a 2025-era client and from the existing remote. An agent that reaches
     * a local server of both eras sends the call to it in this era (docs/protocol.md, "Eras"); other values
     * are read as absent, and agents that predate it ignore it.
     */
    client_era: z.string().max(32).optional(),
  })
  .refine((frame) => frame.mcp_server ?? frame.capability, {
    message: 'invoke needs mcp_server (or capability)',
  });
export type InvokeFrame = z.infer<typeof InvokeFrame>;

/** Extension: the client cancelled, or went away; the agent aborts the local request. */
export const CancelFrame = z.looseObject({
  type: z.literal('cancel'),
  request_id: z.string().min(1),
  reason: z.string().optional(),
});
export type CancelFrame = z.infer<typeof CancelFrame>;

/**
 * Extension: the relay accepted the registration; `endpoints` maps each announced server to its URL,
 * `max_frame_bytes` is the largest frame it takes (the agent fails a call whose result would not fit), and
 * `features` are the relay's extensions an agent may use (RELAY_FEATURES).
 */
export const RegisteredFrame = z.looseObject({
  type: z.literal('registered'),
  subject: z.string(),
  endpoints: z.record(z.string(), z.string()).optional(),
  max_frame_bytes: z.number().int().positive().optional(),
  features: z.array(z.string()).optional(),
});
export type RegisteredFrame = z.infer<typeof RegisteredFrame>;

/**
 * Extension: the client's answer to a `server_request`: a JSON-RPC response whose `id` is the
 * `server_request_id` (an error when the call's client cannot be asked, or did not answer before the call ended).
 */
export const ServerResponseFrame = z.looseObject({
  type: z.literal('server_response'),
  request_id: z.string().min(1),
  server_request_id: z.string().min(1),
  payload: JsonRpcMessage,
});
export type ServerResponseFrame = z.infer<typeof ServerResponseFrame>;

/**
 * Extension (issue 12): an MCP client asks for access to servers of the agent's subject, and the owner, signed
 * in on the relay's consent page, may answer from the app instead. The agent shows it and answers with
 * `consent_answer`. Sent only to agents that announce the `consent` feature (an app that can ask its user), by
 * relays that announce it too. Nothing secret: who asks (the client's own claims, and the host its answer
 * goes to), for which servers, and how long the relay waits (`timeout_ms`) before the page stops waiting.
 */
export const ConsentRequestFrame = z.looseObject({
  type: z.literal('consent_request'),
  /** The relay's id of this request (random; not the authorization request's). */
  consent_id: z.string().min(1).max(128),
  subject: z.string().min(1),
  /** The client's client_id (an https URL for a Client ID Metadata Document client). */
  client_id: z.string().min(1),
  /** The client's client_name, when it gave one (its own claim). */
  client_name: z.string().optional(),
  /** The client's client_uri, when it gave one (its own claim). */
  client_uri: z.string().optional(),
  /** Where the answer goes: the host (or private-use scheme) of the client's redirect_uri. */
  redirect_host: z.string(),
  /** The servers of `subject` it asks for. */
  servers: z.array(z.string().min(1)).min(1),
  /** How long the relay waits for the app's answer, in ms (at most a day); later answers are ignored. */
  timeout_ms: z.number().int().positive().max(86_400_000),
});
export type ConsentRequestFrame = z.infer<typeof ConsentRequestFrame>;

/**
 * Extension: a `consent_request` is over without the app's answer (answered on the relay's page, timed out, or
 * the authorization request ended): the app stops showing it. `outcome` says how it ended.
 */
export const ConsentClosedFrame = z.looseObject({
  type: z.literal('consent_closed'),
  consent_id: z.string().min(1).max(128),
  outcome: z.enum(['allowed', 'denied', 'timed-out']),
});
export type ConsentClosedFrame = z.infer<typeof ConsentClosedFrame>;

/**
 * `text` with its control characters (C0, DEL, C1) and bidirectional overrides replaced by U+FFFD, for showing
 * or logging what a remote party named itself (a client's `client_name`): a newline cannot forge a log line, an
 * escape sequence cannot drive a terminal, an override cannot reorder what the owner reads.
 */
export function printable(text: string): string {
  return text.replace(/[\p{Cc}\u202A-\u202E\u2066-\u2069]/gu, '\uFFFD');
}

/** Features a relay can announce in `registered.features`; an agent uses a feature only if announced. */
export const RELAY_FEATURES = ['server-requests', 'consent', 'stream-close'] as const;

export const RelayFrame = z.union([
  InvokeFrame,
  CancelFrame,
  RegisteredFrame,
  ServerResponseFrame,
  ConsentRequestFrame,
  ConsentClosedFrame,
]);
export type RelayFrame = z.infer<typeof RelayFrame>;

// ── size limits ──────────────────────────────────────────────────────────────────────────────────────────

/**
 * The largest JSON-RPC message (UTF-8 bytes) that crosses every hop: a local server's stdio line, the
 * payload of an invoke or result frame. A bigger one fails only its own call, with the size and this limit.
 */
export const MAX_MESSAGE_BYTES = 16 * 1024 * 1024;

/** The largest relay ⇄ agent frame: one message of MAX_MESSAGE_BYTES plus room for the frame's envelope. */
export const MAX_FRAME_BYTES = MAX_MESSAGE_BYTES + 64 * 1024;

/** A byte count as people read it: "17.3 MiB", "512 KiB", "900 bytes". */
export function formatBytes(bytes: number): string {
  if (bytes >= 1024 * 1024) return `${(bytes / (1024 * 1024)).toFixed(1).replace(/\.0$/, '')} MiB`;
  if (bytes >= 1024) return `${(bytes / 1024).toFixed(1).replace(/\.0$/, '')} KiB`;
  return `${bytes} bytes`;
}

// ── close codes (compat) ─────────────────────────────────────────────────────────────────────────────────
export const CLOSE = {
  /** Another connection registered the same subject. */
  superseded: 1012,
  /** A frame broke the protocol. */
  policy: 1008,
  /** A frame was larger than allowed. */
  tooBig: 1009,
  /** The token was refused (also: HTTP 401/403 on the upgrade). */
  unauthorized: 4401,
  /** Subject mismatch or capability scope violation. */
  forbidden: 4403,
} as const;

/** Protocol versions the gateway accepts from clients, newest first. */
export const SUPPORTED_PROTOCOL_VERSIONS = ['2025-11-25', '2025-06-18', '2025-03-26', '2024-11-05'] as const;
