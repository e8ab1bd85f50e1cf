// The control API: the contract of src-shared/control.ts implemented once over one Gateway. It knows no
// transport: Electron's IPC and the web host's WebSocket both hand it a call name and the raw arguments
// they received, and carry back the ControlResult. Every call safeParses its arguments first; edits of
// mcp.json go through the format-preserving editor (McpConfigFile) and are validated with the mcp.json
// schema before anything is written, then applied through the gateway's live reload.
import { readFile } from 'node:fs/promises';
import { dirname, isAbsolute } from 'node:path';
import { performance } from 'node:perf_hooks';

import { CallToolResultSchema } from '@modelcontextprotocol/sdk/types.js';
import { decodeJwt } from 'jose';

import {
  type CallName,
  type CallResult,
  CONTROL_CALLS,
  CONTROL_ERROR_CODES,
  CONTROL_EVENTS,
  type ControlErrorCode,
  type ControlResult,
  type Endpoint,
  type Endpoints,
  type EventName,
  type EventPayload,
  LOG_LEVELS,
  type Notice,
  type ParsedArgs,
  type PendingConsent,
  type ServerInfo,
  type SettingView,
  type Status,
  type Whoami,
} from '../../src-shared/control.js';
import { login, logout } from '../core/auth/login.js';
import { StateFileTokenStore, type TokenStore } from '../core/auth/token-store.js';
import type { CallRecord } from '../core/bridge/activity-log.js';
import { describeIssues, parseJsonText } from '../core/config/json-text.js';
import { ServerEntry } from '../core/config/mcp-config.js';
import {
  findSettingKey,
  type ResolvedSettings,
  resolveSettings,
  saveSettings,
  SETTING_KEYS,
  SETTINGS,
  type SettingsInputs,
} from '../core/config/settings.js';
import { errorMessage, GatewayError } from '../core/errors.js';
import { type Gateway, LOCAL_SUBJECT, PRODUCT } from '../core/gateway.js';
import type { Logger, LogHub } from '../core/logging/log-hub.js';
import { loginShellPath, mergePath } from '../core/servers/login-shell-path.js';
import { quote, resolveCommand, type ServerStatus } from '../core/servers/managed-server.js';
import {
  createClientToken,
  findClientToken,
  forgetClientToken,
  listClientGrants,
  loadClientTokens,
  publicClientToken,
  revokeClientGrant,
  revokeClientToken,
} from './client-access.js';
import {
  addToClient,
  clientEntry,
  detectClientConfigs,
  EntryExistsError,
  type FoundEntry,
  parseImport,
} from './client-configs.js';
import { endpointSnippets } from './snippets.js';

/** Start at login, as a front implements it (the Electron shell: login items or an XDG autostart file). */
export interface AutostartPort {
  /** Whether the app starts at login now (read back from the OS, never remembered). */
  get(): Promise<boolean>;
  /** Turns it on or off; resolves the state read back afterwards. */
  set(enabled: boolean): Promise<boolean>;
}

export interface ControlApiOptions {
  /** The gateway's log hub: `logs:recent` and the `logs` event read it. */
  logs: LogHub;
  /** Start at login; without it `autostart:*` answer `unsupported`. */
  autostart?: AutostartPort;
  /** Opens the relay's sign-in page (the `open` package; the app's login window, which watches for `redirectUri`); without it `auth:login` is unsupported. */
  openUrl?: (url: URL, redirectUri: URL) => Promise<void>;
  /** Where tokens live. Default: the runtime state file (mode 0600), as the CLI keeps them. */
  tokenStore?: TokenStore;
  /**
   * What the gateway's settings were resolved from (flags, environment, working directory), so that
   * `settings:get` shows what the next start will use. Default: this process's environment and cwd, with
   * the gateway's config and state paths.
   */
  settingsInputs?: Omit<SettingsInputs, 'configPath' | 'statePath'>;
  /** The OS folder dialog (Electron's `dialog.showOpenDialog`); resolves undefined when cancelled. */
  pickFolder?: () => Promise<string | undefined>;
  /** Opens a local folder in the OS file manager (Electron's `shell.openPath`, the `open` package). */
  openPath?: (path: string) => Promise<void>;
}

const HIDDEN = '«hidden»';
const REDACTED = '«redacted»';

type Handlers = {
  [N in CallName]: (args: ParsedArgs<N>) => CallResult<N> | Promise<CallResult<N>>;
};
type Listener = (payload: unknown) => void;

/** A ControlResult failure as an exception, thrown inside handlers and turned into a value by `call`. */
class ControlError extends Error {
  constructor(
    readonly code: ControlErrorCode,
    message: string,
  ) {
    super(message);
  }
}

const GATEWAY_CODES = new Set<string>(CONTROL_ERROR_CODES);

/** Progress tokens of the window's tool calls, unique in the process (a server routes progress by token). */
let toolCallSeq = 0;

export class ControlApi {
  readonly #gateway: Gateway;
  readonly #options: ControlApiOptions;
  readonly #log: Logger;
  readonly #tokens: TokenStore;
  readonly #listeners = new Map<EventName, Set<Listener>>();
  readonly #detach: (() => void)[] = [];
  #serversQueued = false;
  #signedIn: boolean;
  readonly #notices = new Map<string, Notice>();
  readonly #handlers: Handlers;

  constructor(gateway: Gateway, options: ControlApiOptions) {
    this.#gateway = gateway;
    this.#options = options;
    this.#log = options.logs.logger('control');
    this.#tokens =
      options.tokenStore ?? new StateFileTokenStore(gateway.settings.paths.state.path, this.#log);
    this.#signedIn = gateway.settings.values.agentJwt !== undefined;
    if (!this.#signedIn && options.tokenStore) {
      // A token kept outside the settings (the desktop app's keychain) also means signed in.
      void this.#tokens.load().then(
        (stored) => {
          if (!stored || this.#signedIn) return;
          this.#signedIn = true;
          this.#emit('status', this.#status());
        },
        () => undefined, // ignore: whoami reports the store's problem when asked
      );
    }
    this.#handlers = this.#createHandlers();
    // The client tokens created here stay out of the logs like the agent token does.
    void loadClientTokens(gateway.settings.paths.state.path).then(
      (list) => list.forEach((e) => options.logs.redactor.addSecret(e.token)),
      () => undefined, // ignore: clients:list reports a broken state file when asked
    );

    const onState = () => this.#emit('status', this.#status());
    const onServers = () => {
      // Many servers change at once on a reload: one `servers` event per tick carries them all.
      if (this.#serversQueued) return;
      this.#serversQueued = true;
      queueMicrotask(() => {
        this.#serversQueued = false;
        this.#emit('servers', this.#serverList());
      });
    };
    gateway.on('state', onState);
    gateway.servers.on('status', onServers);
    gateway.servers.on('removed', onServers);
    const offLogs = options.logs.subscribe((entry) => this.#emit('logs', { ...entry }));
    const onCall = (record: CallRecord) => this.#emit('activity', { ...record });
    gateway.activity.on('call', onCall);
    const onConsent = (list: PendingConsent[]) => this.#emit('consent', list);
    gateway.consent.on('changed', onConsent);
    this.#detach.push(
      () => gateway.consent.off('changed', onConsent),
      () => gateway.off('state', onState),
      () => gateway.servers.off('status', onServers),
      () => gateway.servers.off('removed', onServers),
      offLogs,
      () => gateway.activity.off('call', onCall),
    );
  }

  /**
   * Runs call `name` with arguments as received from a transport (unvalidated). Never throws: an unknown
   * call, malformed arguments, a refused edit or a bug each come back as `{ok: false, code, message}`.
   */
  async call(name: string, rawArgs: unknown): Promise<ControlResult<unknown>> {
    if (!Object.hasOwn(CONTROL_CALLS, name)) {
      return fail(
        'unknown-call',
        `There is no call "${name}". Update the page (it may be from another version).`,
      );
    }
    const call = name as CallName;
    const parsed = CONTROL_CALLS[call].args.safeParse(rawArgs ?? {});
    if (!parsed.success) {
      const issues = parsed.error.issues.map((i) => `${i.path.join('.') || '(arguments)'}: ${i.message}`);
      return fail('invalid-args', `${call}: invalid arguments — ${issues.join('; ')}. Nothing was changed.`);
    }
    try {
      const handler = this.#handlers[call] as (args: unknown) => unknown;
      const value = await handler(parsed.data);
      const checked = CONTROL_CALLS[call].result.safeParse(value);
      if (!checked.success) {
        this.#log.error(`${call} produced a result outside the contract:`, checked.error.issues);
        return fail('internal', `${call} failed inside the gateway; the log file has the details.`);
      }
      return { ok: true, value: checked.data };
    } catch (error) {
      if (error instanceof ControlError) return fail(error.code, error.message);
      if (error instanceof GatewayError && GATEWAY_CODES.has(error.code)) {
        return fail(error.code, error.message);
      }
      this.#log.error(`${call} failed:`, error);
      return fail('internal', `${call} failed: ${errorMessage(error)}`);
    }
  }

  /**
   * Shows `notice` in every window (in `status.notices`) until the user dismisses it; a notice with the same
   * id replaces the earlier one. For what the front must say where the user will read it (no tray icon, tokens
   * outside a keychain, the first run's start-at-login offer).
   */
  notice(notice: Notice): void {
    this.#notices.set(notice.id, notice);
    this.#emit('status', this.#status());
  }

  /** Typed form of `call` for callers inside the main process (the tray). */
  invoke<N extends CallName>(name: N, args: ParsedArgs<N>): Promise<ControlResult<CallResult<N>>> {
    return this.call(name, args) as Promise<ControlResult<CallResult<N>>>;
  }

  /** Calls `listener` with every payload of `event` until the returned function is called. */
  subscribe<E extends EventName>(event: E, listener: (payload: EventPayload<E>) => void): () => void {
    if (!Object.hasOwn(CONTROL_EVENTS, event)) throw new ControlError('unknown-call', `no event "${event}"`);
    let set = this.#listeners.get(event);
    if (!set) this.#listeners.set(event, (set = new Set()));
    const wrapped = listener as Listener;
    set.add(wrapped);
    return () => void set.delete(wrapped);
  }

  /** Detaches from the gateway and drops every subscriber. The gateway itself is the caller's to close. */
  dispose(): void {
    for (const detach of this.#detach.splice(0)) detach();
    this.#listeners.clear();
  }

  #emit<E extends EventName>(event: E, payload: EventPayload<E>): void {
    for (const listener of this.#listeners.get(event) ?? []) {
      try {
        listener(payload);
      } catch (error) {
        this.#log.warn(`a ${event} subscriber failed:`, error);
      }
    }
  }

  // ── the handlers ──────────────────────────────────────────────────────────────────────────────────────

  #createHandlers(): Handlers {
    const gateway = this.#gateway;
    return {
      'status:get': () => this.#status(),
      'notices:dismiss': ({ id }) => {
        if (!this.#notices.delete(id)) throw new ControlError('not-found', `There is no notice "${id}".`);
        this.#emit('status', this.#status());
        return this.#status();
      },
      'link:connect': async () => {
        await gateway.connect();
        return this.#status();
      },
      'link:disconnect': async () => {
        await gateway.disconnect();
        return this.#status();
      },

      'servers:list': () => this.#serverList(),
      'servers:get': async ({ name }) => {
        const info = this.#server(name);
        const entry = (await this.#entries())[name];
        const result = (await gateway.configFile.load()).servers.get(name);
        return {
          info,
          entry: isObject(entry) ? maskEntry(entry) : null,
          ...(result && !result.ok ? { entryError: result.error } : {}),
          output: this.#options.logs.serverOutput(name, 20),
        };
      },
      'servers:add': async ({ name, entry }) => {
        const entries = await this.#entries();
        if (Object.hasOwn(entries, name)) {
          throw new ControlError(
            'exists',
            `A server named "${name}" is already in ${gateway.configFile.path}. Choose another name, or edit that one.`,
          );
        }
        await gateway.configFile.updateServer(name, this.#validateEntry(name, entry));
        return this.#applied(name);
      },
      'servers:update': async ({ name, patch }) => {
        const entries = await this.#entries();
        const current = entries[name];
        if (!isObject(current)) throw this.#notFound(name);
        // The window never sees env and header values (servers:get masks them): a value still "«hidden»"
        // means "keep the saved one".
        patch = keepHiddenValues(patch, current);
        const next: Record<string, unknown> = { ...current };
        for (const [key, value] of Object.entries(patch)) {
          if (value === null) delete next[key];
          else next[key] = value;
        }
        this.#validateEntry(name, next);
        await gateway.configFile.updateServer(
          name,
          Object.fromEntries(Object.entries(patch).map(([k, v]) => [k, v ?? undefined])),
        );
        return this.#applied(name);
      },
      'servers:remove': async ({ name }) => {
        if (!Object.hasOwn(await this.#entries(), name)) throw this.#notFound(name);
        await gateway.configFile.updateServer(name, null);
        await gateway.reload();
        return { removed: name };
      },
      'servers:enable': async ({ name }) => {
        if (!Object.hasOwn(await this.#entries(), name)) throw this.#notFound(name);
        await gateway.configFile.updateServer(name, { disabled: undefined });
        return this.#applied(name);
      },
      'servers:disable': async ({ name }) => {
        if (!Object.hasOwn(await this.#entries(), name)) throw this.#notFound(name);
        await gateway.configFile.updateServer(name, { disabled: true });
        return this.#applied(name);
      },
      'servers:restart': async ({ name }) => {
        const server = gateway.servers.get(name);
        if (!server) throw this.#notFound(name);
        await server.stop();
        server.start();
        return this.#info(server.status);
      },
      'servers:tools': async ({ name }) => {
        const server = gateway.servers.get(name);
        if (!server) throw this.#notFound(name);
        const client = await server.ready(gateway.settings.values.requestTimeoutSeconds * 1000);
        if (!client) {
          throw new ControlError(
            'not-running',
            `"${name}" is not running (${server.status.lastError ?? server.status.state}). Start or fix it first.`,
          );
        }
        const tools: CallResult<'servers:tools'> = [];
        let cursor: string | undefined;
        do {
          const page = await client.listTools(cursor ? { cursor } : {});
          for (const tool of page.tools) {
            tools.push({
              name: tool.name,
              ...(tool.title ? { title: tool.title } : {}),
              ...(tool.description ? { description: tool.description } : {}),
              inputSchema: tool.inputSchema,
            });
          }
          cursor = page.nextCursor;
        } while (cursor);
        return tools;
      },

      'servers:resolve': async ({ command, args, cwd, env }) => {
        if (cwd !== undefined && !isAbsolute(cwd)) {
          return {
            found: false,
            message: `The working directory "${cwd}" is not an absolute path: give the full path of a folder.`,
          };
        }
        const path = mergePath(env?.['PATH'] ?? process.env['PATH'], await loginShellPath());
        const full = await resolveCommand(command, path, cwd);
        if (!full) {
          const where = /[\\/]/.test(command)
            ? 'at that path (or it is not executable)'
            : "on the PATH (the gateway's and your login shell's)";
          return {
            found: false,
            message: `"${command}" was not found ${where}. Install it, or give its full path.`,
          };
        }
        return { found: true, path: full, commandLine: [full, ...(args ?? [])].map(quote).join(' ') };
      },

      'tools:call': async ({ server: name, tool, arguments: args, callId }) => {
        const server = gateway.servers.get(name);
        if (!server) throw this.#notFound(name);
        const timeoutMs = gateway.settings.values.requestTimeoutSeconds * 1000;
        const client = await server.ready(timeoutMs);
        if (!client) {
          throw new ControlError(
            'not-running',
            `"${name}" is not running (${server.status.lastError ?? server.status.state}). Start or fix it first.`,
          );
        }
        const progressToken = callId === undefined ? undefined : `window-${++toolCallSeq}`;
        const unroute =
          progressToken === undefined
            ? undefined
            : server.routeProgress(progressToken, ({ progress, total, message }) =>
                this.#emit('progress', {
                  callId: callId!,
                  progress,
                  ...(total === undefined ? {} : { total }),
                  ...(message === undefined ? {} : { message }),
                }),
              );
        const started = performance.now();
        try {
          const result = await client.request(
            {
              method: 'tools/call',
              params: {
                name: tool,
                arguments: args ?? {},
                ...(progressToken === undefined ? {} : { _meta: { progressToken } }),
              },
            },
            CallToolResultSchema,
            // Progress resets the timeout: a long operation that reports keeps going.
            { timeout: timeoutMs, resetTimeoutOnProgress: true },
          );
          return {
            isError: result.isError === true,
            content: result.content,
            ...(result.structuredContent ? { structuredContent: result.structuredContent } : {}),
            durationMs: Math.round(performance.now() - started),
          };
        } catch (error) {
          throw new ControlError('server-failed', `${tool} failed: ${errorMessage(error)}`);
        } finally {
          unroute?.();
        }
      },

      'dialog:pickFolder': async () => {
        const pick = this.#options.pickFolder;
        if (!pick) throw new ControlError('unsupported', 'This window has no folder dialog: type the path.');
        return { path: (await pick()) ?? null };
      },

      'endpoints:list': ({ reveal }) => this.#endpoints(reveal ?? false),

      'settings:get': async () => {
        const settings = await this.#resolveSettings();
        return SETTING_KEYS.map((key) => settingView(settings, key));
      },
      'settings:set': async ({ key: name, value }) => {
        const key = findSettingKey(name);
        if (!key) {
          throw new ControlError(
            'setting-invalid',
            `There is no setting "${name}". Known settings: ${SETTING_KEYS.map((k) => SETTINGS[k].env).join(', ')}.`,
          );
        }
        const stored = await saveSettings(gateway.settings.paths.state.path, { [key]: value ?? undefined });
        if (SETTINGS[key].secret === true) {
          const secret = stored[key];
          if (typeof secret === 'string') this.#options.logs.redactor.addSecret(secret);
        }
        const settings = await this.#resolveSettings();
        const origin = settings.origins[key];
        const overridden = ['flag', 'environment', '.env'].includes(origin.source);
        return {
          setting: settingView(settings, key),
          restartRequired: true,
          ...(overridden
            ? { overriddenBy: `${origin.source}${origin.detail ? ` (${origin.detail})` : ''}` }
            : {}),
        };
      },

      'auth:whoami': async () => this.#whoami(),
      'auth:login': async ({ relay: given }) => {
        const openUrl = this.#options.openUrl;
        if (!openUrl)
          throw new ControlError(
            'unsupported',
            'This front cannot open a browser: run `mcpassistant-gateway login`.',
          );
        const relay = given ?? relayBase(gateway.settings);
        if (!relay) {
          throw new ControlError(
            'usage',
            'No relay is configured: give its address (https://relay.example.com), or set REMOTE_SERVER_BASE_URL.',
          );
        }
        let url: URL;
        try {
          url = new URL(relay);
        } catch {
          throw new ControlError(
            'invalid-args',
            `"${relay}" is not a URL: give one like https://relay.example.com.`,
          );
        }
        const tokens = await login({
          relay: url,
          capabilities: gateway.settings.values.capabilities,
          openUrl,
          say: (line) => this.#log.info(line),
          log: this.#options.logs.logger('login'),
        });
        this.#options.logs.redactor.addSecret(tokens.token);
        if (tokens.refreshToken) this.#options.logs.redactor.addSecret(tokens.refreshToken);
        await this.#tokens.save({ ...tokens, relay: tokens.relay ?? url.href });
        const who = await this.#whoami();
        this.#signedIn = who.signedIn;
        this.#emit('status', this.#status());
        return { ...who, restartRequired: !(await this.#relink()) };
      },
      'auth:logout': async () => {
        const tokens = await this.#tokens.load();
        if (tokens) {
          const relay = tokens.relay ?? relayBase(gateway.settings);
          if (relay) {
            const problems = await logout(new URL(relay), tokens);
            if (problems.length)
              this.#log.warn(`the relay could not revoke the tokens: ${problems.join('; ')}`);
          }
          await this.#tokens.clear();
        }
        // A token from AGENT_JWT (environment, .env) is not ours to remove: whoami still shows it.
        const who = await this.#whoami();
        this.#signedIn = who.signedIn;
        this.#emit('status', this.#status());
        return { ...who, restartRequired: tokens !== undefined && !(await this.#relink()) };
      },

      'logs:recent': ({ limit, level }) => {
        const max = LOG_LEVELS.indexOf(level ?? 'debug');
        const entries = this.#options.logs.recent().filter((e) => LOG_LEVELS.indexOf(e.level) <= max);
        return entries.slice(-(limit ?? 1000)).map((e) => ({ ...e }));
      },
      'import:detect': async () => {
        const names = await this.#entries();
        return (await detectClientConfigs()).map((found) => ({
          ...found,
          entries: found.entries.map((e) => withConflict(e, names)),
        }));
      },
      'import:parse': async ({ text }) => {
        const names = await this.#entries();
        return parseImport(text).map((e) => withConflict(e, names));
      },
      'import:apply': async ({ entries: wanted }) => {
        const entries = await this.#entries();
        const taken = wanted.filter((w) => Object.hasOwn(entries, w.name)).map((w) => w.name);
        const twice = wanted
          .filter((w, i) => wanted.findIndex((o) => o.name === w.name) !== i)
          .map((w) => w.name);
        if (taken.length || twice.length) {
          throw new ControlError(
            'exists',
            `${[...taken, ...twice].map((n) => `"${n}"`).join(', ')} ${taken.length + twice.length > 1 ? 'are' : 'is'} taken: rename before importing. Nothing was imported.`,
          );
        }
        const valid = wanted.map((w) => ({ name: w.name, entry: this.#validateEntry(w.name, w.entry) }));
        for (const { name, entry } of valid) await gateway.configFile.updateServer(name, entry);
        await gateway.reload();
        return { added: valid.map((v) => v.name) };
      },
      'clients:add': async ({ app, server, name }) => {
        const link = gateway.state;
        const url = link.state === 'connected' ? link.endpoints[server] : undefined;
        if (!url) {
          throw new ControlError(
            'usage',
            `"${server}" has no public endpoint yet: connect first (and check that the server runs).`,
          );
        }
        const token =
          link.state === 'connected' && link.local ? gateway.localToken : gateway.settings.values.agentJwt;
        try {
          return await addToClient(
            app,
            name ?? server,
            clientEntry(app, url, token === undefined ? undefined : `Bearer ${token}`),
          );
        } catch (error) {
          if (error instanceof EntryExistsError) throw new ControlError('exists', error.message);
          throw error;
        }
      },
      'clients:list': async () => {
        const statePath = gateway.settings.paths.state.path;
        const tokens = (await loadClientTokens(statePath)).map((e) => publicClientToken(e));
        const access = await this.#relayAccess().catch((error: unknown) => error as ControlError);
        if (access instanceof Error) {
          // Tokens created earlier are still listed (and expire on their own); new ones need the relay.
          return {
            relay: relayBase(gateway.settings) ?? null,
            subject: gateway.settings.values.subject ?? null,
            tokens,
            grants: null,
            grantsNote: access.message,
          };
        }
        if (access.local) {
          return {
            relay: access.relay.origin,
            local: true,
            subject: access.subject,
            tokens,
            grants: null,
            grantsNote:
              'The local endpoint has no OAuth sign-in: its clients use a client token, or the header on the Status view.',
          };
        }
        const listed = await listClientGrants(access.relay, access.token);
        return {
          relay: access.relay.origin,
          subject: access.subject,
          tokens,
          grants: 'grants' in listed ? listed.grants : null,
          ...('note' in listed ? { grantsNote: listed.note } : {}),
        };
      },
      'clients:createToken': async ({ name, servers, days }) => {
        const access = await this.#relayAccess();
        const stored = await createClientToken(
          gateway.settings.paths.state.path,
          access.relay,
          access.token,
          {
            name,
            servers,
            days,
          },
        );
        this.#options.logs.redactor.addSecret(stored.token);
        this.#log.info(
          `created client token "${name}" (${stored.id}) for ${stored.servers.join(', ')}, valid until ${stored.expires_at}`,
        );
        const header = `Bearer ${stored.token}`;
        const names = stored.servers.includes('*')
          ? gateway.servers.list().map((status) => status.name)
          : stored.servers;
        const base = `${stored.relay}/${encodeURIComponent(stored.subject)}/`;
        const config = {
          mcpServers: Object.fromEntries(
            names.map((server) => [
              server,
              { url: new URL(`${server}/mcp`, base).href, headers: { Authorization: header } },
            ]),
          ),
        };
        return { token: publicClientToken(stored), header, config: JSON.stringify(config, null, 2) };
      },
      'clients:revokeToken': async ({ id }) => {
        const statePath = gateway.settings.paths.state.path;
        const entry = await findClientToken(statePath, id);
        // A token of the local endpoint (no relay configured): revoked there, and kept revoked across restarts.
        if (entry && entry.subject === LOCAL_SUBJECT && !relayBase(gateway.settings)) {
          if (Date.parse(entry.expires_at) > Date.now())
            await gateway.revokeLocalClientToken(entry.token, entry.expires_at);
          await forgetClientToken(statePath, id);
        } else await revokeClientToken(statePath, id);
        this.#log.info(`revoked client token ${id}`);
        return { revoked: id };
      },
      'clients:revokeGrant': async ({ clientId }) => {
        const access = await this.#relayAccess();
        const revoked = await revokeClientGrant(access.relay, access.token, clientId);
        this.#log.info(`ended the grant of MCP client ${clientId}`);
        return { revoked };
      },
      'consent:list': () => gateway.consent.list(),
      'consent:answer': ({ id, allow }) => {
        const answered = gateway.consent.answer(id, allow);
        if (!answered.ok && answered.reason === 'unknown')
          throw new ControlError(
            'not-found',
            "This request is over: it was answered on the relay's page, or its time ran out. The client asks again if it still needs access.",
          );
        if (!answered.ok)
          throw new ControlError(
            'usage',
            "The link to the relay closed before the answer was sent: answer on the relay's page in your browser.",
          );
        this.#log.info(`${allow ? 'allowed' : 'denied'} consent request ${id}`);
        return { answered: id, allow };
      },
      'activity:recent': () => gateway.activity.recent().map((record) => ({ ...record })),
      'paths:get': () => {
        const paths = gateway.settings.paths;
        return {
          config: paths.config.path,
          configSource: paths.config.source,
          state: paths.state.path,
          stateSource: paths.state.source,
          logFile: paths.logFile,
          logFolder: dirname(paths.logFile),
        };
      },

      'logs:openFolder': async () => {
        const open = this.#options.openPath;
        const folder = dirname(gateway.settings.paths.logFile);
        if (!open) throw new ControlError('unsupported', `Open ${folder} in your file manager.`);
        await open(folder);
        return { opened: folder };
      },

      'autostart:get': async () => ({ enabled: await this.#autostart().get() }),
      'autostart:set': async ({ enabled }) => ({ enabled: await this.#autostart().set(enabled) }),
    };
  }

  // ── helpers ───────────────────────────────────────────────────────────────────────────────────────────

  /**
   * After a sign-in or sign-out: reconnects a link to the relay the gateway started with, so that it uses the
   * stored tokens now (the link reads them at each connect). Resolves false when that cannot apply until the
   * next start: no relay was configured at start (the local endpoint is in use), or the link is closed.
   */
  async #relink(): Promise<boolean> {
    const gateway = this.#gateway;
    if (!gateway.settings.values.remoteWebsocketUrl) return false;
    if (gateway.state.state === 'stopped') return false;
    await gateway.disconnect();
    await gateway.connect();
    return true;
  }

  #status(): Status {
    const settings = this.#gateway.settings;
    const link = this.#gateway.state;
    return {
      link: link.state === 'connected' ? { ...link, endpoints: { ...link.endpoints } } : { ...link },
      product: { name: PRODUCT.name, version: PRODUCT.version },
      relay: relayBase(settings) ?? null,
      subject: link.state === 'connected' ? link.subject : (settings.values.subject ?? null),
      signedIn: this.#signedIn,
      autostart: this.#options.autostart !== undefined,
      notices: [...this.#notices.values()].map((notice) => ({ ...notice })),
    };
  }

  #serverList(): ServerInfo[] {
    return this.#gateway.servers.list().map((status) => this.#info(status));
  }

  #info(status: ServerStatus): ServerInfo {
    const link = this.#gateway.state;
    const endpoint = link.state === 'connected' ? link.endpoints[status.name] : undefined;
    return withoutUndefined({ ...status, endpoint }) as ServerInfo;
  }

  #server(name: string): ServerInfo {
    const server = this.#gateway.servers.get(name);
    if (!server) throw this.#notFound(name);
    return this.#info(server.status);
  }

  #notFound(name: string): ControlError {
    return new ControlError(
      'not-found',
      `There is no server "${name}" in ${this.#gateway.configFile.path}. Check the name (servers:list shows them).`,
    );
  }

  /** The `mcpServers` object of mcp.json as it is on disk. Throws config-invalid for a broken file. */
  async #entries(): Promise<Record<string, unknown>> {
    const path = this.#gateway.configFile.path;
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return {};
      throw new ControlError('config-io', `Cannot read ${path}: ${errorMessage(error)}`);
    }
    let root: unknown;
    try {
      root = parseJsonText(text, path);
    } catch (error) {
      throw new ControlError(
        'config-invalid',
        `${errorMessage(error).replace(/ Fix the file \(it was not changed\)\.$/, '')} Nothing was saved: fix the file by hand first, then try again.`,
      );
    }
    const servers = isObject(root) ? root['mcpServers'] : undefined;
    return isObject(servers) ? servers : {};
  }

  /** Validates an entry with the mcp.json schema; throws config-invalid naming each problem. */
  #validateEntry(name: string, entry: unknown): ServerEntry {
    const result = ServerEntry.safeParse(entry);
    if (result.success) return result.data;
    const lines = describeIssues(result.error.issues, {
      file: this.#gateway.configFile.path,
      root: { mcpServers: { [name]: entry } },
      prefix: ['mcpServers', name],
    });
    throw new ControlError('config-invalid', `${lines.join('\n')}\nNothing was saved.`);
  }

  /** Applies mcp.json now (the watcher would too, a moment later) and returns the server's status. */
  async #applied(name: string): Promise<ServerInfo> {
    await this.#gateway.reload();
    return this.#server(name);
  }

  #autostart(): AutostartPort {
    const port = this.#options.autostart;
    if (!port) {
      throw new ControlError(
        'unsupported',
        'Start at login is set by the desktop app; this window cannot change it (use the tray menu).',
      );
    }
    return port;
  }

  async #resolveSettings(): Promise<ResolvedSettings> {
    const inputs = this.#options.settingsInputs ?? { cwd: process.cwd(), env: process.env };
    const paths = this.#gateway.settings.paths;
    return resolveSettings({ ...inputs, configPath: paths.config.path, statePath: paths.state.path });
  }

  async #whoami(): Promise<Whoami> {
    const settings = await this.#resolveSettings();
    const origin = settings.origins.agentJwt;
    const stored = await this.#tokens.load();
    const fromEnv = ['flag', 'environment', '.env'].includes(origin.source);
    const token = fromEnv ? settings.values.agentJwt : stored?.token;
    if (!token) {
      return {
        signedIn: false,
        subject: null,
        relay: relayBase(settings) ?? null,
        expires: null,
        email: null,
        tokenFrom: null,
      };
    }
    let expires: string | null = null;
    let subject: string | null = stored?.subject ?? settings.values.subject ?? null;
    try {
      const claims = decodeJwt(token);
      if (claims.exp) expires = new Date(claims.exp * 1000).toISOString();
      subject = fromEnv ? (settings.values.subject ?? claims.sub ?? null) : (subject ?? claims.sub ?? null);
    } catch {
      // ignore: an opaque token has no claims to show
    }
    return {
      signedIn: true,
      subject,
      relay: (fromEnv ? undefined : stored?.relay) ?? relayBase(settings) ?? null,
      expires,
      email: fromEnv ? null : (stored?.email ?? null),
      tokenFrom: fromEnv ? origin.source : this.#tokenPlace(),
    };
  }

  /**
   * The relay this gateway's client tokens come from and the agent token to ask it with (the signed-in one,
   * or AGENT_JWT). Throws `usage` naming the fix when no relay is configured or nobody is signed in.
   */
  async #relayAccess(): Promise<{ relay: URL; token: string; subject: string | null; local?: boolean }> {
    const settings = this.#gateway.settings;
    const fromEnv = ['flag', 'environment', '.env'].includes(settings.origins.agentJwt.source);
    const stored = fromEnv ? undefined : await this.#tokens.load();
    const relay = stored?.relay ?? relayBase(settings);
    if (!relay) {
      // No relay: the local endpoint on 127.0.0.1 issues per-client tokens itself (issue 12).
      const local = this.#gateway.localClientAccess;
      if (local) return { relay: local.url, token: local.agentToken, subject: LOCAL_SUBJECT, local: true };
      throw new ControlError(
        'usage',
        'No relay is configured and the local endpoint does not run: connect (Status → Connect) to make tokens for the local endpoint, or sign in to a relay (Settings → Sign in).',
      );
    }
    const token = stored?.token ?? settings.values.agentJwt;
    if (!token) {
      throw new ControlError(
        'usage',
        `Not signed in to ${relay}: sign in (Settings → Sign in), or set AGENT_JWT. Then create client tokens here.`,
      );
    }
    let subject = stored?.subject ?? settings.values.subject ?? null;
    try {
      subject ??= decodeJwt(token).sub ?? null;
    } catch {
      // ignore: an opaque token has no subject to show
    }
    return { relay: new URL(relay), token, subject };
  }

  #tokenPlace(): string {
    return this.#tokens instanceof StateFileTokenStore ? this.#tokens.path : 'the keychain';
  }

  async #endpoints(reveal: boolean): Promise<Endpoints> {
    const gateway = this.#gateway;
    const link = gateway.state;
    const settings = gateway.settings;
    if (link.state !== 'connected') {
      return {
        connected: false,
        relay: relayBase(settings) ?? null,
        subject: settings.values.subject ?? null,
        header: null,
        revealed: false,
        endpoints: [],
      };
    }
    // A signed-in token is refreshed in the store as it nears expiry: show the current one.
    const fromStore = !link.local && settings.origins.agentJwt.source === 'state';
    const token = link.local
      ? gateway.localToken
      : ((fromStore ? (await this.#tokens.load())?.token : undefined) ?? settings.values.agentJwt);
    const bearer =
      token === undefined ? undefined : `Bearer ${reveal ? token : `${token.slice(0, 6)}…${HIDDEN}`}`;
    const endpoints: Endpoint[] = Object.entries(link.endpoints).map(([server, url]) => ({
      server,
      url,
      snippets: endpointSnippets(server, url, bearer),
    }));
    return {
      connected: true,
      relay: link.relay,
      subject: link.subject,
      header: bearer === undefined ? null : { name: 'Authorization', value: bearer },
      revealed: reveal && bearer !== undefined,
      endpoints,
    };
  }
}

function fail(code: ControlErrorCode, message: string): ControlResult<never> {
  return { ok: false, code, message };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** JSON has no undefined: drop such keys so results compare and serialise the same on every transport. */
function withoutUndefined(value: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined));
}

/** An mcp.json entry with the values of `env` and `headers` masked: they often hold secrets. */
function maskEntry(entry: Record<string, unknown>): Record<string, unknown> {
  const masked: Record<string, unknown> = { ...entry };
  for (const key of ['env', 'headers']) {
    const map = entry[key];
    if (isObject(map)) masked[key] = Object.fromEntries(Object.keys(map).map((k) => [k, HIDDEN]));
  }
  return masked;
}

/** An entry found for import, with whether mcp.json has that name already. */
function withConflict(found: FoundEntry, names: Record<string, unknown>) {
  return { ...found, conflict: Object.hasOwn(names, found.name) };
}

/**
 * `patch` with every `env`/`headers` value that is still "«hidden»" replaced by the saved value: the window
 * never received it, so it cannot send it back.
 */
function keepHiddenValues(
  patch: Record<string, unknown>,
  current: Record<string, unknown>,
): Record<string, unknown> {
  const next = { ...patch };
  for (const key of ['env', 'headers']) {
    const given = patch[key];
    const saved = current[key];
    if (!isObject(given)) continue;
    next[key] = Object.fromEntries(
      Object.entries(given).map(([k, v]) => [k, v === HIDDEN && isObject(saved) ? saved[k] : v]),
    );
  }
  return next;
}

/** The relay's http(s) base URL: REMOTE_SERVER_BASE_URL, else derived from REMOTE_WEBSOCKET_URL. */
function relayBase(settings: ResolvedSettings): string | undefined {
  const { remoteServerBaseUrl, remoteWebsocketUrl } = settings.values;
  return remoteServerBaseUrl ?? remoteWebsocketUrl?.replace(/^ws/, 'http').replace(/\/connect\/?$/, '');
}

function settingView(settings: ResolvedSettings, key: (typeof SETTING_KEYS)[number]): SettingView {
  const d = SETTINGS[key];
  const value = settings.values[key];
  const origin = settings.origins[key];
  return {
    key,
    env: d.env,
    description: d.description,
    value: value === undefined ? null : d.secret ? REDACTED : value,
    default: d.default ?? null,
    source: origin.source,
    ...(origin.detail ? { detail: origin.detail } : {}),
    secret: d.secret === true,
    settable: d.state !== undefined,
  };
}
