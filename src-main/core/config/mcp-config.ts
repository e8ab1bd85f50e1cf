// mcp.json: the Claude Desktop format (`mcpServers.<name>` = stdio `{command, args, env, cwd}`, HTTP
// `{url, headers}`, or our `{port}` shorthand for http://127.0.0.1:<port>/mcp), plus `disabled` and
// `description`. Fields we do not know are kept: we edit the user's text in place, never re-serialise it.
//
// Validation is per server: a broken entry makes that one server fail with a message that points into the
// file, and the others still run. Only a file that is not JSON, or whose `mcpServers` is not an object,
// fails as a whole.
import { basename, isAbsolute, resolve } from 'node:path';
import { isDeepStrictEqual } from 'node:util';

import { parse as parseShell } from 'shell-quote';
import { z } from 'zod';

import { GatewayError } from '../errors.js';
import { SECRET_NAME } from '../logging/redactor.js';
import { expandEntry, isOnlyReferences } from './env-expand.js';
import { JsonFile } from './json-file.js';
import { describeIssues, editJsonText, parseJsonText } from './json-text.js';

const StringMap = z.record(z.string(), z.string());

/** One entry of `mcpServers`, as written by the user. Unknown fields pass through. */
export const ServerEntry = z
  .looseObject({
    command: z.string().trim().min(1, 'must not be empty').optional(),
    args: z.array(z.string()).optional(),
    env: StringMap.optional(),
    cwd: z.string().min(1).optional(),
    url: z.url({ protocol: /^https?$/, error: 'expected an http:// or https:// URL' }).optional(),
    headers: StringMap.optional(),
    port: z.int().min(1).max(65535).optional(),
    // Other clients (Claude Code, Cursor, VS Code) write `type`; `sse` pins the legacy transport.
    type: z.enum(['stdio', 'http', 'streamable-http', 'streamableHttp', 'sse']).optional(),
    disabled: z.boolean().optional(),
    description: z.string().optional(),
    // mcpassistant-gateway-bridge: give each client session its own child process.
    isolate: z.boolean().optional(),
  })
  .superRefine((entry, ctx) => {
    // `port` beside `command` is the port mcpassistant-gateway-bridge serves that stdio server on; alone,
    // it is the shorthand for a local HTTP server.
    const kinds = (['command', 'url', 'port'] as const).filter((key) => entry[key] !== undefined);
    const valid =
      kinds.length === 1 || (kinds.length === 2 && entry.command !== undefined && entry.port !== undefined);
    if (!valid) {
      ctx.addIssue({
        code: 'custom',
        message:
          kinds.length === 0
            ? 'needs "command" (a program to run), "url" (an HTTP server) or "port" (a local HTTP server)'
            : `has ${kinds.map((k) => `"${k}"`).join(' and ')}: give one of command or url (port may go with command)`,
      });
    }
  });
export type ServerEntry = z.infer<typeof ServerEntry>;

const McpConfigShape = z.looseObject({
  mcpServers: z.record(z.string(), z.unknown()).optional(),
});

/** Server names become URL path segments (`/<subject>/<server>/mcp`). */
const SERVER_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export type ServerTransportSpec =
  | { kind: 'stdio'; command: string; args: string[]; env: Record<string, string>; cwd?: string }
  | { kind: 'http'; url: string; headers: Record<string, string>; mode: 'auto' | 'sse' };

/** A validated server, normalised for the server manager. */
export interface ServerSpec {
  name: string;
  description?: string;
  disabled: boolean;
  transport: ServerTransportSpec;
  /** For mcpassistant-gateway-bridge (stdio servers): the port to serve on, one child per session. */
  bridge?: { port?: number; isolate: boolean; via?: 'supergateway' };
}

export type ServerConfigResult = { ok: true; spec: ServerSpec } | { ok: false; name: string; error: string };

export interface McpConfig {
  path: string;
  servers: Map<string, ServerConfigResult>;
}

/** The environment `${VAR}` references in mcp.json are expanded from. */
export type ExpansionEnv = Readonly<Record<string, string | undefined>>;

/**
 * Parses mcp.json text, expanding `${VAR}` and `${VAR:-default}` from `env` in each entry's command, args,
 * env, url and headers. Throws GatewayError('config-invalid') only when the file as a whole is unusable; a
 * bad entry (a missing variable included) fails only that server.
 */
export function parseMcpConfig(text: string, path: string, env: ExpansionEnv = process.env): McpConfig {
  const root = parseJsonText(text, path);
  const shape = McpConfigShape.safeParse(root);
  if (!shape.success) {
    throw new GatewayError(
      'config-invalid',
      `${describeIssues(shape.error.issues, { file: path, text, root }).join('\n')}\n` +
        'mcp.json must be an object like {"mcpServers": {"name": {"command": "…"}}}. Fix the file (it was not changed).',
    );
  }
  const servers = new Map<string, ServerConfigResult>();
  for (const [name, raw] of Object.entries(shape.data.mcpServers ?? {})) {
    if (!SERVER_NAME.test(name)) {
      servers.set(name, {
        ok: false,
        name,
        error:
          `${path}, mcpServers[${JSON.stringify(name)}]: a server name may use only letters, digits, ".", "_" and "-" ` +
          "(at most 64, starting with a letter or digit), because it becomes part of the server's URL. Rename it.",
      });
      continue;
    }
    const expanded = expandEntry(raw, env);
    if (expanded.problems.length) {
      const lines = expanded.problems.map(({ path: at, variable }) => {
        const where = describeIssues([{ code: 'custom', path: at, message: '', input: undefined }], {
          file: path,
          text,
          root,
          prefix: ['mcpServers', name],
        })[0]!.replace(/: $/, '');
        return `${where}: the environment variable ${variable} is not set. Set it before starting the gateway, or give a default: \${${variable}:-value}.`;
      });
      servers.set(name, { ok: false, name, error: lines.join('\n') });
      continue;
    }
    const entry = ServerEntry.safeParse(expanded.entry);
    if (!entry.success) {
      const lines = describeIssues(entry.error.issues, {
        file: path,
        text,
        root,
        prefix: ['mcpServers', name],
      });
      servers.set(name, { ok: false, name, error: lines.join('\n') });
      continue;
    }
    servers.set(name, { ok: true, spec: normalize(name, entry.data, path) });
  }
  return { path, servers };
}

function normalize(name: string, entry: ServerEntry, configPath: string): ServerSpec {
  const base = { name, description: entry.description, disabled: entry.disabled ?? false };
  if (entry.command !== undefined) {
    // A relative cwd is relative to the folder of mcp.json, not to wherever the gateway was started.
    const cwd =
      entry.cwd === undefined || isAbsolute(entry.cwd) ? entry.cwd : resolve(configPath, '..', entry.cwd);
    const wrapped = unwrapSupergateway(entry.command, entry.args ?? []);
    return {
      ...base,
      transport: {
        kind: 'stdio',
        command: wrapped?.command ?? entry.command,
        args: wrapped?.args ?? entry.args ?? [],
        env: entry.env ?? {},
        cwd,
      },
      bridge: {
        port: entry.port ?? wrapped?.port,
        isolate: entry.isolate ?? false,
        ...(wrapped ? { via: 'supergateway' as const } : {}),
      },
    };
  }
  const url = entry.url ?? `http://127.0.0.1:${entry.port}/mcp`;
  return {
    ...base,
    transport: {
      kind: 'http',
      url,
      headers: entry.headers ?? {},
      mode: entry.type === 'sse' ? 'sse' : 'auto',
    },
  };
}

/**
 * Entries written for supergateway (`npx -y supergateway --stdio "<inner command>" --port N …`) run the inner
 * command natively: supergateway would serve SSE on its own port, not speak stdio to us. Returns undefined
 * for any other command.
 */
export function unwrapSupergateway(
  command: string,
  args: readonly string[],
): { command: string; args: string[]; port?: number } | undefined {
  const all = [command, ...args];
  const at = all.findIndex((arg) => /^supergateway(@.*)?$/.test(basename(arg)));
  const stdio = all.indexOf('--stdio', at);
  if (at === -1 || stdio === -1) return undefined;
  const inner = parseShell(all[stdio + 1] ?? '').filter((part): part is string => typeof part === 'string');
  if (!inner[0]) return undefined;
  const portAt = all.indexOf('--port', at);
  const port = portAt === -1 ? undefined : Number(all[portAt + 1]);
  return { command: inner[0], args: inner.slice(1), port: Number.isInteger(port) ? port : undefined };
}

/** Whether switching from `a` to `b` needs the server restarted (a new description alone does not). */
export function needsRestart(a: ServerSpec, b: ServerSpec): boolean {
  return a.disabled !== b.disabled || !isDeepStrictEqual(a.transport, b.transport);
}

/** The mcp.json written on first run: one filesystem server scoped to the working directory. */
export function defaultMcpConfigText(workingDirectory: string): string {
  const config = {
    mcpServers: {
      filesystem: {
        command: 'npx',
        args: ['-y', '@modelcontextprotocol/server-filesystem', workingDirectory],
        description: 'Files in the folder the gateway was first started from',
      },
    },
  };
  return `${JSON.stringify(config, null, 2)}\n`;
}

/**
 * Where mcp.json holds values that look secret, written literally (not as `${VAR}`): `env` entries with a
 * secret-looking name and `headers`. Returns their JSON paths, e.g. `mcpServers.github.env.GITHUB_TOKEN`.
 */
export function secretLookingValues(text: string): string[] {
  let root: unknown;
  try {
    root = JSON.parse(text.replace(/^\uFEFF/, ''));
  } catch {
    return [];
  }
  const servers = (root as { mcpServers?: unknown } | null)?.mcpServers;
  if (!servers || typeof servers !== 'object') return [];
  const found: string[] = [];
  for (const [name, entry] of Object.entries(servers as Record<string, unknown>)) {
    if (!entry || typeof entry !== 'object') continue;
    const { env, headers } = entry as { env?: unknown; headers?: unknown };
    for (const [field, map, all] of [
      ['env', env, false],
      ['headers', headers, true],
    ] as const) {
      if (!map || typeof map !== 'object') continue;
      for (const [key, value] of Object.entries(map as Record<string, unknown>)) {
        if (typeof value !== 'string' || value.length < 4 || isOnlyReferences(value)) continue;
        if (all || SECRET_NAME.test(key)) found.push(`mcpServers.${name}.${field}.${key}`);
      }
    }
  }
  return found;
}

/** mcp.json on disk: load, create on first run, and edit servers without disturbing anything else. */
export class McpConfigFile {
  readonly #file: JsonFile;

  /** `env`: where `${VAR}` references are expanded from (the gateway's environment). */
  constructor(
    readonly path: string,
    private readonly env: ExpansionEnv = process.env,
  ) {
    // Created 0600 in a 0700 folder (JsonFile's default): the README tells users to put API keys in `env`.
    this.#file = new JsonFile(path, { validate: (text) => void parseMcpConfig(text, path, env) });
  }

  async load(): Promise<McpConfig> {
    const text = await this.#file.readText();
    if (text === undefined) {
      throw new GatewayError('config-io', `${this.path} does not exist. Run the gateway once to create it.`);
    }
    return parseMcpConfig(text, this.path, this.env);
  }

  /**
   * A warning when the file can be read by other users and holds values that look secret (issue 8.11); the
   * file keeps its mode, the user decides. Undefined otherwise, on Windows, or when it cannot be read.
   */
  async privacyWarning(): Promise<string | undefined> {
    if (process.platform === 'win32') return undefined;
    const mode = await this.#file.mode();
    const text = await this.#file.readText().catch(() => undefined);
    if (mode === undefined || !(mode & 0o044) || text === undefined) return undefined;
    const secrets = secretLookingValues(text);
    if (!secrets.length) return undefined;
    const shown =
      secrets.slice(0, 3).join(', ') + (secrets.length > 3 ? ` and ${secrets.length - 3} more` : '');
    return (
      `${this.path} can be read by other users (mode ${mode.toString(8)}) and holds values that look secret (${shown}). ` +
      `Run \`chmod 600 ${this.path}\`, or move the values to the environment and write "\${NAME}" in the file.`
    );
  }

  /** Writes the first-run file unless one exists. Returns whether it did. */
  createDefault(workingDirectory: string): Promise<boolean> {
    return this.#file.create(defaultMcpConfigText(workingDirectory));
  }

  /**
   * Adds or edits server `name`: each key of `patch` is set (undefined removes it); other keys of the entry,
   * known or not, are kept. Passing null removes the server.
   */
  async updateServer(name: string, patch: Partial<ServerEntry> | null): Promise<void> {
    await this.#file.update((current) => {
      if (patch === null)
        return current === undefined ? undefined : editJsonText(current, ['mcpServers', name], undefined);
      let text = current ?? '{\n  "mcpServers": {}\n}\n';
      for (const [key, value] of Object.entries(patch)) {
        text = editJsonText(text, ['mcpServers', name, key], value);
      }
      const entry = ServerEntry.safeParse(
        (JSON.parse(text) as { mcpServers: Record<string, unknown> }).mcpServers[name],
      );
      if (!entry.success) {
        const root: unknown = JSON.parse(text);
        throw new GatewayError(
          'config-invalid',
          describeIssues(entry.error.issues, { file: this.path, root, prefix: ['mcpServers', name] }).join(
            '\n',
          ),
        );
      }
      return text;
    });
  }
}
