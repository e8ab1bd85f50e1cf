import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterEach, describe, expect, it } from 'vitest';

import { addToClient, clientConfigPath, EntryExistsError, parseImport } from './client-configs.js';

const dirs: string[] = [];
afterEach(async () => {
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

describe('client configs', () => {
  it('knows each client’s file on each OS', () => {
    const at = (platform: NodeJS.Platform, env: NodeJS.ProcessEnv = {}) => ({ home: '/h', platform, env });
    expect(clientConfigPath('claude-desktop', at('darwin')).path).toBe(
      '/h/Library/Application Support/Claude/claude_desktop_config.json',
    );
    expect(clientConfigPath('claude-desktop', at('linux')).path).toBe(
      '/h/.config/Claude/claude_desktop_config.json',
    );
    expect(clientConfigPath('claude-desktop', at('win32', { APPDATA: 'C:/AppData' })).path).toBe(
      join('C:/AppData', 'Claude', 'claude_desktop_config.json'),
    );
    expect(clientConfigPath('vscode', at('linux', { XDG_CONFIG_HOME: '/x' }))).toEqual({
      path: '/x/Code/User/mcp.json',
      key: 'servers',
    });
    expect(clientConfigPath('gemini-cli', at('linux')).path).toBe('/h/.gemini/settings.json');
    expect(clientConfigPath('claude-code', at('darwin')).path).toBe('/h/.claude.json');
    expect(clientConfigPath('windsurf', at('linux')).path).toBe('/h/.codeium/windsurf/mcp_config.json');
  });

  it('reads every shape of pasted JSON, and says why it does not understand the rest', () => {
    expect(parseImport('{"mcpServers": {"a": {"command": "x"}}}').map((e) => e.name)).toEqual(['a']);
    expect(parseImport('{"a": {"command": "x", "args": ["1"]}}')[0]!.entry).toEqual({
      command: 'x',
      args: ['1'],
    });
    const vscode = parseImport('{"servers": {"r": {"type": "http", "url": "https://h/mcp"}}, // c\n}');
    expect(vscode[0]!.entry).toEqual({ url: 'https://h/mcp' });
    expect(parseImport('{"mcpServers": {"g": {"httpUrl": "https://h/mcp"}}}')[0]).toMatchObject({
      entry: { url: 'https://h/mcp' },
      note: 'httpUrl → url',
    });
    const sg = parseImport(
      '{"mcpServers": {"s": {"command": "npx", "args": ["-y", "supergateway", "--stdio", "uvx thing"]}}}',
    );
    expect(sg[0]!.note).toContain('the gateway runs "uvx" itself');
    expect(parseImport('{"mcpServers": {"bad": {"command": ""}}}')[0]!.error).toMatch(/command/);
    expect(() => parseImport('nonsense')).toThrow(/is not JSON/);
    expect(() => parseImport('[1]')).toThrow(/is not a JSON object/);
    expect(() => parseImport('{"command": "x"}')).toThrow(/one server entry without a name/);
    expect(() => parseImport('{"colour": "blue"}')).toThrow(/has no servers/);
    expect(() => parseImport('  ')).toThrow(/is empty/);
  });

  it('adds an entry with a backup, creates a missing file, and never replaces an entry', async () => {
    const home = await mkdtemp(join(tmpdir(), 'mcpgw-clients-'));
    dirs.push(home);
    const env = { home, platform: 'linux' as const, env: {} };
    const created = await addToClient('cursor', 'mine', { url: 'http://u' }, env);
    expect(created).toEqual({ path: join(home, '.cursor', 'mcp.json'), backup: null });
    expect(JSON.parse(await readFile(created.path, 'utf8'))).toEqual({
      mcpServers: { mine: { url: 'http://u' } },
    });

    const path = join(home, '.claude.json');
    const original =
      '{\n  "numStartups": 3, // keep\n  "mcpServers": {\n    "mine": {"command": "x"}\n  }\n}\n';
    await writeFile(path, original);
    await expect(addToClient('claude-code', 'mine', { url: 'http://u' }, env)).rejects.toThrow(
      EntryExistsError,
    );
    expect(await readFile(path, 'utf8')).toBe(original);
    const added = await addToClient('claude-code', 'other', { type: 'http', url: 'http://u' }, env);
    expect(added.backup).toBe(`${path}.bak`);
    expect(await readFile(`${path}.bak`, 'utf8')).toBe(original);
    const text = await readFile(path, 'utf8');
    expect(text).toContain('"numStartups": 3, // keep');
    expect(text).toMatch(/"other": \{\s*"type": "http",\s*"url": "http:\/\/u"\s*\}/);
  });
});
