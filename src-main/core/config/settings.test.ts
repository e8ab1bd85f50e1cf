// Settings (COMPAT.md, "Agent configuration names"): precedence flag > environment > .env > runtime state >
// default, derived values, errors that name the variable and where it came from (never a secret), and the
// runtime state file written with typed values. Every test uses a temp dir and an explicit env.
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { type JWTPayload, SignJWT } from 'jose';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { GatewayError } from '../errors.js';
import type { UserDirs } from './paths.js';
import type { ResolvedSettings, SettingsInputs } from './settings.js';
import {
  findSettingKey,
  flagName,
  resolveSettings,
  saveSettings,
  SETTING_KEYS,
  SETTINGS,
  subjectFromToken,
} from './settings.js';

const SIGNING_KEY = new TextEncoder().encode('a-test-signing-key-of-32-bytes!!');

async function signToken(claims: JWTPayload, subject?: string): Promise<string> {
  const jwt = new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).setIssuedAt();
  if (subject !== undefined) jwt.setSubject(subject);
  return jwt.sign(SIGNING_KEY);
}

const fingerprint = (token: string): string =>
  `subject-${createHash('sha256').update(token).digest('hex').slice(0, 12)}`;

let dir: string;
let cwd: string;
let userDirs: UserDirs;
let statePath: string;
let dotenvPath: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mcpgw-settings-'));
  cwd = join(dir, 'work');
  await mkdir(cwd);
  userDirs = { config: join(dir, 'user-config'), log: join(dir, 'user-log') };
  statePath = join(userDirs.config, '.mcpassistant.json');
  dotenvPath = join(cwd, '.env');
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const resolve = (inputs: Partial<SettingsInputs> = {}): Promise<ResolvedSettings> =>
  resolveSettings({ cwd, env: {}, userDirs, ...inputs });

async function writeState(state: unknown): Promise<void> {
  await mkdir(userDirs.config, { recursive: true });
  await writeFile(statePath, `${JSON.stringify(state, null, 2)}\n`);
}

async function rejection(promise: Promise<unknown>): Promise<GatewayError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(GatewayError);
  return error as GatewayError;
}

describe('resolveSettings', () => {
  it('uses the defaults when nothing is set, and reads no real home directory', async () => {
    const { values, origins, paths, state, dotenvPath: readDotenv } = await resolve();
    expect(values).toMatchObject({
      startMcpServers: true,
      requestTimeoutSeconds: 20,
      reconnectInitialDelaySeconds: 1,
      reconnectMaxDelaySeconds: 20,
      mcpProtocolVersion: '2025-11-25',
    });
    for (const key of [
      'remoteServerBaseUrl',
      'remoteWebsocketUrl',
      'agentJwt',
      'subject',
      'capabilities',
    ] as const) {
      expect(values[key], key).toBeUndefined();
      expect(origins[key], key).toEqual({ source: 'unset' });
    }
    expect(origins.requestTimeoutSeconds).toEqual({ source: 'default' });
    expect(paths.state).toEqual({ path: statePath, source: 'user-dir' });
    expect(paths.config).toEqual({ path: join(userDirs.config, 'mcp.json'), source: 'user-dir' });
    expect(state).toEqual({});
    expect(readDotenv).toBeUndefined();
  });

  it('takes each value from the first of flag > environment > .env > runtime state > default', async () => {
    await writeState({ request_timeout_seconds: 8 });
    await writeFile(dotenvPath, 'REQUEST_TIMEOUT_SECONDS=7\n');
    const env = { REQUEST_TIMEOUT_SECONDS: '6' };

    const fromFlag = await resolve({ env, flags: { requestTimeoutSeconds: '5' } });
    expect(fromFlag.values.requestTimeoutSeconds).toBe(5);
    expect(fromFlag.origins.requestTimeoutSeconds).toEqual({
      source: 'flag',
      detail: '--request-timeout-seconds',
    });

    const fromEnv = await resolve({ env });
    expect(fromEnv.values.requestTimeoutSeconds).toBe(6);
    expect(fromEnv.origins.requestTimeoutSeconds).toEqual({
      source: 'environment',
      detail: 'REQUEST_TIMEOUT_SECONDS',
    });

    // An empty environment value counts as unset.
    const fromDotenv = await resolve({ env: { REQUEST_TIMEOUT_SECONDS: '' } });
    expect(fromDotenv.values.requestTimeoutSeconds).toBe(7);
    expect(fromDotenv.origins.requestTimeoutSeconds).toEqual({ source: '.env', detail: dotenvPath });
    expect(fromDotenv.dotenvPath).toBe(dotenvPath);

    await rm(dotenvPath);
    const fromState = await resolve();
    expect(fromState.values.requestTimeoutSeconds).toBe(8);
    expect(fromState.origins.requestTimeoutSeconds).toEqual({ source: 'state', detail: statePath });

    await writeState({ request_timeout_seconds: null });
    const fromDefault = await resolve();
    expect(fromDefault.values.requestTimeoutSeconds).toBe(20);
    expect(fromDefault.origins.requestTimeoutSeconds).toEqual({ source: 'default' });
  });

  it('mixes sources per setting, and returns the state as read, unknown keys included', async () => {
    await writeState({
      mcp_protocol_version: '2025-06-18',
      start_mcp_servers: 'yes',
      published_endpoints: ['x'],
    });
    await writeFile(dotenvPath, 'RECONNECT_INITIAL_DELAY_SECONDS=0.5\nCAPABILITIES=fs, git ,\n');
    const { values, origins, state } = await resolve({
      env: { RECONNECT_MAX_DELAY_SECONDS: '30' },
      flags: { startMcpServers: 'off' },
    });
    expect(values).toMatchObject({
      mcpProtocolVersion: '2025-06-18',
      startMcpServers: false,
      reconnectInitialDelaySeconds: 0.5,
      reconnectMaxDelaySeconds: 30,
      capabilities: ['fs', 'git'],
      requestTimeoutSeconds: 20,
    });
    expect(origins.mcpProtocolVersion.source).toBe('state');
    expect(origins.startMcpServers.source).toBe('flag');
    expect(origins.reconnectInitialDelaySeconds.source).toBe('.env');
    expect(origins.capabilities.source).toBe('.env');
    expect(origins.reconnectMaxDelaySeconds.source).toBe('environment');
    expect(origins.requestTimeoutSeconds.source).toBe('default');
    expect(state['published_endpoints']).toEqual(['x']);
  });

  it('accepts the usual words for booleans', async () => {
    for (const [word, expected] of [
      ['true', true],
      ['YES', true],
      ['1', true],
      [' on ', true],
      ['false', false],
      ['No', false],
      ['0', false],
      ['off', false],
    ] as const) {
      const { values } = await resolve({ env: { START_MCP_SERVERS: word } });
      expect(values.startMcpServers, word).toBe(expected);
    }
  });

  it('reads the state file named by AGENT_STATE_PATH (environment or .env), relative to the working directory', async () => {
    await mkdir(join(cwd, 'custom'));
    await writeFile(join(cwd, 'custom', 'state.json'), '{"subject": "from-custom-state"}');
    const viaEnv = await resolve({ env: { AGENT_STATE_PATH: 'custom/state.json' } });
    expect(viaEnv.paths.state).toEqual({ path: join(cwd, 'custom', 'state.json'), source: 'environment' });
    expect(viaEnv.values.subject).toBe('from-custom-state');

    await writeFile(dotenvPath, 'AGENT_STATE_PATH=custom/state.json\nAGENT_CONFIG_PATH=custom/mcp.json\n');
    const viaDotenv = await resolve();
    expect(viaDotenv.paths.state.source).toBe('.env');
    expect(viaDotenv.paths.config).toEqual({ path: join(cwd, 'custom', 'mcp.json'), source: '.env' });
    expect(viaDotenv.values.subject).toBe('from-custom-state');

    const viaFlag = await resolve({
      statePath: join(dir, 'nowhere.json'),
      env: { AGENT_STATE_PATH: 'custom/state.json' },
    });
    expect(viaFlag.paths.state).toEqual({ path: join(dir, 'nowhere.json'), source: 'flag' });
    expect(viaFlag.values.subject).toBeUndefined();
  });

  describe('subject and capabilities', () => {
    it('accepts AGENT_ID as another name for SUBJECT, SUBJECT winning', async () => {
      const alias = await resolve({ env: { AGENT_ID: 'agent-7' } });
      expect(alias.values.subject).toBe('agent-7');
      expect(alias.origins.subject).toEqual({ source: 'environment', detail: 'AGENT_ID' });

      const both = await resolve({ env: { AGENT_ID: 'agent-7', SUBJECT: 'subject-8' } });
      expect(both.values.subject).toBe('subject-8');
      expect(both.origins.subject).toEqual({ source: 'environment', detail: 'SUBJECT' });
    });

    it('lets AGENT_ID in the environment win over SUBJECT in .env (environment > .env)', async () => {
      await writeFile(dotenvPath, 'SUBJECT=from-dotenv\n');
      const { values, origins } = await resolve({ env: { AGENT_ID: 'from-environment' } });
      expect(values.subject).toBe('from-environment');
      expect(origins.subject).toEqual({ source: 'environment', detail: 'AGENT_ID' });

      await writeFile(dotenvPath, 'AGENT_ID=alias-in-dotenv\n');
      const dotenvAlias = await resolve();
      expect(dotenvAlias.values.subject).toBe('alias-in-dotenv');
      expect(dotenvAlias.origins.subject).toEqual({ source: '.env', detail: dotenvPath });
    });

    it("derives the subject and capabilities from the token's claims", async () => {
      const token = await signToken({ role: 'agent', capabilities: ['fs', 'git'] }, 'agent-from-token');
      const { values, origins } = await resolve({ env: { AGENT_JWT: token } });
      expect(values.agentJwt).toBe(token);
      expect(values.subject).toBe('agent-from-token');
      expect(origins.subject).toEqual({ source: 'derived', detail: 'AGENT_JWT' });
      expect(values.capabilities).toEqual(['fs', 'git']);
      expect(origins.capabilities).toEqual({ source: 'derived', detail: 'AGENT_JWT' });
    });

    it('prefers a configured subject and capabilities to the claims', async () => {
      const token = await signToken({ capabilities: ['fs'] }, 'agent-from-token');
      await writeState({ subject: 'from-state', jwt_token: token });
      const { values, origins } = await resolve({ env: { CAPABILITIES: 'git' } });
      expect(origins.agentJwt.source).toBe('state');
      expect(values.subject).toBe('from-state');
      expect(origins.subject.source).toBe('state');
      expect(values.capabilities).toEqual(['git']);
      expect(origins.capabilities.source).toBe('environment');
    });

    it('falls back to subject- and 12 hex digits of sha256(token) for a token without sub', async () => {
      const token = await signToken({ capabilities: ['*'] });
      const { values, origins } = await resolve({ env: { AGENT_JWT: token } });
      expect(values.subject).toMatch(/^subject-[0-9a-f]{12}$/);
      expect(values.subject).toBe(fingerprint(token));
      expect(origins.subject).toEqual({ source: 'derived', detail: 'AGENT_JWT' });
      expect(values.capabilities).toEqual(['*']);
    });

    it('fingerprints an opaque token, which has no capabilities claim', async () => {
      const { values, origins } = await resolve({ env: { AGENT_JWT: 'opaque-token-value' } });
      expect(values.subject).toBe(fingerprint('opaque-token-value'));
      expect(values.capabilities).toBeUndefined();
      expect(origins.capabilities).toEqual({ source: 'unset' });
      // Different tokens, different subjects.
      expect(subjectFromToken('another-token')).not.toBe(values.subject);
    });

    it('ignores a capabilities claim that is not a list of names', async () => {
      const token = await signToken({ capabilities: ['fs', 3] }, 'agent');
      const { values } = await resolve({ env: { AGENT_JWT: token } });
      expect(values.capabilities).toBeUndefined();
    });
  });

  describe('the WebSocket URL', () => {
    it.each([
      ['https://relay.example.com', 'wss://relay.example.com/connect'],
      ['https://relay.example.com/', 'wss://relay.example.com/connect'],
      ['http://localhost:8080', 'ws://localhost:8080/connect'],
      ['https://example.com/relay/', 'wss://example.com/relay/connect'],
    ])('is derived from REMOTE_SERVER_BASE_URL=%s as %s', async (base, expected) => {
      const { values, origins } = await resolve({ env: { REMOTE_SERVER_BASE_URL: base } });
      expect(values.remoteWebsocketUrl).toBe(expected);
      expect(origins.remoteWebsocketUrl).toEqual({ source: 'derived', detail: 'REMOTE_SERVER_BASE_URL' });
    });

    it('is taken as given when REMOTE_WEBSOCKET_URL is set', async () => {
      const { values, origins } = await resolve({
        env: {
          REMOTE_SERVER_BASE_URL: 'https://relay.example.com',
          REMOTE_WEBSOCKET_URL: 'wss://ws.example.com/in',
        },
      });
      expect(values.remoteWebsocketUrl).toBe('wss://ws.example.com/in');
      expect(origins.remoteWebsocketUrl.source).toBe('environment');
    });
  });

  describe('invalid values', () => {
    it.each([
      {
        env: { REQUEST_TIMEOUT_SECONDS: 'abc' },
        parts: ['REQUEST_TIMEOUT_SECONDS', 'a number of seconds', '"abc"'],
      },
      { env: { REQUEST_TIMEOUT_SECONDS: '0' }, parts: ['REQUEST_TIMEOUT_SECONDS', 'at least 1', '"0"'] },
      {
        env: { START_MCP_SERVERS: 'maybe' },
        parts: ['START_MCP_SERVERS', 'expected true or false', '"maybe"'],
      },
      { env: { REMOTE_SERVER_BASE_URL: 'ftp://relay' }, parts: ['REMOTE_SERVER_BASE_URL', 'https://'] },
      { env: { REMOTE_WEBSOCKET_URL: 'https://relay/connect' }, parts: ['REMOTE_WEBSOCKET_URL', 'wss://'] },
      { env: { MCP_PROTOCOL_VERSION: 'latest' }, parts: ['MCP_PROTOCOL_VERSION', 'a date like'] },
      {
        env: { RECONNECT_INITIAL_DELAY_SECONDS: '0.01' },
        parts: ['RECONNECT_INITIAL_DELAY_SECONDS', 'at least 0.05'],
      },
    ])('rejects $env, naming the variable and the environment', async ({ env, parts }) => {
      const error = await rejection(resolve({ env }));
      expect(error.code).toBe('setting-invalid');
      expect(error.message).toContain('from the environment');
      for (const part of parts) expect(error.message).toContain(part);
    });

    it('names the .env file, the state file or the flag the bad value came from', async () => {
      await writeFile(dotenvPath, 'REQUEST_TIMEOUT_SECONDS=abc\n');
      const fromDotenv = await rejection(resolve());
      expect(fromDotenv.code).toBe('setting-invalid');
      expect(fromDotenv.message).toContain(`REQUEST_TIMEOUT_SECONDS from ${dotenvPath}:`);
      await rm(dotenvPath);

      await writeState({ request_timeout_seconds: 'abc' });
      const fromState = await rejection(resolve());
      expect(fromState.code).toBe('setting-invalid');
      expect(fromState.message).toContain(`REQUEST_TIMEOUT_SECONDS from ${statePath}:`);

      const fromFlag = await rejection(resolve({ flags: { requestTimeoutSeconds: 'abc' } }));
      expect(fromFlag.code).toBe('setting-invalid');
      expect(fromFlag.message).toContain('REQUEST_TIMEOUT_SECONDS from the --request-timeout-seconds flag:');
    });

    it('never shows a secret value in the message', async () => {
      const token = await signToken({}, 'agent');
      await writeState({ jwt_token: { value: token } });
      const error = await rejection(resolve());
      expect(error.code).toBe('setting-invalid');
      expect(error.message).toContain(`AGENT_JWT from ${statePath}`);
      expect(error.message).toContain('«redacted»');
      expect(error.message).not.toContain(token);
      expect(error.message).not.toContain('eyJ');

      const blank = await rejection(resolve({ flags: { agentJwt: `   ` } }));
      expect(blank.message).toContain(
        'AGENT_JWT from the --agent-jwt flag: must not be empty (got «redacted»)',
      );

      // Nor a secret set next to the bad value.
      const other = await rejection(resolve({ env: { AGENT_JWT: token, REQUEST_TIMEOUT_SECONDS: 'abc' } }));
      expect(other.message).not.toContain(token);
    });

    it('rejects a maximum reconnect delay below the initial one', async () => {
      const error = await rejection(
        resolve({ env: { RECONNECT_INITIAL_DELAY_SECONDS: '5', RECONNECT_MAX_DELAY_SECONDS: '2' } }),
      );
      expect(error.code).toBe('setting-invalid');
      expect(error.message).toContain(
        'RECONNECT_MAX_DELAY_SECONDS (2) is below RECONNECT_INITIAL_DELAY_SECONDS (5)',
      );
      // Against the default maximum (20) too; equal delays are fine.
      await expect(resolve({ env: { RECONNECT_INITIAL_DELAY_SECONDS: '30' } })).rejects.toMatchObject({
        code: 'setting-invalid',
      });
      const equal = await resolve({
        env: { RECONNECT_INITIAL_DELAY_SECONDS: '5', RECONNECT_MAX_DELAY_SECONDS: '5' },
      });
      expect(equal.values.reconnectMaxDelaySeconds).toBe(5);
    });

    it('rejects a broken state file with its location', async () => {
      await mkdir(userDirs.config, { recursive: true });
      await writeFile(statePath, '{\n  "subject": "a",\n  "jwt_token": \n}\n');
      const error = await rejection(resolve());
      expect(error.code).toBe('config-invalid');
      expect(error.message).toContain(
        `${statePath} line 4 column 1: invalid JSON: a value was expected here`,
      );
    });

    it('rejects a state file that is not an object', async () => {
      await writeState(['subject']);
      const error = await rejection(resolve());
      expect(error.code).toBe('config-invalid');
      expect(error.message).toContain(`${statePath}: the runtime state must be a JSON object`);
    });
  });
});

describe('saveSettings', () => {
  const readStateFile = async (): Promise<Record<string, unknown>> =>
    JSON.parse(await readFile(statePath, 'utf8')) as Record<string, unknown>;

  it('writes typed values under their state keys, in a new file of mode 0600', async () => {
    const token = await signToken({}, 'agent');
    const stored = await saveSettings(statePath, {
      requestTimeoutSeconds: '30',
      startMcpServers: 'off',
      capabilities: 'fs, git',
      remoteServerBaseUrl: 'https://relay.example.com/',
      agentJwt: token,
    });
    expect(stored).toEqual({
      requestTimeoutSeconds: 30,
      startMcpServers: false,
      capabilities: ['fs', 'git'],
      remoteServerBaseUrl: 'https://relay.example.com',
      agentJwt: token,
    });
    const state = await readStateFile();
    expect(state).toEqual({
      request_timeout_seconds: 30,
      start_mcp_servers: false,
      capabilities: ['fs', 'git'],
      remote_server_base_url: 'https://relay.example.com',
      jwt_token: token,
    });
    expect(typeof state['request_timeout_seconds']).toBe('number');
    expect((await stat(statePath)).mode & 0o777).toBe(0o600);

    // And they are read back from the state.
    const { values, origins } = await resolve();
    expect(values.requestTimeoutSeconds).toBe(30);
    expect(origins.requestTimeoutSeconds).toEqual({ source: 'state', detail: statePath });
    expect(values.subject).toBe('agent');
  });

  it('removes a value given as undefined, and keeps keys it does not know', async () => {
    await writeState({ subject: 'me', refresh_token: 'keep-me', auth_profile: { kind: 'oauth' } });
    await saveSettings(statePath, { subject: undefined, requestTimeoutSeconds: '12' });
    expect(await readStateFile()).toEqual({
      refresh_token: 'keep-me',
      auth_profile: { kind: 'oauth' },
      request_timeout_seconds: 12,
    });
  });

  it('writes nothing when any value is invalid', async () => {
    await expect(
      saveSettings(statePath, { subject: 'ok', requestTimeoutSeconds: 'abc' }),
    ).rejects.toMatchObject({
      code: 'setting-invalid',
    });
    await expect(stat(statePath)).rejects.toMatchObject({ code: 'ENOENT' });

    await writeState({ subject: 'before' });
    const before = await readFile(statePath);
    await expect(
      saveSettings(statePath, { subject: 'after', startMcpServers: 'maybe' }),
    ).rejects.toMatchObject({
      code: 'setting-invalid',
      message: expect.stringContaining('START_MCP_SERVERS') as unknown,
    });
    expect((await readFile(statePath)).equals(before)).toBe(true);
  });
});

describe('setting names', () => {
  it('finds a setting by its key, environment name, state key or flag, in any case', () => {
    for (const name of [
      'requestTimeoutSeconds',
      'REQUEST_TIMEOUT_SECONDS',
      'request_timeout_seconds',
      'request-timeout-seconds',
      '--request-timeout-seconds',
    ]) {
      expect(findSettingKey(name), name).toBe('requestTimeoutSeconds');
    }
    expect(findSettingKey('AGENT_ID')).toBe('subject');
    expect(findSettingKey('agent-id')).toBe('subject');
    expect(findSettingKey('websocket_url')).toBe('remoteWebsocketUrl');
    expect(findSettingKey('jwt_token')).toBe('agentJwt');
    expect(findSettingKey('REFRESH_TOKEN')).toBeUndefined();
    expect(findSettingKey('')).toBeUndefined();
  });

  it('round-trips every setting through its names', () => {
    for (const key of SETTING_KEYS) {
      const def: { env: string; state?: string } = SETTINGS[key];
      expect(findSettingKey(key), key).toBe(key);
      expect(findSettingKey(def.env), key).toBe(key);
      expect(findSettingKey(flagName(key)), key).toBe(key);
      if (def.state) expect(findSettingKey(def.state), key).toBe(key);
    }
  });

  it('names the flag after the environment name', () => {
    expect(flagName('requestTimeoutSeconds')).toBe('--request-timeout-seconds');
    expect(flagName('agentJwt')).toBe('--agent-jwt');
    expect(flagName('remoteWebsocketUrl')).toBe('--remote-websocket-url');
    expect(flagName('subject')).toBe('--subject');
  });
});
