// mcp.json: parsing and normalising entries, errors that point into the file, and edits that keep the user's
// text (unknown fields, formatting) and never touch a file that cannot be parsed.
import { chmod, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { GatewayError } from '../errors.js';
import { decodeJsonFile } from './json-text.js';
import type { ServerConfigResult, ServerSpec } from './mcp-config.js';
import { McpConfigFile, needsRestart, parseMcpConfig, secretLookingValues } from './mcp-config.js';

const FILE = '/home/someone/project/.mcpassistant/mcp.json';

/** What parseMcpConfig throws for `text`, as a GatewayError. */
function parseError(text: string, path = FILE): GatewayError {
  try {
    parseMcpConfig(text, path);
  } catch (error) {
    expect(error).toBeInstanceOf(GatewayError);
    return error as GatewayError;
  }
  throw new Error('parseMcpConfig accepted the text');
}

function server(text: string, name: string): ServerConfigResult {
  const result = parseMcpConfig(text, FILE).servers.get(name);
  if (!result) throw new Error(`no result for server ${name}`);
  return result;
}

function spec(text: string, name: string): ServerSpec {
  const result = server(text, name);
  if (!result.ok) throw new Error(`server ${name} failed: ${result.error}`);
  return result.spec;
}

function entryError(text: string, name: string): string {
  const result = server(text, name);
  if (result.ok) throw new Error(`server ${name} was accepted`);
  return result.error;
}

const config = (servers: Record<string, unknown>): string =>
  `${JSON.stringify({ mcpServers: servers }, null, 2)}\n`;

describe('parseMcpConfig', () => {
  it('normalises a stdio entry, with defaults for what is missing', () => {
    const text = config({
      fs: { command: 'npx', args: ['-y', 'server-filesystem', '/data'], env: { DEBUG: '1' } },
      bare: { command: 'my-server' },
    });
    expect(spec(text, 'fs')).toEqual({
      name: 'fs',
      disabled: false,
      transport: {
        kind: 'stdio',
        command: 'npx',
        args: ['-y', 'server-filesystem', '/data'],
        env: { DEBUG: '1' },
      },
      bridge: { isolate: false },
    });
    expect(spec(text, 'bare').transport).toEqual({ kind: 'stdio', command: 'my-server', args: [], env: {} });
  });

  it("resolves a relative cwd against the config file's folder, and keeps an absolute one", () => {
    const text = config({
      rel: { command: 'x', cwd: 'tools/server' },
      up: { command: 'x', cwd: '../sibling' },
      abs: { command: 'x', cwd: '/opt/server' },
    });
    expect(spec(text, 'rel').transport).toMatchObject({
      cwd: '/home/someone/project/.mcpassistant/tools/server',
    });
    expect(spec(text, 'up').transport).toMatchObject({ cwd: '/home/someone/project/sibling' });
    expect(spec(text, 'abs').transport).toMatchObject({ cwd: '/opt/server' });
  });

  it('normalises url entries, with type "sse" pinning the legacy transport', () => {
    const text = config({
      remote: { url: 'https://mcp.example.com/mcp', headers: { 'X-Api-Key': 'k' }, description: 'Remote' },
      legacy: { url: 'http://localhost:9000/sse', type: 'sse' },
      typed: { url: 'http://localhost:9001/mcp', type: 'streamable-http', disabled: true },
    });
    expect(spec(text, 'remote')).toEqual({
      name: 'remote',
      description: 'Remote',
      disabled: false,
      transport: {
        kind: 'http',
        url: 'https://mcp.example.com/mcp',
        headers: { 'X-Api-Key': 'k' },
        mode: 'auto',
      },
    });
    expect(spec(text, 'legacy').transport).toEqual({
      kind: 'http',
      url: 'http://localhost:9000/sse',
      headers: {},
      mode: 'sse',
    });
    expect(spec(text, 'typed')).toMatchObject({ disabled: true, transport: { mode: 'auto' } });
  });

  it('turns the port shorthand into http://127.0.0.1:<port>/mcp', () => {
    const text = config({ local: { port: 8931 } });
    expect(spec(text, 'local').transport).toEqual({
      kind: 'http',
      url: 'http://127.0.0.1:8931/mcp',
      headers: {},
      mode: 'auto',
    });
  });

  it('accepts a file without mcpServers, and keeps servers in file order', () => {
    expect(parseMcpConfig('{}', FILE).servers.size).toBe(0);
    const parsed = parseMcpConfig(config({ b: { port: 1 }, a: { port: 2 } }), FILE);
    expect(parsed.path).toBe(FILE);
    expect([...parsed.servers.keys()]).toEqual(['b', 'a']);
  });

  describe('a file that is not JSON', () => {
    it.each([
      {
        what: 'a trailing comma',
        text: '{\n  "mcpServers": {\n    "fs": {\n      "command": "npx",\n      "args": ["a", "b",]\n    }\n  }\n}\n',
        line: 5,
        column: 25,
        says: 'a comma before a closing } or ] is not allowed in JSON; remove that comma',
      },
      {
        what: 'a missing comma between servers',
        text: '{\n  "mcpServers": {\n    "a": { "port": 1 }\n    "b": { "port": 2 }\n  }\n}\n',
        line: 4,
        column: 5,
        says: 'a comma (,) was expected between two items, or a closing } or ]',
      },
      {
        what: 'a comment',
        text: '{\n  // my servers\n  "mcpServers": {}\n}\n',
        line: 2,
        column: 3,
        says: 'JSON does not allow comments; remove the comment',
      },
      {
        what: 'a truncated file',
        text: '{\n  "mcpServers": {\n    "a": { "port": 1 }\n',
        line: 4,
        column: 1,
        says: 'a closing brace (}) was expected; one is missing',
      },
      {
        what: 'single quotes',
        text: "{\n  'mcpServers': {}\n}\n",
        line: 2,
        column: 3,
        says: 'JSON strings and names need double quotes ("), not single quotes',
      },
      {
        what: 'a Windows path with single backslashes',
        text: '{\r\n  "mcpServers": {\r\n    "fs": { "command": "C:\\tools\\x.exe" }\r\n  }\r\n}\r\n',
        line: 3,
        column: 24,
        says: 'a backslash in a string must start an escape such as \\n, \\" or \\\\ (write a Windows path with \\\\ or /)',
      },
    ])('with $what fails as a whole, naming the file, line and column', ({ text, line, column, says }) => {
      const error = parseError(text);
      expect(error.code).toBe('config-invalid');
      // One sentence: where, what is wrong, how to fix it; never "expected an unexpected character".
      expect(error.message).toBe(
        `${FILE} line ${line} column ${column}: invalid JSON: ${says}. Fix the file (it was not changed).`,
      );
    });

    it('names a stray character instead of "expected an unexpected character"', () => {
      const error = parseError('{\n  "mcpServers": {}\n}\nx\n');
      expect(error.message).not.toContain('unexpected character');
      expect(error.message).toContain(`${FILE} line 4 column 1: invalid JSON:`);
    });
  });

  describe('${VAR} expansion', () => {
    const env = { MY_TOKEN: 'tok-123', HOST: 'api.example.com', EMPTY: '' };
    const parsed = (entry: unknown) => parseMcpConfig(config({ s: entry }), FILE, env).servers.get('s')!;

    it('expands ${VAR} and ${VAR:-default} in command, args, env, url and headers', () => {
      const stdio = parsed({
        command: '${TOOL:-node}',
        args: ['--host', '${HOST}', 'x${MISSING:-}y'],
        env: { API_KEY: '${MY_TOKEN}', MODE: '${EMPTY:-fallback}' },
        description: '${MY_TOKEN} is not expanded here',
      });
      expect(stdio).toMatchObject({
        ok: true,
        spec: {
          description: '${MY_TOKEN} is not expanded here',
          transport: {
            command: 'node',
            args: ['--host', 'api.example.com', 'xy'],
            env: { API_KEY: 'tok-123', MODE: 'fallback' },
          },
        },
      });
      expect(
        parsed({ url: 'https://${HOST}/mcp', headers: { Authorization: 'Bearer ${MY_TOKEN}' } }),
      ).toMatchObject({
        spec: {
          transport: { url: 'https://api.example.com/mcp', headers: { Authorization: 'Bearer tok-123' } },
        },
      });
    });

    it('fails only that server when a variable is not set, naming the variable, the place and the fix', () => {
      const text = config({
        remote: { url: 'https://x.example/mcp', headers: { Authorization: 'Bearer ${NOT_SET_TOKEN}' } },
        fine: { command: 'node' },
      });
      const result = parseMcpConfig(text, FILE, env);
      expect(result.servers.get('fine')?.ok).toBe(true);
      const remote = result.servers.get('remote');
      expect(remote?.ok).toBe(false);
      expect(remote && !remote.ok && remote.error).toMatch(
        new RegExp(
          `^${FILE.replaceAll('.', '\\.')} line \\d+ column \\d+, mcpServers\\.remote\\.headers\\.Authorization: the environment variable NOT_SET_TOKEN is not set\\. Set it before starting the gateway, or give a default: \\$\\{NOT_SET_TOKEN:-value\\}\\.$`,
        ),
      );
    });
  });

  describe('secret-looking values', () => {
    it('lists literal secrets in env (by name) and headers, not ${VAR} references', () => {
      const text = config({
        gh: { command: 'x', env: { GITHUB_TOKEN: 'ghp_abcdef', DEBUG: '1', API_KEY: '${API_KEY}' } },
        api: { url: 'https://x.example', headers: { Authorization: 'Bearer abcdefgh' } },
      });
      expect(secretLookingValues(text)).toEqual([
        'mcpServers.gh.env.GITHUB_TOKEN',
        'mcpServers.api.headers.Authorization',
      ]);
      expect(secretLookingValues(config({ fs: { command: 'npx' } }))).toEqual([]);
    });
  });

  describe('files as editors save them', () => {
    const entry = '{\r\n  "mcpServers": {\r\n    "fs": { "command": "npx", "args": ["x"] }\r\n  }\r\n}\r\n';

    it('reads a UTF-8 byte-order mark and CRLF line ends', () => {
      expect(spec(`\uFEFF${entry}`, 'fs').transport).toMatchObject({ command: 'npx', args: ['x'] });
    });

    it('reads UTF-16 with its byte-order mark (Notepad\'s "Unicode"), both byte orders', () => {
      const le = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(entry, 'utf16le')]);
      const be = Buffer.from(le);
      be.swap16();
      for (const bytes of [le, be]) {
        const { text, bom } = decodeJsonFile(bytes);
        expect(bom).toBe('');
        expect(spec(text, 'fs').transport).toMatchObject({ command: 'npx' });
      }
    });

    it('points at the right line and column in a CRLF file with a byte-order mark', () => {
      const error = parseError(`\uFEFF{\r\n  "mcpServers": {\r\n    "fs": { "command": "npx" \r\n  }\r\n`);
      expect(error.message).toContain(`${FILE} line 5 column 1: invalid JSON: a closing brace`);
    });
  });

  it('fails as a whole when mcpServers is not an object, pointing at it', () => {
    const error = parseError('{\n  "mcpServers": []\n}\n');
    expect(error.code).toBe('config-invalid');
    expect(error.message).toContain(
      `${FILE} line 2 column 17, mcpServers: expected an object (got an array)`,
    );
  });

  it('fails as a whole when the top level is not an object', () => {
    const error = parseError('[1, 2]');
    expect(error.code).toBe('config-invalid');
    expect(error.message).toContain(FILE);
    expect(error.message).toContain('(top level)');
    expect(error.message).toContain('got an array');
  });

  it('reports a wrong type inside an entry with the location, the JSON path, what was expected and got', () => {
    const text =
      '{\n  "mcpServers": {\n    "fs": {\n      "command": "npx",\n      "args": "x"\n    }\n  }\n}\n';
    expect(entryError(text, 'fs')).toBe(
      `${FILE} line 5 column 15, mcpServers.fs.args: expected an array (got a string)`,
    );
  });

  it('points at an array element by index, and quotes names that are not identifiers', () => {
    const text = config({ 'my.server': { command: 'x', args: ['a', 3] } });
    const error = entryError(text, 'my.server');
    expect(error).toContain('mcpServers["my.server"].args[1]: expected a string (got a number)');
    // The element itself, on its own line in the pretty-printed file.
    expect(error.startsWith(`${FILE} line 7 column 9, `)).toBe(true);
  });

  it('reports an entry without command, url or port, and an entry with two of them', () => {
    const text = config({
      none: { description: 'what?' },
      both: { command: 'x', url: 'http://localhost/mcp' },
    });
    expect(entryError(text, 'none')).toMatch(/line 3 column \d+, mcpServers\.none: needs "command"/);
    expect(entryError(text, 'both')).toContain(
      'mcpServers.both: has "command" and "url": give one of command or url',
    );
  });

  it('takes port beside command as the bridge port, with isolate; not beside url', () => {
    const text = config({
      served: { command: 'x', port: 8001, isolate: true },
      wrong: { url: 'http://localhost/mcp', port: 8001 },
    });
    expect(spec(text, 'served')).toMatchObject({
      transport: { kind: 'stdio', command: 'x' },
      bridge: { port: 8001, isolate: true },
    });
    expect(entryError(text, 'wrong')).toContain('has "url" and "port"');
  });

  it('runs the inner command of a supergateway entry natively, on its port', () => {
    const text = config({
      sg: {
        command: 'npx',
        args: [
          '-y',
          'supergateway',
          '--stdio',
          "npx -y @modelcontextprotocol/server-filesystem '/my files'",
          '--port',
          '8002',
        ],
      },
    });
    expect(spec(text, 'sg')).toMatchObject({
      transport: {
        kind: 'stdio',
        command: 'npx',
        args: ['-y', '@modelcontextprotocol/server-filesystem', '/my files'],
      },
      bridge: { port: 8002, isolate: false, via: 'supergateway' },
    });
  });

  it('rejects a url that is not http(s), a port out of range, and an empty command', () => {
    const text = config({
      ftp: { url: 'ftp://example.com/mcp' },
      port: { port: 70000 },
      empty: { command: '  ' },
    });
    expect(entryError(text, 'ftp')).toContain('mcpServers.ftp.url: expected an http:// or https:// URL');
    expect(entryError(text, 'port')).toContain('mcpServers.port.port');
    expect(entryError(text, 'empty')).toContain('mcpServers.empty.command: must not be empty');
  });

  it('fails only the broken entry: the others are still usable', () => {
    const text = config({
      good: { command: 'server-a' },
      broken: { command: 'server-b', env: { DEBUG: true } },
      alsoGood: { port: 3000 },
    });
    const { servers } = parseMcpConfig(text, FILE);
    expect(servers.get('good')?.ok).toBe(true);
    expect(servers.get('alsoGood')?.ok).toBe(true);
    const broken = servers.get('broken');
    expect(broken).toMatchObject({ ok: false, name: 'broken' });
    expect(broken?.ok === false && broken.error).toContain(
      'mcpServers.broken.env.DEBUG: expected a string (got a boolean)',
    );
  });

  it('rejects server names that cannot be part of a URL, and accepts the allowed characters', () => {
    const text = config({
      'has space': { command: 'x' },
      'has/slash': { command: 'x' },
      '-leading-dash': { command: 'x' },
      ['x'.repeat(65)]: { command: 'x' },
      'Fine_name-1.2': { command: 'x' },
      ['y'.repeat(64)]: { command: 'x' },
    });
    for (const bad of ['has space', 'has/slash', '-leading-dash', 'x'.repeat(65)]) {
      const error = entryError(text, bad);
      expect(error).toContain(`${FILE}, mcpServers[${JSON.stringify(bad)}]`);
      expect(error).toContain('Rename it');
    }
    expect(server(text, 'Fine_name-1.2').ok).toBe(true);
    expect(server(text, 'y'.repeat(64)).ok).toBe(true);
  });
});

describe('needsRestart', () => {
  const text = config({
    a: { command: 'x', args: ['1'], description: 'first' },
    descr: { command: 'x', args: ['1'], description: 'second', unknownField: 1 },
    args: { command: 'x', args: ['2'], description: 'first' },
    env: { command: 'x', args: ['1'], env: { A: '1' } },
    off: { command: 'x', args: ['1'], disabled: true },
    http: { port: 1234 },
  });
  const as = (name: string): ServerSpec => ({ ...spec(text, name), name: 'a' });

  it('is false when only the description (or an unknown field) changed', () => {
    expect(needsRestart(as('a'), as('descr'))).toBe(false);
    expect(needsRestart(as('a'), as('a'))).toBe(false);
  });

  it('is true when the transport or the disabled flag changed', () => {
    for (const other of ['args', 'env', 'off', 'http']) {
      expect(needsRestart(as('a'), as(other)), other).toBe(true);
      expect(needsRestart(as(other), as('a')), other).toBe(true);
    }
  });
});

describe('McpConfigFile', () => {
  let dir: string;
  let path: string;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mcpgw-mcp-config-'));
    path = join(dir, 'config', 'mcp.json');
    await mkdir(dirname(path));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('creates the default file with one filesystem server scoped to the given folder, only once', async () => {
    const file = new McpConfigFile(path);
    const workdir = join(dir, 'work folder');
    expect(await file.createDefault(workdir)).toBe(true);
    const first = await readFile(path);
    const written = JSON.parse(first.toString('utf8')) as { mcpServers: Record<string, { args: string[] }> };
    expect(Object.keys(written.mcpServers)).toEqual(['filesystem']);
    expect(written.mcpServers['filesystem']?.args.at(-1)).toBe(workdir);

    const loaded = await file.load();
    expect(loaded.servers.get('filesystem')).toMatchObject({
      ok: true,
      spec: {
        transport: {
          kind: 'stdio',
          command: 'npx',
          args: ['-y', '@modelcontextprotocol/server-filesystem', workdir],
        },
      },
    });

    expect(await file.createDefault(join(dir, 'elsewhere'))).toBe(false);
    expect((await readFile(path)).equals(first)).toBe(true);
  });

  it('creates mcp.json 0600 in a new 0700 folder: it may hold API keys', async () => {
    const fresh = new McpConfigFile(join(dir, 'new-folder', 'mcp.json'));
    expect(await fresh.createDefault(dir)).toBe(true);
    expect((await stat(fresh.path)).mode & 0o777).toBe(0o600);
    expect((await stat(dirname(fresh.path))).mode & 0o777).toBe(0o700);
  });

  it('keeps the mode of an existing file, and warns when others can read its secret-looking values', async () => {
    await writeFile(path, config({ gh: { command: 'x', env: { GITHUB_TOKEN: 'ghp_abcdef' } } }), {
      mode: 0o644,
    });
    const file = new McpConfigFile(path);
    expect(await file.privacyWarning()).toBe(
      `${path} can be read by other users (mode 644) and holds values that look secret (mcpServers.gh.env.GITHUB_TOKEN). ` +
        `Run \`chmod 600 ${path}\`, or move the values to the environment and write "\${NAME}" in the file.`,
    );
    await file.updateServer('other', { command: 'y' });
    expect((await stat(path)).mode & 0o777).toBe(0o644);
    await chmod(path, 0o600);
    expect(await file.privacyWarning()).toBeUndefined();
    await chmod(path, 0o644);
    await writeFile(path, config({ gh: { command: 'x', env: { GITHUB_TOKEN: '${GITHUB_TOKEN}' } } }));
    expect(await file.privacyWarning()).toBeUndefined();
  });

  it('edits a file saved with a byte-order mark and CRLF, keeping both', async () => {
    await writeFile(path, '\uFEFF{\r\n  "mcpServers": {\r\n    "a": { "port": 1 }\r\n  }\r\n}\r\n');
    const file = new McpConfigFile(path);
    await file.updateServer('b', { port: 2 });
    const text = await readFile(path, 'utf8');
    expect(text.startsWith('\uFEFF{\r\n')).toBe(true);
    expect(text).not.toMatch(/[^\r]\n/);
    expect([...(await file.load()).servers.keys()]).toEqual(['a', 'b']);
  });

  it('load() says the file does not exist', async () => {
    await expect(new McpConfigFile(path).load()).rejects.toMatchObject({
      code: 'config-io',
      message: expect.stringContaining(`${path} does not exist`) as unknown,
    });
  });

  it('adds a server to a file that does not exist yet', async () => {
    const file = new McpConfigFile(path);
    await file.updateServer('fs', { command: 'npx', args: ['-y', 'pkg'] });
    const loaded = await file.load();
    expect([...loaded.servers.keys()]).toEqual(['fs']);
    expect(loaded.servers.get('fs')).toMatchObject({
      ok: true,
      spec: { transport: { args: ['-y', 'pkg'] } },
    });
  });

  it("edits one server and keeps unknown fields and the user's formatting everywhere else", async () => {
    const original = [
      '{',
      '    "$schema": "https://example.com/mcp.schema.json",',
      '    "mcpServers": {',
      '        "fs": {',
      '            "command": "npx",',
      '            "args": ["-y",   "server-filesystem"],',
      '            "x-client-option": { "keep": [1, 2, 3] }',
      '        },',
      '        "other":   {"command": "other-server",  "args": [ "--flag" ], "alwaysAllow": ["read"]}',
      '    },',
      '    "clientSettings": {"theme":"dark"}',
      '}',
      '',
    ].join('\n');
    await writeFile(path, original);

    const file = new McpConfigFile(path);
    await file.updateServer('fs', { args: ['-y', 'server-filesystem', '/data'], description: 'Files' });
    const text = await readFile(path, 'utf8');

    const parsed = JSON.parse(text) as Record<string, unknown> & {
      mcpServers: Record<string, Record<string, unknown>>;
    };
    expect(parsed['$schema']).toBe('https://example.com/mcp.schema.json');
    expect(parsed['clientSettings']).toEqual({ theme: 'dark' });
    expect(parsed.mcpServers['fs']).toEqual({
      command: 'npx',
      args: ['-y', 'server-filesystem', '/data'],
      'x-client-option': { keep: [1, 2, 3] },
      description: 'Files',
    });
    // Parts outside the edited entry keep their exact text: odd spacing, one-line objects, 4-space indent.
    // (Inside the edited entry, jsonc-parser re-formats the lines it inserts into.)
    expect(text).toContain(
      '        "other":   {"command": "other-server",  "args": [ "--flag" ], "alwaysAllow": ["read"]}',
    );
    expect(text).toContain('    "clientSettings": {"theme":"dark"}');
    expect(
      text.startsWith('{\n    "$schema": "https://example.com/mcp.schema.json",\n    "mcpServers": {\n'),
    ).toBe(true);
  });

  it('sets and removes single keys of an entry, keeping the rest', async () => {
    const file = new McpConfigFile(path);
    await file.updateServer('s', { command: 'a', args: ['1'], disabled: true, description: 'd' });
    await file.updateServer('s', { disabled: undefined, args: ['2'] });
    const parsed = JSON.parse(await readFile(path, 'utf8')) as { mcpServers: Record<string, unknown> };
    expect(parsed.mcpServers['s']).toEqual({ command: 'a', args: ['2'], description: 'd' });
  });

  it('removes a server with null, and leaves the other servers as they were', async () => {
    const file = new McpConfigFile(path);
    await file.updateServer('keep', { command: 'a', env: { X: '1' } });
    await file.updateServer('drop', { port: 4000 });
    await file.updateServer('drop', null);
    const loaded = await file.load();
    expect([...loaded.servers.keys()]).toEqual(['keep']);
    expect(loaded.servers.get('keep')).toMatchObject({ ok: true, spec: { transport: { env: { X: '1' } } } });
  });

  it('refuses an update that would make the entry invalid, and leaves the file as it was', async () => {
    const file = new McpConfigFile(path);
    await file.updateServer('s', { command: 'a' });
    const before = await readFile(path);
    const error = await file.updateServer('s', { url: 'http://localhost:1/mcp' }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(GatewayError);
    expect(error).toMatchObject({ code: 'config-invalid' });
    expect((error as GatewayError).message).toContain('mcpServers.s: has "command" and "url"');
    expect((await readFile(path)).equals(before)).toBe(true);
    const fresh = new McpConfigFile(join(dir, 'fresh', 'mcp.json'));
    await expect(fresh.updateServer('s', { args: ['only args'] })).rejects.toMatchObject({
      code: 'config-invalid',
    });
    await expect(stat(fresh.path)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('refuses to edit a file with broken JSON, leaving it byte-identical and making no backup', async () => {
    // CRLF line ends and a syntax error on line 3: every byte must survive.
    const broken = Buffer.from('{\r\n  "mcpServers": {\r\n    "a": { "port": 1 },,\r\n  }\r\n}\r\n', 'utf8');
    await writeFile(path, broken);

    const file = new McpConfigFile(path);
    const error = await file.updateServer('b', { port: 2 }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(GatewayError);
    expect(error).toMatchObject({ code: 'config-invalid' });
    const message = (error as GatewayError).message;
    expect(message).toContain(`${path} line 3 column`);
    expect(message).toContain('Nothing was saved');
    expect((await readFile(path)).equals(broken)).toBe(true);
    await expect(stat(`${path}.bak`)).rejects.toMatchObject({ code: 'ENOENT' });
    await expect(file.updateServer('a', null)).rejects.toMatchObject({ code: 'config-invalid' });
    expect((await readFile(path)).equals(broken)).toBe(true);
  });

  it('refuses to edit a file whose mcpServers is not an object', async () => {
    const wrong = Buffer.from('{ "mcpServers": ["a"] }\n');
    await writeFile(path, wrong);
    await expect(new McpConfigFile(path).updateServer('b', { port: 2 })).rejects.toMatchObject({
      code: 'config-invalid',
    });
    expect((await readFile(path)).equals(wrong)).toBe(true);
  });

  it('keeps the previous content as <file>.bak after a successful update', async () => {
    const file = new McpConfigFile(path);
    await file.updateServer('a', { port: 1 });
    const first = await readFile(path);
    await file.updateServer('b', { port: 2 });
    expect((await readFile(`${path}.bak`)).equals(first)).toBe(true);
    const second = await readFile(path);
    expect(second.equals(first)).toBe(false);
    await file.updateServer('c', { port: 3 });
    expect((await readFile(`${path}.bak`)).equals(second)).toBe(true);
  });
});
