// The relay embedded on 127.0.0.1 as a front's local endpoint (used by the CLI and the Electron shell), with
// DNS-rebinding protection (Host must be a loopback name for its port) and a bearer token the gateway keeps
// in its runtime state. The relay cannot import the core (DESIGN.md layers), so the shapes here are
// structural: they match core/bridge/local-endpoint.ts's LocalEndpointFactory, which the type checker
// verifies where a front hands this factory to the Gateway.
import type { AttachResult, InProcessAgent } from './agent-connection.js';
import type { RelayLogger } from './relay-log.js';
import { RelayServer } from './relay-server.js';
import type { TokenRole } from './token-authority.js';

const TOKEN_MINUTES = 60 * 24 * 365;

/** What the gateway asks of its local endpoint (core's LocalEndpointOptions). */
export interface EmbeddedRelayOptions {
  /** Preferred port on 127.0.0.1; when it is taken the relay uses a free one and says so. 0: any free port. */
  port: number;
  /** HS256 secret the relay signs and verifies its tokens with. */
  secret: string;
  /** How long a forwarded MCP request may wait for the agent's answer, in milliseconds. */
  requestTimeoutMs: number;
  /** Browser origins allowed besides pages on this machine (LOCAL_ALLOWED_ORIGINS). */
  allowedOrigins?: string[];
}

/** The running embedded relay (core's LocalEndpoint). */
export interface EmbeddedRelay {
  /** http://127.0.0.1:<port>/ */
  url: URL;
  /** A token for `subject` with every capability, valid one year: `agent` for /connect, `client` for MCP. */
  issueToken(subject: string, role: TokenRole): Promise<string>;
  /** The role of `token` when it is valid here; undefined when it is not. */
  roleOf(token: string): Promise<string | undefined>;
  /**
   * Revokes a token signed here, at once (open sessions included). False for one it did not sign. Kept in
   * memory only: the gateway replays the revocations it keeps when it starts the endpoint again.
   */
  revoke(token: string): Promise<boolean>;
  /**
   * Attaches the gateway's own agent in-process (issue 11): /connect's frames and rules without a loopback
   * WebSocket. `token` is an agent token from `issueToken`; a refusal says why as /connect's upgrade would.
   */
  attachAgent(token: string, agent: InProcessAgent): Promise<AttachResult>;
  close(): Promise<void>;
}

/**
 * A factory that starts the relay on 127.0.0.1 for a gateway with no remote relay configured. A busy
 * preferred port falls back to a free one with a warning on `log`; any other listen error is thrown.
 */
export function localRelayFactory(
  log: RelayLogger,
): (options: EmbeddedRelayOptions) => Promise<EmbeddedRelay> {
  return async ({ port, secret, requestTimeoutMs, allowedOrigins }) => {
    const create = async (listenPort: number) => {
      // On 127.0.0.1 the relay accepts only a loopback Host with its port (DNS-rebinding protection).
      const relay = new RelayServer({
        host: '127.0.0.1',
        port: listenPort,
        jwtSecret: secret,
        requestTimeoutMs,
        allowLoopbackOrigins: true,
        // A refused page is told the setting that `run` reads (the standalone relay's is ALLOWED_ORIGINS).
        allowedOrigins,
        allowedOriginsSetting: 'LOCAL_ALLOWED_ORIGINS',
        log,
      });
      return { relay, url: await relay.listen() };
    };
    let started: Awaited<ReturnType<typeof create>>;
    try {
      started = await create(port);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE' || port === 0) throw error;
      started = await create(0);
      log.warn(
        `port ${port} is in use; the local endpoint uses ${started.url.port} instead (set LOCAL_RELAY_PORT to choose)`,
      );
    }
    const { relay, url } = started;
    return {
      url,
      issueToken: (subject, role) => relay.tokens.issue(subject, ['*'], TOKEN_MINUTES, role),
      roleOf: async (token) => {
        const verified = await relay.tokens.verify(token);
        return verified.ok ? (verified.claims.role ?? '') : undefined;
      },
      attachAgent: (token, agent) => relay.attachAgent(token, agent),
      revoke: (token) => relay.tokens.revoke(token),
      close: () => relay.close(),
    };
  };
}
