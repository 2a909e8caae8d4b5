/**
 * Sign in with a user's tenant slug, email and password (a session token), or with an API key.
 * A temporary password only allows setting a new one, so that step follows here when needed.
 */
import { useState } from 'preact/hooks';
import { api, clientFor, describeError, type PlainError } from '../api.js';
import { ErrorPanel } from '../components.js';
import { navigate } from '../router.js';
import { landingAfterSignIn } from '../routes.js';
import { session, type StoredSession } from '../session.js';

type Mode = 'password' | 'key';

async function sessionFor(token: string, email: string | null): Promise<StoredSession> {
  const who = await clientFor(token).auth.whoami.query();
  if (who.kind === 'platform') return { token, via: 'api_key', kind: 'platform', tenantSlug: null, role: null, email };
  return { token, via: who.via, kind: 'tenant', tenantSlug: who.tenantSlug, role: who.role, email };
}

export function SignIn() {
  const [mode, setMode] = useState<Mode>('password');
  const [error, setError] = useState<PlainError>();
  const [pending, setPending] = useState(false);
  const [change, setChange] = useState<{ token: string; email: string; current: string }>();

  const finish = (s: StoredSession) => {
    // Back to the page that was asked for (a bookmark), when this role may open it.
    navigate(landingAfterSignIn(s, location.pathname), { replace: true });
    session.set(s);
  };

  const run = async (work: () => Promise<void>) => {
    setPending(true);
    setError(undefined);
    try {
      await work();
    } catch (e) {
      setError(describeError(e));
    } finally {
      setPending(false);
    }
  };

  const onPassword = (event: Event) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget as HTMLFormElement);
    const email = String(form.get('email'));
    const password = String(form.get('password'));
    void run(async () => {
      const result = await api.auth.login.mutate({ tenant: String(form.get('tenant')), email, password });
      if (result.mustChangePassword) setChange({ token: result.token, email: result.user.email, current: password });
      else finish(await sessionFor(result.token, result.user.email));
    });
  };

  const onKey = (event: Event) => {
    event.preventDefault();
    const key = String(new FormData(event.currentTarget as HTMLFormElement).get('key')).trim();
    void run(async () => finish(await sessionFor(key, null)));
  };

  const onChange = (event: Event) => {
    event.preventDefault();
    if (!change) return;
    const form = new FormData(event.currentTarget as HTMLFormElement);
    const next = String(form.get('newPassword'));
    if (next !== String(form.get('confirmPassword'))) {
      setError({ title: 'Passwords differ', detail: 'Type the same new password twice.', reason: 'CLIENT', signInAgain: false });
      return;
    }
    void run(async () => {
      await clientFor(change.token).auth.changePassword.mutate({ currentPassword: change.current, newPassword: next });
      finish(await sessionFor(change.token, change.email));
    });
  };

  return (
    <main class="sign-in">
      <div class="sign-in-card">
        <div class="brand large">
          <span class="logo" aria-hidden="true">◆</span> Palisade
        </div>
        {change ? (
          <form onSubmit={onChange}>
            <h1>Choose a new password</h1>
            <p class="muted">You signed in with a temporary password. Pick your own (at least 12 characters) to continue.</p>
            <label>
              New password
              <input name="newPassword" type="password" autocomplete="new-password" minLength={12} required />
            </label>
            <label>
              Repeat new password
              <input name="confirmPassword" type="password" autocomplete="new-password" minLength={12} required />
            </label>
            <ErrorPanel error={error} />
            <button class="button primary wide" disabled={pending}>
              {pending ? 'Saving…' : 'Set password and continue'}
            </button>
          </form>
        ) : (
          <>
            <h1>Sign in</h1>
            <div class="tabs" role="tablist" aria-label="How to sign in">
              <button type="button" role="tab" aria-selected={mode === 'password'} onClick={() => (setMode('password'), setError(undefined))}>
                Email and password
              </button>
              <button type="button" role="tab" aria-selected={mode === 'key'} onClick={() => (setMode('key'), setError(undefined))}>
                API key
              </button>
            </div>
            {mode === 'password' ? (
              <form onSubmit={onPassword}>
                <label>
                  Tenant
                  <input name="tenant" autocomplete="organization" placeholder="acme" required />
                </label>
                <label>
                  Email
                  <input name="email" type="email" autocomplete="username" required />
                </label>
                <label>
                  Password
                  <input name="password" type="password" autocomplete="current-password" required />
                </label>
                <ErrorPanel error={error} />
                <button class="button primary wide" disabled={pending}>
                  {pending ? 'Signing in…' : 'Sign in'}
                </button>
              </form>
            ) : (
              <form onSubmit={onKey}>
                <label>
                  API key
                  <input name="key" type="password" autocomplete="off" placeholder="pk_acme_… or pa_…" required />
                </label>
                <p class="hint">A tenant key (pk_…) opens that tenant's dashboard; a platform-admin key (pa_…) opens the platform console.</p>
                <ErrorPanel error={error} />
                <button class="button primary wide" disabled={pending}>
                  {pending ? 'Checking…' : 'Sign in with key'}
                </button>
              </form>
            )}
          </>
        )}
      </div>
    </main>
  );
}
