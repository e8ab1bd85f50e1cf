// oidc-provider, a certified OpenID Connect implementation, as a real identity provider on 127.0.0.1:0, with
// its development login and consent pages (any password signs in) and a static client for the relay.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

import Provider from 'oidc-provider';

import { decodeEntities, type TestBrowser } from './test-browser.js';

export const IDP_CLIENT = { clientId: 'relay', clientSecret: 'relay-client-secret-0123456789' };

export async function startIdp(): Promise<{
  issuer: string;
  configure: (callback: string) => void;
  close(): Promise<void>;
}> {
  let handler: ((req: IncomingMessage, res: ServerResponse) => void) | undefined;
  const server: Server = createServer((req, res) => {
    if (handler) return handler(req, res);
    res.writeHead(503).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    issuer,
    close: () => {
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
    // The client's redirect URI is the relay's callback, known once the relay listens.
    configure: (callback) => {
      const idp = new Provider(issuer, {
        clients: [
          {
            client_id: 'relay',
            client_secret: 'relay-client-secret-0123456789',
            redirect_uris: [callback],
            grant_types: ['authorization_code'],
            response_types: ['code'],
          },
        ],
        // The login name is the e-mail; "+unverified" in it makes email_verified false.
        findAccount: (_ctx, id) => ({
          accountId: id,
          claims: () => ({ sub: id, email: id, email_verified: !id.includes('+unverified') }),
        }),
        claims: { openid: ['sub'], email: ['email', 'email_verified'] },
        features: { devInteractions: { enabled: true } },
        cookies: { keys: ['oidc-test-cookie-key'] },
        // Explicit lifetimes (seconds), which also keeps its "default ttl" notices out of the test output.
        ttl: { Interaction: 600, Session: 600, Grant: 600, AccessToken: 600, IdToken: 600 },
      });
      const serve = idp.callback();
      handler = (req, res) => void serve(req, res);
    },
  };
}

/** Plays the user at the provider's pages (login, then consent) until a redirect back to the agent. */
export async function signInAtIdp(
  browser: TestBrowser,
  authUrl: string,
  login: string,
  issuer: string,
  abort = false,
) {
  let step = await browser.go(authUrl);
  for (let pages = 0; !step.callback && pages < 4; pages++) {
    if (step.status !== 200) throw new Error(`the provider answered ${step.status}:\n${step.html}`);
    const base = step.page.url || authUrl;
    if (abort) {
      const cancel = /href="([^"]*\/abort)"/.exec(step.html)?.[1];
      if (!cancel) throw new Error('no cancel link on the provider page');
      step = await browser.go(new URL(decodeEntities(cancel), issuer));
      continue;
    }
    const isLogin = /name="login"/.test(step.html);
    step = await browser.submit(step.html, base, isLogin ? { login, password: 'any' } : {});
  }
  return step;
}
