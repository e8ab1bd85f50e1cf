// `login`, `logout`, `whoami`, `client-token`.
import { decodeJwt } from 'jose';
import open from 'open';

import { createClientToken } from '../control/client-access.js';
import { login, logout } from '../core/auth/login.js';
import { StateFileTokenStore } from '../core/auth/token-store.js';
import { type ResolvedSettings, resolveSettings } from '../core/config/settings.js';
import { GatewayError } from '../core/errors.js';
import { cliLogs, type CommonOptions } from './cli-support.js';
import { EXIT } from './exit-codes.js';

type PathOptions = Pick<CommonOptions, 'config' | 'state'>;
const out = (line: string) => process.stdout.write(`${line}\n`);

/** The gateway's settings as the auth commands read them (`--relay` overrides REMOTE_SERVER_BASE_URL). */
export const resolveAuthSettings = (options: PathOptions & { relay?: string }) =>
  resolveSettings({
    cwd: process.cwd(),
    env: process.env,
    configPath: options.config,
    statePath: options.state,
    flags: options.relay ? { remoteServerBaseUrl: options.relay } : {},
  });

/** The relay's https base URL: REMOTE_SERVER_BASE_URL, else derived from REMOTE_WEBSOCKET_URL. */
export function relayOf(settings: ResolvedSettings): URL {
  const { remoteServerBaseUrl, remoteWebsocketUrl } = settings.values;
  const base = remoteServerBaseUrl ?? remoteWebsocketUrl?.replace(/^ws/, 'http').replace(/\/connect\/?$/, '');
  if (!base) {
    throw new GatewayError(
      'usage',
      'no relay is configured: pass --relay https://relay.example.com, or set REMOTE_SERVER_BASE_URL',
    );
  }
  return new URL(base);
}

function expiry(token: string): string {
  try {
    const { exp } = decodeJwt(token);
    return exp ? new Date(exp * 1000).toISOString() : 'no expiry';
  } catch {
    return 'unknown (not a JWT)';
  }
}

export async function loginCommand(
  options: PathOptions & {
    relay?: string;
    subject?: string;
    callbackPort: number;
    browser: boolean;
    expiryMinutes?: number;
  },
): Promise<void> {
  const settings = await resolveAuthSettings(options);
  const relay = relayOf(settings);
  const logs = cliLogs('error');
  const tokens = await login({
    relay,
    subject:
      options.subject ??
      (settings.origins.subject.source === 'derived' ? undefined : settings.values.subject),
    capabilities: settings.values.capabilities,
    expiryMinutes: options.expiryMinutes,
    callbackPort: options.callbackPort,
    openUrl: async (url) => {
      if (options.browser) await open(url.href);
    },
    say: out,
    log: logs.logger('login'),
  });
  const store = new StateFileTokenStore(settings.paths.state.path, logs.logger('tokens'));
  await store.save(tokens);
  const who = tokens.subject ?? decodeJwt(tokens.token).sub ?? 'unknown';
  out(
    `Signed in to ${relay.origin} as "${who}"${tokens.email ? ` (${tokens.email})` : ''}; the token is valid until ${expiry(tokens.token)}.`,
  );
  out(`Tokens are kept in ${settings.paths.state.path} (mode 600).`);
  if (settings.origins.agentJwt.source === 'environment' || settings.origins.agentJwt.source === '.env') {
    out(
      `Note: AGENT_JWT is also set in ${settings.origins.agentJwt.source === '.env' ? '.env' : 'the environment'}, and that one wins; unset it to use this sign-in.`,
    );
  }
}

export async function logoutCommand(options: PathOptions): Promise<void> {
  const settings = await resolveAuthSettings(options);
  const store = new StateFileTokenStore(settings.paths.state.path);
  const tokens = await store.load();
  if (!tokens) {
    out(`Not signed in (no token in ${settings.paths.state.path}).`);
    return;
  }
  const relay = tokens.relay ? new URL(tokens.relay) : relayOf(settings);
  const problems = await logout(relay, tokens);
  await store.clear();
  out(`Signed out: the tokens were removed from ${settings.paths.state.path}.`);
  if (problems.length)
    out(`The relay could not revoke them (${problems.join('; ')}); they stay valid there until they expire.`);
  else out(`The relay at ${relay.origin} revoked them.`);
}

export async function whoamiCommand(options: PathOptions & { json?: boolean }): Promise<void> {
  const settings = await resolveAuthSettings(options);
  const token = settings.values.agentJwt;
  const stored = await new StateFileTokenStore(settings.paths.state.path).load();
  if (!token) {
    out('Not signed in: run `mcpassistant-gateway login`, or set AGENT_JWT.');
    process.exitCode = EXIT.failure;
    return;
  }
  const info = {
    subject: settings.values.subject,
    relay: settings.values.remoteServerBaseUrl ?? settings.values.remoteWebsocketUrl ?? null,
    expires: expiry(token),
    capabilities: settings.values.capabilities ?? null,
    email: stored?.email ?? null,
    auth_mode: stored?.authMode ?? null,
    token_from:
      settings.origins.agentJwt.source === 'state'
        ? settings.paths.state.path
        : settings.origins.agentJwt.source,
  };
  if (options.json) {
    out(JSON.stringify(info, null, 2));
    return;
  }
  out(`Subject:      ${info.subject}`);
  out(`Relay:        ${info.relay ?? '(none configured)'}`);
  out(`Token:        valid until ${info.expires} (from ${info.token_from})`);
  if (info.capabilities) out(`Capabilities: ${info.capabilities.join(', ')}`);
  if (info.email) out(`Signed in as: ${info.email} (${info.auth_mode ?? 'oauth'})`);
}

/** Prints a client token for MCP clients of this gateway's relay (never the agent token). */
export async function clientTokenCommand(
  options: PathOptions & { days: number; servers?: string; name?: string },
): Promise<void> {
  const settings = await resolveAuthSettings(options);
  const token = settings.values.agentJwt;
  if (!token && !settings.values.remoteServerBaseUrl && !settings.values.remoteWebsocketUrl) {
    // No relay at all: the header clients need is the local endpoint's, which `run` prints at each start.
    throw new GatewayError(
      'usage',
      'no relay is configured, so there is no relay client token: `mcpassistant-gateway run` serves the local ' +
        'endpoint and prints the header its clients send; for a relay, run `mcpassistant-gateway login --relay URL`',
    );
  }
  if (!token) {
    throw new GatewayError('usage', 'not signed in: run `mcpassistant-gateway login`, or set AGENT_JWT');
  }
  if (options.days > 365) throw new GatewayError('usage', `--days: at most 365 (got ${options.days})`);
  const relay = relayOf(settings);
  const servers = options.servers
    ?.split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  // Remembered in the runtime state (as the window's are), for `clients list` and `clients revoke`.
  const name = options.name?.trim() || `CLI ${new Date().toISOString().slice(0, 16).replace('T', ' ')}`;
  const issued = await createClientToken(settings.paths.state.path, relay, token, {
    name,
    servers,
    days: options.days,
  });
  out(`Authorization: Bearer ${issued.token}`);
  process.stderr.write(
    `A client token "${name}" for "${issued.subject}" on ${relay.origin}, for ${issued.servers.join(', ')}, valid until ${issued.expires_at}. ` +
      'It calls the endpoints only; it cannot connect as the agent. ' +
      `Revoke it with \`mcpassistant-gateway clients revoke ${issued.id}\`.\n`,
  );
}
