// The composition root of the core: settings, mcp.json (created on first run, watched), the log hub, the
// server manager, and the bridge to a relay — the configured remote, or the local endpoint a front hands in.
// The CLI and the Electron app each build one Gateway and attach their front-end.
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';

import type { Notification } from '@modelcontextprotocol/sdk/types.js';
import { decodeJwt } from 'jose';

import type { ServerSummary } from '../../src-shared/wire.js';
import { refresh } from './auth/login.js';
import { StateFileTokenStore, type TokenStore } from './auth/token-store.js';
import { ActivityLog } from './bridge/activity-log.js';
import { BridgeClient, type BridgeState } from './bridge/bridge-client.js';
import { ConsentRequests } from './bridge/consent-requests.js';
import { Dispatcher } from './bridge/dispatcher.js';
import type { AttachAgent, LocalEndpoint, LocalEndpointFactory } from './bridge/local-endpoint.js';
import { type ConfigWatcher, watchFile } from './config/config-watcher.js';
import { JsonFile } from './config/json-file.js';
import { editJsonText, parseJsonText } from './config/json-text.js';
import { McpConfigFile } from './config/mcp-config.js';
import {
  readState,
  type ResolvedSettings,
  resolveSettings,
  type SettingsInputs,
  subjectFromToken,
} from './config/settings.js';
import { errorMessage, GatewayError } from './errors.js';
import type { Logger, LogHub } from './logging/log-hub.js';
import type { BackoffOptions, ServerStatus } from './servers/managed-server.js';
import { ServerManager } from './servers/server-manager.js';

const pkg = JSON.parse(
  readFileSync(new URL('../../package.json', import.meta.url.replace('/dist/', '/')), 'utf8'),
) as {
  name: string;
  version: string;
};
export const PRODUCT = { name: pkg.name, version: pkg.version } as const;

/** Why the gateway re-registers with the relay on its own: fronts keep quiet about that reconnect. */
export const SERVERS_CHANGED = 'the set of servers changed';

/** The subject of the local endpoint's agent. */
export const LOCAL_SUBJECT = 'local';

/** The runtime state's key for the local endpoint's revoked client tokens: `[{token, expires_at}]`. */
export const LOCAL_REVOKED_KEY = 'local_revoked_client_tokens';

/** The well-formed entries of LOCAL_REVOKED_KEY in a parsed runtime state (the file is hand-editable). */
function localRevocations(state: unknown): { token: string; expires_at: string }[] {
  const list = (state as Record<string, unknown> | null)?.[LOCAL_REVOKED_KEY];
  if (!Array.isArray(list)) return [];
  return list.filter(
    (r): r is { token: string; expires_at: string } =>
      typeof r === 'object' &&
      r !== null &&
      typeof (r as Record<string, unknown>)['token'] === 'string' &&
      typeof (r as Record<string, unknown>)['expires_at'] === 'string',
  );
}

/** The state of the gateway's link to a relay, for fronts to render. */
export type GatewayState =
  | { state: 'stopped' }
  | { state: 'starting' }
  | { state: 'connecting'; attempt: number; nextRetryAt?: number; lastError?: string }
  | {
      state: 'connected';
      since: number;
      relay: string;
      subject: string;
      endpoints: Record<string, string>;
      local: boolean;
    }
  | { state: 'needs-login'; reason: string }
  | { state: 'error'; reason: string };

/** What happened to mcp.json, for fronts to say (issue 8.12: a fixed file is applied with a word). */
export type ConfigEvent =
  | { kind: 'created'; path: string; workingDirectory: string }
  | { kind: 'applied'; path: string; recovered: boolean }
  | { kind: 'invalid'; path: string; error: string }
  | { kind: 'warning'; path: string; message: string };

export interface GatewayOptions extends SettingsInputs {
  logs: LogHub;
  backoff?: BackoffOptions;
  startTimeoutMs?: number;
  /** Reload mcp.json when it changes. Default true. */
  watch?: boolean;
  /** Embeds a relay on 127.0.0.1 when no remote is configured (the CLI and app pass one). */
  localEndpoint?: LocalEndpointFactory;
  /** Where signed-in tokens live (default: the runtime state file, as the CLI keeps them). */
  tokenStore?: TokenStore;
  /** Liveness ping interval towards the relay (default 20 s). */
  pingIntervalMs?: number;
  /**
   * A front can ask the user (the desktop app, the web host's window): the agent announces the `consent`
   * feature and the relay's consent requests land in `consent` (issue 12). Default false: a headless agent
   * leaves consent to the relay's page.
   */
  answersConsent?: boolean;
}

export class Gateway extends EventEmitter<{ state: [GatewayState]; config: [ConfigEvent] }> {
  readonly servers: ServerManager;
  readonly configFile: McpConfigFile;
  /** The recent remote calls (the window's Activity view). */
  readonly activity = new ActivityLog();
  /** The relay's open consent requests, for a front to answer (only with `answersConsent`). */
  readonly consent = new ConsentRequests();
  readonly #log: Logger;
  #watcher: ConfigWatcher | undefined;
  #reloading: Promise<void> = Promise.resolve();
  #bridge: BridgeClient | undefined;
  #local: LocalEndpoint | undefined;
  /** The local endpoint's client token (shown to the user) and the agent token the gateway registers with. */
  #localToken: string | undefined;
  #localAgentToken: string | undefined;
  #state: GatewayState = { state: 'stopped' };
  #announced: string[] = [];
  #summaryTimer: NodeJS.Timeout | undefined;
  /** The last reload failed: the next good one says the file is applied again. */
  #configInvalid = false;
  /** Detaches the current link's listeners from the server manager (set while a link exists). */
  #unlink: (() => void) | undefined;

  private constructor(
    readonly settings: ResolvedSettings,
    private readonly options: GatewayOptions,
  ) {
    super();
    this.#log = options.logs.logger('gateway');
    this.configFile = new McpConfigFile(settings.paths.config.path, options.env);
    options.logs.redactor.addSecret(settings.values.agentJwt);
    for (const key of ['refresh_token', 'local_relay_secret', 'local_relay_token']) {
      const value = settings.state[key];
      if (typeof value === 'string') options.logs.redactor.addSecret(value);
    }
    this.servers = new ServerManager({
      log: options.logs.logger('server'),
      redactor: options.logs.redactor,
      clientInfo: { name: PRODUCT.name, version: PRODUCT.version },
      autoStart: settings.values.startMcpServers,
      backoff: options.backoff,
      startTimeoutMs: options.startTimeoutMs,
    });
  }

  /** Resolves settings and paths. Throws GatewayError for an invalid setting or state file. */
  static async create(options: GatewayOptions): Promise<Gateway> {
    return new Gateway(await resolveSettings(options), options);
  }

  get state(): GatewayState {
    return this.#state;
  }

  /**
   * The bearer for MCP clients of the local endpoint, while it runs: a client token (role `client`, refused
   * on /connect). The fronts show it to the user, nothing logs it.
   */
  get localToken(): string | undefined {
    return this.#local ? this.#localToken : undefined;
  }

  /**
   * The running local endpoint's URL and the agent token that asks it for per-client tokens
   * (`POST /manage/client-token`, issue 12); undefined while it does not run (a relay is configured, or the
   * link is closed). The agent token is never shown: it only mints client tokens here.
   */
  get localClientAccess(): { url: URL; agentToken: string } | undefined {
    return this.#local && this.#localAgentToken
      ? { url: this.#local.url, agentToken: this.#localAgentToken }
      : undefined;
  }

  /**
   * Revokes a client token of the local endpoint at once and keeps the revocation in the runtime state
   * (LOCAL_REVOKED_KEY, until the token's expiry) so that it holds after a restart: the embedded relay keeps
   * revocations in memory only. Throws GatewayError `usage` when the endpoint does not run, `config-io` when
   * the state file cannot be written (the revocation then holds until the endpoint stops).
   */
  async revokeLocalClientToken(token: string, expiresAt: string): Promise<void> {
    const local = this.#local;
    if (!local)
      throw new GatewayError(
        'usage',
        'The local endpoint does not run, so its tokens cannot be revoked now: connect first (Status → Connect).',
      );
    await local.revoke(token);
    const now = Date.now();
    await new JsonFile(this.settings.paths.state.path, { mode: 0o600 }).update((current) => {
      const text = current ?? '{}\n';
      const kept = localRevocations(parseJsonText(text, this.settings.paths.state.path)).filter(
        (r) => Date.parse(r.expires_at) > now,
      );
      return editJsonText(text, [LOCAL_REVOKED_KEY], [...kept, { token, expires_at: expiresAt }]);
    });
  }

  /**
   * Creates mcp.json on first run, loads it, starts its servers and watches it; then, unless `connect` is
   * false, connects to the relay. Throws GatewayError when mcp.json is unusable as a whole.
   */
  async start({ connect = true }: { connect?: boolean } = {}): Promise<{ createdConfig: boolean }> {
    if (connect) this.#set({ state: 'starting' });
    const path = this.configFile.path;
    const createdConfig = await this.configFile.createDefault(this.options.cwd);
    if (createdConfig) {
      this.#log.info(
        `Created ${path} with a "filesystem" server for ${this.options.cwd}; edit it to add your servers.`,
      );
      // Said before any server's status, so a front prints it before the first "starting".
      this.emit('config', { kind: 'created', path, workingDirectory: this.options.cwd });
    }
    const config = await this.configFile.load();
    const warning = await this.configFile.privacyWarning();
    if (warning) {
      this.#log.warn(warning);
      this.emit('config', { kind: 'warning', path, message: warning });
    }
    this.#log.info(`Loaded ${config.servers.size} server(s) from ${path}`);
    if (!this.settings.values.startMcpServers)
      this.#log.info('START_MCP_SERVERS is false: not starting servers');
    await this.servers.apply(config);
    if (this.options.watch !== false) this.#watcher = watchFile(path, () => void this.reload());
    if (connect) await this.#connect();
    return { createdConfig };
  }

  /** Re-reads mcp.json and applies it. An invalid file is reported and the running servers are kept. */
  reload(): Promise<void> {
    this.#reloading = this.#reloading.then(async () => {
      const path = this.configFile.path;
      try {
        const config = await this.configFile.load();
        this.#log.info(`${config.path} changed; applying`);
        const recovered = this.#configInvalid;
        this.#configInvalid = false;
        this.emit('config', { kind: 'applied', path, recovered });
        await this.servers.apply(config);
      } catch (error) {
        this.#configInvalid = true;
        const message = `${errorMessage(error)} Keeping the servers that are running.`;
        this.#log.error(message);
        this.emit('config', { kind: 'invalid', path, error: message });
      }
    });
    return this.#reloading;
  }

  async close(): Promise<void> {
    clearTimeout(this.#summaryTimer);
    await this.#watcher?.close();
    this.#watcher = undefined;
    await this.#reloading;
    await this.#bridge?.close();
    this.#bridge = undefined;
    await this.servers.close();
    // Stopping servers changes their status, which re-arms the summary timer: clear it once they are down.
    clearTimeout(this.#summaryTimer);
    await this.#local?.close();
    this.#local = undefined;
    this.#set({ state: 'stopped' });
  }

  /**
   * Connects the link to the relay (or starts the local endpoint) when there is none; the servers are not
   * touched. For fronts' Connect button; `start()` connects by itself.
   */
  async connect(): Promise<void> {
    if (this.#bridge) return;
    await this.#connect();
  }

  /**
   * Closes the link to the relay (and the local endpoint) and leaves the servers running: remote clients
   * get "agent offline" until `connect()`. The state becomes `stopped`.
   */
  async disconnect(): Promise<void> {
    this.#unlink?.();
    this.#unlink = undefined;
    clearTimeout(this.#summaryTimer);
    const bridge = this.#bridge;
    this.#bridge = undefined;
    await bridge?.close();
    await this.#local?.close();
    this.#local = undefined;
    this.#set({ state: 'stopped' });
  }

  /** Server names announced to the relay: enabled servers within CAPABILITIES (or the token's claim). */
  announced(): string[] {
    const allowed = this.settings.values.capabilities;
    return this.servers
      .list()
      .filter((s) => !s.disabled && (!allowed || allowed.includes('*') || allowed.includes(s.name)))
      .map((s) => s.name);
  }

  async #connect(): Promise<void> {
    const s = this.settings.values;
    let url: URL;
    let token: string;
    let subject: string;
    let publicBaseUrl: URL;
    let renew: (() => Promise<boolean>) | undefined;
    let attach: AttachAgent | undefined;
    if (s.remoteWebsocketUrl) {
      // A token the user signed in with lives in the token store (the state file, or the desktop app's
      // keychain); one from a flag or the environment wins over it.
      let jwt = s.agentJwt;
      let jwtSubject = s.subject;
      const signedIn = jwt === undefined || this.settings.origins.agentJwt.source === 'state';
      if (signedIn) {
        const stored = await this.#tokenStore().load();
        if (stored) {
          jwt = stored.token;
          jwtSubject = stored.subject ?? subjectFromToken(stored.token);
          this.options.logs.redactor.addSecret(stored.token);
          this.options.logs.redactor.addSecret(stored.refreshToken);
        }
      }
      if (!jwt) {
        return this.#set({
          state: 'needs-login',
          reason:
            'a relay is configured but there is no token: run `mcpassistant-gateway login`, or set AGENT_JWT',
        });
      }
      url = new URL(s.remoteWebsocketUrl);
      token = jwt;
      subject = jwtSubject!;
      publicBaseUrl = new URL(
        s.remoteServerBaseUrl ?? url.href.replace(/^ws/, 'http').replace(/\/connect\/?$/, ''),
      );
      // A signed-in token (kept in the state file with its refresh token) is renewed shortly before it
      // expires and when the relay refuses it; one from the environment can only be replaced by the user.
      if (signedIn) {
        renew = this.#renewer(publicBaseUrl, (next) => (token = next));
      }
    } else if (this.options.localEndpoint) {
      this.#local = await this.#startLocal();
      url = new URL('connect', this.#local.url.href.replace(/^http/, 'ws'));
      token = this.#localAgentToken!;
      subject = LOCAL_SUBJECT;
      publicBaseUrl = this.#local.url;
      // The gateway's own agent reaches its local endpoint in-process, not over a loopback WebSocket
      // (issue 11); /connect stays open on it for nothing but the rules it enforces.
      attach = this.#local.attachAgent;
    } else {
      return;
    }
    const bridge = new BridgeClient({
      url,
      ...(attach ? { attach } : {}),
      token: async () => {
        if (renew && expiresWithin(token, 60)) await renew();
        return token;
      },
      renewToken: renew,
      subject,
      capabilities: () => (this.#announced = this.announced()),
      servers: () => this.servers.list().map(summary),
      dispatcher: new Dispatcher(this.servers, s.mcpProtocolVersion, this.activity),
      requestTimeoutMs: Math.max(500, (s.requestTimeoutSeconds - 1) * 1000),
      reconnect: {
        initialMs: s.reconnectInitialDelaySeconds * 1000,
        maxMs: s.reconnectMaxDelaySeconds * 1000,
      },
      ping: this.options.pingIntervalMs ? { intervalMs: this.options.pingIntervalMs } : undefined,
      publicBaseUrl,
      agentInfo: { name: PRODUCT.name, version: PRODUCT.version },
      log: this.options.logs.logger('bridge'),
      ...(this.options.answersConsent ? { consent: this.consent } : {}),
    });
    this.#bridge = bridge;
    this.#announced = this.announced();
    const local = this.#local !== undefined;
    bridge.on('state', (state: BridgeState) => {
      if (state.state === 'connected') {
        this.#set({
          state: 'connected',
          since: state.since,
          relay: local ? publicBaseUrl.origin : url.origin,
          subject,
          endpoints: state.endpoints,
          local,
        });
      } else this.#set(state);
    });
    const notify = (server: string, notification: Notification) => {
      if (this.#announced.includes(server)) bridge.notify(server, { jsonrpc: '2.0', ...notification });
    };
    this.servers.on('notification', notify);
    const changed = () => {
      // A new or removed server changes what the agent may announce: register again. Otherwise only the
      // summaries changed, which relays that understand the `servers` frame pick up.
      const next = this.announced();
      if (next.join('\n') !== this.#announced.join('\n')) bridge.reconnectNow(SERVERS_CHANGED);
      clearTimeout(this.#summaryTimer);
      this.#summaryTimer = setTimeout(() => bridge.sendServers(this.servers.list().map(summary)), 300);
    };
    this.servers.on('status', changed);
    this.servers.on('removed', changed);
    this.#unlink = () => {
      this.servers.off('notification', notify);
      this.servers.off('status', changed);
      this.servers.off('removed', changed);
    };
    bridge.start();
  }

  /**
   * Where signed-in tokens are read at each connect: the injected store (the desktop app's keychain), else
   * the runtime state file. Read at each connect rather than once at start, so a sign-in made while the
   * gateway runs (the window, `login` in another terminal) is used by the next connect.
   */
  #tokenStore(): TokenStore {
    return this.options.tokenStore ?? new StateFileTokenStore(this.settings.paths.state.path, this.#log);
  }

  /** Refreshes the stored tokens through the relay; resolves whether a new token was obtained. */
  #renewer(relay: URL, use: (token: string) => void): () => Promise<boolean> {
    const store = this.#tokenStore();
    return async () => {
      try {
        const stored = await store.load();
        if (!stored?.refreshToken) return false;
        const next = await refresh(relay, stored);
        this.options.logs.redactor.addSecret(next.token);
        this.options.logs.redactor.addSecret(next.refreshToken);
        await store.save(next);
        use(next.token);
        this.#log.info('token refreshed');
        return true;
      } catch (error) {
        this.#log.warn(`could not refresh the token: ${errorMessage(error)}`);
        return false;
      }
    };
  }

  /**
   * Starts the embedded relay with the secret and client token kept in the runtime state (mode 0600). The
   * agent token the gateway registers with is issued afresh and never stored or shown.
   */
  async #startLocal(): Promise<LocalEndpoint> {
    const state = this.settings.state;
    const stored = (key: string) => (typeof state[key] === 'string' ? state[key] : undefined);
    let secret = stored('local_relay_secret') ?? randomBytes(32).toString('base64url');
    let token = stored('local_relay_token');
    if (token !== undefined && roleOf(token) !== 'client') {
      // Before issue 8 the stored token was an agent token: whoever had it could register on /connect and
      // take the place of this gateway. A new secret makes it worthless; clients get a client token instead.
      this.#log.warn(
        'The local endpoint had handed clients an agent token; it is replaced by a client token. ' +
          'Update the Authorization header in your clients.',
      );
      secret = randomBytes(32).toString('base64url');
      token = undefined;
    }
    const s = this.settings.values;
    const local = await this.options.localEndpoint!({
      port: s.localRelayPort,
      secret,
      requestTimeoutMs: s.requestTimeoutSeconds * 1000,
      allowedOrigins: s.localAllowedOrigins,
    });
    try {
      if (!token || (await local.roleOf(token)) !== 'client')
        token = await local.issueToken(LOCAL_SUBJECT, 'client');
      this.#localToken = token;
      this.#localAgentToken = await local.issueToken(LOCAL_SUBJECT, 'agent');
      // Client tokens revoked in an earlier run stay revoked (the endpoint keeps revocations in memory).
      const now = Date.now();
      const revoked = localRevocations(await readState(this.settings.paths.state.path).catch(() => ({})));
      for (const r of revoked) {
        this.options.logs.redactor.addSecret(r.token);
        if (Date.parse(r.expires_at) > now) await local.revoke(r.token);
      }
      this.options.logs.redactor.addSecret(secret);
      this.options.logs.redactor.addSecret(token);
      this.options.logs.redactor.addSecret(this.#localAgentToken);
      if (token !== stored('local_relay_token') || secret !== stored('local_relay_secret')) {
        // Kept so the URLs and header a user pasted into their clients keep working after a restart. A
        // state file that cannot be written (a read-only folder) costs only that: the endpoint still runs.
        await new JsonFile(this.settings.paths.state.path, { mode: 0o600 })
          .update((current) => {
            let text = current ?? '{}\n';
            text = editJsonText(text, ['local_relay_secret'], secret);
            return editJsonText(text, ['local_relay_token'], token);
          })
          .catch((error: unknown) =>
            this.#log.warn(
              `${errorMessage(error)} The local endpoint's token is not kept: clients need the new one after a restart.`,
            ),
          );
      }
      return local;
    } catch (error) {
      await local.close(); // it listens already: nothing else would close it
      throw error;
    }
  }

  #set(state: GatewayState): void {
    this.#state = state;
    this.emit('state', state);
  }
}

/** The `role` claim of a JWT, decoded without verifying; undefined when it has none or is not a JWT. */
function roleOf(token: string): unknown {
  try {
    return decodeJwt(token)['role'];
  } catch {
    return undefined;
  }
}

/** Whether a JWT expires within `seconds` (false for a token without exp, or not a JWT). */
function expiresWithin(token: string, seconds: number): boolean {
  try {
    const { exp } = decodeJwt(token);
    return exp !== undefined && exp * 1000 - Date.now() < seconds * 1000;
  } catch {
    return false;
  }
}

function summary(status: ServerStatus): ServerSummary {
  return {
    name: status.name,
    state: status.state,
    title: status.serverInfo?.title ?? status.serverInfo?.name,
    description: status.description,
    ...status.counts,
  };
}
