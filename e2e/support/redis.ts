// A real redis-server (Debian's package; .ci/run installs it) for the relay's shared-state tests: one process per
// call, on 127.0.0.1 and a free port, with no persistence, stopped by close(). Nothing else on the machine is
// touched: not the package's own service, not port 6379.
import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';

export interface RedisFixture {
  /** redis://127.0.0.1:<port> */
  url: string;
  port: number;
  process: ChildProcess;
  close(): Promise<void>;
}

/** A free TCP port on 127.0.0.1 (redis-server has no "port 0": it would disable TCP). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/**
 * Starts redis-server on 127.0.0.1 and resolves once it accepts connections. Throws when the binary is missing
 * (with the command that installs it) or when it exits before it is ready (with its output). `fixedPort`: on that
 * port (Redis restarted, empty, where the relays expect it), else on a free one.
 */
export async function startRedis(fixedPort?: number): Promise<RedisFixture> {
  for (let attempt = 0; ; attempt++) {
    const port = fixedPort ?? (await freePort());
    const child = spawn(
      'redis-server',
      [
        '--bind',
        '127.0.0.1',
        '--port',
        String(port),
        '--save',
        '',
        '--appendonly',
        'no',
        '--protected-mode',
        'yes',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    const ready = await new Promise<boolean>((resolve, reject) => {
      child.once('error', (error: NodeJS.ErrnoException) =>
        reject(
          error.code === 'ENOENT'
            ? new Error('redis-server is not installed: apt-get install -y redis-server (.ci/run does it)')
            : error,
        ),
      );
      child.once('exit', () => resolve(false));
      const check = () => {
        if (output.includes('Ready to accept connections')) resolve(true);
        else if (child.exitCode === null) setTimeout(check, 20);
      };
      check();
    });
    if (ready) {
      return {
        url: `redis://127.0.0.1:${port}`,
        port,
        process: child,
        close: async () => {
          if (child.exitCode !== null || child.signalCode !== null) return;
          const exited = new Promise((resolve) => child.once('exit', resolve));
          child.kill('SIGTERM');
          await exited;
        },
      };
    }
    // Another process took the port between our check and redis binding it: try another, a few times.
    if (fixedPort !== undefined || attempt >= 3 || !/Address already in use/i.test(output))
      throw new Error(`redis-server exited before it was ready:\n${output}`);
  }
}
