// electron-builder.yml, checked offline: against app-builder-lib's own JSON schema (a misspelt key fails),
// for the fuses the security checklist asks for, and for what it packages (built output and resources/ only).
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

import { Ajv } from 'ajv';
import { load } from 'js-yaml';
import { minimatch } from 'minimatch';
import { describe, expect, it } from 'vitest';

const require = createRequire(import.meta.url);
const scheme = JSON.parse(readFileSync(require.resolve('app-builder-lib/scheme.json'), 'utf8')) as object;
const config = load(readFileSync('electron-builder.yml', 'utf8')) as Record<string, unknown>;

function validator() {
  // The scheme uses draft-07 and a few non-standard keywords; strict mode would reject the scheme itself.
  const ajv = new Ajv({ allErrors: true, strict: false });
  return ajv.compile(scheme);
}

describe('electron-builder.yml', () => {
  it('is valid against app-builder-lib’s scheme.json, and a misspelt key is not', () => {
    const validate = validator();
    expect(validate(config), JSON.stringify(validate.errors)).toBe(true);
    expect(validate({ ...config, productNmae: 'x' })).toBe(false);
    expect(validate({ ...config, electronFuses: { runAsNod: false } })).toBe(false);
  });

  it('sets the fuses: no run-as-node, NODE_OPTIONS or --inspect; asar only and checked; cookies encrypted', () => {
    expect(config['asar']).toBe(true);
    expect(config['electronFuses']).toEqual({
      runAsNode: false,
      enableNodeOptionsEnvironmentVariable: false,
      enableNodeCliInspectArguments: false,
      onlyLoadAppFromAsar: true,
      enableEmbeddedAsarIntegrityValidation: true,
      enableCookieEncryption: true,
      grantFileProtocolExtraPrivileges: false,
    });
  });

  it('packages only built output and resources/', () => {
    const patterns = config['files'] as string[];
    const include = patterns.filter((p) => !p.startsWith('!'));
    const exclude = patterns.filter((p) => p.startsWith('!')).map((p) => p.slice(1));
    const packaged = (file: string) =>
      include.some((p) => minimatch(file, p, { dot: true })) &&
      !exclude.some((p) => minimatch(file, p, { dot: true, matchBase: true }));
    // Every file of the checkout (sources, tests, configs, docs) and what a build puts in dist/.
    const tracked = execFileSync('git', ['ls-files', '-co', '--exclude-standard'], { encoding: 'utf8' })
      .split('\n')
      .filter(Boolean);
    const outside = tracked.filter(
      (file) => packaged(file) && file !== 'package.json' && !file.startsWith('resources/'),
    );
    expect(outside).toEqual([]);
    for (const file of [
      'dist/src-main/app/main.js',
      'dist/src-main/core/gateway.js',
      'dist/src-relay/relay-server.js',
      'dist/src-preload/preload.cjs',
      'dist/renderer/index.html',
      'resources/tray/linux/connected-dark.png',
    ])
      expect(packaged(file), file).toBe(true);
    for (const file of [
      'dist/bench/run.js',
      'dist/src-main/app/main.js.map',
      'dist/src-main/app/tray-menu.test.js',
      'src-main/app/main.ts',
      'node_modules/electron/index.js',
      '.env',
    ])
      expect(packaged(file), file).toBe(false);
  });
});
