// The checklist helpers on their own: openExternal only for http(s); the app scheme's file serving.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { rendererResponse } from './app-protocol.js';
import { hasStatusNotifierHost } from './status-notifier.js';
import { openExternalSafely } from './window-security.js';

describe('openExternal', () => {
  it('opens only http and https URLs', async () => {
    const opened: string[] = [];
    const warned: string[] = [];
    const shell = { openExternal: (url: string) => Promise.resolve(void opened.push(url)) };
    for (const url of [
      'https://example.com/a',
      'http://127.0.0.1:8080/',
      'file:///etc/passwd',
      'smb://host/share',
      'javascript:alert(1)',
      'ms-msdt:/id',
      'not a url',
    ])
      await openExternalSafely(shell, url, (m) => warned.push(m));
    expect(opened).toEqual(['https://example.com/a', 'http://127.0.0.1:8080/']);
    expect(warned).toHaveLength(5);
  });

  it('logs, by origin only, a URL the desktop cannot open, and never rejects', async () => {
    const warned: string[] = [];
    const shell = { openExternal: () => Promise.reject(new Error('Failed to open: no handler')) };
    const url = 'https://relay.example/manage/oauth/login?state=s3cr3t-state';
    expect(await openExternalSafely(shell, url, (m) => warned.push(m))).toBe(false);
    expect(warned).toEqual([
      'could not open https://relay.example in the system browser: Failed to open: no handler',
    ]);
  });
});

describe('app:// serving', () => {
  it('serves files of the renderer folder with the CSP, and nothing outside it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mcpgw-renderer-'));
    try {
      await writeFile(join(dir, 'index.html'), '<!doctype html>');
      await writeFile(join(dir, 'app.js'), 'x');
      const get = (url: string, method = 'GET') => rendererResponse(dir, new Request(url, { method }));
      const index = await get('app://gateway/');
      expect(index.status).toBe(200);
      expect(index.headers.get('content-type')).toBe('text/html; charset=utf-8');
      expect(index.headers.get('content-security-policy')).toMatch(/^default-src 'self'/);
      expect((await get('app://gateway/app.js')).headers.get('content-type')).toMatch(/javascript/);
      for (const url of [
        'app://gateway/%2e%2e/%2e%2e/etc/passwd',
        'app://other/index.html',
        'app://gateway/missing.js',
      ])
        expect((await get(url)).status, url).toBe(404);
      expect((await get('app://gateway/index.html', 'POST')).status).toBe(404);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('the StatusNotifier host check (Linux tray)', () => {
  it('asks D-Bus, and guesses from the desktop without gdbus', async () => {
    expect(await hasStatusNotifierHost('linux', {}, () => Promise.resolve('(true,)\n'))).toBe(true);
    expect(await hasStatusNotifierHost('linux', {}, () => Promise.resolve('(false,)\n'))).toBe(false);
    const missing = () => Promise.reject(new Error('ENOENT'));
    expect(await hasStatusNotifierHost('linux', { XDG_CURRENT_DESKTOP: 'ubuntu:GNOME' }, missing)).toBe(
      false,
    );
    expect(await hasStatusNotifierHost('linux', { XDG_CURRENT_DESKTOP: 'KDE' }, missing)).toBe(true);
    expect(await hasStatusNotifierHost('darwin', {}, missing)).toBe(true);
  });
});
