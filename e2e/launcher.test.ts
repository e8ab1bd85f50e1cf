// The launcher behind `npm start` when it starts Electron: the app never outlives it. `npm start` runs the
// launcher through `sh -c`, and a SIGTERM to npm kills that shell, which forwards nothing; the launcher must
// notice and stop Electron itself. A stand-in for the Electron binary (a Node script that writes its pid and
// runs until a signal) takes its place; the launcher is the built one, as `npm start` runs it.
import { spawn } from 'node:child_process';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

import { afterEach, describe, expect, it } from 'vitest';

import { ROOT } from './support/cli.js';
import { isAlive, until } from './support/wait.js';

let dir: string | undefined;
const pids: number[] = [];
afterEach(async () => {
  for (const pid of pids.splice(0)) if (isAlive(pid)) process.kill(pid, 'SIGKILL');
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('runElectron', () => {
  it('stops Electron when the shell that started the launcher is killed', async () => {
    dir = await mkdtemp(join(tmpdir(), 'mcpgw-launcher-'));
    const electron = join(dir, 'electron');
    const pidFile = join(dir, 'electron.pid');
    await writeFile(
      electron,
      `#!${process.execPath}\nrequire('fs').writeFileSync(${JSON.stringify(pidFile)}, String(process.pid));\n` +
        `process.on('SIGTERM', () => { require('fs').writeFileSync(${JSON.stringify(pidFile)} + '.term', ''); process.exit(0); });\n` +
        'setInterval(() => {}, 1000);\n',
    );
    await chmod(electron, 0o755);
    const launcher = pathToFileURL(join(ROOT, 'dist', 'src-main', 'app', 'launcher.js')).href;
    const script = join(dir, 'start.mjs');
    await writeFile(
      script,
      `import { runElectron } from ${JSON.stringify(launcher)};\n` +
        `console.log(process.pid);\nrunElectron(${JSON.stringify(electron)}, ${JSON.stringify(ROOT)}, []);\n`,
    );
    // `; true` keeps sh from exec'ing node, as npm's `sh -c` leaves a shell between npm and the script.
    const shell = spawn('sh', ['-c', `"${process.execPath}" "${script}"; true`], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    pids.push(shell.pid!);
    const launcherPid = await new Promise<number>((resolve) =>
      shell.stdout.once('data', (chunk: Buffer) => resolve(Number(chunk.toString().trim()))),
    );
    pids.push(launcherPid);
    await until(
      async () => (await readFile(pidFile, 'utf8').catch(() => '')) !== '',
      10_000,
      'the fake Electron',
    );
    const electronPid = Number(await readFile(pidFile, 'utf8'));
    pids.push(electronPid);

    process.kill(shell.pid!, 'SIGKILL');
    await until(() => !isAlive(electronPid), 10_000, 'Electron to stop');
    await until(() => !isAlive(launcherPid), 10_000, 'the launcher to exit');
    // Stopped with SIGTERM, so the app could quit cleanly (not killed).
    expect(await readFile(`${pidFile}.term`, 'utf8')).toBe('');
  });
});
