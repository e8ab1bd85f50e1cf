// Our gateway agent pointed at any /connect URL (a legacy remote, a proxy, a port nobody listens on), with
// a token made the way the existing remote makes them: HS256 over {sub, role, capabilities, exp}, no iss,
// aud, iat or jti (COMPAT.md, "JWT claims").
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { SignJWT } from 'jose';

import { Gateway, type GatewayState } from '../../src-main/core/gateway.js';
import { LogHub } from '../../src-main/core/logging/log-hub.js';

/** A token exactly like the existing remote's `/manage/jwt/issue` hands out. */
export function legacyToken(
  secret: string,
  claims: { sub: string; capabilities?: string[]; role?: string; expiresInSeconds?: number },
): Promise<string> {
  return new SignJWT({ role: claims.role ?? 'agent', capabilities: claims.capabilities ?? ['*'] })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(claims.sub)
    .setExpirationTime(Math.floor(Date.now() / 1000) + (claims.expiresInSeconds ?? 3600))
    .sign(new TextEncoder().encode(secret));
}

export interface GatewayAgent {
  gateway: Gateway;
  logs: LogHub;
  /** Every link state the gateway went through, in order, with the time it was entered. */
  states: { at: number; state: GatewayState }[];
  close(): Promise<void>;
}

/** Starts a gateway whose relay is `wsUrl` (REMOTE_WEBSOCKET_URL), serving `servers` (mcp.json entries). */
export async function startGatewayAt(options: {
  wsUrl: string;
  token: string;
  servers?: Record<string, unknown>;
  env?: Record<string, string>;
  pingIntervalMs?: number;
  /** Reload mcp.json on change (default false). */
  watch?: boolean;
}): Promise<GatewayAgent> {
  const dir = await mkdtemp(join(tmpdir(), 'mcpgw-agent-'));
  const config = join(dir, 'mcp.json');
  await writeFile(config, JSON.stringify({ mcpServers: options.servers ?? {} }));
  const logs = new LogHub({ level: 'debug' });
  const gateway = await Gateway.create({
    cwd: dir,
    env: {
      REMOTE_WEBSOCKET_URL: options.wsUrl,
      AGENT_JWT: options.token,
      RECONNECT_INITIAL_DELAY_SECONDS: '0.2',
      RECONNECT_MAX_DELAY_SECONDS: '1',
      ...options.env,
    },
    configPath: config,
    userDirs: { config: join(dir, 'user'), log: join(dir, 'log') },
    logs,
    watch: options.watch ?? false,
    pingIntervalMs: options.pingIntervalMs,
  });
  const states: GatewayAgent['states'] = [];
  gateway.on('state', (state) => states.push({ at: Date.now(), state }));
  await gateway.start();
  return {
    gateway,
    logs,
    states,
    async close() {
      await gateway.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
