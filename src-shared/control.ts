// The control contract: every call a front (the Electron window, the tray, the web host's page) can make on
// one gateway, and every event stream it can subscribe to. Calls are named `domain:action`; each has a zod
// schema for its arguments and one for its result, and the types come from them (DESIGN.md, "Contracts are
// data"). src-main/control implements it once; Electron carries it over IPC, the web host over a WebSocket.
//
// Wire rules shared by both transports:
// - a call takes one argument, a JSON object (omitted when the call needs none), and answers a
//   `ControlResult`: `{ok: true, value}` or `{ok: false, code, message}` — the message names the fix;
// - everything is plain JSON (no `undefined` values, no Dates): a patch removes a key with `null`;
// - secrets (tokens, env values) are never in a result unless the call asks for them by name
//   (`endpoints:list` with `reveal: true`, used only to copy to the clipboard).
import { z } from 'zod';

// ── shared pieces ───────────────────────────────────────────────────────────────────────────────────────

/** A server name as mcp.json allows it: it becomes a URL path segment (`/<subject>/<server>/mcp`). */
export const ServerName = z
  .string()
  .regex(
    /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/,
    'a server name may use only letters, digits, ".", "_" and "-" (at most 64, starting with a letter or digit)',
  );

const NoArgs = z.strictObject({});
const ByName = z.strictObject({ name: ServerName });
const StringMap = z.record(z.string(), z.string());

/** The state of the link to the relay (the core's `GatewayState`). `stopped` is also "disconnected". */
export const LinkState = z.discriminatedUnion('state', [
  z.object({ state: z.literal('stopped') }),
  z.object({ state: z.literal('starting') }),
  z.object({
    state: z.literal('connecting'),
    attempt: z.number(),
    nextRetryAt: z.number().optional(),
    lastError: z.string().optional(),
  }),
  z.object({
    state: z.literal('connected'),
    /** Epoch ms. */
    since: z.number(),
    relay: z.string(),
    subject: z.string(),
    /** Server name → public endpoint URL. */
    endpoints: z.record(z.string(), z.string()),
    /** The embedded local endpoint on 127.0.0.1 (no remote relay configured). */
    local: z.boolean(),
  }),
  z.object({ state: z.literal('needs-login'), reason: z.string() }),
  z.object({ state: z.literal('error'), reason: z.string() }),
]);
export type LinkState = z.infer<typeof LinkState>;

/** What the status view and the tray show. Also the payload of the `status` event. */
/**
 * Something the front wants the user to read in the window rather than only in a passing notification: no
 * tray icon on this desktop (and how to get one), tokens kept outside a keychain, the first run's offer to
 * start at login. `action` names the one thing the window may offer to do about it.
 */
export const Notice = z.object({
  id: z.string(),
  text: z.string(),
  action: z.enum(['autostart-on']).optional(),
});
export type Notice = z.infer<typeof Notice>;

export const Status = z.object({
  link: LinkState,
  product: z.object({ name: z.string(), version: z.string() }),
  /** The configured relay's base URL, or null when the local endpoint is used. */
  relay: z.string().nullable(),
  /** The agent's subject when one is configured or signed in. */
  subject: z.string().nullable(),
  /** Whether a token for the relay is configured (signed in, or AGENT_JWT). */
  signedIn: z.boolean(),
  /** Whether start-at-login is available on this front (the web host has none). */
  autostart: z.boolean(),
  /** What the window shows above everything until the user dismisses it (oldest first). */
  notices: z.array(Notice),
});
export type Status = z.infer<typeof Status>;

export const ServerState = z.enum(['stopped', 'starting', 'running', 'restarting', 'error']);

/** One configured server as the server manager sees it. Also an element of the `servers` event. */
export const ServerInfo = z.object({
  name: z.string(),
  state: ServerState,
  description: z.string().optional(),
  disabled: z.boolean(),
  transport: z.enum(['stdio', 'streamable-http', 'sse']).optional(),
  /** The protocol era the agent speaks to it in: `legacy` (2025, initialize) or `modern` (2026-07-28). */
  era: z.enum(['legacy', 'modern']).optional(),
  /** The command line (stdio) or URL (HTTP), as launched. */
  target: z.string().optional(),
  pid: z.number().int().optional(),
  /** Epoch ms when it last became running. */
  startedAt: z.number().optional(),
  lastError: z.string().optional(),
  restarts: z.number().int(),
  nextRetryAt: z.number().optional(),
  serverInfo: z.object({ name: z.string(), version: z.string(), title: z.string().optional() }).optional(),
  counts: z.object({ tools: z.number(), resources: z.number(), prompts: z.number() }).optional(),
  /** The public endpoint URL while the link is connected and the server is announced. */
  endpoint: z.string().optional(),
});
export type ServerInfo = z.infer<typeof ServerInfo>;

/**
 * A server entry of mcp.json as a front writes it: the fields of the `mcpServers.<name>` object. The core
 * validates it again with the full mcp.json schema (core/config/mcp-config.ts `ServerEntry`) before writing.
 */
export const ServerEntryInput = z.looseObject({
  command: z.string().optional(),
  args: z.array(z.string()).optional(),
  env: StringMap.optional(),
  cwd: z.string().optional(),
  url: z.string().optional(),
  headers: StringMap.optional(),
  port: z.number().int().optional(),
  type: z.string().optional(),
  disabled: z.boolean().optional(),
  description: z.string().optional(),
  isolate: z.boolean().optional(),
});
export type ServerEntryInput = z.infer<typeof ServerEntryInput>;

/** A patch of an entry: a key set to null is removed; keys not given are kept (known or not). */
export const ServerEntryPatch = z.record(z.string(), z.unknown().nullable());

/** `servers:get`: the status plus the entry as written in mcp.json (env and header values masked). */
export const ServerDetail = z.object({
  info: ServerInfo,
  /** The entry from mcp.json; the values of `env` and `headers` are replaced by "«hidden»". */
  entry: z.record(z.string(), z.unknown()).nullable(),
  /** Why the entry is not usable, when it is not. */
  entryError: z.string().optional(),
  /** The last lines the server wrote to stderr (redacted), oldest first: why it failed, usually. */
  output: z.array(z.string()),
});
export type ServerDetail = z.infer<typeof ServerDetail>;

export const ToolInfo = z.object({
  name: z.string(),
  title: z.string().optional(),
  description: z.string().optional(),
  inputSchema: z.record(z.string(), z.unknown()),
});
export type ToolInfo = z.infer<typeof ToolInfo>;

/**
 * `servers:resolve`: what a stdio entry would launch, looked up as the server manager does (the entry's
 * PATH, else the gateway's, followed by the login shell's), before anything is saved or run.
 */
export const ResolvedCommand = z.object({
  found: z.boolean(),
  /** The absolute path of the executable, when found. */
  path: z.string().optional(),
  /** The exact command line that runs (quoted as the log shows it), when found. */
  commandLine: z.string().optional(),
  /** Why it was not found, naming where it was looked for and the fix. */
  message: z.string().optional(),
});
export type ResolvedCommand = z.infer<typeof ResolvedCommand>;

/** `tools:call`: the tool's result as the server sent it (MCP spec, server/tools, "Tool Result"). */
export const ToolCallResult = z.object({
  /** true when the tool reported an error in its result (not a protocol error). */
  isError: z.boolean(),
  content: z.array(z.record(z.string(), z.unknown())),
  structuredContent: z.record(z.string(), z.unknown()).optional(),
  /** Milliseconds from the request to the result. */
  durationMs: z.number(),
});
export type ToolCallResult = z.infer<typeof ToolCallResult>;

/** A `notifications/progress` of a `tools:call`, tagged with the caller's `callId`. The `progress` event. */
export const ToolProgress = z.object({
  callId: z.string(),
  progress: z.number(),
  total: z.number().optional(),
  message: z.string().optional(),
});
export type ToolProgress = z.infer<typeof ToolProgress>;

/** The MCP clients a snippet is written for. */
export const CLIENT_KINDS = ['gemini-cli', 'claude-code', 'cursor', 'vscode', 'claude-desktop'] as const;
export const ClientKind = z.enum(CLIENT_KINDS);
export type ClientKind = z.infer<typeof ClientKind>;

export const Endpoint = z.object({
  server: z.string(),
  url: z.string(),
  /** Paste-ready configuration per client (JSON text, or a shell command for Claude Code). */
  snippets: z.record(ClientKind, z.string()),
});
export type Endpoint = z.infer<typeof Endpoint>;

/** `endpoints:list`: what a remote MCP client needs to reach each server. */
export const Endpoints = z.object({
  connected: z.boolean(),
  relay: z.string().nullable(),
  subject: z.string().nullable(),
  /** The header every client sends; `value` is masked (`Bearer eyJh…«hidden»`) unless `reveal` was asked. */
  header: z.object({ name: z.literal('Authorization'), value: z.string() }).nullable(),
  revealed: z.boolean(),
  endpoints: z.array(Endpoint),
});
export type Endpoints = z.infer<typeof Endpoints>;

export const SettingSource = z.enum(['flag', 'environment', '.env', 'state', 'default', 'derived', 'unset']);

/** One setting with its value and where the value came from. */
export const SettingView = z.object({
  /** camelCase key, e.g. `requestTimeoutSeconds`. */
  key: z.string(),
  /** Environment name, e.g. `REQUEST_TIMEOUT_SECONDS`. */
  env: z.string(),
  description: z.string(),
  /** The value (secrets as "«redacted»"), or null when unset. */
  value: z.unknown(),
  default: z.unknown(),
  source: SettingSource,
  /** Environment name, file path, or what a derived value came from. */
  detail: z.string().optional(),
  secret: z.boolean(),
  /** Whether `settings:set` can save it (some settings live only in the environment). */
  settable: z.boolean(),
});
export type SettingView = z.infer<typeof SettingView>;

export const SettingSetResult = z.object({
  setting: SettingView,
  /** Settings are read when the gateway starts: a change applies from the next start. */
  restartRequired: z.boolean(),
  /** Set when a flag, the environment or .env still overrides the saved value. */
  overriddenBy: z.string().optional(),
});

export const Whoami = z.object({
  signedIn: z.boolean(),
  subject: z.string().nullable(),
  relay: z.string().nullable(),
  /** ISO time the token expires, or null (no token, no expiry, not a JWT). */
  expires: z.string().nullable(),
  email: z.string().nullable(),
  /** Where the token comes from: the state file's path, `environment`, `.env`, or null. */
  tokenFrom: z.string().nullable(),
  /** After a sign-in or sign-out: the gateway uses the new token from its next start. */
  restartRequired: z.boolean().optional(),
});
export type Whoami = z.infer<typeof Whoami>;

export const LOG_LEVELS = ['error', 'warn', 'info', 'debug'] as const;
export const LogLevel = z.enum(LOG_LEVELS);

/** One log line (already redacted at the source). Also the payload of the `logs` event. */
export const LogEntry = z.object({
  seq: z.number().int(),
  /** Epoch ms. */
  time: z.number(),
  level: LogLevel,
  scope: z.string(),
  message: z.string(),
});
export type LogEntry = z.infer<typeof LogEntry>;

/**
 * One remote call that went through the gateway to a local server: what, when, how long, how it ended.
 * Arguments and results are never kept. Also the payload of the `activity` event.
 */
export const CallRecord = z.object({
  seq: z.number().int(),
  /** Epoch ms when the call arrived. */
  time: z.number(),
  server: z.string(),
  /** The relay's label of the client session (8 hex digits of a hash of it); absent for sessionless callers. */
  session: z.string().optional(),
  /** The JSON-RPC method, e.g. `tools/call`. */
  method: z.string(),
  /** The tool or prompt name, or resource URI, the call named. */
  target: z.string().optional(),
  durationMs: z.number(),
  outcome: z.enum(['ok', 'error']),
  error: z.string().optional(),
});
export type CallRecord = z.infer<typeof CallRecord>;

/** The clients whose config files Import reads and "Add to <client>" writes. */
export const ClientApp = z.enum([
  'claude-desktop',
  'cursor',
  'vscode',
  'windsurf',
  'gemini-cli',
  'claude-code',
]);
export type ClientApp = z.infer<typeof ClientApp>;

/** One server found in pasted text or a client's config, in mcp.json's shape. */
export const ImportEntry = z.object({
  name: z.string(),
  entry: z.record(z.string(), z.unknown()),
  /** Why mcp.json would refuse it. */
  error: z.string().optional(),
  /** What was adapted (supergateway, httpUrl → url …). */
  note: z.string().optional(),
  /** mcp.json has a server of that name already: importing needs another name. */
  conflict: z.boolean(),
});
export type ImportEntry = z.infer<typeof ImportEntry>;

export const DetectedConfig = z.object({
  app: ClientApp,
  title: z.string(),
  path: z.string(),
  entries: z.array(ImportEntry),
  error: z.string().optional(),
});
export type DetectedConfig = z.infer<typeof DetectedConfig>;

/**
 * A client token this gateway asked its relay for (`clients:createToken`): a JWT of role `client` for one
 * subject and a set of servers, which MCP clients send as `Authorization: Bearer …` (issue 12). Listed
 * from the runtime state; the token itself is never part of a listing.
 */
export const ClientToken = z.object({
  /** The token's `jti`: what `clients:revokeToken` names. */
  id: z.string(),
  /** What the owner called it ("laptop Claude Code"). */
  name: z.string(),
  subject: z.string(),
  /** The relay's base URL that issued it. */
  relay: z.string(),
  /** The servers it reaches; `["*"]` is every server of the subject. */
  servers: z.array(z.string()),
  /** ISO times. */
  createdAt: z.string(),
  expiresAt: z.string(),
  expired: z.boolean(),
});
export type ClientToken = z.infer<typeof ClientToken>;

/**
 * An MCP client the owner allowed on the subject through the relay's OAuth consent page (the relay's
 * `GET /manage/client-grants`; its fields renamed to camelCase).
 */
export const ClientGrant = z.object({
  clientId: z.string(),
  clientName: z.string().optional(),
  servers: z.array(z.string()),
  /** ISO time. */
  grantedAt: z.string(),
});
export type ClientGrant = z.infer<typeof ClientGrant>;

/** `clients:list`: every MCP client that can reach this agent through its relay. */
export const ClientAccess = z.object({
  relay: z.string().nullable(),
  /** The tokens come from the local endpoint on 127.0.0.1 (no relay configured): only this machine uses them. */
  local: z.boolean().optional(),
  subject: z.string().nullable(),
  /** The client tokens created here, newest first (expired ones included, marked). */
  tokens: z.array(ClientToken),
  /** The OAuth clients allowed on the subject; null when they could not be listed (see `grantsNote`). */
  grants: z.array(ClientGrant).nullable(),
  /** Why `grants` is null, naming the fix (no sign-in on the relay, not signed in, relay unreachable). */
  grantsNote: z.string().optional(),
});
export type ClientAccess = z.infer<typeof ClientAccess>;

/** `clients:createToken`: the new token, with the only copy of its secret and a ready client config. */
export const NewClientToken = z.object({
  token: ClientToken,
  /** `Bearer <jwt>`: shown once, to copy; no later call returns it. */
  header: z.string(),
  /** A ready `mcpServers` config (JSON text) for the servers the token reaches, with the header. */
  config: z.string(),
});
export type NewClientToken = z.infer<typeof NewClientToken>;

/**
 * An MCP client waiting for the owner's consent on the relay (issue 12): the relay asks the app while its
 * consent page shows, and the first answer (here or on that page) counts. Also an element of the `consent`
 * event. Nothing secret: the client's own claims about itself, where its answer goes, what it asks for.
 */
export const PendingConsent = z.object({
  /** What `consent:answer` names. */
  id: z.string(),
  subject: z.string(),
  clientId: z.string(),
  /** The client's own name for itself (unverified), when it gave one. */
  clientName: z.string().optional(),
  clientUri: z.string().optional(),
  /** The host the client's redirect_uri sends the answer to (the client cannot hide it). */
  redirectHost: z.string(),
  /** The servers of `subject` it asks for. */
  servers: z.array(z.string()),
  /** Epoch ms: when it arrived, and when the relay stops waiting for the app's answer. */
  requestedAt: z.number(),
  expiresAt: z.number(),
});
export type PendingConsent = z.infer<typeof PendingConsent>;

export const Paths = z.object({
  config: z.string(),
  /** How the config path was chosen: flag, environment, .env, walk-up, user-dir. */
  configSource: z.string(),
  state: z.string(),
  stateSource: z.string(),
  logFile: z.string(),
  logFolder: z.string(),
});
export type Paths = z.infer<typeof Paths>;

export const Autostart = z.object({ enabled: z.boolean() });

// ── the calls ───────────────────────────────────────────────────────────────────────────────────────────

/** Every call: `domain:action` → its argument and result schemas. */
export const CONTROL_CALLS = {
  'status:get': { args: NoArgs, result: Status },
  /** Hides a notice (by its id) until the front raises it again. */
  'notices:dismiss': { args: z.strictObject({ id: z.string().min(1) }), result: Status },
  /** Connects the link to the relay (or the local endpoint); servers keep running. */
  'link:connect': { args: NoArgs, result: Status },
  /** Closes the link to the relay; servers keep running, remote clients get "agent offline". */
  'link:disconnect': { args: NoArgs, result: Status },

  'servers:list': { args: NoArgs, result: z.array(ServerInfo) },
  'servers:get': { args: ByName, result: ServerDetail },
  /** Adds an entry to mcp.json (refused when the name exists); it starts through the live reload. */
  'servers:add': { args: z.strictObject({ name: ServerName, entry: ServerEntryInput }), result: ServerInfo },
  /** Edits an entry in place (formatting and unknown fields kept). */
  'servers:update': {
    args: z.strictObject({ name: ServerName, patch: ServerEntryPatch }),
    result: ServerInfo,
  },
  'servers:remove': { args: ByName, result: z.object({ removed: z.string() }) },
  'servers:enable': { args: ByName, result: ServerInfo },
  'servers:disable': { args: ByName, result: ServerInfo },
  'servers:restart': { args: ByName, result: ServerInfo },
  /** The tools of a running server (tools/list). */
  'servers:tools': { args: ByName, result: z.array(ToolInfo) },
  /** The command line a stdio entry would launch, or why its command is not found. Runs nothing. */
  'servers:resolve': {
    args: z.strictObject({
      command: z.string().min(1),
      args: z.array(z.string()).optional(),
      cwd: z.string().optional(),
      env: StringMap.optional(),
    }),
    result: ResolvedCommand,
  },

  /**
   * Calls a tool of a running server (tools/call). With `callId`, its progress notifications come as
   * `progress` events carrying that id.
   */
  'tools:call': {
    args: z.strictObject({
      server: ServerName,
      tool: z.string().min(1),
      arguments: z.record(z.string(), z.unknown()).optional(),
      callId: z.string().min(1).max(64).optional(),
    }),
    result: ToolCallResult,
  },

  /** A folder chosen in the OS dialog (Electron), null when cancelled; `unsupported` in the web host. */
  'dialog:pickFolder': { args: NoArgs, result: z.object({ path: z.string().nullable() }) },

  'endpoints:list': { args: z.strictObject({ reveal: z.boolean().optional() }), result: Endpoints },

  'settings:get': { args: NoArgs, result: z.array(SettingView) },
  /** Saves a setting in the runtime state file; `value: null` removes the saved value. */
  'settings:set': {
    args: z.strictObject({ key: z.string().min(1), value: z.string().nullable() }),
    result: SettingSetResult,
  },

  /** Signs in to the relay (`relay` or the configured one) with the browser flow; stores the tokens. */
  'auth:login': { args: z.strictObject({ relay: z.string().optional() }), result: Whoami },
  /** Revokes the tokens at the relay (best effort) and removes them from this computer. */
  'auth:logout': { args: NoArgs, result: Whoami },
  'auth:whoami': { args: NoArgs, result: Whoami },

  /** The most recent log entries, oldest first. */
  'logs:recent': {
    args: z.strictObject({
      limit: z.number().int().min(1).max(10_000).optional(),
      level: LogLevel.optional(),
    }),
    result: z.array(LogEntry),
  },
  'paths:get': { args: NoArgs, result: Paths },
  /** The MCP clients' config files found on this computer, with their servers (conflicts marked). */
  'import:detect': { args: NoArgs, result: z.array(DetectedConfig) },
  /**
   * The servers in pasted JSON: `mcpServers`, VS Code's `servers`, or a bare map. Text that is not
   * understood answers `config-invalid` saying why.
   */
  'import:parse': { args: z.strictObject({ text: z.string().max(1_000_000) }), result: z.array(ImportEntry) },
  /** Adds the entries to mcp.json; refuses them all (nothing written) if a name exists or one is invalid. */
  'import:apply': {
    args: z.strictObject({
      entries: z.array(z.strictObject({ name: ServerName, entry: ServerEntryInput })).min(1),
    }),
    result: z.object({ added: z.array(z.string()) }),
  },
  /**
   * Writes server `server`'s endpoint into `app`'s config file as `name` (default: the server's name):
   * backup first, formatting kept, never replacing an entry of that name (`exists`).
   */
  'clients:add': {
    args: z.strictObject({ app: ClientApp, server: ServerName, name: ServerName.optional() }),
    result: z.object({ path: z.string(), backup: z.string().nullable() }),
  },
  /**
   * The MCP clients that can reach this agent: the client tokens created here and the OAuth clients the owner
   * allowed (when the relay has sign-in). `usage` when no relay is configured or nobody is signed in.
   */
  'clients:list': { args: NoArgs, result: ClientAccess },
  /**
   * Asks the relay for a client token (`POST /manage/client-token` with the agent token) for `servers`
   * (default: every server the agent token allows), valid `days` days, and remembers it under `name`. With no
   * relay configured, the local endpoint issues it (while it runs): it reaches only this machine.
   */
  'clients:createToken': {
    args: z.strictObject({
      name: z.string().trim().min(1).max(64),
      servers: z
        .array(z.union([ServerName, z.literal('*')]))
        .min(1)
        .optional(),
      days: z.number().int().min(1).max(365),
    }),
    result: NewClientToken,
  },
  /** Revokes a client token at the relay (`POST /manage/jwt/revoke`): it stops working at once. */
  'clients:revokeToken': {
    args: z.strictObject({ id: z.string().min(1) }),
    result: z.object({ revoked: z.string() }),
  },
  /** Ends an OAuth client's grant (`POST /manage/client-grants/revoke`): its tokens stop working at once. */
  'clients:revokeGrant': {
    args: z.strictObject({ clientId: z.string().min(1) }),
    result: z.object({ revoked: z.number().int() }),
  },
  /** The MCP clients waiting for the owner's consent on the relay, oldest first (issue 12). */
  'consent:list': { args: NoArgs, result: z.array(PendingConsent) },
  /**
   * Answers a consent request for the owner: `allow` lets the client in as if the owner had clicked Allow on
   * the relay's page, else it gets `access_denied`. `not-found` when it is over (answered on the page, timed
   * out); `usage` when the link to the relay ended meanwhile.
   */
  'consent:answer': {
    args: z.strictObject({ id: z.string().min(1).max(128), allow: z.boolean() }),
    result: z.object({ answered: z.string(), allow: z.boolean() }),
  },
  /** The recent remote calls, oldest first (at most 500). */
  'activity:recent': { args: NoArgs, result: z.array(CallRecord) },
  /** Opens the log folder in the OS file manager; `unsupported` where the front cannot. */
  'logs:openFolder': { args: NoArgs, result: z.object({ opened: z.string() }) },

  /** Start at login; answers `unsupported` where the front has no way to do it (the web host). */
  'autostart:get': { args: NoArgs, result: Autostart },
  'autostart:set': { args: z.strictObject({ enabled: z.boolean() }), result: Autostart },
} as const satisfies Record<`${string}:${string}`, { args: z.ZodType; result: z.ZodType }>;

export type CallName = keyof typeof CONTROL_CALLS;
/** Every call name, for transports to iterate (one `ipcMain.handle` each). */
export const CALL_NAMES = Object.keys(CONTROL_CALLS) as CallName[];
/** What a caller sends (before defaults and coercion). */
export type CallArgs<N extends CallName> = z.input<(typeof CONTROL_CALLS)[N]['args']>;
/** What the implementation receives after validation. */
export type ParsedArgs<N extends CallName> = z.output<(typeof CONTROL_CALLS)[N]['args']>;
export type CallResult<N extends CallName> = z.output<(typeof CONTROL_CALLS)[N]['result']>;

// ── the events ──────────────────────────────────────────────────────────────────────────────────────────

/** Every event stream and its payload. */
export const CONTROL_EVENTS = {
  /** The status changed (link state, sign-in). */
  status: Status,
  /** A server's status changed, or one was added or removed: the whole list. */
  servers: z.array(ServerInfo),
  /** A new log entry. */
  logs: LogEntry,
  /** A remote call finished. */
  activity: CallRecord,
  /** Progress of a `tools:call` made with a `callId`. */
  progress: ToolProgress,
  /** The consent requests waiting for the owner changed: the whole list, oldest first. */
  consent: z.array(PendingConsent),
} as const;

export type EventName = keyof typeof CONTROL_EVENTS;
export const EVENT_NAMES = Object.keys(CONTROL_EVENTS) as EventName[];
export type EventPayload<E extends EventName> = z.output<(typeof CONTROL_EVENTS)[E]>;

// ── results and errors ──────────────────────────────────────────────────────────────────────────────────

export const CONTROL_ERROR_CODES = [
  'invalid-args', // the arguments do not match the call's schema
  'unknown-call', // no such call or event
  'not-found', // no server of that name
  'exists', // a server of that name exists already
  'unsupported', // this front cannot do it (start at login in the web host)
  'forbidden', // the caller is not allowed (a foreign frame on IPC, a page without the token)
  'not-running', // the server is not running (its tools cannot be listed)
  'config-invalid', // mcp.json or the entry is invalid: nothing was written
  'config-io', // a file could not be read or written
  'setting-invalid', // a setting value is refused
  'auth-failed', // sign-in or sign-out failed
  'server-failed', // a server could not start
  'usage', // the request makes no sense in this state (no relay configured …)
  'internal', // a bug: the message says what failed, the log has the details
] as const;
export type ControlErrorCode = (typeof CONTROL_ERROR_CODES)[number];

export type ControlResult<T> =
  { ok: true; value: T } | { ok: false; code: ControlErrorCode; message: string };

/** The zod schema of a ControlResult carrying `value`. */
export const controlResult = <T extends z.ZodType>(value: T) =>
  z.discriminatedUnion('ok', [
    z.object({ ok: z.literal(true), value }),
    z.object({ ok: z.literal(false), code: z.enum(CONTROL_ERROR_CODES), message: z.string() }),
  ]);

// ── the API a page sees (window.gateway, and the web host's client) ─────────────────────────────────────

type DomainOf<N> = N extends `${infer D}:${string}` ? D : never;
type ActionOf<N, D extends string> = N extends `${D}:${infer A}` ? A : never;
type Method<N extends CallName> =
  Record<string, never> extends CallArgs<N>
    ? (args?: CallArgs<N>) => Promise<ControlResult<CallResult<N>>>
    : (args: CallArgs<N>) => Promise<ControlResult<CallResult<N>>>;

/**
 * The contract as named functions: `gateway.servers.list()`, `gateway.servers.add({name, entry})`, and
 * `gateway.subscribe('servers', listener)` returning its unsubscribe function. The Electron preload exposes
 * exactly this as `window.gateway`; the web host's page builds the same over its WebSocket.
 */
export type GatewayApi = {
  readonly [D in DomainOf<CallName>]: {
    readonly [A in ActionOf<CallName, D>]: Method<`${D}:${A}` & CallName>;
  };
} & {
  subscribe<E extends EventName>(event: E, listener: (payload: EventPayload<E>) => void): () => void;
};

/**
 * Builds a GatewayApi from a transport's two primitives: `invoke(name, args)` answering a ControlResult, and
 * `subscribe(event, listener)` returning an unsubscribe function. Plain nested objects of functions, so that
 * Electron's contextBridge can copy it.
 */
export function buildGatewayApi(
  invoke: (name: CallName, args: unknown) => Promise<ControlResult<unknown>>,
  subscribe: (event: EventName, listener: (payload: unknown) => void) => () => void,
): GatewayApi {
  const api: Record<string, Record<string, (args?: unknown) => Promise<ControlResult<unknown>>>> = {};
  for (const name of CALL_NAMES) {
    const [domain, action] = name.split(':') as [string, string];
    (api[domain] ??= {})[action] = (args?: unknown) => invoke(name, args ?? {});
  }
  return {
    ...api,
    subscribe: (event: EventName, listener: (payload: unknown) => void) => subscribe(event, listener),
  } as unknown as GatewayApi;
}

// ── the web host's WebSocket messages (one JSON object per text frame) ──────────────────────────────────

/** Page → host. */
export const HostRequest = z.discriminatedUnion('type', [
  z.object({ type: z.literal('call'), id: z.number().int(), name: z.string(), args: z.unknown().optional() }),
  z.object({ type: z.literal('subscribe'), event: z.string() }),
  z.object({ type: z.literal('unsubscribe'), event: z.string() }),
]);
export type HostRequest = z.infer<typeof HostRequest>;

/** Host → page: the answer to a call, or an event of a subscribed stream. */
export type HostMessage =
  | { type: 'result'; id: number; result: ControlResult<unknown> }
  | { type: 'event'; event: EventName; payload: unknown };
