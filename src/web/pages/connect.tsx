/** How to reach the API from curl, the typed TypeScript client and Power BI / Excel, with this server's URL. */
import { Card, Code, PageHeader } from '../components.js';
import { baseUrl, clientSnippet, restUrl } from '../snippets.js';
import { session } from '../session.js';

export function Connect() {
  const slug = session.get()?.tenantSlug ?? '<tenant>';
  const base = baseUrl();
  const csv = restUrl({ dataset: 'orders', dimensions: ['region', 'order_date'], metrics: ['revenue'], timeGrain: 'month' });
  return (
    <>
      <PageHeader title="Connect">Everything talks to the same API at {base}. Authenticate with a key: Authorization: Bearer pk_{slug}_…</PageHeader>
      <div class="grid-2">
        <Card title="1. Get a key">
          <p>
            Create a key on the <a href="/keys">API keys</a> page (admins and owners) with the least role the integration needs: <code>viewer</code> is enough to read data
            and run queries. Store it as <code>PALISADE_KEY</code>.
          </p>
          <dl class="facts">
            <dt>Base URL</dt>
            <dd>
              <code>{base}</code>
            </dd>
            <dt>tRPC</dt>
            <dd>
              <code>{base}/trpc</code>
            </dd>
            <dt>REST / CSV</dt>
            <dd>
              <code>{base}/v1</code>
            </dd>
            <dt>Tenant</dt>
            <dd>
              <code>{slug}</code>
            </dd>
          </dl>
        </Card>
        <Card title="curl">
          <Code label="whoami" text={`curl -H "Authorization: Bearer $PALISADE_KEY" ${base}/trpc/auth.whoami`} />
          <Code label="CSV" text={`curl -H "Authorization: Bearer $PALISADE_KEY" -H "Accept: text/csv" \\\n  "${restUrl({ dataset: 'orders', dimensions: ['region'], metrics: ['revenue'] }, 'json')}"`} />
        </Card>
      </div>
      <Card title="TypeScript (typed tRPC client)">
        <p>
          Install <code>@trpc/client</code> and import the server's router type. The import is type-only, so nothing from the server is bundled; this dashboard is built the same
          way.
        </p>
        <Code
          label="TypeScript"
          text={clientSnippet(
            `const datasets = await api.datasets.list.query();`,
            `const { rows } = await api.query.query({ dataset: 'orders', dimensions: ['region'], metrics: ['revenue'] });`,
          )}
        />
      </Card>
      <Card title="Power BI and Excel">
        <ol class="steps">
          <li>
            Power BI: <em>Get Data → Web → Advanced</em>. Excel: <em>Data → From Web → Advanced</em>.
          </li>
          <li>URL: the CSV URL below (build your own on the Explore page; every query there has one).</li>
          <li>
            Add the HTTP request header <code>Authorization</code> with the value <code>Bearer pk_{slug}_…</code>.
          </li>
          <li>The CSV's header row becomes the column names. Refreshing re-runs the query (served from the cache within its lifetime).</li>
        </ol>
        <Code label="CSV URL" text={csv} />
      </Card>
    </>
  );
}
