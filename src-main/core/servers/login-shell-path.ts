// A desktop-launched app gets a minimal PATH (launchd, a .desktop file), so `npx`/`uvx` installed through nvm,
// Homebrew or pipx are not found. We ask the user's login shell for its PATH once, and add its entries after
// ours. Hand-written rather than shell-env because that library has no timeout: a login script waiting on
// input would block every server from starting.
import { execFile } from 'node:child_process';
import { delimiter } from 'node:path';

const MARKER = '__MCPASSISTANT_PATH__';
const TIMEOUT_MS = 5_000;

let cached: Promise<string | undefined> | undefined;

/** The login shell's PATH, or undefined (Windows, no shell, a shell that failed or took too long). */
export function loginShellPath(): Promise<string | undefined> {
  cached ??= new Promise((resolve) => {
    const shell = process.env['SHELL'];
    if (process.platform === 'win32' || !shell) return resolve(undefined);
    execFile(
      shell,
      ['-ilc', `printf '%s' "${MARKER}$PATH${MARKER}"`],
      // DISABLE_AUTO_UPDATE: oh-my-zsh would otherwise prompt; stdin is closed so nothing can wait on it.
      {
        timeout: TIMEOUT_MS,
        killSignal: 'SIGKILL',
        env: { ...process.env, DISABLE_AUTO_UPDATE: 'true' },
        encoding: 'utf8',
      },
      (_error, stdout) => resolve(stdout?.split(MARKER)[1] || undefined),
    ).stdin?.end();
  });
  return cached;
}

/** `primary` followed by the entries of `extra` it does not already have. */
export function mergePath(primary: string | undefined, extra: string | undefined): string {
  const entries = [...(primary ?? '').split(delimiter), ...(extra ?? '').split(delimiter)].filter(Boolean);
  return [...new Set(entries)].join(delimiter);
}
