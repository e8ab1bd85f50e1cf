// Sign-in and consent across relays without sticky routing (issues 13 and 12): three relay processes
// (bin/mcpassistant-relay.js) on one redis-server, behind an HTTP proxy that sends each request to the next node
// in turn, so that every step of a browser's or a client's flow reaches another node than the step before.
// An agent signs in with the built-in provider (its code redeemed once, whichever node sees it); an MCP client
// runs its whole OAuth flow (discovery, registration, authorize, sign-in, consent, token, call); sign-ins begun
// before all relays restart finish after it; and consent is answered from the owner's app (the desktop shell
// with a real Gateway, Electron faked) whose agent is on node B while the page is served by A and C.
import { EventEmitter } from 'node:events';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import { type AppShell, startApp } from '../src-main/app/app-shell.js';
import { Gateway } from '../src-main/core/gateway.js';
import { LogHub } from '../src-main/core/logging/log-hub.js';
import { hashPassword } from '../src-relay/identity/password.js';
import type { PendingConsent } from '../src-shared/control.js';
import { ROOT } from './support/cli.js';
import { type FakeElectron, fakeElectron } from './support/fake-electron.js';
import { type GatewayAgent, startGatewayAt } from './support/gateway-agent.js';
import { serverEverything } from './support/mcp-fixtures.js';
import { oauthClient, reloadUntilAnswered, toConsentPage } from './support/oauth-client.js';
import { type RedisFixture, startRedis } from './support/redis.js';
import { linkState, SECRET } from './support/relay-fixture.js';
import { type RelayNode, startRelayNode } from './support/relay-nodes.js';
import { RoundRobinProxy } from './support/round-robin-proxy.js';
import { TestBrowser } from './support/test-browser.js';
import { until } from './support/wait.js';

const ALICE = { email: 'alice@example.com', password: 'alice password 123' };
const CALLBACK = 'http://127.0.0.1:43111/callback/agent';
const APP_PAGE = 'app://gateway/index.html';

describe.sequential('sign-in and consent across three relays, no sticky routing', () => {
  let dir: string;
  let redis: RedisFixture;
  let proxy: RoundRobinProxy;
  let nodes: RelayNode[] = [];
  let agentToken: string;
  let subject: string;
  let agent: GatewayAgent | undefined;
  const desktops: { shell: AppShell; home: string }[] = [];

  const ports = () => nodes.map((node) => Number(node.url.port));
  const startNodes = async () => {
    nodes = await Promise.all(
      [0, 1, 2].map(() =>
        startRelayNode(redis.url, {
          JWT_SECRET: SECRET,
          USERS_FILE: join(dir, 'users'),
          PUBLIC_BASE_URL: proxy.origin,
        }),
      ),
    );
    proxy.targets(ports());
  };
  /** The nodes (ports) that served the requests routed since index `from`. */
  const servedBy = (from: number) => proxy.routed.slice(from).map((r) => r.port);
  const post = (path: string, body: unknown) =>
    fetch(new URL(path, proxy.origin), {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
    });

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mcpgw-cluster-signin-'));
    await writeFile(
      join(dir, 'users'),
      `${ALICE.email}:${await hashPassword(ALICE.password, { N: 2 ** 12, r: 8, p: 1 })}\n`,
    );
    redis = await startRedis();
    proxy = await RoundRobinProxy.start();
    await startNodes();
  }, 60_000);

  afterEach(async () => {
    for (const { shell, home } of desktops.splice(0)) {
      await shell.quit('test end');
      await rm(home, { recursive: true, force: true });
    }
  });

  afterAll(async () => {
    await agent?.close();
    for (const node of nodes) await node.close();
    await proxy?.close();
    await redis?.close();
    await rm(dir, { recursive: true, force: true });
  }, 60_000);

  /** /manage/oauth/start, the sign-in page, its form and /complete: each through the proxy (the next node). */
  async function agentSignIn(between?: () => Promise<void>) {
    const start = await post('/manage/oauth/start', { redirect_uri: CALLBACK });
    expect(start.status).toBe(200);
    const { session_id: sessionId, auth_url: authUrl } = (await start.json()) as Record<string, string>;
    const browser = new TestBrowser((location) => location.startsWith(CALLBACK));
    const page = await browser.go(authUrl!);
    expect(page.status, page.html).toBe(200);
    await between?.();
    const back = await browser.submit(page.html, authUrl!, ALICE);
    expect(back.callback, back.html).toBeDefined();
    const code = new URL(back.callback!).searchParams.get('code');
    const complete = await post('/manage/oauth/complete', { session_id: sessionId, code });
    const body = (await complete.json()) as Record<string, string>;
    expect(complete.status, JSON.stringify(body)).toBe(200);
    return { ...body, sessionId: sessionId!, code: code! } as Record<string, string> & {
      sessionId: string;
      code: string;
    };
  }

  it('an agent signs in with each step on another node; its code works once, whichever node it reaches', async () => {
    const from = proxy.routed.length;
    const signedIn = await agentSignIn();
    expect(signedIn.status).toBe('complete');
    // start → page → form → complete: no two consecutive steps on the same node, all three nodes used.
    const served = servedBy(from);
    expect(served).toHaveLength(4);
    for (let i = 1; i < served.length; i++) expect(served[i]).not.toBe(served[i - 1]);
    expect(new Set(served).size).toBe(3);
    ({ token: agentToken, subject } = signedIn as unknown as { token: string; subject: string });

    // The refresh token rotates on another node.
    const refreshed = await post('/manage/oauth/refresh', { refresh_token: signedIn.refresh_token });
    expect(refreshed.status).toBe(200);
    const { refresh_token: rotated } = (await refreshed.json()) as { refresh_token: string };
    // The same code again, on yet another node: refused, and what it was exchanged for is revoked.
    const replay = await post('/manage/oauth/complete', {
      session_id: signedIn.sessionId,
      code: signedIn.code,
    });
    expect(replay.status).toBe(400);
    expect(await replay.text()).toMatch(/already used/);
    const afterReplay = await post('/manage/oauth/refresh', { refresh_token: rotated });
    expect(afterReplay.status).toBe(401);

    // A fresh sign-in for the rest of the tests.
    ({ token: agentToken, subject } = (await agentSignIn()) as unknown as { token: string; subject: string });
    expect(subject).toBeTruthy();
  }, 60_000);

  it("an MCP client's whole OAuth flow with its steps spread over the nodes, then a call", async () => {
    // The agent connects to one node directly; the client's calls reach it through the others.
    agent = await startGatewayAt({
      wsUrl: `ws://127.0.0.1:${nodes[1]!.url.port}/connect`,
      token: agentToken,
      servers: { everything: serverEverything() },
    });
    await linkState(agent.gateway, 'connected');
    await until(() => agent!.gateway.servers.list()[0]?.state === 'running', 20_000, 'server-everything');

    const from = proxy.routed.length;
    const { client } = await oauthClient(new URL(`/${subject}/everything/mcp`, proxy.origin), ALICE);
    const result = await client.callTool({ name: 'echo', arguments: { message: 'across nodes' } });
    expect(JSON.stringify(result)).toContain('across nodes');
    await client.close();
    const oauthSteps = proxy.routed.slice(from).filter((r) => !r.path.endsWith('/mcp'));
    // Discovery, registration, authorize, the sign-in page and form, consent, token: on every node.
    for (const path of ['/oauth/register', '/oauth/token', '/manage/oauth/login'])
      expect(oauthSteps.some((r) => r.path === path)).toBe(true);
    expect(new Set(oauthSteps.map((r) => r.port)).size).toBe(3);
  }, 60_000);

  it('sign-ins begun before every relay restarts finish after it (agent, and an MCP client at its sign-in page)', async () => {
    // The MCP client's authorization request reaches the relay's sign-in page before the restart.
    const restart = async () => {
      for (const node of nodes) await node.close();
      await startNodes();
    };
    // The agent leaves with its relay; it comes back on a new one for the client's call below.
    await agent?.close();
    agent = undefined;
    const signedIn = await agentSignIn(restart);
    expect(signedIn.status).toBe('complete');

    // The client: its interaction (cookies signed by oidc-provider) begun on the old nodes, answered on new ones.
    const consent = await toConsentPage(
      new URL(`/${subject}/everything/mcp`, proxy.origin),
      ALICE,
      'Restart client',
      { beforeSignIn: restart },
    );
    expect(consent.consent.html).toContain('Restart client');
    const answered = await consent.browser.submit(consent.consent.html, consent.pageUrl, {
      decision: 'allow',
    });
    expect(answered.callback, answered.html).toBeDefined();
    agent = await startGatewayAt({
      wsUrl: `ws://127.0.0.1:${nodes[1]!.url.port}/connect`,
      token: signedIn.token!,
      servers: { everything: serverEverything() },
    });
    await linkState(agent.gateway, 'connected');
    await until(() => agent!.gateway.servers.list()[0]?.state === 'running', 20_000, 'server-everything');
    const client = await consent.finish(new URL(answered.callback!).searchParams.get('code')!);
    expect((await client.listTools()).tools.length).toBeGreaterThan(0);
    await client.close();
  }, 90_000);

  /** The desktop app's shell (Electron faked) with a real Gateway signed in as Alice's agent, on node `node`. */
  async function startDesktop(node: RelayNode): Promise<{ shell: AppShell; electron: FakeElectron }> {
    const home = await mkdtemp(join(dir, 'desktop-'));
    const config = join(home, 'mcp.json');
    await writeFile(config, JSON.stringify({ mcpServers: { everything: serverEverything() } }));
    const renderer = join(home, 'renderer');
    await mkdir(renderer);
    await writeFile(join(renderer, 'index.html'), '<!doctype html><title>Gateway</title>');
    await mkdir(join(home, 'userData'));
    const electron = fakeElectron('linux', { userData: join(home, 'userData'), logs: join(home, 'logs') });
    const logs = new LogHub();
    const env = {
      REMOTE_WEBSOCKET_URL: `ws://127.0.0.1:${node.url.port}/connect`,
      REMOTE_SERVER_BASE_URL: proxy.origin,
      AGENT_JWT: agentToken,
      XDG_CONFIG_HOME: join(home, 'xdg'),
      HOME: home,
    };
    const shell = startApp({
      ports: electron,
      logs,
      resources: join(ROOT, 'resources'),
      rendererDir: renderer,
      preloadPath: join(home, 'preload.cjs'),
      argv: [],
      env,
      execPath: '/usr/bin/electron',
      createGateway: (tokenStore) =>
        Gateway.create({
          cwd: home,
          env,
          configPath: config,
          statePath: join(home, 'state.json'),
          userDirs: { config: join(home, 'user'), log: join(home, 'log') },
          logs,
          tokenStore,
          answersConsent: true,
        }),
      preferences: () => ({
        get: (key) => key === 'firstRunDone',
        set: () => undefined,
        bounds: () => undefined,
        setBounds: () => undefined,
      }),
      signals: new EventEmitter(),
      hasTray: () => Promise.resolve(true),
    })!;
    desktops.push({ shell, home });
    electron.app.emitReady();
    await shell.ready;
    await linkState(shell.gateway()!, 'connected', 15_000);
    await until(() => shell.gateway()!.servers.list()[0]?.state === 'running', 20_000, 'server-everything');
    return { shell, electron };
  }

  async function pendingInWindow(shell: AppShell): Promise<PendingConsent[]> {
    const result = (await shell.control()!.invoke('consent:list', {})) as {
      ok: true;
      value: PendingConsent[];
    };
    return result.value;
  }

  it("consent from the app: the owner's agent on node B, the page on A and C; allow lets the client in, deny keeps it out", async () => {
    // The previous test's plain agent leaves: the desktop app is Alice's agent now, on node B.
    await agent?.close();
    agent = undefined;
    const [a, b, c] = nodes as [RelayNode, RelayNode, RelayNode];
    const { shell, electron } = await startDesktop(b);
    proxy.targets([a, c].map((node) => Number(node.url.port)));
    const from = proxy.routed.length;
    const answerInWindow = (id: string, allow: boolean) => {
      const window = electron.windows.at(-1)!;
      return electron.ipcMain.invoke(window.webContents, APP_PAGE, 'consent:answer', { id, allow });
    };
    const mcpUrl = new URL(`/${subject}/everything/mcp`, proxy.origin);

    for (const allow of [true, false]) {
      const page = await toConsentPage(mcpUrl, ALICE, allow ? 'App-allowed client' : 'App-denied client');
      expect(page.consent.html).toContain('asks you too');
      await until(
        async () => (await pendingInWindow(shell)).length > 0,
        10_000,
        'the consent request in the app',
      );
      const [pending] = await pendingInWindow(shell);
      electron.notificationClicks.at(-1)!();
      expect(await answerInWindow(pending!.id, allow)).toMatchObject({ ok: true });
      const answered = await reloadUntilAnswered(page.browser, page.pageUrl);
      expect(answered.callback, answered.html).toBeDefined();
      const callback = new URL(answered.callback!);
      if (allow) {
        const client = await page.finish(callback.searchParams.get('code')!);
        const result = await client.callTool({ name: 'echo', arguments: { message: 'allowed in the app' } });
        expect(JSON.stringify(result)).toContain('allowed in the app');
        await client.close();
      } else {
        expect(callback.searchParams.get('error')).toBe('access_denied');
        expect(callback.searchParams.get('code')).toBeNull();
        expect(page.tokens()).toBeUndefined();
      }
    }
    // Node B, which holds the agent, served none of it.
    expect(servedBy(from)).not.toContain(Number(b.url.port));
  }, 120_000);
});
