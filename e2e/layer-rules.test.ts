// The layer rules of DESIGN.md as lint enforces them: the rule each folder gets from eslint.config.js is
// applied to a line that crosses a layer, and must refuse it (and let the allowed imports through).
import { join } from 'node:path';

import { ESLint, Linter } from 'eslint';
import tseslint from 'typescript-eslint';
import { describe, expect, it } from 'vitest';

import { ROOT } from './support/cli.js';

const eslint = new ESLint({ cwd: ROOT });

/** The messages of the folder's `no-restricted-imports` rule for `code`, as if it were a file there. */
async function restricted(file: string, code: string): Promise<string[]> {
  const config = (await eslint.calculateConfigForFile(join(ROOT, file))) as { rules: Linter.RulesRecord };
  const rule = config.rules['no-restricted-imports'];
  if (!rule) return [];
  const messages = new Linter({ configType: 'flat' }).verify(
    code,
    [
      {
        files: ['**/*.ts', '**/*.tsx'],
        languageOptions: { parser: tseslint.parser },
        rules: { 'no-restricted-imports': rule },
      },
    ],
    { filename: join(ROOT, file) },
  );
  return messages.map((m) => m.message);
}

describe('lint layer rules', () => {
  it('lets only src-main/app and src-preload import electron', async () => {
    const code = "import { app } from 'electron';\n";
    for (const file of [
      'src-main/core/x.ts',
      'src-main/cli/x.ts',
      'src-main/control/x.ts',
      'src-relay/x.ts',
      'src-shared/x.ts',
      'src-renderer/x.tsx',
      'bench/x.ts',
      'e2e/x.test.ts',
    ]) {
      expect(await restricted(file, code), file).not.toEqual([]);
    }
    expect(
      await restricted('src-main/control/x.ts', "import type { BrowserWindow } from 'electron/main';\n"),
    ).not.toEqual([]);
    for (const file of ['src-main/app/electron-adapter.ts', 'src-preload/x.ts'])
      expect(await restricted(file, code), file).toEqual([]);
    // Inside the shell only the adapters load electron (and electron-store) at run time; the rest takes
    // ports, and may import Electron's types.
    expect(await restricted('src-main/app/x.ts', code)).not.toEqual([]);
    expect(await restricted('src-main/app/x.ts', "import type { App } from 'electron';\n")).toEqual([]);
    expect(await restricted('src-main/app/x.ts', "import Store from 'electron-store';\n")).not.toEqual([]);
    expect(await restricted('src-main/app/preferences.ts', "import Store from 'electron-store';\n")).toEqual(
      [],
    );
  });

  it('keeps the control API free of fronts, and the renderer free of node:* and src-main', async () => {
    expect(await restricted('src-main/control/x.ts', "import { main } from '../cli/main.js';\n")).not.toEqual(
      [],
    );
    expect(await restricted('src-main/control/x.ts', "import { x } from '../app/main.js';\n")).not.toEqual(
      [],
    );
    expect(
      await restricted(
        'src-main/control/x.ts',
        "import { Gateway } from '../core/gateway.js';\nimport { readFile } from 'node:fs/promises';\n",
      ),
    ).toEqual([]);

    expect(await restricted('src-renderer/x.ts', "import { readFile } from 'node:fs';\n")).toEqual([
      expect.stringContaining('sandboxed browser page'),
    ]);
    expect(
      await restricted('src-renderer/x.tsx', "import { Gateway } from '../src-main/core/gateway.js';\n"),
    ).not.toEqual([]);
    expect(
      await restricted(
        'src-renderer/x.tsx',
        "import type { Status } from '../src-shared/control.js';\nimport { render } from 'preact';\n",
      ),
    ).toEqual([]);
  });

  it('keeps the Electron shell out of the CLI, and the relay out of src-main', async () => {
    const cli = "import { localRelayFactory } from '../cli/local-relay.js';\n";
    for (const file of [
      'src-main/app/main.ts',
      'src-main/app/electron-adapter.ts',
      'src-main/app/preferences.ts',
    ])
      expect(await restricted(file, cli), file).toEqual([expect.stringContaining('may not import the CLI')]);
    expect(
      await restricted(
        'src-main/app/main.ts',
        "import { localRelayFactory } from '../../src-relay/local-endpoint.js';\nimport { Gateway } from '../core/gateway.js';\n",
      ),
    ).toEqual([]);
    expect(
      await restricted(
        'src-relay/x.ts',
        "import type { Logger } from '../src-main/core/logging/log-hub.js';\n",
      ),
    ).toEqual([expect.stringContaining('The relay stands alone')]);
    expect(
      await restricted(
        'src-relay/x.ts',
        "import { z } from 'zod';\nimport type { X } from '../src-shared/wire.js';\n",
      ),
    ).toEqual([]);
  });
});
