// The local endpoint for the CLI: the relay embedded on 127.0.0.1, with DNS-rebinding protection (Host must
// be a loopback name for its port) and a bearer token the gateway keeps in its runtime state.
import { RelayServer } from '../../src-relay/relay-server.js';
import type { LocalEndpointFactory } from '../core/bridge/local-endpoint.js';
import type { Logger } from '../core/logging/log-hub.js';

const TOKEN_MINUTES = 60 * 24 * 365;

export function localRelayFactory(log: Logger): LocalEndpointFactory {
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
      close: () => relay.close(),
    };
  };
}
