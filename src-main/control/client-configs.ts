// The MCP clients' own config files: where each keeps its servers on each OS, reading their entries for
// Import, and writing one of our endpoints into them ("Add to <client>"). Writes keep the file's formatting
// and comments (jsonc-parser edits, as mcp.json's editor does), copy the file to a backup first, and never
// replace an entry of the same name.
import { copyFile, mkdir, readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';

import { parse, type ParseError, printParseErrorCode } from 'jsonc-parser';
import writeFileAtomic from 'write-file-atomic';

import { ClientApp } from '../../src-shared/control.js';
import { editJsonText } from '../core/config/json-text.js';
import { ServerEntry, unwrapSupergateway } from '../core/config/mcp-config.js';
import { errorMessage, GatewayError } from '../core/errors.js';

/** The client's file has an entry of that name already: nothing was written. */
export class EntryExistsError extends Error {}

/**
 * JSON as the clients write it: comments and trailing commas allowed (VS Code's and Gemini CLI's files
 * have them). Throws GatewayError('config-invalid') naming the first problem and where it is.
 */
function parseClientJson(text: string, where: string): unknown {
  const errors: ParseError[] = [];
  const value: unknown = parse(text, errors, { allowTrailingComma: true, disallowComments: false });
  const first = errors[0];
  if (first) {
    const line = text.slice(0, first.offset).split('\n').length;
    throw new GatewayError(
      'config-invalid',
      `${where} is not JSON: ${printParseErrorCode(first.error)} at line ${line}.`,
    );
  }
  return value;
}

/** The clients whose config files the window knows (the contract's `ClientApp`). */
export const CLIENT_APPS = ClientApp.options;

export const CLIENT_TITLES: Record<ClientApp, string> = {
  'claude-desktop': 'Claude Desktop',
  cursor: 'Cursor',
  vscode: 'VS Code',
  windsurf: 'Windsurf',
  'gemini-cli': 'Gemini CLI',
  'claude-code': 'Claude Code',
};

interface Env {
  home: string;
  platform: NodeJS.Platform;
  env: NodeJS.ProcessEnv;
}

const defaultEnv = (): Env => ({ home: homedir(), platform: process.platform, env: process.env });

/** The folder apps keep their settings in: ~/Library/Application Support, %APPDATA%, $XDG_CONFIG_HOME. */
function appData({ home, platform, env }: Env): string {
  if (platform === 'darwin') return join(home, 'Library', 'Application Support');
  if (platform === 'win32') return env['APPDATA'] ?? join(home, 'AppData', 'Roaming');
  return env['XDG_CONFIG_HOME'] ?? join(home, '.config');
}

/** Each client's user-level config file and the key its servers live under. */
export function clientConfigPath(app: ClientApp, e: Env = defaultEnv()): { path: string; key: string } {
  switch (app) {
    case 'claude-desktop':
      return { path: join(appData(e), 'Claude', 'claude_desktop_config.json'), key: 'mcpServers' };
    case 'cursor':
      return { path: join(e.home, '.cursor', 'mcp.json'), key: 'mcpServers' };
    case 'vscode':
      return { path: join(appData(e), 'Code', 'User', 'mcp.json'), key: 'servers' };
    case 'windsurf':
      return { path: join(e.home, '.codeium', 'windsurf', 'mcp_config.json'), key: 'mcpServers' };
    case 'gemini-cli':
      return { path: join(e.home, '.gemini', 'settings.json'), key: 'mcpServers' };
    case 'claude-code':
      return { path: join(e.home, '.claude.json'), key: 'mcpServers' };
  }
}

/** One entry found in pasted text or a client's file, as mcp.json would hold it. */
export interface FoundEntry {
  name: string;
  entry: Record<string, unknown>;
  /** Why mcp.json would refuse it, when it would. */
  error?: string;
  /** What was changed on the way (a supergateway wrapper, `httpUrl`…). */
  note?: string;
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === 'object' && !Array.isArray(v);
const looksLikeEntry = (v: unknown) =>
  isObject(v) &&
  (typeof v['command'] === 'string' ||
    typeof v['url'] === 'string' ||
    typeof v['httpUrl'] === 'string' ||
    typeof v['serverUrl'] === 'string');

/** An entry of another client in mcp.json's shape: `httpUrl`/`serverUrl` become `url`, a VS Code `type` goes. */
function normalise(name: string, raw: Record<string, unknown>): FoundEntry {
  const entry: Record<string, unknown> = { ...raw };
  const notes: string[] = [];
  for (const key of ['httpUrl', 'serverUrl']) {
    if (typeof entry[key] === 'string' && entry['url'] === undefined) {
      entry['url'] = entry[key];
      delete entry[key];
      notes.push(`${key} → url`);
    }
  }
  if (entry['type'] === 'stdio' || entry['type'] === 'http') delete entry['type'];
  if (typeof entry['command'] === 'string' && Array.isArray(entry['args'])) {
    const inner = unwrapSupergateway(entry['command'], entry['args'].map(String));
    if (inner) notes.push(`supergateway entry: the gateway runs "${inner.command}" itself`);
  }
  const result = ServerEntry.safeParse(entry);
  return {
    name,
    entry,
    ...(result.success
      ? {}
      : { error: result.error.issues.map((i) => `${i.path.join('.') || 'entry'}: ${i.message}`).join('; ') }),
    ...(notes.length ? { note: notes.join('; ') } : {}),
  };
}

/**
 * The servers in a JSON text: `{mcpServers: {…}}` (Claude Desktop, Cursor, Windsurf, Gemini CLI, Claude
 * Code), VS Code's `{servers: {…}}` (also under `mcp`), or a bare `{name: entry}` map. Throws
 * GatewayError('config-invalid') naming what was not understood.
 */
export function parseImport(text: string, where = 'the pasted text'): FoundEntry[] {
  if (text.trim() === '') throw new GatewayError('config-invalid', `${where} is empty: paste a JSON object.`);
  const root = parseClientJson(text, where);
  if (!isObject(root)) {
    throw new GatewayError('config-invalid', `${where} is not a JSON object: paste {"mcpServers": {…}}.`);
  }
  const map =
    [root['mcpServers'], root['servers'], isObject(root['mcp']) ? root['mcp']['servers'] : undefined].find(
      isObject,
    ) ?? (Object.keys(root).length > 0 && Object.values(root).every(looksLikeEntry) ? root : undefined);
  if (!map) {
    if (looksLikeEntry(root)) {
      throw new GatewayError(
        'config-invalid',
        `${where} is one server entry without a name: wrap it as {"mcpServers": {"<name>": …}}.`,
      );
    }
    throw new GatewayError(
      'config-invalid',
      `${where} has no servers: expected "mcpServers" (Claude Desktop, Cursor…), "servers" (VS Code) or a map of entries with "command" or "url".`,
    );
  }
  const entries = Object.entries(map).map(([name, raw]) =>
    isObject(raw) ? normalise(name, raw) : { name, entry: {}, error: 'not an object' },
  );
  if (entries.length === 0) throw new GatewayError('config-invalid', `${where} lists no servers.`);
  return entries;
}

/** The clients whose config file exists here, with their entries (a broken file says why). */
export async function detectClientConfigs(
  e: Env = defaultEnv(),
): Promise<{ app: ClientApp; title: string; path: string; entries: FoundEntry[]; error?: string }[]> {
  const found = [];
  for (const app of CLIENT_APPS) {
    const { path } = clientConfigPath(app, e);
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch {
      continue;
    }
    try {
      found.push({ app, title: CLIENT_TITLES[app], path, entries: parseImport(text, path) });
    } catch (error) {
      found.push({ app, title: CLIENT_TITLES[app], path, entries: [], error: errorMessage(error) });
    }
  }
  return found;
}

/** The entry `app` needs to reach `url` sending `Authorization: <bearer>`. */
export function clientEntry(
  app: ClientApp,
  url: string,
  bearer: string | undefined,
): Record<string, unknown> {
  const headers = bearer === undefined ? undefined : { Authorization: bearer };
  switch (app) {
    case 'gemini-cli':
      return { httpUrl: url, ...(headers ? { headers } : {}) };
    case 'vscode':
      return { type: 'http', url, ...(headers ? { headers } : {}) };
    case 'claude-code':
      return { type: 'http', url, ...(headers ? { headers } : {}) };
    case 'windsurf':
      return { serverUrl: url, ...(headers ? { headers } : {}) };
    case 'cursor':
      return { url, ...(headers ? { headers } : {}) };
    case 'claude-desktop':
      // Claude Desktop speaks only stdio: mcp-remote bridges, the header's value comes from env so that
      // a space in it survives every platform's argument passing.
      return {
        command: 'npx',
        args: ['-y', 'mcp-remote', url, ...(bearer ? ['--header', 'Authorization:${AUTH_HEADER}'] : [])],
        ...(bearer ? { env: { AUTH_HEADER: bearer } } : {}),
      };
  }
}

/**
 * Adds `entry` as `name` to `app`'s config file: a copy of the file goes to `<file>.bak` first, the entry
 * is inserted with the file's formatting kept, and an existing entry of that name is never replaced
 * (EntryExistsError). Creates the file when there is none. Returns the paths written.
 */
export async function addToClient(
  app: ClientApp,
  name: string,
  entry: Record<string, unknown>,
  e: Env = defaultEnv(),
): Promise<{ path: string; backup: string | null }> {
  const { path, key } = clientConfigPath(app, e);
  let text: string | undefined;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new GatewayError('config-io', `Cannot read ${path}: ${errorMessage(error)}`);
    }
  }
  const root = text === undefined || text.trim() === '' ? {} : parseClientJson(text, path);
  if (!isObject(root))
    throw new GatewayError('config-invalid', `${path} is not a JSON object; it was not changed.`);
  const servers = root[key];
  if (isObject(servers) && Object.hasOwn(servers, name)) {
    throw new EntryExistsError(
      `${CLIENT_TITLES[app]} already has a server named "${name}" in ${path}; it was not changed. Choose another name.`,
    );
  }
  let backup: string | null = null;
  if (text !== undefined) {
    backup = `${path}.bak`;
    await copyFile(path, backup);
  } else await mkdir(dirname(path), { recursive: true });
  const base = text === undefined || text.trim() === '' ? '{}\n' : text;
  const next = isObject(servers)
    ? editJsonText(base, [key, name], entry)
    : editJsonText(base, [key], { [name]: entry });
  await writeFileAtomic(path, next, { mode: 0o600 });
  return { path, backup };
}
