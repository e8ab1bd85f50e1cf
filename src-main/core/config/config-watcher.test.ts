// The watcher must see every save: our atomic writer's, an editor's rename-over, a plain overwrite.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterEach, beforeEach, expect, it } from 'vitest';

import { until } from '../../../e2e/support/wait.js';
import { watchFile } from './config-watcher.js';
import { McpConfigFile } from './mcp-config.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mcpgw-watch-'));
});
afterEach(() => rm(dir, { recursive: true, force: true }));

it('reports every save of mcp.json: atomic renames one after another, then a plain overwrite', async () => {
  const file = new McpConfigFile(join(dir, 'mcp.json'));
  await file.updateServer('first', { command: 'x' });
  let changes = 0;
  const watcher = watchFile(file.path, () => changes++, 50);
  try {
    for (const [i, name] of ['a', 'b', 'c'].entries()) {
      await file.updateServer(name, { command: 'y' });
      await until(() => changes === i + 1, 5000, `save ${i + 1} to be seen`);
    }
    await writeFile(file.path, '{"mcpServers": {}}');
    await until(() => changes === 4, 5000, 'the overwrite to be seen');
    expect(changes).toBe(4);
  } finally {
    await watcher.close();
  }
});
