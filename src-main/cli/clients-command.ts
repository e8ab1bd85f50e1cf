// `clients list|add|revoke` (issue 12): one CLI for everything that gives an MCP client access to this agent —
// the client tokens created here (remembered in the runtime state, control/client-access.ts) and the OAuth
// clients (Claude or ChatGPT connectors, Claude Code…) the owner allowed through the relay's consent page
// (GET /manage/client-grants, POST /manage/client-grants/revoke with the agent token).
import type { ClientAccess, ClientGrant, ClientToken } from '../../src-shared/control.js';
import { printable } from '../../src-shared/wire.js';
import {
  createClientToken,
  listClientGrants,
  loadClientTokens,
  publicClientToken,
  relayManage,
  revokeClientGrant,
  revokeClientToken,
} from '../control/client-access.js';
import { McpConfigFile } from '../core/config/mcp-config.js';
import type { ResolvedSettings } from '../core/config/settings.js';
import { errorMessage, GatewayError } from '../core/errors.js';
import { LOCAL_SUBJECT } from '../core/gateway.js';
import { relayOf, resolveAuthSettings } from './auth-commands.js';
import type { CommonOptions } from './cli-support.js';

type PathOptions = Pick<CommonOptions, 'config' | 'state'>;
const out = (line: string) => process.stdout.write(`${line}\n`);
const CLI = 'mcpassistant-gateway';

/** The relay and agent token for its /manage routes; a usage error naming the fix when either is missing. */
function relayAccess(settings: ResolvedSettings): { relay: URL; agentToken: string } {
  const relay = relayOf(settings);
  const agentToken = settings.values.agentJwt;
  if (!agentToken) throw new GatewayError('usage', `not signed in: run \`${CLI} login\`, or set AGENT_JWT`);
  return { relay, agentToken };
}

const hasRelay = (settings: ResolvedSettings) =>
  Boolean(settings.values.remoteServerBaseUrl ?? settings.values.remoteWebsocketUrl);

/**
 * Who has access (`clients:list`'s shape, src-shared/control.ts ClientAccess): the client tokens created here
 * and the OAuth clients allowed on the relay. Where OAuth clients cannot be listed (no relay, not signed in,
 * a relay without sign-in, a relay that cannot be reached), `grants` is null and `grantsNote` says why.
 */
async function clientAccess(settings: ResolvedSettings): Promise<ClientAccess> {
  const tokens = (await loadClientTokens(settings.paths.state.path)).map((e) => publicClientToken(e));
  const subject = settings.values.subject ?? null;
  if (!hasRelay(settings))
    return {
      relay: null,
      local: true,
      subject,
      tokens,
      grants: null,
      grantsNote:
        'No relay is configured: the local endpoint has no OAuth sign-in, its clients use a client token or the header `run` prints.',
    };
  const relay = relayOf(settings);
  const agentToken = settings.values.agentJwt;
  if (!agentToken)
    return {
      relay: relay.origin,
      subject,
      tokens,
      grants: null,
      grantsNote: `Not signed in, so the OAuth clients cannot be listed: run \`${CLI} login\`.`,
    };
  const listed = await listClientGrants(relay, agentToken);
  return {
    relay: relay.origin,
    subject,
    tokens,
    grants: 'grants' in listed ? listed.grants : null,
    ...('note' in listed ? { grantsNote: listed.note } : {}),
  };
}

function tokenLines(t: ClientToken): string[] {
  const state = t.expired ? `expired ${t.expiresAt}` : `valid until ${t.expiresAt}`;
  return [
    `  ${printable(t.name)} (id ${t.id})`,
    `    servers: ${t.servers.join(', ')} of "${t.subject}" at ${t.relay}; ${state}`,
  ];
}

function grantLines(g: ClientGrant): string[] {
  // A client names itself: no escape sequence of its name reaches the terminal.
  const name = printable(
    g.clientName ? `${g.clientName} (client_id ${g.clientId})` : `client_id ${g.clientId}`,
  );
  return [`  ${name}`, `    servers: ${g.servers.join(', ')}; allowed ${g.grantedAt}`];
}

/**
 * `clients [list] [--json]`: the client tokens created here (never their secret) and the OAuth clients
 * allowed on the relay. `--json` prints one ClientAccess object. Never fails for want of OAuth clients: a
 * note says why they are not listed.
 */
export async function clientsListCommand(options: PathOptions & { json?: boolean }): Promise<void> {
  const settings = await resolveAuthSettings(options);
  const access = await clientAccess(settings);
  if (options.json) {
    out(JSON.stringify(access, null, 2));
    return;
  }
  out(`Client tokens created here (${access.tokens.length}):`);
  if (!access.tokens.length) out(`  none: \`${CLI} clients add NAME\` creates one.`);
  for (const t of access.tokens) tokenLines(t).forEach(out);
  if (access.grants) {
    out(
      `OAuth clients allowed on "${access.subject ?? 'this agent'}" at ${access.relay} (${access.grants.length}):`,
    );
    if (!access.grants.length)
      out('  none: a client asks when it first connects, and you answer on the consent page.');
    for (const g of access.grants) grantLines(g).forEach(out);
  } else out(`OAuth clients: ${access.grantsNote ?? 'none'}`);
  if (access.tokens.length || access.grants?.length)
    out(`Revoke one with \`${CLI} clients revoke <id or client_id>\`, or all with --all.`);
}

/** The names of the servers in mcp.json, or undefined when it cannot be read (the agent may run elsewhere). */
async function configuredServers(settings: ResolvedSettings): Promise<string[] | undefined> {
  try {
    const config = await new McpConfigFile(settings.paths.config.path, process.env).load();
    return [...config.servers.keys()];
  } catch {
    return undefined;
  }
}

/**
 * `clients add <name> [--server S …] [--servers a,b] [--days N] [--json]`: asks the relay for a client token
 * for those servers (default every server the agent token allows), remembers it, and prints it once with the
 * endpoint URLs and a ready `mcpServers` config. `--json`: `{token: ClientToken, header, endpoints, config}`.
 * Throws GatewayError `usage` for a bad name, days or server (naming the configured ones), or no sign-in.
 */
export async function clientsAddCommand(
  name: string,
  options: PathOptions & { server?: string[]; servers?: string; days: number; json?: boolean },
): Promise<void> {
  const settings = await resolveAuthSettings(options);
  if (!hasRelay(settings))
    throw new GatewayError(
      'usage',
      `no relay is configured, so there is no relay client token: \`${CLI} run\` serves the local endpoint and prints ` +
        `the header its clients send (\`${CLI} ui\` → Clients creates per-client ones); for a relay, run \`${CLI} login --relay URL\``,
    );
  const { relay, agentToken } = relayAccess(settings);
  const trimmed = name.trim();
  if (!trimmed)
    throw new GatewayError('usage', 'name the client token, e.g. `clients add "laptop Claude Code"`');
  if (!Number.isInteger(options.days) || options.days < 1 || options.days > 365)
    throw new GatewayError('usage', `--days: a whole number from 1 to 365 (got ${options.days})`);
  const wanted = [...(options.server ?? []), ...(options.servers?.split(',') ?? [])]
    .map((s) => s.trim())
    .filter(Boolean);
  const configured = await configuredServers(settings);
  if (configured && wanted.length) {
    const unknown = wanted.filter((s) => s !== '*' && !configured.includes(s));
    if (unknown.length)
      throw new GatewayError(
        'usage',
        `unknown server${unknown.length > 1 ? 's' : ''} ${unknown.map((s) => `"${s}"`).join(', ')}: ` +
          `${settings.paths.config.path} has ${configured.length ? configured.map((s) => `"${s}"`).join(', ') : 'no servers'}`,
      );
  }
  const stored = await createClientToken(settings.paths.state.path, relay, agentToken, {
    name: trimmed,
    servers: wanted.length ? [...new Set(wanted)] : undefined,
    days: options.days,
  });
  const header = `Bearer ${stored.token}`;
  const names = stored.servers.includes('*') ? (configured ?? []) : stored.servers;
  const base = `${stored.relay}/${encodeURIComponent(stored.subject)}/`;
  const endpoints = Object.fromEntries(
    names.map((server) => [server, new URL(`${encodeURIComponent(server)}/mcp`, base).href]),
  );
  const config = {
    mcpServers: Object.fromEntries(
      Object.entries(endpoints).map(([server, url]) => [server, { url, headers: { Authorization: header } }]),
    ),
  };
  const token = publicClientToken(stored);
  if (options.json) {
    out(JSON.stringify({ token, header, endpoints, config }, null, 2));
    return;
  }
  out(
    `Created the client token "${printable(token.name)}" (id ${token.id}) for "${token.subject}" on ${token.relay}: ` +
      `servers ${token.servers.join(', ')}, valid until ${token.expiresAt}. It is shown only now.`,
  );
  out(`Authorization: ${header}`);
  if (names.length) {
    out('Endpoints:');
    for (const [server, url] of Object.entries(endpoints)) out(`  ${server}  ${url}`);
    out('Client config (mcpServers, as Claude Code, Cursor and others read it):');
    out(JSON.stringify(config, null, 2));
  } else
    out(
      `Endpoints: ${base}<server>/mcp for each server the agent serves (${settings.paths.config.path} has none here).`,
    );
  out(
    `It calls the endpoints only; it cannot connect as the agent. Revoke it with \`${CLI} clients revoke ${token.id}\`.`,
  );
}

/** Revokes one remembered token; a local-endpoint token without a relay is refused with the fix. */
async function revokeToken(
  settings: ResolvedSettings,
  id: string,
  name: string,
  subject: string,
): Promise<void> {
  if (subject === LOCAL_SUBJECT && !hasRelay(settings))
    throw new GatewayError(
      'usage',
      `"${name}" is a token of the local endpoint, which only the running gateway can revoke: open \`${CLI} ui\` → Clients and revoke it there`,
    );
  await revokeClientToken(settings.paths.state.path, id);
}

/**
 * `clients revoke <id> | --all`: an argument that is the id (or name) of a client token created here revokes
 * that token at its relay; anything else is taken as an OAuth client's `client_id`, whose grants end.
 * `--all` revokes every client token created here and every OAuth client's grants. Clients are refused at
 * once. Throws GatewayError `usage` (exit 2) for an unknown id or bad arguments, `auth-failed` (exit 1) when
 * the relay cannot be reached or refuses.
 */
export async function clientsRevokeCommand(
  id: string | undefined,
  options: PathOptions & { all?: boolean },
): Promise<void> {
  if (!id && !options.all)
    throw new GatewayError(
      'usage',
      `name what to revoke: a client token's id or an OAuth client's client_id from \`${CLI} clients list\`, or pass --all`,
    );
  if (id && options.all) throw new GatewayError('usage', 'give an id or --all, not both');
  const settings = await resolveAuthSettings(options);
  const tokens = await loadClientTokens(settings.paths.state.path);
  if (options.all) return revokeAll(settings, tokens);

  const byId = tokens.find((t) => t.id === id);
  const byName = tokens.filter((t) => t.name === id);
  if (!byId && byName.length > 1)
    throw new GatewayError(
      'usage',
      `${byName.length} client tokens are named "${id}": revoke them by id (${byName.map((t) => t.id).join(', ')})`,
    );
  const token = byId ?? byName[0];
  if (token) {
    await revokeToken(settings, token.id, token.name, token.subject);
    out(
      `Revoked the client token "${printable(token.name)}" (id ${token.id}): clients that send it are refused from now on.`,
    );
    return;
  }
  if (!hasRelay(settings) || !settings.values.agentJwt)
    throw new GatewayError(
      'usage',
      `no client token "${id}" was created here (see \`${CLI} clients list\`)` +
        (hasRelay(settings) ? `; to revoke an OAuth client, sign in first: \`${CLI} login\`` : ''),
    );
  const { relay, agentToken } = relayAccess(settings);
  let revoked: number;
  try {
    revoked = await revokeClientGrant(relay, agentToken, id!);
  } catch (error) {
    if (error instanceof GatewayError && error.code === 'usage')
      throw new GatewayError(
        'usage',
        `no client token or OAuth client "${id}" is known here (see \`${CLI} clients list\`)`,
      );
    if ((error as { status?: number }).status === 404)
      throw new GatewayError(
        'usage',
        `no client token "${id}" was created here, and the relay at ${relay.origin} has no OAuth clients (no sign-in there)`,
      );
    throw error;
  }
  out(
    `Revoked ${revoked} grant${revoked === 1 ? '' : 's'} of the OAuth client "${id}": its tokens are refused from now on, and it must ask you again.`,
  );
}

/** `clients revoke --all`: every token created here, then every OAuth client; reports what failed at the end. */
async function revokeAll(
  settings: ResolvedSettings,
  tokens: Awaited<ReturnType<typeof loadClientTokens>>,
): Promise<void> {
  const failed: string[] = [];
  let done = 0;
  for (const t of tokens) {
    try {
      await revokeToken(settings, t.id, t.name, t.subject);
      done++;
    } catch (error) {
      failed.push(`"${t.name}" (${t.id}): ${errorMessage(error)}`);
    }
  }
  out(`Revoked ${done} client token${done === 1 ? '' : 's'}.`);
  if (hasRelay(settings) && settings.values.agentJwt) {
    const { relay, agentToken } = relayAccess(settings);
    try {
      // One call ends every grant on the subject (the relay's revoke route without a client_id).
      const json = await relayManage(relay, '/manage/client-grants/revoke', { bearer: agentToken, body: {} });
      const grants = Number(json['revoked'] ?? 0);
      out(`Revoked ${grants} OAuth client grant${grants === 1 ? '' : 's'}.`);
    } catch (error) {
      if ((error as { status?: number }).status === 404)
        out(`OAuth clients: none, the relay at ${relay.origin} has no MCP client sign-in.`);
      else failed.push(`the OAuth clients: ${errorMessage(error)}`);
    }
  } else
    out(
      `OAuth clients: none were revoked (${hasRelay(settings) ? `not signed in: run \`${CLI} login\`` : 'no relay is configured'}).`,
    );
  if (failed.length)
    throw new GatewayError('auth-failed', `could not revoke ${failed.length}: ${failed.join('; ')}`);
}
