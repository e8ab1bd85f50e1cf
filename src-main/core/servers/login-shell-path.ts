// A desktop-launched app gets a minimal PATH (launchd, a .desktop file), so `npx`/`uvx` installed through nvm,
// Homebrew or pipx are not found. We ask the user's login shell for its PATH once, and add its entries after
// ours. Hand-written rather than shell-env because that library has no timeout: a login script waiting on
// input would block every server from starting.
import { spawn } from 'node:child_process';
import { delimiter } from 'node:path';

const MARKER = '__MCPASSISTANT_PATH__';
const TIMEOUT_MS = 5_000;

let cached: Promise<string | undefined> | undefined;

/** The login shell's PATH, or undefined (Windows, no shell, a shell that failed or took too long). */
export function loginShellPath(): Promise<string | undefined> {
  cached ??= new Promise((resolve) => {
    const shell = process.env['SHELL'];
    if (process.platform === 'win32' || !shell) return resolve(undefined);
    // detached: its own session, without our terminal. An interactive shell takes the terminal's foreground
    // for job control, and the gateway, left in the background, could no longer read it (readline's
    // setRawMode fails with EIO when `run` asks for a sign-in). stdin is closed so nothing can wait on it;
    // DISABLE_AUTO_UPDATE keeps oh-my-zsh from prompting.
    const child = spawn(shell, ['-ilc', `printf '%s' "${MARKER}$PATH${MARKER}"`], {
      detached: true,
      stdio: ['ignore', 'pipe', 'ignore'],
      env: { ...process.env, DISABLE_AUTO_UPDATE: 'true' },
    });
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    const timer = setTimeout(() => {
      try {
        process.kill(-child.pid!, 'SIGKILL'); // the whole group: a login script may have started others
      } catch {
        // ignore: it ended meanwhile
      }
    }, TIMEOUT_MS).unref();
    child.on('error', () => {
      clearTimeout(timer);
      resolve(undefined);
    });
    child.on('close', () => {
      clearTimeout(timer);
      resolve(output.split(MARKER)[1] || undefined);
    });
  });
  return cached;
}

/** `primary` followed by the entries of `extra` it does not already have. */
export function mergePath(primary: string | undefined, extra: string | undefined): string {
  const entries = [...(primary ?? '').split(delimiter), ...(extra ?? '').split(delimiter)].filter(Boolean);
  return [...new Set(entries)].join(delimiter);
}
