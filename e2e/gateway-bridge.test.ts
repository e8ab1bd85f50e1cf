// mcpassistant-gateway-bridge as a user runs it: the built binary, real server-everything children, SDK
// clients over Streamable HTTP and legacy SSE, raw HTTP for the protocol-level checks.
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { join } from 'node:path';

import {
  Client as ClientV2,
  StreamableHTTPClientTransport as StreamableHTTPClientTransportV2,
} from '@modelcontextprotocol/client';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { askedClient } from './support/asked-client.js';
import { CLI, createSandbox, descendants, type Sandbox, startCli, stopLeftovers } from './support/cli.js';
import { serverEverything, startStreamableHttpServer } from './support/mcp-fixtures.js';
import { askingServer } from './support/relay-fixture.js';
import { isAlive, until } from './support/wait.js';

const BRIDGE = CLI.replace('mcpassistant-gateway.js', 'mcpassistant-gateway-bridge.js');
const text = (result: unknown) =>
  (result as CallToolResult).content.map((c) => (c.type === 'text' ? c.text : '')).join('');

let sandbox: Sandbox;
const clients: Client[] = [];
beforeEach(async () => {
  sandbox = await createSandbox();
});
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close().catch(() => undefined)));
  await stopLeftovers();
});

interface Bridge {
  pid: number;
  urls: Record<string, { mcp: string; sse: string }>;
  output(): string;
  stop(): Promise<number | null>;
}

/** Starts the bridge binary on `servers` and reads the table of URLs it prints. */
async function startBridge(
  servers: Record<string, unknown>,
  args: string[] = [],
  env: NodeJS.ProcessEnv = {},
): Promise<Bridge> {
  const config = join(sandbox.dir, 'mcp.json');
  await writeFile(config, JSON.stringify({ mcpServers: servers }));
  const cli = startCli(['--config', config, ...args], sandbox, env, BRIDGE);
  await until(
    () => cli.stdout().includes('Running.') || cli.child.exitCode !== null,
    20_000,
    `the bridge:\n${cli.stdout()}${cli.stderr()}`,
  );
  const urls: Bridge['urls'] = {};
  for (const match of cli.stdout().matchAll(/^(\S+)\s+(http:\/\/\S+\/mcp)\s+(http:\/\/\S+\/sse)/gm)) {
    urls[match[1]!] = { mcp: match[2]!, sse: match[3]! };
  }
  return {
    pid: cli.child.pid!,
    urls,
    output: () => cli.stdout() + cli.stderr(),
    async stop() {
      cli.child.kill('SIGTERM');
      return (await cli.exited).code;
    },
  };
}

async function connect(url: string, headers: Record<string, string> = {}): Promise<Client> {
  const client = new Client({ name: 'bridge-test', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers } }));
  clients.push(client);
  return client;
}

const everythingChildren = (pid: number) =>
  descendants(pid).filter((child) => {
    try {
      return readFileSync(`/proc/${child}/cmdline`, 'utf8').includes('server-everything');
    } catch {
      return false;
    }
  });

function rawPost(url: string, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      { method: 'POST', headers: { 'content-type': 'application/json', ...headers } },
      (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      },
    );
    req.on('error', reject);
    req.end(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping' }));
  });
}

/** A raw request with exactly these headers (Host included when given); resolves with status, headers, body. */
function raw(
  url: string,
  options: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: options.method ?? 'POST', headers: options.headers }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

describe('mcpassistant-gateway-bridge', () => {
  it('serves a stdio server over Streamable HTTP and legacy SSE, and stops with no child left', async () => {
    const bridge = await startBridge({ everything: serverEverything() });
    const { mcp, sse } = bridge.urls['everything']!;
    expect(mcp).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/mcp$/);

    const client = await connect(mcp);
    expect((await client.listTools()).tools.map((t) => t.name)).toContain('echo');
    expect(text(await client.callTool({ name: 'echo', arguments: { message: 'streamable' } }))).toContain(
      'streamable',
    );

    const legacy = new Client({ name: 'sse-test', version: '1.0.0' });
    await legacy.connect(new SSEClientTransport(new URL(sse)));
    clients.push(legacy);
    expect(text(await legacy.callTool({ name: 'echo', arguments: { message: 'legacy' } }))).toContain(
      'legacy',
    );

    const children = descendants(bridge.pid);
    expect(children.length).toBeGreaterThan(0);
    expect(await bridge.stop()).toBe(0);
    for (const pid of children) await until(() => !isAlive(pid), 3000, `process ${pid} to end`);
  });

  it("relays a server's elicitation to the client of the call, over Streamable HTTP and legacy SSE", async () => {
    const bridge = await startBridge({ asking: askingServer() });
    const { mcp, sse } = bridge.urls['asking']!;
    for (const [url, transport] of [
      [mcp, 'streamable-http'],
      [sse, 'sse'],
    ] as const) {
      const { client, asked } = await askedClient(
        new URL(url),
        (question) => Promise.resolve(`${transport} says yes to ${question}`),
        {},
        transport,
      );
      clients.push(client);
      expect(text(await client.callTool({ name: 'ask', arguments: { question: 'go?' } }))).toBe(
        `accept: ${transport} says yes to go?`,
      );
      expect(text(await client.callTool({ name: 'roots', arguments: {} }))).toBe(
        'roots: file:///home/alice/project',
      );
      expect(asked).toEqual(['go?', 'roots']);
    }
  });

  it('serves a 2026-07-28 client (SDK v2, pinned) on the same URL, input-required rounds included', async () => {
    const bridge = await startBridge({ asking: askingServer() });
    const client = new ClientV2(
      { name: 'bridge-v2', version: '1.0.0' },
      { versionNegotiation: { mode: { pin: '2026-07-28' } }, capabilities: { elicitation: {} } },
    );
    client.setRequestHandler('elicitation/create', () => ({
      action: 'accept',
      content: { answer: 'modern' },
    }));
    await client.connect(new StreamableHTTPClientTransportV2(new URL(bridge.urls['asking']!.mcp)));
    try {
      expect(client.getProtocolEra()).toBe('modern');
      expect((await client.listTools()).tools.map((t) => t.name)).toContain('ask');
      expect(text(await client.callTool({ name: 'ask', arguments: { question: 'via bridge?' } }))).toBe(
        'accept: modern',
      );
    } finally {
      await client.close();
    }
  });

  it('shares one child among 20 concurrent sessions, each getting only its own replies and progress', async () => {
    const bridge = await startBridge({ everything: serverEverything() });
    const sessions = await Promise.all(
      Array.from({ length: 20 }, () => connect(bridge.urls['everything']!.mcp)),
    );
    const results = await Promise.all(
      sessions.map(async (client, i) => {
        const progress: number[] = [];
        const [echo, long] = await Promise.all([
          client.callTool({ name: 'echo', arguments: { message: `session ${i}` } }),
          client.callTool(
            { name: 'trigger-long-running-operation', arguments: { duration: 0.3, steps: 3 } },
            undefined,
            { onprogress: (p) => progress.push(p.progress) },
          ),
        ]);
        return { echo: text(echo), long: text(long), progress };
      }),
    );
    results.forEach((r, i) => {
      expect(r.echo).toBe(`Echo: session ${i}`);
      expect(r.long).toMatch(/completed/i);
      expect(r.progress).toEqual([1, 2, 3]);
    });
    expect(everythingChildren(bridge.pid)).toHaveLength(1);
  });

  it('refuses a foreign Host (403), and with --token a request without it (401)', async () => {
    const bridge = await startBridge({ everything: serverEverything() }, ['--token', 'let-me-in-123']);
    const { mcp } = bridge.urls['everything']!;
    const port = new URL(mcp).port;
    expect(await rawPost(mcp, { host: `evil.example:${port}`, authorization: 'Bearer let-me-in-123' })).toBe(
      403,
    );
    expect(await rawPost(mcp, {})).toBe(401);
    expect(await rawPost(mcp, { authorization: 'Bearer wrong' })).toBe(401);
    expect(
      await rawPost(mcp, { origin: 'https://evil.example', authorization: 'Bearer let-me-in-123' }),
    ).toBe(403);
    // A page on this machine may call it: its preflight (which carries no bearer) passes.
    const preflight = await fetch(mcp, { method: 'OPTIONS', headers: { Origin: 'http://localhost:6274' } });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-origin')).toBe('http://localhost:6274');
    const client = await connect(mcp, { Authorization: 'Bearer let-me-in-123' });
    expect(text(await client.callTool({ name: 'echo', arguments: { message: 'ok' } }))).toContain('ok');
  });

  it('takes its token from MCPASSISTANT_BRIDGE_TOKEN, so it never shows in `ps`', async () => {
    const token = 'from-the-environment-42';
    const bridge = await startBridge({ everything: serverEverything() }, [], {
      MCPASSISTANT_BRIDGE_TOKEN: token,
    });
    const { mcp } = bridge.urls['everything']!;
    expect(await rawPost(mcp, {})).toBe(401);
    const client = await connect(mcp, { Authorization: `Bearer ${token}` });
    expect(text(await client.callTool({ name: 'echo', arguments: { message: 'env' } }))).toContain('env');
    expect(readFileSync(`/proc/${bridge.pid}/cmdline`, 'utf8')).not.toContain(token);
    expect(bridge.output()).not.toContain(token);
    const help = startCli(['--help'], sandbox, {}, BRIDGE);
    expect((await help.exited).stdout).toMatch(
      /--token <token>\s+require Authorization: Bearer <token> on every\s+request \(env\s+MCPASSISTANT_BRIDGE_TOKEN\)/,
    );
  });

  it('refuses to listen beyond loopback without a token', async () => {
    const config = join(sandbox.dir, 'mcp.json');
    await writeFile(config, JSON.stringify({ mcpServers: { everything: serverEverything() } }));
    const cli = startCli(['--config', config, '--host', '0.0.0.0'], sandbox, {}, BRIDGE);
    const result = await cli.exited;
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(
      '--host 0.0.0.0 would let other machines run your servers: give a --token',
    );
  });

  it('gives a session a clear error while its crashed child restarts, then serves it again', async () => {
    const bridge = await startBridge({ everything: serverEverything() });
    const client = await connect(bridge.urls['everything']!.mcp);
    await client.callTool({ name: 'echo', arguments: { message: 'before' } });
    const [child] = everythingChildren(bridge.pid);
    // A call in flight when the child dies fails with a clear error…
    let progressed = false;
    const during = client.callTool(
      { name: 'trigger-long-running-operation', arguments: { duration: 5, steps: 10 } },
      undefined,
      { onprogress: () => (progressed = true) },
    );
    await until(() => progressed, 5000, 'the call to be running in the child');
    process.kill(child!, 'SIGKILL');
    // (naming the server and what happened, not only the SDK's bare "Connection closed")
    await expect(during).rejects.toThrow(/"everything" closed its connection during tools\/call/);
    // …and the next calls are served by the restarted child.
    await until(
      async () => {
        try {
          return text(await client.callTool({ name: 'echo', arguments: { message: 'after' } })).includes(
            'after',
          );
        } catch {
          return false;
        }
      },
      15_000,
      'the session to work again',
    );
    expect(everythingChildren(bridge.pid)).toHaveLength(1);
  });

  it('names an HTTP server that cannot be reached, and why, not only "fetch failed"', async () => {
    const http = await startStreamableHttpServer();
    const bridge = await startBridge({ remote: { url: http.url } }, ['--name', 'remote']);
    const client = await connect(bridge.urls['remote']!.mcp);
    expect(text(await client.callTool({ name: 'echo', arguments: { message: 'up' } }))).toBe(
      'streamable: up',
    );
    await http.close();
    const failed = client.callTool({ name: 'echo', arguments: { message: 'down' } });
    await expect(failed).rejects.toThrow(
      /"remote" could not be reached at http:\/\/127\.0\.0\.1:\d+ during tools\/call \(ECONNREFUSED\)/,
    );
    await expect(failed).rejects.toThrow(/check that it is running and its url in mcp\.json/);
  });

  it('runs a supergateway-style entry natively, without supergateway installed, on its port', async () => {
    const { command, args } = serverEverything();
    const inner = [command, ...args].map((a) => JSON.stringify(a)).join(' ');
    const bridge = await startBridge({
      files: { command: 'npx', args: ['-y', 'supergateway', '--stdio', inner, '--port', '0'] },
    });
    expect(bridge.output()).toContain('supergateway entry, run natively');
    const client = await connect(bridge.urls['files']!.mcp);
    expect(text(await client.callTool({ name: 'echo', arguments: { message: 'native' } }))).toContain(
      'native',
    );
    expect(bridge.output()).not.toMatch(/npx|supergateway: not found/);
  });

  it('with isolate, gives each session its own child and ends it with the session', async () => {
    const bridge = await startBridge({ everything: { ...serverEverything(), isolate: true } });
    const a = await connect(bridge.urls['everything']!.mcp);
    const b = await connect(bridge.urls['everything']!.mcp);
    await Promise.all([a, b].map((c) => c.callTool({ name: 'echo', arguments: { message: 'x' } })));
    const children = everythingChildren(bridge.pid);
    expect(children).toHaveLength(2);
    await (a.transport as StreamableHTTPClientTransport).terminateSession();
    await until(
      () => everythingChildren(bridge.pid).length === 1,
      10_000,
      "the ended session's child to stop",
    );
  });

  it('expires an idle session even while its GET stream is open', async () => {
    const bridge = await startBridge({ everything: serverEverything() }, ['--session-idle-seconds', '0.5']);
    const { mcp } = bridge.urls['everything']!;
    const init = await fetch(mcp, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: 1,
        method: 'initialize',
        params: {
          protocolVersion: '2025-06-18',
          capabilities: {},
          clientInfo: { name: 'raw', version: '1' },
        },
      }),
    });
    const sessionId = init.headers.get('mcp-session-id')!;
    expect(sessionId).toBeTruthy();
    // Hold the GET stream open and touch nothing: the session must still end, closing the stream.
    const stream = await fetch(mcp, {
      headers: { accept: 'text/event-stream', 'mcp-session-id': sessionId },
    });
    expect(stream.status).toBe(200);
    await stream.text(); // resolves when the bridge ends the stream
    expect(
      await rawPost(mcp, { 'mcp-session-id': sessionId, accept: 'application/json, text/event-stream' }),
    ).toBe(404);
  });

  it('answers every refusal on its MCP routes with a JSON-RPC error object, never {"ok": false}', async () => {
    const token = 'let-me-in-123';
    const bridge = await startBridge({ everything: serverEverything() }, ['--token', token]);
    const { mcp } = bridge.urls['everything']!;
    const { port, origin } = new URL(mcp);
    const json = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };
    const auth = { ...json, authorization: `Bearer ${token}` };
    const ping = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping' });
    const cases: [string, number, Parameters<typeof raw>][] = [
      ['foreign Host', 403, [mcp, { headers: { ...auth, host: `evil.example:${port}` }, body: ping }]],
      ['foreign Origin', 403, [mcp, { headers: { ...auth, origin: 'https://evil.example' }, body: ping }]],
      ['no bearer', 401, [mcp, { headers: json, body: ping }]],
      ['unknown path', 404, [`${origin}/nope`, { headers: auth, body: ping }]],
      ['body not JSON', 400, [mcp, { headers: auth, body: '{"jsonrpc":' }]],
      ['a batch', 400, [mcp, { headers: auth, body: `[${ping}]` }]],
      ['not JSON-RPC', 400, [mcp, { headers: auth, body: '{"hello":1}' }]],
      ['unknown session', 404, [mcp, { headers: { ...auth, 'mcp-session-id': 'nope' }, body: ping }]],
      [
        'unsupported MCP-Protocol-Version',
        400,
        [mcp, { headers: { ...auth, 'mcp-protocol-version': '1999-01-01' }, body: ping }],
      ],
      [
        'GET without text/event-stream',
        405,
        [mcp, { method: 'GET', headers: { authorization: auth.authorization } }],
      ],
      ['PUT', 405, [mcp, { method: 'PUT', headers: auth, body: ping }]],
      ['DELETE without a session', 400, [mcp, { method: 'DELETE', headers: auth }]],
      ['over 4 MiB', 413, [mcp, { headers: auth, body: `"${'x'.repeat(4 * 1024 * 1024)}"` }]],
      [
        'legacy POST to an unknown session',
        404,
        [`${origin}/message?sessionId=nope`, { headers: auth, body: ping }],
      ],
    ];
    for (const [what, status, args] of cases) {
      const answer = await raw(...args);
      expect(answer.status, what).toBe(status);
      expect(answer.headers['content-type'], what).toBe('application/json');
      const body = JSON.parse(answer.body) as Record<string, unknown>;
      expect(body, what).toEqual({
        jsonrpc: '2.0',
        id: null,
        // -32700 invalid JSON, -32600 not one JSON-RPC message, -32001 unknown session, else -32000.
        error: { code: expect.any(Number) as unknown, message: expect.stringMatching(/\w{3,}/) as unknown },
      });
      expect(answer.body, what).not.toContain(token);
    }
    // What a client needs beside the body stays: the challenge on 401, the methods on 405.
    expect((await raw(mcp, { headers: json, body: ping })).headers['www-authenticate']).toContain('Bearer');
    expect((await raw(mcp, { method: 'PUT', headers: auth, body: ping })).headers['allow']).toBe(
      'GET, POST, DELETE',
    );
  });

  it("serves an HTTP (url) server when --name names it, with its entry's headers; never unasked", async () => {
    const upstream = await startStreamableHttpServer({ authorization: 'Bearer upstream-secret' });
    try {
      const servers = {
        remote: { url: upstream.url, headers: { Authorization: 'Bearer upstream-secret' } },
      };
      const unnamed = await startBridge(servers);
      expect(await unnamed.stop()).toBe(2);
      expect(unnamed.output()).toContain('no enabled stdio server');

      const bridge = await startBridge(servers, ['--name', 'remote']);
      const client = await connect(bridge.urls['remote']!.mcp);
      expect(text(await client.callTool({ name: 'echo', arguments: { message: 'via url' } }))).toContain(
        'via url',
      );
    } finally {
      await upstream.close();
    }
  });
});
