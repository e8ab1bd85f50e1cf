// Every setting with its value, default and source; an "overridden by environment" badge where the
// environment (or a flag, or .env) wins over what is saved. Values are saved in the runtime state file and
// validated by the gateway as the CLI validates them: a refusal shows beside the field. Below, the
// sign-in profile (subject, relay, token expiry) with sign in and sign out.
import { useEffect, useState } from 'preact/hooks';

import type { SettingView, Whoami } from '../src-shared/control.js';
import type { Channel } from './client.js';
import { useOpen } from './hooks.js';

const OVERRIDING = new Set(['flag', 'environment', '.env']);
const show = (value: unknown): string =>
  value === null || value === undefined ? '—' : typeof value === 'string' ? value : JSON.stringify(value);

export function SettingsView(props: { channel: Channel; say: (text: string) => void }) {
  const { channel, say } = props;
  const { client } = channel;
  const open = useOpen(channel);
  const [settings, setSettings] = useState<SettingView[]>([]);
  const [drafts, setDrafts] = useState<Record<string, string>>({});
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [whoami, setWhoami] = useState<Whoami>();
  const [relay, setRelay] = useState('');
  const [busy, setBusy] = useState(false);

  const load = async () => {
    const [s, w] = await Promise.all([client.settings.get(), client.auth.whoami()]);
    if (s.ok) setSettings(s.value);
    if (w.ok) setWhoami(w.value);
  };
  useEffect(() => {
    if (open) void load();
    // eslint's rule set has no hooks plugin; `load` reads only `client`.
  }, [open, client]);

  const save = async (key: string, value: string | null) => {
    const r = await client.settings.set({ key, value });
    if (!r.ok) {
      setErrors((e) => ({ ...e, [key]: r.message }));
      return;
    }
    setErrors(({ [key]: _, ...rest }) => rest);
    setDrafts(({ [key]: _, ...rest }) => rest);
    say(
      r.value.overriddenBy
        ? `Saved, but ${r.value.overriddenBy} still overrides it.`
        : 'Saved; it applies from the next start.',
    );
    void load();
  };

  const signIn = async () => {
    setBusy(true);
    say('Sign in in the browser window that opened…');
    const r = await client.auth.login(relay.trim() ? { relay: relay.trim() } : {});
    setBusy(false);
    if (r.ok) setWhoami(r.value);
    say(
      r.ok
        ? `Signed in as ${r.value.subject ?? 'you'}.${r.value.restartRequired ? ' It applies from the next start.' : ''}`
        : r.message,
    );
  };
  const signOut = async () => {
    const r = await client.auth.logout();
    if (r.ok) setWhoami(r.value);
    say(r.ok ? 'Signed out.' : r.message);
  };

  return (
    <>
      <section aria-labelledby="profile-title" class="card">
        <h2 id="profile-title">Sign-in</h2>
        {whoami?.signedIn ? (
          <dl data-testid="profile">
            <dt>Subject</dt>
            <dd data-testid="profile-subject">{show(whoami.subject)}</dd>
            <dt>Relay</dt>
            <dd>{show(whoami.relay)}</dd>
            <dt>Token expires</dt>
            <dd>{whoami.expires ? new Date(whoami.expires).toLocaleString() : 'never / unknown'}</dd>
            <dt>Token from</dt>
            <dd>{show(whoami.tokenFrom)}</dd>
            <dt />
            <dd>
              <button type="button" onClick={() => void signOut()}>
                Sign out
              </button>
            </dd>
          </dl>
        ) : (
          <div class="inline">
            <label for="signin-relay">Relay</label>
            <input
              id="signin-relay"
              value={relay}
              placeholder={whoami?.relay ?? 'https://relay.example.com'}
              onInput={(e) => setRelay(e.currentTarget.value)}
            />
            <button type="button" disabled={busy} onClick={() => void signIn()}>
              Sign in
            </button>
          </div>
        )}
      </section>

      <section aria-labelledby="settings-title" class="card">
        <h2 id="settings-title">Settings</h2>
        <table class="settings">
          <thead>
            <tr>
              <th scope="col">Setting</th>
              <th scope="col">Value</th>
              <th scope="col">Default</th>
              <th scope="col">Source</th>
            </tr>
          </thead>
          <tbody>
            {settings.map((s) => {
              const id = `set-${s.key}`;
              const draft = drafts[s.key];
              return (
                <tr key={s.key} data-setting={s.env}>
                  <td>
                    <label for={id}>
                      <code>{s.env}</code>
                    </label>
                    <div class="muted hint">{s.description}</div>
                  </td>
                  <td>
                    {s.settable && !s.secret ? (
                      <form
                        class="inline"
                        onSubmit={(e) => {
                          e.preventDefault();
                          void save(s.key, (draft ?? '').trim() === '' ? null : draft!);
                        }}
                      >
                        <input
                          id={id}
                          value={draft ?? show(s.value).replace(/^—$/, '')}
                          aria-invalid={errors[s.key] ? true : undefined}
                          aria-describedby={errors[s.key] ? `${id}-error` : undefined}
                          onInput={(e) => {
                            const value = e.currentTarget.value;
                            setDrafts((d) => ({ ...d, [s.key]: value }));
                          }}
                        />
                        <button type="submit" class="small" aria-label={`Save ${s.env}`}>
                          Save
                        </button>
                      </form>
                    ) : (
                      <span id={id}>{show(s.value)}</span>
                    )}
                    {errors[s.key] && (
                      <div class="field-error" id={`${id}-error`} role="alert">
                        {errors[s.key]}
                      </div>
                    )}
                  </td>
                  <td>{show(s.default)}</td>
                  <td>
                    {s.source}
                    {OVERRIDING.has(s.source) && (
                      <span class="badge warn" data-testid="overridden" title={s.detail}>
                        overridden by {s.source === 'flag' ? 'a flag' : s.source}
                      </span>
                    )}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </section>
    </>
  );
}
