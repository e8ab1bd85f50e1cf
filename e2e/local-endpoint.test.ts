// `npm start` as a newcomer meets it: the built CLI's `run` with no remote configured embeds the relay on
// 127.0.0.1 and prints an endpoint per server, the header clients send, and a Gemini CLI snippet. What it
// prints must work at once; the listener refuses foreign Host headers (DNS rebinding) and callers without
// the bearer, in either MCP era (2026-07-28 clients are served on the same URL); SIGTERM leaves no process
// behind; and a restart keeps the token users pasted into clients.
import { readFileSync } from 'node:fs';
import { mkdir, rm, stat, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { connect as connectTcp } from 'node:net';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';

import {
  Client as ClientV2,
  StreamableHTTPClientTransport as TransportV2,
} from '@modelcontextprotocol/client';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { decodeJwt, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';

import {
  type CliProcess,
  createSandbox,
  descendants,
  type Sandbox,
  startCli,
  stopLeftovers,
} from './support/cli.js';
import { serverEverything } from './support/mcp-fixtures.js';
import { isAlive, until } from './support/wait.js';

const STATE_FILE = '.mcpassistant.json';

interface Printed {
  url: string;
  authorization: string;
  token: string;
  gemini: { mcpServers: Record<string, { httpUrl: string; headers: Record<string, string> }> };
}

/** What `run` printed about the local endpoint, once all of it is there. */
function parse(stdout: string): Printed | undefined {
  const url = /^\s+everything\s+(http:\/\/127\.0\.0\.1:\d+\/local\/everything\/mcp)$/m.exec(stdout)?.[1];
  const header = /^Clients send the header\s+Authorization: (Bearer (\S+))$/m.exec(stdout);
  const gemini = /^For Gemini CLI, in ~\/\.gemini\/settings\.json:\n(\{\n[\s\S]*?\n\})$/m.exec(stdout)?.[1];
  if (!url || !header || !gemini) return undefined;
  return {
    url,
    authorization: header[1]!,
    token: header[2]!,
    gemini: JSON.parse(gemini) as Printed['gemini'],
  };
}

async function waitForEndpoint(cli: CliProcess): Promise<Printed> {
  let printed: Printed | undefined;
  await until(
    () => (printed = parse(cli.stdout())) !== undefined,
    20_000,
    'the local endpoint, its header and the Gemini snippet on stdout',
  ).catch((error: Error) => {
    throw new Error(`${error.message}\nstdout:\n${cli.stdout()}\nstderr:\n${cli.stderr()}`);
  });
  return printed!;
}

/** The server's "running" line: the tests after the first do not depend on how soon the endpoint works. */
const serverRunning = (cli: CliProcess) =>
  until(() => /✓ everything\s+running/.test(cli.stdout()), 20_000, 'server-everything to run');

async function connect(url: string, headers: Record<string, string>): Promise<Client> {
  const client = new Client({ name: 'e2e-local-endpoint', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers } }));
  return client;
}

const echoText = async (client: Client, message: string) =>
  ((await client.callTool({ name: 'echo', arguments: { message } })) as CallToolResult).content.map((c) =>
    c.type === 'text' ? c.text : '',
  );

/** A raw POST of an initialize request, with exactly the headers given (Host included). */
function rawInitialize(
  url: string,
  headers: Record<string, string>,
): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  const target = new URL(url);
  const body = JSON.stringify({
    jsonrpc: '2.0',
    id: 1,
    method: 'initialize',
    params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } },
  });
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: target.hostname,
        port: target.port,
        path: target.pathname,
        method: 'POST',
        headers: {
          'Content-Type': 'application/json',
          Accept: 'application/json, text/event-stream',
          'Content-Length': Buffer.byteLength(body),
          ...headers,
        },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

let sandbox: Sandbox;
let cli: CliProcess;
let printed: Printed;

beforeAll(async () => {
  sandbox = await createSandbox();
  // Where `npm start` looks by default: the per-user config directory (no --config).
  await mkdir(sandbox.configDir, { recursive: true });
  await writeFile(
    join(sandbox.configDir, 'mcp.json'),
    `${JSON.stringify({ mcpServers: { everything: serverEverything() } }, null, 2)}\n`,
  );
});
afterAll(async () => {
  await stopLeftovers();
  if (sandbox) await rm(sandbox.dir, { recursive: true, force: true });
});

describe('run with no remote: the local endpoint', () => {
  it('prints the endpoint and the header; an SDK client lists and calls tools at once', async () => {
    cli = startCli(['run'], sandbox, { LOCAL_RELAY_PORT: '0' });
    printed = await waitForEndpoint(cli);
    expect(cli.stdout()).toContain(`config ${join(sandbox.configDir, 'mcp.json')}`);
    // No waiting for the server's "running" line: what is printed must work as soon as it is printed.
    const client = await connect(printed.url, { Authorization: printed.authorization });
    try {
      const { tools } = await client.listTools();
      expect(tools.map((t) => t.name)).toContain('echo');
      expect(await echoText(client, 'hi')).toEqual(['Echo: hi']);
    } finally {
      await client.close();
    }
  });

  it('serves the 2026-07-28 era on the same URL: SDK v2 clients in auto mode and pinned', async () => {
    for (const mode of ['auto', { pin: '2026-07-28' }] as const) {
      const client = new ClientV2(
        { name: 'e2e-local-v2', version: '1.0.0' },
        { versionNegotiation: { mode } },
      );
      await client.connect(
        new TransportV2(new URL(printed.url), {
          requestInit: { headers: { Authorization: printed.authorization } },
        }),
      );
      try {
        expect(client.getProtocolEra()).toBe('modern');
        expect((await client.listTools()).tools.map((t) => t.name)).toContain('echo');
        const result = await client.callTool({ name: 'echo', arguments: { message: 'modern' } });
        expect(JSON.stringify(result.content)).toContain('Echo: modern');
      } finally {
        await client.close();
      }
    }
  });

  it('refuses a 2026-07-28 request without the bearer with 401', async () => {
    const client = new ClientV2(
      { name: 'e2e-local-v2', version: '1.0.0' },
      { versionNegotiation: { mode: { pin: '2026-07-28' } } },
    );
    await expect(client.connect(new TransportV2(new URL(printed.url)))).rejects.toThrow(/401|nauthori/);
    await client.close().catch(() => undefined);
  });

  it('refuses a foreign Host header with 403 (DNS rebinding), even with the bearer', async () => {
    const response = await rawInitialize(printed.url, {
      Host: 'evil.example:1234',
      Authorization: printed.authorization,
    });
    expect(response.status).toBe(403);
    expect(response.body).not.toContain(printed.token);
  });

  it('listens on 127.0.0.1 only: the port is closed on the other interfaces', async () => {
    const others = Object.values(networkInterfaces())
      .flat()
      .filter((i) => i && !i.internal && i.family === 'IPv4')
      .map((i) => i!.address);
    const { port } = new URL(printed.url);
    for (const address of others) {
      const socket = connectTcp({ host: address, port: Number(port), timeout: 2000 });
      const outcome = await new Promise<string>((resolve) => {
        socket.once('connect', () => resolve('connected'));
        socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? 'error'));
        socket.once('timeout', () => resolve('timeout'));
      });
      socket.destroy();
      expect(outcome, `${address}:${port}`).not.toBe('connected');
    }
  });

  it('refuses a request without the bearer with 401, and one with a wrong bearer too', async () => {
    const missing = await rawInitialize(printed.url, {});
    expect(missing.status).toBe(401);
    expect(missing.headers['www-authenticate']).toMatch(/^Bearer /);
    const wrong = await rawInitialize(printed.url, { Authorization: 'Bearer not-a-token' });
    expect(wrong.status).toBe(401);
    // The same request with the printed header is served: the refusals are about Host and the bearer.
    const ok = await rawInitialize(printed.url, { Authorization: printed.authorization });
    expect(ok.status).toBe(200);
  });

  it('prints a Gemini CLI snippet whose httpUrl and headers work', async () => {
    const entry = printed.gemini.mcpServers['everything'];
    expect(entry).toEqual({ httpUrl: printed.url, headers: { Authorization: printed.authorization } });
    await serverRunning(cli);
    const client = await connect(entry!.httpUrl, entry!.headers);
    try {
      expect(await echoText(client, 'from gemini')).toEqual(['Echo: from gemini']);
    } finally {
      await client.close();
    }
  });

  it('hands clients a client token: refused on /connect, and the real agent keeps serving (issue 8)', async () => {
    expect(decodeJwt(printed.token)).toMatchObject({ sub: 'local', role: 'client' });
    const connectUrl = new URL('/connect', printed.url.replace(/^http/, 'ws'));
    const impostor = new WebSocket(connectUrl, { headers: { Authorization: printed.authorization } });
    const status = await new Promise<number>((resolve, reject) => {
      impostor.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      impostor.once('open', () => {
        impostor.send(JSON.stringify({ type: 'register', subject: 'local', capabilities: ['everything'] }));
        reject(new Error('the client token opened /connect'));
      });
      impostor.once('error', () => undefined);
    });
    impostor.terminate();
    expect(status).toBe(403);
    expect(cli.stdout() + cli.stderr()).not.toMatch(/took over|superseded/);
    // The next client's call still reaches the real gateway's server.
    const client = await connect(printed.url, { Authorization: printed.authorization });
    try {
      expect(await echoText(client, 'still mine')).toEqual(['Echo: still mine']);
    } finally {
      await client.close();
    }
  });

  it('stops on SIGTERM with no child process left', async () => {
    const pid = cli.child.pid!;
    const tree = [pid, ...descendants(pid)];
    const cmdline = (p: number) => {
      try {
        return readFileSync(`/proc/${p}/cmdline`, 'utf8');
      } catch {
        return '';
      }
    };
    expect(tree.filter((p) => cmdline(p).includes('server-everything'))).toHaveLength(1);
    cli.child.kill('SIGTERM');
    const result = await cli.exited;
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('Stopped.');
    await until(() => !tree.some(isAlive), 5000, 'every process of the gateway to end');
  });

  it('prints the same token after a restart, kept in the 0600 state file', async () => {
    const state = join(sandbox.configDir, STATE_FILE);
    expect((await stat(state)).mode & 0o777).toBe(0o600);
    expect((JSON.parse(readFileSync(state, 'utf8')) as Record<string, unknown>)['local_relay_token']).toBe(
      printed.token,
    );

    const again = startCli(['run'], sandbox, { LOCAL_RELAY_PORT: '0' });
    const second = await waitForEndpoint(again);
    expect(second.token).toBe(printed.token);
    await serverRunning(again);
    const client = await connect(second.url, { Authorization: printed.authorization });
    try {
      expect(await echoText(client, 'again')).toEqual(['Echo: again']);
    } finally {
      await client.close();
    }
    const tree = [again.child.pid!, ...descendants(again.child.pid!)];
    again.child.kill('SIGTERM');
    expect((await again.exited).code).toBe(0);
    await until(() => !tree.some(isAlive), 5000, 'every process of the gateway to end');
    expect((await stat(state)).mode & 0o777).toBe(0o600);
  });

  it('replaces an agent token kept by an older version with a client token, and the old one stops working', async () => {
    const state = join(sandbox.configDir, STATE_FILE);
    const kept = JSON.parse(readFileSync(state, 'utf8')) as Record<string, unknown>;
    // What earlier versions stored: an agent token signed with the stored secret.
    const oldToken = await new SignJWT({ role: 'agent', capabilities: ['*'] })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('local')
      .setExpirationTime('365d')
      .sign(new TextEncoder().encode(kept['local_relay_secret'] as string));
    await writeFile(state, `${JSON.stringify({ ...kept, local_relay_token: oldToken }, null, 2)}\n`);

    const again = startCli(['run'], sandbox, { LOCAL_RELAY_PORT: '0' });
    const third = await waitForEndpoint(again);
    try {
      expect(third.token).not.toBe(oldToken);
      expect(decodeJwt(third.token)).toMatchObject({ role: 'client' });
      expect(readFileSync(sandbox.logFile, 'utf8')).toContain('replaced by a client token');
      expect(JSON.parse(readFileSync(state, 'utf8'))).toMatchObject({ local_relay_token: third.token });
      const refused = await rawInitialize(third.url, { Authorization: `Bearer ${oldToken}` });
      expect(refused.status).toBe(401);
      const client = await connect(third.url, { Authorization: third.authorization });
      try {
        expect(await echoText(client, 'migrated')).toEqual(['Echo: migrated']);
      } finally {
        await client.close();
      }
    } finally {
      const tree = [again.child.pid!, ...descendants(again.child.pid!)];
      again.child.kill('SIGTERM');
      await again.exited;
      await until(() => !tree.some(isAlive), 5000, 'every process of the gateway to end');
    }
  });
});
