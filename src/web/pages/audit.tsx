/** The tenant's audit log, newest first: filter by action and time, page through. */
import { useState } from 'preact/hooks';
import { api } from '../api.js';
import { Card, ErrorPanel, Loading, PageHeader, TableHead } from '../components.js';
import { formatDate } from '../format.js';
import { useLoad } from '../hooks.js';

const PAGE = 25;

export function AuditLog() {
  const [filters, setFilters] = useState<{ action: string; from: string; to: string }>({ action: '', from: '', to: '' });
  const [offset, setOffset] = useState(0);
  const events = useLoad(
    () =>
      api.audit.list.query({
        limit: PAGE,
        offset,
        ...(filters.action ? { action: filters.action } : {}),
        ...(filters.from ? { from: new Date(`${filters.from}T00:00:00Z`).toISOString() } : {}),
        ...(filters.to ? { to: new Date(`${filters.to}T23:59:59.999Z`).toISOString() } : {}),
      }),
    [filters, offset],
  );
  return (
    <>
      <PageHeader title="Audit log">Every change to this tenant, written in the same transaction as the change. Append-only.</PageHeader>
      <Card>
        <form
          class="inline-form"
          aria-label="Filter audit events"
          onSubmit={(e) => {
            e.preventDefault();
            const form = new FormData(e.currentTarget as HTMLFormElement);
            setOffset(0);
            setFilters({ action: String(form.get('action')).trim(), from: String(form.get('from')), to: String(form.get('to')) });
          }}
        >
          <label>
            Action
            <input name="action" placeholder="api_key. or api_key.rotate" list="audit-actions" />
            <datalist id="audit-actions">
              {['api_key.', 'user.', 'auth.', 'dataset.query', 'tenant.'].map((a) => (
                <option key={a} value={a} />
              ))}
            </datalist>
          </label>
          <label>
            From
            <input name="from" type="date" />
          </label>
          <label>
            To
            <input name="to" type="date" />
          </label>
          <button class="button primary">Apply</button>
        </form>
      </Card>
      <Card title="Events">
        <ErrorPanel error={events.error} />
        {!events.data && !events.error && <Loading />}
        {events.data && (
          <>
            <div class="table-wrap">
              <table data-testid="audit-table">
                <TableHead columns={['When', 'Action', 'Actor', 'Target', 'Details']} />
                <tbody>
                  {events.data.items.map((e) => (
                    <tr key={e.id}>
                      <td class="nowrap">{formatDate(e.at)}</td>
                      <td>
                        <code>{e.action}</code>
                      </td>
                      <td>
                        {e.actor.type}
                        {e.actor.id ? <small class="muted block">{e.actor.id.slice(0, 8)}</small> : null}
                      </td>
                      <td>{e.target ? `${e.target.type} ${e.target.id?.slice(0, 8) ?? ''}` : '–'}</td>
                      <td class="details">
                        <code>{JSON.stringify(e.details)}</code>
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
              {events.data.items.length === 0 && <p class="muted">No events match.</p>}
            </div>
            <div class="pager">
              <button type="button" class="button small ghost" disabled={offset === 0} onClick={() => setOffset(Math.max(0, offset - PAGE))}>
                ← Newer
              </button>
              <span class="muted small">
                {events.data.items.length ? `${offset + 1}–${offset + events.data.items.length}` : ''}
              </span>
              <button type="button" class="button small ghost" disabled={events.data.nextOffset === null} onClick={() => setOffset(events.data!.nextOffset ?? offset)}>
                Older →
              </button>
            </div>
          </>
        )}
      </Card>
    </>
  );
}
