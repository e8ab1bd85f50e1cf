// The local endpoint: when no remote is configured, the fronts embed the relay on 127.0.0.1 and the agent
// attaches to it in-process (issue 11), so every local MCP client gets every configured server with no remote
// at all. The core cannot import the relay (DESIGN.md layers), so the fronts hand in a factory, and the
// in-process link's shapes are declared here structurally (src-relay/agent-connection.ts has the relay's).
import type { AgentFrame, RelayFrame } from '../../../src-shared/wire.js';

/**
 * The agent's end of the in-process link, which the BridgeClient hands to the relay: frames arrive as the
 * objects the relay built (never serialised), each in its own microtask, in order.
 */
export interface InProcessAgent {
  /** A relay → agent frame: `registered` first, then invoke, cancel, server_response. */
  receive(frame: RelayFrame): void;
  /** The link ended, whichever side ended it, with a WebSocket close code (CLOSE in wire.ts) and reason. */
  closed(code: number, reason: string): void;
}

/** The relay's end of the in-process link, as the agent holds it. */
export interface InProcessLink {
  /** An agent → relay frame: `register` first, then result, notification, servers, server_request. */
  send(frame: AgentFrame): void;
  /** Ends the link as closing a /connect WebSocket would; the agent's `closed` follows with the same code. */
  close(code: number, reason: string): void;
}

/** The link, or the refusal a /connect upgrade would get: 401 (bad or missing token), 403 (not an agent token). */
export type AttachResult = { ok: true; link: InProcessLink } | { ok: false; status: number; error: string };

/** Attaches an agent in-process with an agent token of the relay (LocalEndpoint.attachAgent). */
export type AttachAgent = (token: string, agent: InProcessAgent) => Promise<AttachResult>;

export interface LocalEndpoint {
  /** http://127.0.0.1:<port>/ */
  url: URL;
  /**
   * A token for `subject` with every capability, signed with `secret`: role `agent` for the gateway's own
   * registration (in-process, or on /connect), role `client` for MCP clients (refused on /connect).
   */
  issueToken(subject: string, role: 'agent' | 'client'): Promise<string>;
  /** The role of `token` when it is valid here (signature, expiry); undefined when it is not. */
  roleOf(token: string): Promise<string | undefined>;
  /** Revokes a token signed here, at once; false for one it did not sign. In memory only (see Gateway). */
  revoke(token: string): Promise<boolean>;
  /**
   * Attaches the gateway's agent in-process: the frames and rules of /connect (docs/protocol.md), handed over
   * as objects instead of JSON text over a loopback WebSocket.
   */
  attachAgent: AttachAgent;
  close(): Promise<void>;
}

export interface LocalEndpointOptions {
  /** Preferred port; when it is taken the endpoint uses a free one and says so. */
  port: number;
  secret: string;
  requestTimeoutMs: number;
  /** Browser origins allowed besides pages on this machine (LOCAL_ALLOWED_ORIGINS). */
  allowedOrigins?: string[];
}

export type LocalEndpointFactory = (options: LocalEndpointOptions) => Promise<LocalEndpoint>;
