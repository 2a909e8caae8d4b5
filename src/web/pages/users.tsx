/** A tenant's users (admins and owners): list, create with a temporary password, change role, disable. */
import { useState } from 'preact/hooks';
import { api, type Outputs } from '../api.js';
import { ActionForm, Badge, Card, CloseAction, Dialog, ErrorPanel, Loading, PageHeader, RoleSelect, SecretReveal, SearchBox, SubmitButton, TableHead } from '../components.js';
import { formatDate, timeAgo } from '../format.js';
import { useAction, useLoad } from '../hooks.js';
import type { TenantRole as Role } from '../session.js';

type User = Outputs['users']['list']['items'][number];

export function Users() {
  const [search, setSearch] = useState('');
  const users = useLoad(() => api.users.list.query({ limit: 200, ...(search.trim() ? { search: search.trim() } : {}) }), [search]);
  const [created, setCreated] = useState<{ email: string; password: string }>();

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
        <ActionForm onSubmit={create.call}>
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
            <RoleSelect name="role" />
          </label>
          <SubmitButton pending={create.pending} label="Create user" pendingLabel="Creating…" />
        </ActionForm>
        <ErrorPanel error={create.error} />
      </Card>
      <Card
        title="Users"
        actions={
          <SearchBox label="Search users" placeholder="Search email or name" value={search} onInput={setSearch} />
        }
      >
        <ErrorPanel error={users.error ?? update.error} />
        {!users.data && !users.error && <Loading />}
        {users.data && (
          <div class="table-wrap">
            <table data-testid="users-table">
              <TableHead columns={['Name', 'Email', 'Role', 'Status', 'Last sign-in', 'Created', '']} />
              <tbody>
                {users.data.items.map((u) => (
                  <tr key={u.id}>
                    <td>{u.name}</td>
                    <td>{u.email}</td>
                    <td>
                      <RoleSelect label={`Role of ${u.email}`} value={u.role} disabled={update.pending} onChange={(role) => void update.call(u, { role: role as Role })} />
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
        <CloseAction onClose={() => setCreated(undefined)} label="Done" />
      </Dialog>
    </>
  );
}
