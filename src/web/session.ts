/**
 * The signed-in credential, kept in sessionStorage (gone with the tab; sign-out clears it).
 * `via` says how it was obtained; `principal` is what `auth.whoami` answered for it.
 */
export interface StoredSession {
  token: string;
  via: 'api_key' | 'session';
  kind: 'tenant' | 'platform';
  tenantSlug: string | null;
  role: string | null;
  /** The signed-in user's email, for the header. */
  email: string | null;
}

const KEY = 'palisade.session';
const listeners = new Set<() => void>();

export const session = {
  get(): StoredSession | null {
    const raw = sessionStorage.getItem(KEY);
    if (!raw) return null;
    try {
      return JSON.parse(raw) as StoredSession;
    } catch {
      return null;
    }
  },
  set(value: StoredSession | null): void {
    if (value) sessionStorage.setItem(KEY, JSON.stringify(value));
    else sessionStorage.removeItem(KEY);
    for (const listener of listeners) listener();
  },
  subscribe(listener: () => void): () => void {
    listeners.add(listener);
    return () => listeners.delete(listener);
  },
};

export const isTenantAdmin = (s: StoredSession | null) => s?.kind === 'tenant' && (s.role === 'admin' || s.role === 'owner');

export const TENANT_ROLES = ['viewer', 'analyst', 'admin', 'owner'] as const;
export type TenantRole = (typeof TENANT_ROLES)[number];

/** The roles the signed-in credential may grant: its own and below (the server checks too). */
export function grantableRoles(): TenantRole[] {
  const mine = TENANT_ROLES.indexOf((session.get()?.role ?? 'viewer') as TenantRole);
  return TENANT_ROLES.slice(0, Math.max(mine, 0) + 1);
}
