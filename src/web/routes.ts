/**
 * Which pages a credential may open, and where a path leads: the role's home for `/` and unknown
 * paths, the page itself when allowed, a "not for your role" answer otherwise. Shared by the shell
 * and the sign-in form (which returns to the page that was asked for).
 */
import { isTenantAdmin, type StoredSession } from './session.js';

export interface Route {
  path: string;
  label: string;
  icon: string;
  allowed: (s: StoredSession) => boolean;
}

const tenant = (s: StoredSession) => s.kind === 'tenant';
const platform = (s: StoredSession) => s.kind === 'platform';

export const ROUTES: Route[] = [
  { path: '/overview', label: 'Overview', icon: '▤', allowed: tenant },
  { path: '/explore', label: 'Explore', icon: '◎', allowed: tenant },
  { path: '/datasets', label: 'Datasets', icon: '☰', allowed: tenant },
  { path: '/keys', label: 'API keys', icon: '◈', allowed: isTenantAdmin },
  { path: '/users', label: 'Users', icon: '☺', allowed: isTenantAdmin },
  { path: '/audit', label: 'Audit log', icon: '✎', allowed: isTenantAdmin },
  { path: '/connect', label: 'Connect', icon: '⇄', allowed: tenant },
  { path: '/admin', label: 'Tenants', icon: '▦', allowed: platform },
  { path: '/alerts', label: 'Alerts', icon: '⚠', allowed: platform },
];

export const routesFor = (s: StoredSession) => ROUTES.filter((r) => r.allowed(s));

export const homeOf = (s: StoredSession) => routesFor(s)[0]!;

export type Resolved = { kind: 'page'; route: Route } | { kind: 'redirect'; route: Route } | { kind: 'forbidden'; route: Route };

/** What the shell shows at `path`: the page, the home page (with the address rewritten to it), or a refusal. */
export function resolve(s: StoredSession, path: string): Resolved {
  const route = ROUTES.find((r) => r.path === path);
  if (!route) return { kind: 'redirect', route: homeOf(s) };
  return route.allowed(s) ? { kind: 'page', route } : { kind: 'forbidden', route };
}

/** Where a fresh sign-in lands: the page that was asked for when the role may see it, else home. */
export function landingAfterSignIn(s: StoredSession, path: string): string {
  const resolved = resolve(s, path);
  return resolved.kind === 'page' ? path : homeOf(s).path;
}
