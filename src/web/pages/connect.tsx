/**
 * How to reach the API, with this server's URL and the tenant filled in: BI tools through the
 * OData feed (Power BI, Excel, Tableau), a CSV URL for tools without OData, curl and the OpenAPI
 * document, and the typed TypeScript client.
 */
import { api } from '../api.js';
import { Card, Code, PageHeader } from '../components.js';
import { useLoad } from '../hooks.js';
import { baseUrl, clientSnippet, odataUrl, openApiUrl, restUrl } from '../snippets.js';
import { session } from '../session.js';

/** Every table of the feed (one entity set per dataset) with the date column incremental refresh filters on. */
function FeedTables() {
  const datasets = useLoad(() => api.datasets.list.query());
  if (!datasets.data?.length) return null;
  return (
    <>
      <dt>Tables</dt>
      <dd>
        <ul class="plain">
          {datasets.data.map((d) => (
            <li key={d.name}>
              <code>{odataUrl(d.name)}</code>
              {d.defaultTimeDimension && <span class="muted"> · date column {d.defaultTimeDimension}</span>}
            </li>
          ))}
        </ul>
      </dd>
    </>
  );
}

function PowerBi({ slug }: { slug: string }) {
  return (
    <Card title="Power BI Desktop">
      <ol class="steps">
        <li>
          <em>Home → Get data → OData feed</em>.
        </li>
        <li>
          URL: <code>{odataUrl()}</code> for every table, or <code>{odataUrl('orders')}</code> for one.
        </li>
        <li>
          Credentials: <em>Basic</em>. User name: anything, e.g. <code>{slug}</code>. Password: the API key. Apply the setting to <code>{odataUrl()}</code> so every table uses it.
        </li>
        <li>
          In the <em>Navigator</em>, tick the tables and choose <em>Load</em> (or <em>Transform Data</em>).
        </li>
      </ol>
      <Code label="OData feed URL" text={odataUrl()} />
      <h3>Scheduled refresh</h3>
      <p>
        After publishing, open the semantic model's <em>Settings → Data source credentials → Edit credentials</em>, choose <em>Basic</em> and enter the same user name and key. A server
        reachable only inside your network also needs an on-premises data gateway.
      </p>
      <h3>Incremental refresh</h3>
      <p>
        Filter the table's date column (see <em>Tables</em> above) between the <code>RangeStart</code> and <code>RangeEnd</code> parameters. The filter is sent to Palisade as the
        feed's <code>$filter</code>, so each refresh reads only its date range.
      </p>
      <Code label="Power Query filter" text="= Table.SelectRows(orders, each [order_date] >= Date.From(RangeStart) and [order_date] < Date.From(RangeEnd))" />
      <h3>Web API credential</h3>
      <p class="warning" role="note">
        Only where Basic is not available. The key then travels in every URL as the <code>api_key</code> query parameter, and URLs are written to proxy, gateway and server logs.
        Prefer Basic; if you use this, give it a viewer key of its own and rotate it.
      </p>
      <p>
        In the <em>Advanced Editor</em>, name the parameter, then choose <em>Web API</em> and paste the key:
      </p>
      <Code label="Power Query source" text={`= OData.Feed("${odataUrl()}", null, [ApiKeyName = "api_key"])`} />
    </Card>
  );
}

function Excel({ slug }: { slug: string }) {
  return (
    <Card title="Excel">
      <ol class="steps">
        <li>
          <em>Data → Get Data → From Other Sources → From OData Feed</em>.
        </li>
        <li>
          URL: <code>{odataUrl()}</code>
        </li>
        <li>
          <em>Basic</em>: user name anything, e.g. <code>{slug}</code>; password the API key.
        </li>
        <li>
          In the <em>Navigator</em>, tick <em>Select multiple items</em>, pick the tables and <em>Load</em>. <em>Data → Refresh All</em> reads them again.
        </li>
      </ol>
    </Card>
  );
}

function Tableau({ slug }: { slug: string }) {
  return (
    <Card title="Tableau">
      <ol class="steps">
        <li>
          <em>Connect → To a Server → OData</em>.
        </li>
        <li>
          Server: <code>{odataUrl('orders')}</code>. Tableau reads one table (entity set) per connection: add a connection for each table you need.
        </li>
        <li>
          Authentication: <em>Username and Password</em>. Username anything, e.g. <code>{slug}</code>; password the API key. <em>Sign In</em>.
        </li>
        <li>Tableau keeps OData data as an extract: refresh the extract to update it.</li>
      </ol>
    </Card>
  );
}

export function Connect() {
  const slug = session.get()?.tenantSlug ?? '<tenant>';
  const base = baseUrl();
  const csv = restUrl({ dataset: 'orders', dimensions: ['region', 'order_date'], metrics: ['revenue'], timeGrain: 'month' });
  return (
    <>
      <PageHeader title="Connect">
        Every tool reaches the same server at {base} with an API key of this tenant (pk_{slug}_…). BI tools: the OData feed. Code: the typed client, REST or curl.
      </PageHeader>
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
            <dt>OData feed</dt>
            <dd>
              <code>{odataUrl()}</code>
            </dd>
            <dt>REST / CSV</dt>
            <dd>
              <code>{base}/v1</code>
            </dd>
            <dt>tRPC</dt>
            <dd>
              <code>{base}/trpc</code>
            </dd>
            <dt>Tenant</dt>
            <dd>
              <code>{slug}</code>
            </dd>
          </dl>
        </Card>
        <Card title="curl and REST">
          <Code label="whoami" text={`curl -H "Authorization: Bearer $PALISADE_KEY" ${base}/trpc/auth.whoami`} />
          <Code label="CSV" text={`curl -H "Authorization: Bearer $PALISADE_KEY" -H "Accept: text/csv" \\\n  "${restUrl({ dataset: 'orders', dimensions: ['region'], metrics: ['revenue'] }, 'json')}"`} />
          <p>
            OpenAPI 3.1 document of the REST API, for Postman, Insomnia or a code generator: <a href={openApiUrl()}>{openApiUrl()}</a>
          </p>
        </Card>
      </div>

      <section aria-label="BI tools" data-testid="bi-tools">
        <Card title="BI tools: the OData feed">
          <p>
            Power BI, Excel and Tableau read Palisade as an OData v4 feed, the preferred path for BI tools: columns arrive typed (numbers, dates), large tables come in pages, and
            filters set in the tool run on the server (query folding). Each dataset is one table.
          </p>
          <dl class="facts">
            <dt>Feed URL</dt>
            <dd>
              <code>{odataUrl()}</code>
            </dd>
            <FeedTables />
            <dt>User name</dt>
            <dd>
              anything (not checked), e.g. <code>{slug}</code>
            </dd>
            <dt>Password</dt>
            <dd>
              an API key of this tenant, <code>pk_{slug}_…</code>
            </dd>
          </dl>
        </Card>
        <PowerBi slug={slug} />
        <div class="grid-2 even">
          <Excel slug={slug} />
          <Tableau slug={slug} />
        </div>
      </section>

      <Card title="CSV URL (tools without OData)">
        <p>For a tool that can fetch a URL but does not speak OData. Every column arrives as text and the whole result comes at once, so prefer the feed where the tool has it.</p>
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

      <Card title="TypeScript (@palisade/client)">
        <p>
          Install the client package: the tarball <code>npm pack</code> makes in <code>packages/client</code>, or from your registry if it is published there.{' '}
          <code>createPalisadeClient</code> returns a typed tRPC client; <code>RouterInputs</code> and <code>RouterOutputs</code> type your own code, and{' '}
          <code>reasonOf(error)</code> gives a failure's reason (<code>KEY_REVOKED</code>, …).
        </p>
        <Code label="install" text="npm install ./palisade-client-<version>.tgz" />
        <Code
          label="TypeScript"
          text={clientSnippet(
            `const datasets = await api.datasets.list.query();`,
            `const { rows } = await api.query.query({ dataset: 'orders', dimensions: ['region'], metrics: ['revenue'] });`,
          )}
        />
      </Card>
    </>
  );
}
