// Every setting of COMPAT.md, as data: environment name, runtime-state key, CLI flag, schema, default.
// Precedence: --flag > environment > .env (in the working directory) > runtime state > default; a few values
// are derived when unset (the subject from the token, the WebSocket URL from the base URL). Each resolved
// value remembers where it came from, for `config show`.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

import { parse as parseDotenv } from 'dotenv';
import { decodeJwt } from 'jose';
import { z } from 'zod';

import { errorMessage, GatewayError } from '../errors.js';
import { JsonFile } from './json-file.js';
import { editJsonText, parseJsonText } from './json-text.js';
import { type GatewayPaths, type PathSource, resolvePaths, type UserDirs } from './paths.js';

const fromString =
  (convert: (text: string) => unknown) =>
  (value: unknown): unknown =>
    typeof value === 'string' ? convert(value.trim()) : value;

const seconds = (min: number) =>
  z.preprocess(
    fromString((text) => (text === '' ? text : Number(text))),
    z
      .number({ error: `expected a number of seconds (at least ${min})` })
      .min(min, `must be at least ${min} seconds`),
  );

const BOOLEAN_WORDS: Record<string, boolean> = {
  true: true,
  '1': true,
  yes: true,
  on: true,
  false: false,
  '0': false,
  no: false,
  off: false,
};
const flag = z.preprocess(
  fromString((text) => BOOLEAN_WORDS[text.toLowerCase()] ?? text),
  z.boolean({ error: 'expected true or false' }),
);

const list = z.preprocess(
  fromString((text) =>
    text
      .split(',')
      .map((item) => item.trim())
      .filter(Boolean),
  ),
  z.array(z.string().min(1), { error: 'expected a comma-separated list of names' }),
);

const url = (protocols: RegExp, example: string) =>
  z.preprocess(
    fromString((text) => text.replace(/\/+$/, '')),
    z.url({ protocol: protocols, error: `expected a URL like ${example}` }),
  );

const text = z.preprocess(
  fromString((value) => value),
  z.string({ error: 'expected text' }).min(1, 'must not be empty'),
);

interface SettingDef {
  /** Environment name (COMPAT.md). */
  env: string;
  /** Other environment names accepted for it. */
  aliases?: readonly string[];
  /** Key in the runtime state file; settings without one live only in the environment. */
  state?: string;
  schema: z.ZodType;
  default?: unknown;
  secret?: boolean;
  description: string;
}

const def = <S extends z.ZodType>(d: Omit<SettingDef, 'schema'> & { schema: S; default?: z.output<S> }) => d;

export const SETTINGS = {
  remoteServerBaseUrl: def({
    env: 'REMOTE_SERVER_BASE_URL',
    state: 'remote_server_base_url',
    schema: url(/^https?$/, 'https://relay.example.com'),
    description: 'Base URL of the relay; the WebSocket URL is derived from it',
  }),
  remoteWebsocketUrl: def({
    env: 'REMOTE_WEBSOCKET_URL',
    state: 'websocket_url',
    schema: url(/^wss?$/, 'wss://relay.example.com/connect'),
    description: 'WebSocket URL of the relay (default: REMOTE_SERVER_BASE_URL with https→wss and /connect)',
  }),
  agentJwt: def({
    env: 'AGENT_JWT',
    state: 'jwt_token',
    schema: text,
    secret: true,
    description: 'The agent token (JWT) sent as the Authorization bearer',
  }),
  subject: def({
    env: 'SUBJECT',
    aliases: ['AGENT_ID'],
    state: 'subject',
    schema: text,
    description: "Agent id (default: the token's sub claim)",
  }),
  capabilities: def({
    env: 'CAPABILITIES',
    state: 'capabilities',
    schema: list,
    description: "Server names to announce (default: the token's capabilities claim, else all)",
  }),
  startMcpServers: def({
    env: 'START_MCP_SERVERS',
    state: 'start_mcp_servers',
    schema: flag,
    default: true,
    description: 'Start the servers in mcp.json',
  }),
  requestTimeoutSeconds: def({
    env: 'REQUEST_TIMEOUT_SECONDS',
    state: 'request_timeout_seconds',
    schema: seconds(1),
    default: 20,
    description: 'How long the relay waits for an answer; local calls get one second less',
  }),
  reconnectInitialDelaySeconds: def({
    env: 'RECONNECT_INITIAL_DELAY_SECONDS',
    state: 'reconnect_initial_delay_seconds',
    schema: seconds(0.05),
    default: 1,
    description: 'First delay before reconnecting to the relay',
  }),
  reconnectMaxDelaySeconds: def({
    env: 'RECONNECT_MAX_DELAY_SECONDS',
    state: 'reconnect_max_delay_seconds',
    schema: seconds(0.05),
    default: 20,
    description: 'Longest delay between reconnect attempts',
  }),
  localRelayPort: def({
    env: 'LOCAL_RELAY_PORT',
    state: 'local_relay_port',
    schema: z.preprocess(
      fromString((v) => (v === '' ? v : Number(v))),
      z
        .int({ error: 'expected a port number' })
        .min(0, 'expected a port from 0 to 65535')
        .max(65535, 'expected a port from 0 to 65535'),
    ),
    default: 43111,
    description: 'Port of the local endpoint on 127.0.0.1 when no remote is configured (0: any free port)',
  }),
  localAllowedOrigins: def({
    env: 'LOCAL_ALLOWED_ORIGINS',
    state: 'local_allowed_origins',
    schema: z.preprocess(
      fromString((text) =>
        text
          .split(',')
          .map((item) => item.trim().replace(/\/+$/, ''))
          .filter(Boolean),
      ),
      z.array(
        z
          .string()
          .refine(
            (value) => URL.canParse(value) && new URL(value).origin === value,
            'expected origins like https://app.example.com (scheme, host and port; no path)',
          ),
        { error: 'expected a comma-separated list of origins' },
      ),
    ),
    description:
      'Browser origins allowed to call the local endpoint besides pages on this machine, comma-separated',
  }),
  mcpProtocolVersion: def({
    env: 'MCP_PROTOCOL_VERSION',
    state: 'mcp_protocol_version',
    schema: z.preprocess(
      fromString((v) => v),
      z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'expected a date like 2025-11-25'),
    ),
    default: '2025-11-25',
    description: 'MCP protocol version the gateway speaks by default',
  }),
} as const satisfies Record<string, SettingDef>;

export type SettingKey = keyof typeof SETTINGS;
export type Settings = { [K in SettingKey]: z.output<(typeof SETTINGS)[K]['schema']> | undefined } & {
  startMcpServers: boolean;
  requestTimeoutSeconds: number;
  reconnectInitialDelaySeconds: number;
  reconnectMaxDelaySeconds: number;
  localRelayPort: number;
  mcpProtocolVersion: string;
};
export const SETTING_KEYS = Object.keys(SETTINGS) as SettingKey[];

export type SettingSource = 'flag' | 'environment' | '.env' | 'state' | 'default' | 'derived' | 'unset';

export interface SettingOrigin {
  source: SettingSource;
  /** The environment name, file path, or what a derived value came from. */
  detail?: string;
}

export interface ResolvedSettings {
  values: Settings;
  origins: Record<SettingKey, SettingOrigin>;
  paths: GatewayPaths;
  /** The .env file that was read, if any. */
  dotenvPath?: string;
  /** The runtime state as read (keys we do not know included). */
  state: Record<string, unknown>;
}

export interface SettingsInputs {
  cwd: string;
  env: Readonly<Record<string, string | undefined>>;
  /** Values from command-line flags, as typed. */
  flags?: Partial<Record<SettingKey, string>>;
  /** --config / --state. */
  configPath?: string;
  statePath?: string;
  userDirs?: UserDirs;
}

/** `requestTimeoutSeconds` → `--request-timeout-seconds`. */
export const flagName = (key: SettingKey): string =>
  `--${SETTINGS[key].env.toLowerCase().replaceAll('_', '-')}`;

/** Finds a setting by any of its names: `requestTimeoutSeconds`, `REQUEST_TIMEOUT_SECONDS`, `request_timeout_seconds`, `request-timeout-seconds`. */
export function findSettingKey(name: string): SettingKey | undefined {
  const norm = name.replace(/^--/, '').replaceAll('-', '_').toLowerCase();
  return SETTING_KEYS.find((key) => {
    const d: SettingDef = SETTINGS[key];
    return [
      key.toLowerCase(),
      d.env.toLowerCase(),
      d.state,
      ...(d.aliases ?? []).map((a) => a.toLowerCase()),
    ].includes(norm);
  });
}

/**
 * The value of setting `key` from `raw`, or a GatewayError naming it. `where` says where the value came
 * from ("the environment", a file, "the --x flag"); `label` replaces "<ENV> from <where>" when the user
 * typed the setting's name themselves (the menu's /set), and `fix` ends the message.
 */
function parseValue(
  key: SettingKey,
  raw: unknown,
  where: string,
  { label, fix = 'Fix or remove that value.' }: { label?: string; fix?: string } = {},
): unknown {
  const d: SettingDef = SETTINGS[key];
  const result = d.schema.safeParse(raw);
  if (result.success) return result.data;
  const shown = d.secret ? '«redacted»' : JSON.stringify(raw);
  const issue = result.error.issues[0]?.message ?? 'invalid value';
  throw new GatewayError(
    'setting-invalid',
    `${label ?? `${d.env} from ${where}`}: ${issue} (got ${shown}). ${fix}`,
  );
}

async function readDotenv(
  cwd: string,
): Promise<{ path: string; values: Record<string, string> } | undefined> {
  const path = join(cwd, '.env');
  try {
    return { path, values: parseDotenv(await readFile(path, 'utf8')) };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new GatewayError('config-io', `Cannot read ${path}: ${errorMessage(error)}`, { cause: error });
  }
}

/** Reads the runtime state file: {} when it does not exist, an error with the location when it is broken. */
export async function readState(path: string): Promise<Record<string, unknown>> {
  const text = await new JsonFile(path).readText();
  if (text === undefined) return {};
  const value = parseJsonText(text, path);
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new GatewayError(
      'config-invalid',
      `${path}: the runtime state must be a JSON object. Fix or delete the file.`,
    );
  }
  return value as Record<string, unknown>;
}

/** The agent id when none is configured: the token's `sub`, else `subject-` + 12 hex of sha256(token). */
export function subjectFromToken(token: string): string {
  try {
    const sub = decodeJwt(token).sub;
    if (sub) return sub;
  } catch {
    // ignore: not a decodable JWT; the fingerprint still identifies it
  }
  return `subject-${createHash('sha256').update(token).digest('hex').slice(0, 12)}`;
}

function capabilitiesFromToken(token: string): string[] | undefined {
  try {
    const claim = decodeJwt(token)['capabilities'];
    return Array.isArray(claim) && claim.every((c) => typeof c === 'string') ? claim : undefined;
  } catch {
    return undefined; // ignore: an opaque token has no claims
  }
}

export async function resolveSettings(inputs: SettingsInputs): Promise<ResolvedSettings> {
  const dotenv = await readDotenv(inputs.cwd);
  const lookupEnv = (name: string): { value: string; source: PathSource; detail: string } | undefined => {
    const fromEnv = inputs.env[name];
    if (fromEnv !== undefined && fromEnv !== '')
      return { value: fromEnv, source: 'environment', detail: name };
    const fromDotenv = dotenv?.values[name];
    if (fromDotenv !== undefined && fromDotenv !== '')
      return { value: fromDotenv, source: '.env', detail: dotenv!.path };
    return undefined;
  };
  const pathInput = (flagValue: string | undefined, env: string) =>
    flagValue !== undefined ? { value: flagValue, source: 'flag' as const } : lookupEnv(env);

  const paths = resolvePaths({
    cwd: inputs.cwd,
    configPath: pathInput(inputs.configPath, 'AGENT_CONFIG_PATH'),
    statePath: pathInput(inputs.statePath, 'AGENT_STATE_PATH'),
    userDirs: inputs.userDirs,
  });
  const state = await readState(paths.state.path);

  const values: Record<string, unknown> = {};
  const origins = {} as Record<SettingKey, SettingOrigin>;
  for (const key of SETTING_KEYS) {
    const d: SettingDef = SETTINGS[key];
    const flagValue = inputs.flags?.[key];
    if (flagValue !== undefined) {
      values[key] = parseValue(key, flagValue, `the ${flagName(key)} flag`);
      origins[key] = { source: 'flag', detail: flagName(key) };
      continue;
    }
    // Source before name: AGENT_ID in the environment beats SUBJECT in .env (environment > .env).
    const hits = [d.env, ...(d.aliases ?? [])].map(lookupEnv).filter((hit) => hit !== undefined);
    const fromEnv = hits.find((hit) => hit.source === 'environment') ?? hits[0];
    if (fromEnv) {
      const where = fromEnv.source === 'environment' ? 'the environment' : fromEnv.detail;
      values[key] = parseValue(key, fromEnv.value, where);
      origins[key] = { source: fromEnv.source as SettingSource, detail: fromEnv.detail };
      continue;
    }
    if (d.state && state[d.state] !== undefined && state[d.state] !== null) {
      values[key] = parseValue(key, state[d.state], paths.state.path);
      origins[key] = { source: 'state', detail: paths.state.path };
      continue;
    }
    values[key] = d.default;
    origins[key] = { source: d.default === undefined ? 'unset' : 'default' };
  }

  const settings = values as Settings;
  if (settings.remoteWebsocketUrl === undefined && settings.remoteServerBaseUrl !== undefined) {
    const ws = new URL(settings.remoteServerBaseUrl);
    ws.protocol = ws.protocol === 'https:' ? 'wss:' : 'ws:';
    ws.pathname = `${ws.pathname.replace(/\/+$/, '')}/connect`;
    settings.remoteWebsocketUrl = ws.href;
    origins.remoteWebsocketUrl = { source: 'derived', detail: 'REMOTE_SERVER_BASE_URL' };
  }
  if (settings.agentJwt !== undefined) {
    if (settings.subject === undefined) {
      settings.subject = subjectFromToken(settings.agentJwt);
      origins.subject = { source: 'derived', detail: 'AGENT_JWT' };
    }
    if (settings.capabilities === undefined) {
      const claim = capabilitiesFromToken(settings.agentJwt);
      if (claim) {
        settings.capabilities = claim;
        origins.capabilities = { source: 'derived', detail: 'AGENT_JWT' };
      }
    }
  }
  if (settings.reconnectMaxDelaySeconds < settings.reconnectInitialDelaySeconds) {
    throw new GatewayError(
      'setting-invalid',
      `RECONNECT_MAX_DELAY_SECONDS (${settings.reconnectMaxDelaySeconds}) is below RECONNECT_INITIAL_DELAY_SECONDS ` +
        `(${settings.reconnectInitialDelaySeconds}). Raise the maximum or lower the initial delay.`,
    );
  }
  return { values: settings, origins, paths, dotenvPath: dotenv?.path, state };
}

/**
 * Saves settings in the runtime state file (mode 0600: it holds the token). `undefined` removes a value.
 * Values are validated first; nothing is written if any is invalid. Returns the stored values.
 */
export async function saveSettings(
  statePath: string,
  changes: Partial<Record<SettingKey, string | undefined>>,
  { typedAs = 'flag' }: { typedAs?: 'flag' | 'state-key' } = {},
): Promise<Partial<Record<SettingKey, unknown>>> {
  const stored: Partial<Record<SettingKey, unknown>> = {};
  for (const [key, raw] of Object.entries(changes) as [SettingKey, string | undefined][]) {
    const d: SettingDef = SETTINGS[key];
    if (!d.state) throw new GatewayError('setting-invalid', `${d.env} can only be set in the environment.`);
    // An error names the setting the way the user typed it: a flag on the command line, a key in the menu.
    const named = typedAs === 'state-key' ? { label: d.state, fix: 'Nothing was saved.' } : {};
    stored[key] = raw === undefined ? undefined : parseValue(key, raw, `the ${flagName(key)} flag`, named);
  }
  await new JsonFile(statePath, { mode: 0o600 }).update((current) => {
    let next = current ?? '{}\n';
    for (const [key, value] of Object.entries(stored) as [SettingKey, unknown][]) {
      next = editJsonText(next, [SETTINGS[key].state!], value);
    }
    return next;
  });
  return stored;
}
