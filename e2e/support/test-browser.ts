// A browser, as far as signing in needs one, for tests: no Chromium needed for a form and redirects.
export function decodeEntities(text: string): string {
  return text.replace(/&(amp|lt|gt|quot|#39);/g, (_m, e: string) =>
    e === 'amp' ? '&' : e === 'lt' ? '<' : e === 'gt' ? '>' : e === 'quot' ? '"' : "'",
  );
}

/** The first form of a page: its action and the values of its inputs that have one. */
export function parseForm(html: string, base: string): { action: URL; fields: Record<string, string> } {
  const form = /<form\b([^>]*)>([\s\S]*?)<\/form>/i.exec(html);
  if (!form) throw new Error(`no form on the page:\n${html}`);
  const attr = (tag: string, name: string) =>
    new RegExp(`\\b${name}="([^"]*)"`, 'i').exec(tag)?.[1] ?? undefined;
  const fields: Record<string, string> = {};
  for (const [input] of form[2]!.matchAll(/<input\b[^>]*>/gi)) {
    const name = attr(input, 'name');
    const value = attr(input, 'value');
    if (name && value !== undefined) fields[name] = decodeEntities(value);
  }
  return { action: new URL(decodeEntities(attr(form[1]!, 'action') ?? ''), base), fields };
}

/**
 * A browser, as far as sign-in needs one: follows redirects itself (fetch with redirect: 'manual'), keeps
 * cookies per origin, sends Origin on form posts, and stops at a redirect to the agent's loopback callback.
 */
export class TestBrowser {
  readonly #cookies = new Map<string, Map<string, string>>();
  /** Every URL loaded, in order. */
  readonly history: URL[] = [];

  /** `stopAt`: a redirect there is the agent's callback, returned instead of followed. */
  constructor(
    private readonly stopAt = (location: string) => /^http:\/\/127\.0\.0\.1:\d+\/callback\//.test(location),
  ) {}

  async #fetch(url: URL, init: RequestInit = {}): Promise<Response> {
    const jar = this.#cookies.get(url.origin) ?? new Map<string, string>();
    this.#cookies.set(url.origin, jar);
    this.history.push(url);
    const headers = new Headers(init.headers);
    if (jar.size) headers.set('Cookie', [...jar].map(([k, v]) => `${k}=${v}`).join('; '));
    const res = await fetch(url, { ...init, headers, redirect: 'manual' });
    for (const cookie of res.headers.getSetCookie()) {
      const [pair] = cookie.split(';');
      const eq = pair!.indexOf('=');
      const [name, value] = [pair!.slice(0, eq).trim(), pair!.slice(eq + 1).trim()];
      if (/expires=Thu, 01 Jan 1970/i.test(cookie) || value === '') jar.delete(name);
      else jar.set(name, value);
    }
    return res;
  }

  /**
   * Loads `url` (or posts a form to it) and follows redirects: resolves with the agent's callback URL when
   * a redirect goes there, else with the page it ended on.
   */
  async go(
    url: string | URL,
    form?: Record<string, string>,
  ): Promise<{ callback?: string; status: number; html: string; page: Response }> {
    let target = new URL(url);
    let init: RequestInit | undefined = form && {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded', Origin: target.origin },
      body: new URLSearchParams(form).toString(),
    };
    for (let hops = 0; hops < 20; hops++) {
      const res = await this.#fetch(target, init);
      const location = res.headers.get('location');
      if (res.status >= 300 && res.status < 400 && location) {
        await res.body?.cancel();
        if (this.stopAt(location)) return { callback: location, status: res.status, html: '', page: res };
        target = new URL(location, target);
        init = undefined;
        continue;
      }
      return { status: res.status, html: await res.text(), page: res };
    }
    throw new Error('too many redirects');
  }

  /** Fills the first form of `html` (served at `base`) with `fields` and submits it. */
  submit(html: string, base: string, fields: Record<string, string> = {}) {
    const form = parseForm(html, base);
    return this.go(form.action, { ...form.fields, ...fields });
  }
}
