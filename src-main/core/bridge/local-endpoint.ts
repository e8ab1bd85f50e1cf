// The local endpoint: when no remote is configured, the fronts embed the relay on 127.0.0.1 and the agent
// connects to it, so every local MCP client gets every configured server with no remote at all. The core
// cannot import the relay (DESIGN.md layers), so the fronts hand in a factory.

export interface LocalEndpoint {
  /** http://127.0.0.1:<port>/ */
  url: URL;
  /**
   * A token for `subject` with every capability, signed with `secret`: role `agent` for the gateway's own
   * registration on /connect, role `client` for MCP clients (refused on /connect).
   */
  issueToken(subject: string, role: 'agent' | 'client'): Promise<string>;
  /** The role of `token` when it is valid here (signature, expiry); undefined when it is not. */
  roleOf(token: string): Promise<string | undefined>;
  close(): Promise<void>;
}

export interface LocalEndpointOptions {
  /** Preferred port; when it is taken the endpoint uses a free one and says so. */
  port: number;
  secret: string;
  requestTimeoutMs: number;
}

export type LocalEndpointFactory = (options: LocalEndpointOptions) => Promise<LocalEndpoint>;
