// The consent page of the relay's authorization server (../authorization-server.ts): after the owner of a
// subject signs in, it names the MCP client (from its registration or its Client ID Metadata Document), the
// servers it asks for and the subject, and asks to allow or deny. A person who does not own the subject sees
// why and can only send the client back with access_denied.
import { escapeHtml, htmlPage } from './page.js';
import type { HtmlPage } from './provider.js';

/** What the consent page shows. */
export interface ConsentView {
  /** The path the form posts to (the interaction's confirm URL). */
  action: string;
  /** The client's client_name, else its client_id. */
  clientName: string;
  /** The client_id (a URL for a Client ID Metadata Document client). */
  clientId: string;
  /** The client's client_uri, when it gave one (https only: shown as text, never as a link). */
  clientUri?: string;
  /** Where the answer goes: the client's redirect_uri (its origin is allowed as a form target). */
  redirectUri: string;
  /** The subject whose servers are asked for. */
  subject: string;
  /** The servers asked for (the MCP endpoints named by the client's resource indicators). */
  servers: string[];
  /** The signed-in person (lower-case e-mail). */
  email: string;
  /** Whether `email` owns `subject`: only then can access be allowed. */
  owner: boolean;
  /**
   * Consent from the app (../app-consent.ts): `waiting` while the owner's app is asked too (the page reloads
   * every `reloadSeconds` to pick its answer up), `timed-out` when it did not answer (only this page counts).
   */
  app?: 'waiting' | 'timed-out';
  reloadSeconds?: number;
}

/** The consent page (200), or the "not yours" page (403) when the signed-in person does not own the subject. */
export function consentPage(view: ConsentView): HtmlPage {
  const client =
    `<p><strong>${escapeHtml(view.clientName)}</strong>` +
    (view.clientName !== view.clientId ? `<br><small>${escapeHtml(view.clientId)}</small>` : '') +
    (view.clientUri ? `<br><small>${escapeHtml(view.clientUri)}</small>` : '') +
    `</p>`;
  const servers = `<ul>${view.servers.map((s) => `<li>${escapeHtml(s)}</li>`).join('')}</ul>`;
  const target = safeOrigin(view.redirectUri);
  // The name is the client's own claim; where the answer goes is not: a registered client cannot hide it.
  const returnsTo = target ? `<p><small>Your answer goes to ${escapeHtml(target)}</small></p>` : '';
  if (!view.owner) {
    const body =
      `<h1>Not your MCP servers</h1>` +
      client +
      `<p>asks for the servers of <strong>${escapeHtml(view.subject)}</strong>, which is not yours: you are ` +
      `signed in as ${escapeHtml(view.email)}. Only the person who signed in that agent can allow it.</p>` +
      `<form method="post" action="${escapeHtml(view.action)}">` +
      `<div class="buttons"><button type="submit" name="decision" value="deny">Back to the app</button></div>` +
      `</form>`;
    return htmlPage(403, 'Not your MCP servers', body, target ? [target] : []);
  }
  const body =
    `<h1>Allow access to your MCP servers?</h1>` +
    client +
    `<p>asks to use, on the agent <strong>${escapeHtml(view.subject)}</strong>:</p>` +
    servers +
    `<p>It can call every tool, resource and prompt of ${view.servers.length === 1 ? 'this server' : 'these servers'} ` +
    `until you revoke it. Signed in as ${escapeHtml(view.email)}.</p>` +
    returnsTo +
    appNote(view.app) +
    `<form method="post" action="${escapeHtml(view.action)}">` +
    `<div class="buttons">` +
    `<button type="submit" name="decision" value="allow">Allow</button>` +
    `<button type="submit" name="decision" value="deny" class="secondary">Deny</button>` +
    `</div></form>`;
  const reload = view.app === 'waiting' ? view.reloadSeconds : undefined;
  return htmlPage(200, 'Allow access', body, target ? [target] : [], reload);
}

/** What the page says about the app's part in the answer. */
function appNote(app: ConsentView['app']): string {
  if (app === 'waiting')
    return (
      `<p class="app">MCP Assistant on your computer asks you too: answer there or here, the first answer counts. ` +
      `This page follows on its own.</p>`
    );
  if (app === 'timed-out')
    return `<p class="app">MCP Assistant on your computer did not answer in time: answer here.</p>`;
  return '';
}

/**
 * The CSP form-action source of a redirect URI: its origin for http(s), its scheme for an app's private-use
 * scheme (RFC 8252 section 7.1, `com.example.app:/cb`); undefined when it cannot be parsed.
 */
function safeOrigin(url: string): string | undefined {
  try {
    const parsed = new URL(url);
    if (parsed.protocol === 'https:' || parsed.protocol === 'http:') return parsed.origin;
    return /^[a-z][a-z0-9+.-]*:$/.test(parsed.protocol) ? parsed.protocol : undefined;
  } catch {
    return undefined;
  }
}
