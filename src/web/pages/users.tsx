/** A tenant's users (admins and owners): list, create with a temporary password, change role, disable. */
import { useState } from 'preact/hooks';
import { api, type Outputs } from '../api.js';
import { Badge, Card, Dialog, ErrorPanel, Loading, PageHeader, SecretReveal } from '../components.js';
import { formatDate, timeAgo } from '../format.js';
import { useAction, useLoad } from '../hooks.js';
import { session } from '../session.js';

type User = Outputs['users']['list']['items'][number];
const ROLES = ['viewer', 'analyst', 'admin', 'owner'] as const;
type Role = (typeof ROLES)[number];

export function Users() {
  const [search, setSearch] = useState('');
  const users = useLoad(() => api.users.list.query({ limit: 200, ...(search.trim() ? { search: search.trim() } : {}) }), [search]);
  const [created, setCreated] = useState<{ email: string; password: string }>();
  const myRole = session.get()?.role ?? 'viewer';
  const grantable = ROLES.slice(0, ROLES.indexOf(myRole as Role) + 1);

  const create = useAction(async (form: FormData) => {
    const result = await api.users.create.mutate({ email: String(form.get('email')), name: String(form.get('name')), role: String(form.get('role')) as Role });
    setCreated({ email: result.user.email, password: result.temporaryPassword });
    users.reload();
  });
  const update = useAction(async (user: User, patch: { role?: Role; disabled?: boolean }) => {
    await api.users.update.mutate({ userId: user.id, ...patch });
    users.reload();
  });

  return (
    <>
      <PageHeader title="Users">People who sign in to this tenant. New users get a temporary password and choose their own at first sign-in.</PageHeader>
      <Card title="Invite a user">
        <form
          class="inline-form"
          onSubmit={(e) => {
            e.preventDefault();
            const form = e.currentTarget as HTMLFormElement;
            void create.call(new FormData(form)).then(() => form.reset());
          }}
        >
          <label>
            Email
            <input name="email" type="email" required />
          </label>
          <label>
            Name
            <input name="name" required maxLength={200} />
          </label>
          <label>
            Role
            <select name="role" defaultValue="viewer">
              {grantable.map((r) => (
                <option key={r} value={r}>
                  {r}
                </option>
              ))}
            </select>
          </label>
          <button class="button primary" disabled={create.pending}>
            {create.pending ? 'Creating…' : 'Create user'}
          </button>
        </form>
        <ErrorPanel error={create.error} />
      </Card>
      <Card
        title="Users"
        actions={
          <label class="search">
            <span class="sr-only">Search users</span>
            <input type="search" placeholder="Search email or name" value={search} onInput={(e) => setSearch((e.currentTarget as HTMLInputElement).value)} />
          </label>
        }
      >
        <ErrorPanel error={users.error ?? update.error} />
        {!users.data && !users.error && <Loading />}
        {users.data && (
          <div class="table-wrap">
            <table data-testid="users-table">
              <thead>
                <tr>
                  <th>Name</th>
                  <th>Email</th>
                  <th>Role</th>
                  <th>Status</th>
                  <th>Last sign-in</th>
                  <th>Created</th>
                  <th>
                    <span class="sr-only">Actions</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {users.data.items.map((u) => (
                  <tr key={u.id}>
                    <td>{u.name}</td>
                    <td>{u.email}</td>
                    <td>
                      <select
                        aria-label={`Role of ${u.email}`}
                        value={u.role}
                        disabled={update.pending}
                        onChange={(e) => void update.call(u, { role: (e.currentTarget as HTMLSelectElement).value as Role })}
                      >
                        {ROLES.map((r) => (
                          <option key={r} value={r} disabled={!grantable.includes(r)}>
                            {r}
                          </option>
                        ))}
                      </select>
                    </td>
                    <td>
                      <Badge value={u.disabledAt ? 'disabled' : u.mustChangePassword ? 'invited' : 'active'} />
                    </td>
                    <td>{timeAgo(u.lastLoginAt)}</td>
                    <td>{formatDate(u.createdAt)}</td>
                    <td class="actions">
                      <button type="button" class={u.disabledAt ? 'button small ghost' : 'button small danger'} onClick={() => void update.call(u, { disabled: !u.disabledAt })}>
                        {u.disabledAt ? 'Enable' : 'Disable'}
                      </button>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </Card>
      <Dialog title={`User ${created?.email ?? ''} created`} open={!!created} onClose={() => setCreated(undefined)}>
        {created && <SecretReveal label="temporary password" secret={created.password} />}
        <p class="muted">Hand it over through a secure channel; at first sign-in they choose their own.</p>
        <div class="dialog-actions">
          <button type="button" class="button primary" onClick={() => setCreated(undefined)}>
            Done
          </button>
        </div>
      </Dialog>
    </>
  );
}
