/**
 * The Palisade dashboard: a Preact app on the typed tRPC client (see api.ts). The shell picks the
 * pages a credential may use: tenant pages for tenant keys and users (key, user and audit pages
 * for admins and owners), the platform console for platform-admin keys.
 */
import { render, type ComponentType } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { api } from './api.js';
import { PageHeader } from './components.js';
import { linkClick, navigate, useRoute } from './router.js';
import { homeOf, resolve, routesFor, type Route } from './routes.js';
import { session, type StoredSession } from './session.js';
import { Admin } from './pages/admin.js';
import { Alerts } from './pages/alerts.js';
import { AuditLog } from './pages/audit.js';
import { Connect } from './pages/connect.js';
import { Datasets } from './pages/datasets.js';
import { Explore } from './pages/explore.js';
import { Keys } from './pages/keys.js';
import { Overview } from './pages/overview.js';
import { SignIn } from './pages/sign-in.js';
import { Users } from './pages/users.js';
import './styles.css';

const PAGES: Record<string, ComponentType> = {
  '/overview': Overview,
  '/explore': Explore,
  '/datasets': Datasets,
  '/keys': Keys,
  '/users': Users,
  '/audit': AuditLog,
  '/connect': Connect,
  '/admin': Admin,
  '/alerts': Alerts,
};

function useSession(): StoredSession | null {
  const [value, setValue] = useState(session.get());
  useEffect(() => session.subscribe(() => setValue(session.get())), []);
  return value;
}

/** A page the role may not open: say so, with the way home, instead of redirecting silently. */
function NotAllowed({ route, home, role }: { route: Route; home: Route; role: string | null }) {
  return (
    <>
      <PageHeader title={`${route.label} is not available`} />
      <div class="card" role="alert">
        <p>
          {role ? `Your role (${role}) cannot open ${route.label}.` : `This credential cannot open ${route.label}.`} Ask an admin or owner of your
          tenant if you need it.
        </p>
        <a class="button" href={home.path} onClick={linkClick}>
          Go to {home.label}
        </a>
      </div>
    </>
  );
}

function App() {
  const current = useSession();
  const path = useRoute();
  const [menuOpen, setMenuOpen] = useState(false);
  useEffect(() => setMenuOpen(false), [path]);
  const resolved = current ? resolve(current, path) : null;
  // `/`, an unknown path or a stale bookmark: show home now and make the address bar say so.
  const redirectTo = resolved?.kind === 'redirect' ? resolved.route.path : null;
  useEffect(() => {
    if (redirectTo) navigate(redirectTo, { replace: true });
  }, [redirectTo]);
  if (!current || !resolved) return <SignIn />;

  const pages = routesFor(current);
  const shown = resolved.kind === 'forbidden' ? null : resolved.route;
  const signOut = async () => {
    if (current.via === 'session') await api.auth.logout.mutate().catch(() => undefined);
    session.set(null);
    navigate('/');
  };
  const Component = shown ? PAGES[shown.path]! : null;
  return (
    <div class="shell">
      <a class="skip" href="#main">
        Skip to content
      </a>
      <aside class={menuOpen ? 'sidebar open' : 'sidebar'}>
        <div class="brand">
          <span class="logo" aria-hidden="true">◆</span> Palisade
          <button type="button" class="menu-toggle" aria-expanded={menuOpen} aria-controls="nav" onClick={() => setMenuOpen(!menuOpen)}>
            Menu
          </button>
        </div>
        <nav id="nav" aria-label="Main">
          {pages.map((p) => (
            <a key={p.path} href={p.path} onClick={linkClick} aria-current={p.path === shown?.path ? 'page' : undefined}>
              <span class="icon" aria-hidden="true">
                {p.icon}
              </span>
              {p.label}
            </a>
          ))}
        </nav>
        <div class="who">
          <div class="who-tenant">{current.kind === 'platform' ? 'Platform admin' : current.tenantSlug}</div>
          <div class="muted small">
            {current.email ?? (current.via === 'api_key' ? 'API key' : 'session')}
            {current.role ? ` · ${current.role}` : ''}
          </div>
          <button type="button" class="button small ghost" onClick={() => void signOut()}>
            Sign out
          </button>
        </div>
      </aside>
      <main id="main" class="content" tabIndex={-1}>
        {Component ? <Component /> : <NotAllowed route={resolved.route} home={homeOf(current)} role={current.role} />}
      </main>
    </div>
  );
}

render(<App />, document.getElementById('app')!);
