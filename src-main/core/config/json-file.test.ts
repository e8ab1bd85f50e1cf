// JsonFile: atomic, locked read-modify-write with a backup, that never overwrites a file it cannot parse —
// and, across real processes, never lets a reader see a torn file or a writer lose another's edit.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { GatewayError } from '../errors.js';
import { JsonFile } from './json-file.js';

const modeOf = async (path: string): Promise<number> => (await stat(path)).mode & 0o777;

let dir: string;
let path: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mcpgw-json-file-'));
  path = join(dir, 'file.json');
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('JsonFile', () => {
  it('reads undefined for a file that does not exist', async () => {
    expect(await new JsonFile(path).readText()).toBeUndefined();
  });

  it('creates a file once, and never replaces an existing one', async () => {
    const file = new JsonFile(join(dir, 'nested', 'folder', 'file.json'));
    expect(await file.create('{"first": true}\n')).toBe(true);
    expect(await file.readText()).toBe('{"first": true}\n');
    expect(await file.create('{"second": true}\n')).toBe(false);
    expect(await file.readText()).toBe('{"first": true}\n');
  });

  it('passes the current text to the edit and writes what it returns', async () => {
    const file = new JsonFile(path);
    const seen: (string | undefined)[] = [];
    await file.update((current) => {
      seen.push(current);
      return '{"n": 1}';
    });
    await file.update((current) => {
      seen.push(current);
      return '{"n": 2}';
    });
    expect(seen).toEqual([undefined, '{"n": 1}']);
    expect(await readFile(path, 'utf8')).toBe('{"n": 2}');
  });

  it('leaves the file alone (no write, no backup) when the edit returns undefined or the same text', async () => {
    const file = new JsonFile(path);
    await file.create('{"n": 1}');
    await file.update(() => undefined);
    await file.update((current) => current);
    expect(await readFile(path, 'utf8')).toBe('{"n": 1}');
    expect(existsSync(`${path}.bak`)).toBe(false);
  });

  it('creates a new file with the mode it is given, 0600 by default', async () => {
    await new JsonFile(path, { mode: 0o640 }).create('{}');
    expect(await modeOf(path)).toBe(0o640);
    const plain = join(dir, 'plain.json');
    await new JsonFile(plain).create('{}');
    expect(await modeOf(plain)).toBe(0o600);
  });

  it("keeps an existing file's mode", async () => {
    await writeFile(path, '{"n": 1}');
    await chmod(path, 0o640);
    await new JsonFile(path, { mode: 0o600 }).update(() => '{"n": 2}');
    expect(await readFile(path, 'utf8')).toBe('{"n": 2}');
    expect(await modeOf(path)).toBe(0o640);
  });

  it('keeps the version it replaces as <file>.bak, with the same mode, and no temporary files', async () => {
    const file = new JsonFile(path, { mode: 0o600 });
    await file.create('{"v": 1}\n');
    expect(existsSync(`${path}.bak`)).toBe(false);
    await file.update(() => '{"v": 2}\n');
    expect(await readFile(`${path}.bak`, 'utf8')).toBe('{"v": 1}\n');
    await file.update(() => '{"v": 3}\n');
    expect(await readFile(`${path}.bak`, 'utf8')).toBe('{"v": 2}\n');
    expect(await readFile(path, 'utf8')).toBe('{"v": 3}\n');
    // The backup of a secret file is as private as the file.
    expect(await modeOf(`${path}.bak`)).toBe(0o600);
    expect((await readdir(dir)).sort()).toEqual(['file.json', 'file.json.bak']);
  });

  it('refuses to edit a file that is not valid JSON, without calling the edit or changing a byte', async () => {
    const broken = Buffer.from('{\n  "a": 1\n  "b": 2\n}\n');
    await writeFile(path, broken);
    let called = false;
    const error = await new JsonFile(path)
      .update(() => {
        called = true;
        return '{}';
      })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(error).toBeInstanceOf(GatewayError);
    expect(error).toMatchObject({ code: 'config-invalid' });
    const { message } = error as GatewayError;
    expect(message).toContain(`${path} line 3 column 3: invalid JSON: a comma (,) was expected`);
    expect(message).toContain('Nothing was saved: fix the file by hand first');
    expect(message).not.toContain('it was not changed');
    expect(called).toBe(false);
    expect((await readFile(path)).equals(broken)).toBe(true);
    expect(existsSync(`${path}.bak`)).toBe(false);
  });

  it('refuses to write invalid JSON produced by the edit', async () => {
    const file = new JsonFile(path);
    await file.create('{"ok": true}');
    await expect(file.update(() => '{"ok": tru')).rejects.toMatchObject({ code: 'config-invalid' });
    expect(await readFile(path, 'utf8')).toBe('{"ok": true}');
    expect(existsSync(`${path}.bak`)).toBe(false);
  });

  it('runs the validate option on the current and on the new text', async () => {
    const validate = (text: string): void => {
      if (text.includes('forbidden')) throw new GatewayError('config-invalid', 'contains forbidden');
    };
    const file = new JsonFile(path, { validate });
    await file.create('{"a": 1}');
    await expect(file.update(() => '{"a": "forbidden"}')).rejects.toThrow('contains forbidden');
    expect(await readFile(path, 'utf8')).toBe('{"a": 1}');

    await writeFile(path, '{"a": "forbidden"}');
    await expect(file.update(() => '{"a": 2}')).rejects.toMatchObject({
      code: 'config-invalid',
      message: expect.stringContaining('contains forbidden') as unknown,
    });
    expect(await readFile(path, 'utf8')).toBe('{"a": "forbidden"}');
  });

  it('releases the lock when an edit throws', async () => {
    const file = new JsonFile(path);
    await file.create('{}');
    await expect(
      file.update(() => {
        throw new Error('edit failed');
      }),
    ).rejects.toThrow('edit failed');
    expect(existsSync(`${path}.lock`)).toBe(false);
    await file.update(() => '{"after": true}');
    expect(await readFile(path, 'utf8')).toBe('{"after": true}');
  });

  it('serialises concurrent updates from one process: none is lost', async () => {
    const file = new JsonFile(path);
    await file.create('{}');
    const keys = Array.from({ length: 10 }, (_, i) => `k${i}`);
    await Promise.all(
      keys.map((key) =>
        file.update((current) => {
          const value = JSON.parse(current ?? '{}') as Record<string, number>;
          return JSON.stringify({ ...value, [key]: 1 });
        }),
      ),
    );
    expect(Object.keys(JSON.parse(await readFile(path, 'utf8')) as object).sort()).toEqual(keys.sort());
  });

  it('Two concurrent writers never leave a torn or invalid file', { timeout: 20_000 }, async () => {
    const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
    const compiled = join(repoRoot, 'dist', 'src-main', 'core', 'config', 'mcp-config.js');
    expect(
      existsSync(compiled),
      `${compiled} is missing: build first with "npm run build" (npm test does it before the tests)`,
    ).toBe(true);

    const configPath = join(dir, 'mcp.json');
    await writeFile(configPath, '{\n  "mcpServers": {}\n}\n');
    const worker = join(dir, 'writer.mjs');
    await writeFile(worker, WRITER);

    const perWriter = 40;
    const writers = ['a', 'b'].map((prefix) =>
      startWriter(worker, [pathToFileURL(compiled).href, configPath, prefix, String(perWriter)]),
    );
    // Both have loaded the module: start them together so that they really contend for the lock.
    await Promise.all(writers.map((writer) => writer.ready));
    for (const writer of writers) writer.go();
    let finished = false;
    const exits = Promise.all(writers.map((writer) => writer.exit)).finally(() => {
      finished = true;
    });

    let reads = 0;
    const badReads: string[] = [];
    const counts = new Set<number>();
    while (!finished) {
      const text = await readFile(configPath, 'utf8');
      reads++;
      try {
        const parsed = JSON.parse(text) as { mcpServers: Record<string, unknown> };
        counts.add(Object.keys(parsed.mcpServers).length);
      } catch {
        badReads.push(text);
      }
    }

    for (const result of await exits) expect(result, result.stderr).toEqual({ code: 0, stderr: '' });
    expect(badReads, `unparsable read:\n${badReads[0]}`).toEqual([]);
    // The reads really happened while the file was changing.
    expect(reads).toBeGreaterThan(10);
    expect(counts.size).toBeGreaterThan(2);

    const final = JSON.parse(await readFile(configPath, 'utf8')) as { mcpServers: Record<string, unknown> };
    const expected = ['a', 'b'].flatMap((prefix) =>
      Array.from({ length: perWriter }, (_, i) => `${prefix}-${i}`),
    );
    expect(Object.keys(final.mcpServers).sort()).toEqual(expected.sort());
  });
});

// Loads McpConfigFile, says "ready", waits for a line on stdin, then adds its servers one update at a time.
const WRITER = `
const [moduleUrl, path, prefix, count] = process.argv.slice(2);
const { McpConfigFile } = await import(moduleUrl);
const file = new McpConfigFile(path);
process.stdout.write('ready\\n');
await new Promise((resolve) => process.stdin.once('data', resolve));
process.stdin.pause();
for (let i = 0; i < Number(count); i++) {
  await file.updateServer(prefix + '-' + i, { command: 'server-' + prefix, args: [String(i)] });
}
`;

interface Writer {
  ready: Promise<void>;
  go(): void;
  exit: Promise<{ code: number | null; stderr: string }>;
}

function startWriter(script: string, args: string[]): Writer {
  const child = spawn(process.execPath, [script, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exit = new Promise<{ code: number | null; stderr: string }>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stderr }));
  });
  const ready = new Promise<void>((resolve, reject) => {
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk;
      if (out.includes('ready\n')) resolve();
    });
    void exit.then(
      ({ code }) => reject(new Error(`writer exited (${code}) before it was ready: ${stderr}`)),
      reject,
    );
  });
  return { ready, go: () => child.stdin.end('go\n'), exit };
}
