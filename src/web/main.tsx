/**
 * The Palisade dashboard: a Preact app on the typed tRPC client (see api.ts). The shell picks the
 * pages a credential may use: tenant pages for tenant keys and users (key, user and audit pages
 * for admins and owners), the platform console for platform-admin keys.
 */
import { render, type ComponentType } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { api } from './api.js';
import { linkClick, navigate, useRoute } from './router.js';
import { isTenantAdmin, session, type StoredSession } from './session.js';
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

interface Page {
  path: string;
  label: string;
  icon: string;
  component: ComponentType;
  allowed: (s: StoredSession) => boolean;
}

const tenant = (s: StoredSession) => s.kind === 'tenant';
const platform = (s: StoredSession) => s.kind === 'platform';

const PAGES: Page[] = [
  { path: '/overview', label: 'Overview', icon: '▤', component: Overview, allowed: tenant },
  { path: '/explore', label: 'Explore', icon: '◎', component: Explore, allowed: tenant },
  { path: '/datasets', label: 'Datasets', icon: '☰', component: Datasets, allowed: tenant },
  { path: '/keys', label: 'API keys', icon: '◈', component: Keys, allowed: isTenantAdmin },
  { path: '/users', label: 'Users', icon: '☺', component: Users, allowed: isTenantAdmin },
  { path: '/audit', label: 'Audit log', icon: '✎', component: AuditLog, allowed: isTenantAdmin },
  { path: '/connect', label: 'Connect', icon: '⇄', component: Connect, allowed: tenant },
  { path: '/admin', label: 'Tenants', icon: '▦', component: Admin, allowed: platform },
  { path: '/alerts', label: 'Alerts', icon: '⚠', component: Alerts, allowed: platform },
];

function useSession(): StoredSession | null {
  const [value, setValue] = useState(session.get());
  useEffect(() => session.subscribe(() => setValue(session.get())), []);
  return value;
}

function App() {
  const current = useSession();
  const path = useRoute();
  const [menuOpen, setMenuOpen] = useState(false);
  useEffect(() => setMenuOpen(false), [path]);
  if (!current) return <SignIn />;

  const pages = PAGES.filter((p) => p.allowed(current));
  const page = pages.find((p) => p.path === path);
  if (!page) {
    const home = pages[0]!.path;
    queueMicrotask(() => navigate(home));
    return null;
  }
  const signOut = async () => {
    if (current.via === 'session') await api.auth.logout.mutate().catch(() => undefined);
    session.set(null);
    navigate('/');
  };
  const Component = page.component;
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
            <a key={p.path} href={p.path} onClick={linkClick} aria-current={p.path === path ? 'page' : undefined}>
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
        <Component />
      </main>
    </div>
  );
}

render(<App />, document.getElementById('app')!);
