/**
 * Platform console (platform-admin key): every tenant with today's usage, create / suspend /
 * resume / delete (delete asks for the slug), and one tenant's stats.
 */
import { useState } from 'preact/hooks';
import { api, type Outputs } from '../api.js';
import { ActionForm, Badge, Card, CloseAction, ConfirmActions, Dialog, ErrorPanel, Loading, PageHeader, SecretReveal, Stat, SearchBox, SubmitButton, TableHead } from '../components.js';
import { formatCompact, formatDate, formatMs, formatRate, timeAgo } from '../format.js';
import { useAction, useLoad } from '../hooks.js';

type Tenant = Outputs['tenants']['list']['items'][number];
type Created = Outputs['tenants']['create'];

function bytes(n: number): string {
  return n < 1024 ? `${n} B` : n < 1024 ** 2 ? `${(n / 1024).toFixed(1)} KiB` : `${(n / 1024 ** 2).toFixed(1)} MiB`;
}

function TenantDetails({ tenant }: { tenant: Tenant }) {
  const stats = useLoad(() => api.tenants.stats.query({ tenantId: tenant.id }), [tenant.id]);
  const s = stats.data;
  return (
    <>
      <ErrorPanel error={stats.error} />
      {!s && !stats.error && <Loading />}
      {s && (
        <>
          <div class="stats compact">
            <Stat label="Users" value={String(s.users.total)} hint={`${s.users.active} active, ${s.users.disabled} disabled`} />
            <Stat label="Active keys" value={String(s.apiKeys.active)} hint={`${s.apiKeys.revoked} revoked, ${s.apiKeys.expired} expired`} />
            <Stat label="Last active" value={timeAgo(s.lastActiveAt)} />
          </div>
          <table>
            <TableHead columns={['Table', { label: 'Rows', num: true }, { label: 'Size', num: true }]} />
            <tbody>
              {s.tables.map((t) => (
                <tr key={t.table}>
                  <td>
                    <code>{t.table}</code>
                  </td>
                  <td class="num">{t.rows.toLocaleString('en-US')}</td>
                  <td class="num">{bytes(t.approxBytes)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
    </>
  );
}

export function Admin() {
  const [search, setSearch] = useState('');
  const tenants = useLoad(() => api.tenants.list.query({ limit: 200, ...(search.trim() ? { search: search.trim() } : {}) }), [search]);
  const usage = useLoad(() => api.usage.all.query({}));
  const [created, setCreated] = useState<Created>();
  const [details, setDetails] = useState<Tenant>();
  const [deleting, setDeleting] = useState<Tenant>();
  const [confirm, setConfirm] = useState('');
  const reload = () => (tenants.reload(), usage.reload());

  const create = useAction(async (form: FormData) => {
    const slug = String(form.get('slug')).trim();
    setCreated(await api.tenants.create.mutate({ name: String(form.get('name')), ownerEmail: String(form.get('ownerEmail')), ...(slug ? { slug } : {}) }));
    reload();
  });
  const setStatus = useAction(async (tenant: Tenant, status: 'active' | 'suspended') => {
    if (status === 'suspended') await api.tenants.suspend.mutate({ tenantId: tenant.id });
    else await api.tenants.resume.mutate({ tenantId: tenant.id });
    reload();
  });
  const remove = useAction(async (tenant: Tenant, slug: string) => {
    await api.tenants.delete.mutate({ tenantId: tenant.id, confirm: slug });
    setDeleting(undefined);
    reload();
  });

  const byTenant = new Map(usage.data?.tenants.map((u) => [u.tenantId, u]));
  const totals = usage.data?.tenants.reduce((t, u) => ({ requests: t.requests + u.queries_today, errors: t.errors + u.errors_today }), { requests: 0, errors: 0 });

  return (
    <>
      <PageHeader title="Tenants">The platform console. Every action here is recorded in the platform audit log.</PageHeader>
      {tenants.data && totals && (
        <div class="stats">
          <Stat label="Tenants" value={String(tenants.data.items.length)} hint={`${tenants.data.items.filter((t) => t.status === 'suspended').length} suspended`} />
          <Stat label="Requests today" value={formatCompact(totals.requests)} hint={`UTC day ${usage.data?.day ?? ''}`} />
          <Stat label="Errors today" value={formatCompact(totals.errors)} />
        </div>
      )}
      <Card title="Create a tenant">
        <ActionForm onSubmit={create.call}>
          <label>
            Name
            <input name="name" required maxLength={200} placeholder="Initech" />
          </label>
          <label>
            Slug (optional)
            <input name="slug" maxLength={40} placeholder="initech" pattern="[a-z0-9]+(-[a-z0-9]+)*" />
          </label>
          <label>
            Owner email
            <input name="ownerEmail" type="email" required />
          </label>
          <SubmitButton pending={create.pending} label="Create tenant" pendingLabel="Creating…" />
        </ActionForm>
        <ErrorPanel error={create.error} />
      </Card>
      <Card
        title="All tenants"
        actions={
          <SearchBox label="Search tenants" placeholder="Search name or slug" value={search} onInput={setSearch} />
        }
      >
        <ErrorPanel error={tenants.error ?? usage.error ?? setStatus.error} />
        {!tenants.data && !tenants.error && <Loading />}
        {tenants.data && (
          <div class="table-wrap">
            <table data-testid="tenants-table">
              <TableHead
                columns={['Tenant', 'Status', { label: 'Requests today', num: true }, { label: 'p95', num: true }, { label: 'Cache hits', num: true }, { label: 'Errors', num: true }, 'Last active', 'Created', '']}
              />
              <tbody>
                {tenants.data.items.map((t) => {
                  const u = byTenant.get(t.id);
                  return (
                    <tr key={t.id} data-tenant={t.slug}>
                      <td>
                        <strong>{t.name}</strong>
                        <small class="muted block">{t.slug}</small>
                      </td>
                      <td>
                        <Badge value={t.status} />
                      </td>
                      <td class="num">{u ? formatCompact(u.queries_today) : '–'}</td>
                      <td class="num">{u ? formatMs(u.p95_response_time_ms) : '–'}</td>
                      <td class="num">{u ? formatRate(u.cache_hit_rate) : '–'}</td>
                      <td class="num">{u ? formatCompact(u.errors_today) : '–'}</td>
                      <td>{u ? timeAgo(u.last_active) : '–'}</td>
                      <td>{formatDate(t.createdAt)}</td>
                      <td class="actions">
                        <button type="button" class="button small ghost" onClick={() => setDetails(t)} aria-label={`Details of ${t.slug}`}>
                          Details
                        </button>
                        {t.status === 'active' ? (
                          <button type="button" class="button small ghost" onClick={() => void setStatus.call(t, 'suspended')} aria-label={`Suspend ${t.slug}`}>
                            Suspend
                          </button>
                        ) : (
                          <button type="button" class="button small ghost" onClick={() => void setStatus.call(t, 'active')} aria-label={`Resume ${t.slug}`}>
                            Resume
                          </button>
                        )}
                        <button type="button" class="button small danger" onClick={() => (setConfirm(''), remove.clearError(), setDeleting(t))} aria-label={`Delete ${t.slug}`}>
                          Delete
                        </button>
                      </td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          </div>
        )}
      </Card>

      <Dialog title={`Tenant “${created?.name ?? ''}” created`} open={!!created} onClose={() => setCreated(undefined)}>
        {created && (
          <>
            <p>
              Slug <code>{created.slug}</code>. Hand the owner's key and temporary password over through a secure channel.
            </p>
            <SecretReveal label="owner API key" secret={created.apiKey} />
            <SecretReveal label={`temporary password for ${created.owner.email}`} secret={created.owner.temporaryPassword} />
          </>
        )}
        <CloseAction onClose={() => setCreated(undefined)} label="Done" />
      </Dialog>

      <Dialog title={`${details?.name ?? ''} (${details?.slug ?? ''})`} open={!!details} onClose={() => setDetails(undefined)}>
        {details && <TenantDetails tenant={details} />}
        <CloseAction onClose={() => setDetails(undefined)} label="Close" />
      </Dialog>

      <Dialog title={`Delete “${deleting?.name ?? ''}”?`} open={!!deleting} onClose={() => setDeleting(undefined)}>
        <p>
          This deletes the tenant and <strong>every row it owns</strong>, in one transaction. It cannot be undone; export first if the data may be needed.
        </p>
        <label>
          Type the slug <code>{deleting?.slug}</code> to confirm
          <input value={confirm} onInput={(e) => setConfirm((e.currentTarget as HTMLInputElement).value)} autocomplete="off" />
        </label>
        <ErrorPanel error={remove.error} />
        <ConfirmActions
          onCancel={() => setDeleting(undefined)}
          onConfirm={() => deleting && void remove.call(deleting, confirm)}
          label="Delete tenant"
          tone="danger"
          disabled={!deleting || confirm !== deleting.slug || remove.pending}
        />
      </Dialog>
    </>
  );
}
