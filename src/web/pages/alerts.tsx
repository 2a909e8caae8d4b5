/** Platform admins: alerts this server instance fired (in memory, newest first). */
import { api } from '../api.js';
import { Card, ErrorPanel, Loading, PageHeader, TableHead } from '../components.js';
import { formatDate } from '../format.js';
import { useLoad } from '../hooks.js';

export function Alerts() {
  const alerts = useLoad(() => api.alerts.list.query({ limit: 200 }));
  return (
    <>
      <PageHeader title="Alerts">Per-tenant alerts over a 5-minute window: high volume, error rate, slow queries, rate-limit hits.</PageHeader>
      <Card>
        <ErrorPanel error={alerts.error} />
        {!alerts.data && !alerts.error && <Loading />}
        {alerts.data && (
          <div class="table-wrap">
            <table>
              <TableHead columns={['Fired', 'Tenant', 'Kind', { label: 'Value', num: true }, { label: 'Threshold', num: true }]} />
              <tbody>
                {alerts.data.items.map((a) => (
                  <tr key={a.id}>
                    <td>{formatDate(a.firedAt)}</td>
                    <td>{a.tenant}</td>
                    <td>
                      <span class="badge amber">{a.kind.replaceAll('_', ' ')}</span>
                    </td>
                    <td class="num">{a.value}</td>
                    <td class="num">{a.threshold}</td>
                  </tr>
                ))}
              </tbody>
            </table>
            {alerts.data.items.length === 0 && <p class="muted">No alerts fired on this instance. All quiet.</p>}
          </div>
        )}
      </Card>
    </>
  );
}
