// Issue 11: the gateway reaches its own local endpoint in-process. With no remote configured, the Gateway
// (built as the CLI and the desktop app build it, with the real embedded relay) registers its agent without
// opening any connection to the endpoint's port, and what the /connect link carried still works over the
// in-process one: progress, a client's cancellation (with its reason), a local server's requests to the
// client (elicitation, sampling, roots), a server's own notifications, and a re-registration when the
// servers change. Real stdio servers, real SDK clients over HTTP.
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import {
  type CallToolResult,
  LoggingMessageNotificationSchema,
  ToolListChangedNotificationSchema,
} from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { BridgeClient } from '../src-main/core/bridge/bridge-client.js';
import { Dispatcher } from '../src-main/core/bridge/dispatcher.js';
import { Gateway, type GatewayState } from '../src-main/core/gateway.js';
import { LogHub } from '../src-main/core/logging/log-hub.js';
import { localRelayFactory } from '../src-relay/local-endpoint.js';
import type { RelayServer } from '../src-relay/relay-server.js';
import { askedClient } from './support/asked-client.js';
import { serverEverything } from './support/mcp-fixtures.js';
import { askingServer, linkState, slowServer, startRelay } from './support/relay-fixture.js';
import { until, waitForStatus } from './support/wait.js';

const text = (result: unknown) =>
  (result as CallToolResult).content.map((c) => (c.type === 'text' ? c.text : '')).join('');

/**
 * TCP connections accepted by the listener on 127.0.0.1:`port` and still open, from the kernel's table of
 * this machine's sockets (/proc/net/tcp: local address 0100007F:<port hex>, state 01 = ESTABLISHED). Only
 * that listener can own sockets with that local address, whoever the peer is.
 */
function acceptedConnections(port: number): number {
  const local = `0100007F:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  return readFileSync('/proc/net/tcp', 'utf8')
    .split('\n')
    .slice(1)
    .map((line) => line.trim().split(/\s+/))
    .filter((fields) => fields[1] === local && fields[3] === '01').length;
}

describe('the local endpoint reaches the agent in-process (issue 11)', () => {
  let dir: string;
  let gateway: Gateway;
  let logs: LogHub;
  let port: number;
  const headers: Record<string, string> = {};
  const endpoint = (server: string) => new URL(`/local/${server}/mcp`, `http://127.0.0.1:${port}`);
  const clients: Client[] = [];

  async function connect(server: string): Promise<Client> {
    const client = new Client({ name: 'e2e-local-link', version: '1.0.0' });
    await client.connect(new StreamableHTTPClientTransport(endpoint(server), { requestInit: { headers } }));
    clients.push(client);
    return client;
  }

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mcpgw-local-link-'));
    const config = join(dir, 'mcp.json');
    await writeFile(
      config,
      JSON.stringify({
        mcpServers: { everything: serverEverything(), slow: slowServer(), asking: askingServer() },
      }),
    );
    logs = new LogHub({ level: 'debug' });
    gateway = await Gateway.create({
      cwd: dir,
      env: { LOCAL_RELAY_PORT: '0' },
      configPath: config,
      userDirs: { config: join(dir, 'user'), log: join(dir, 'log') },
      logs,
      watch: false,
      localEndpoint: localRelayFactory(logs.logger('local-relay')),
    });
    await gateway.start();
    await linkState(gateway, 'connected');
    for (const name of ['everything', 'slow', 'asking'])
      await waitForStatus(gateway.servers, name, (s) => s.state === 'running');
    const state = gateway.state as Extract<GatewayState, { state: 'connected' }>;
    port = Number(new URL(state.relay).port);
    headers['Authorization'] = `Bearer ${gateway.localToken!}`;
  }, 60_000);

  afterAll(async () => {
    await Promise.all(clients.map((client) => client.close()));
    await gateway?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('registers with no connection to the endpoint: no socket on its port until a client calls', async () => {
    const state = gateway.state as Extract<GatewayState, { state: 'connected' }>;
    expect(state).toMatchObject({ local: true, subject: 'local' });
    expect(state.endpoints['everything']).toBe(endpoint('everything').href);
    // Registered, acknowledged, serving, and not one connection accepted on the port: no /connect WebSocket.
    expect(acceptedConnections(port)).toBe(0);
    expect(logs.recent().some((e) => e.message.includes('attached in-process to the local endpoint'))).toBe(
      true,
    );
    // The probe sees connections: an MCP client's keep-alive connection shows while it is open.
    const client = await connect('everything');
    expect(text(await client.callTool({ name: 'echo', arguments: { message: 'hi' } }))).toMatch(/hi/);
    expect(acceptedConnections(port)).toBeGreaterThan(0);
  });

  it('passes a long-running tool’s progress to the calling client', async () => {
    const client = await connect('everything');
    const progress: number[] = [];
    const result = await client.callTool(
      { name: 'trigger-long-running-operation', arguments: { duration: 0.4, steps: 4 } },
      undefined,
      { onprogress: (p) => progress.push(p.progress) },
    );
    expect(text(result)).toMatch(/completed/i);
    expect(progress).toEqual([1, 2, 3, 4]);
  });

  it('passes a client’s cancellation, with its reason, to the local server', async () => {
    const client = await connect('slow');
    const controller = new AbortController();
    const call = client.callTool({ name: 'wait', arguments: { ms: 20_000, label: 'cancel-me' } }, undefined, {
      signal: controller.signal,
    });
    await expect
      .poll(() => logs.recent().some((e) => e.message.includes('started: cancel-me')), { timeout: 10_000 })
      .toBe(true);
    controller.abort(new Error('the user pressed stop'));
    await expect(call).rejects.toThrow(/pressed stop/);
    await expect
      .poll(
        () =>
          logs
            .recent()
            .some(
              (e) =>
                e.message.includes('cancelled: cancel-me') && e.message.includes('the user pressed stop'),
            ),
        { timeout: 10_000 },
      )
      .toBe(true);
  });

  it('puts a local server’s requests to the client and its answers back (elicitation, sampling, roots)', async () => {
    const { client, asked } = await askedClient(
      endpoint('asking'),
      (question) => Promise.resolve(`yes to "${question}"`),
      headers,
    );
    clients.push(client);
    expect(text(await client.callTool({ name: 'ask', arguments: { question: 'Ship it?' } }))).toBe(
      'accept: yes to "Ship it?"',
    );
    expect(text(await client.callTool({ name: 'sample', arguments: { prompt: 'links' } }))).toBe(
      'sampled: a poem about links',
    );
    expect(text(await client.callTool({ name: 'roots', arguments: {} }))).toBe(
      'roots: file:///home/alice/project',
    );
    expect(asked).toEqual(['Ship it?', 'sampling: links', 'roots']);
  });

  it('passes a server’s own notifications (list_changed, logging) to its clients’ streams', async () => {
    const client = await connect('slow');
    const logged: unknown[] = [];
    let listChanged = 0;
    client.setNotificationHandler(ToolListChangedNotificationSchema, () => void listChanged++);
    client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => void logged.push(n.params.data));
    // The SDK client opens its GET stream after initialize, in its own time: announce until it has it.
    await expect
      .poll(
        async () => {
          await client.callTool({ name: 'announce', arguments: {} });
          return listChanged > 0 && logged.length > 0;
        },
        { timeout: 10_000 },
      )
      .toBe(true);
    expect(logged[0]).toBe('announced');
  });

  it('re-registers in-process when the announced servers change, and serves at once', async () => {
    const before = acceptedConnections(port);
    await writeFile(
      join(dir, 'mcp.json'),
      JSON.stringify({ mcpServers: { everything: serverEverything(), asking: askingServer() } }),
    );
    await gateway.reload();
    await expect
      .poll(() => (gateway.state.state === 'connected' ? Object.keys(gateway.state.endpoints) : []))
      .not.toContain('slow');
    await linkState(gateway, 'connected');
    expect(acceptedConnections(port)).toBeLessThanOrEqual(before);
    const client = await connect('everything');
    expect(text(await client.callTool({ name: 'echo', arguments: { message: 'again' } }))).toMatch(/again/);
  });
});

describe('the agent side of the in-process link (BridgeClient with attach)', () => {
  /** A BridgeClient for subject alice that attaches to `relay` in-process with `token`; no local servers. */
  function attachedBridge(relay: RelayServer, token: string, logs: LogHub): BridgeClient {
    return new BridgeClient({
      url: new URL('connect', relay.url.href.replace(/^http/, 'ws')),
      attach: (t, agent) => relay.attachAgent(t, agent),
      token: () => token,
      subject: 'alice',
      capabilities: () => ['nothing'],
      servers: () => [],
      dispatcher: new Dispatcher({ get: () => undefined, list: () => [] }, '2025-11-25'),
      requestTimeoutMs: 2000,
      reconnect: { initialMs: 50, maxMs: 100 },
      publicBaseUrl: relay.url,
      agentInfo: { name: 'e2e-local-link', version: '1.0.0' },
      log: logs.logger('bridge'),
    });
  }

  it('stops in needs-login with the relay’s reason when its token is refused, as on /connect', async () => {
    const relay = await startRelay();
    const logs = new LogHub({ level: 'debug' });
    const bridge = attachedBridge(relay, await relay.tokens.issue('alice', ['*'], 5, 'client'), logs);
    try {
      bridge.start();
      await until(() => bridge.state.state === 'needs-login', 5000, 'needs-login');
      expect(bridge.state).toMatchObject({
        reason: expect.stringContaining('/connect needs an agent token') as unknown,
      });
      expect(relay.agents()).toHaveLength(0);
    } finally {
      await bridge.close();
      await relay.close();
    }
  });

  it('registers, answers a call, and ends its registration on close(); a relay going away is a lost link', async () => {
    const relay = await startRelay();
    const logs = new LogHub({ level: 'debug' });
    const bridge = attachedBridge(relay, await relay.tokens.issue('alice', ['*'], 5), logs);
    try {
      bridge.start();
      await until(() => bridge.state.state === 'connected', 5000, 'connected');
      expect(relay.agents()).toHaveLength(1);
      expect(relay.agents()[0]!.ws).toBeUndefined();
      // A call for a server the agent does not have comes back as the compat agent-level failure.
      const res = await fetch(new URL('/alice/nothing/mcp', relay.url), {
        method: 'POST',
        headers: {
          'Content-Type': 'application/json',
          Authorization: `Bearer ${await relay.tokens.issue('alice', ['*'], 5, 'client')}`,
        },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping' }),
      });
      expect(await res.json()).toMatchObject({
        jsonrpc: '2.0',
        id: 1,
        error: { message: expect.stringContaining('unknown server "nothing"') as unknown },
      });
      await bridge.close();
      expect(bridge.state.state).toBe('stopped');
      expect(relay.agents()).toHaveLength(0);

      // Started again, then the relay shuts down: the agent sees the link end and tries again.
      bridge.start();
      await until(() => bridge.state.state === 'connected', 5000, 'connected again');
      await relay.close();
      await until(() => bridge.state.state === 'connecting', 5000, 'connecting after the relay went away');
      expect(bridge.state).toMatchObject({ lastError: expect.stringContaining('1001') as unknown });
    } finally {
      await bridge.close();
      await relay.close();
    }
  });
});
