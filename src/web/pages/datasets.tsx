/** Documentation generated from the catalog: every dataset's dimensions, metrics and an example. */
import { api, type Outputs } from '../api.js';
import { Card, Code, ErrorPanel, Loading, PageHeader, TableHead } from '../components.js';
import { useLoad } from '../hooks.js';
import { curlSnippet, restUrl, typescriptSnippet } from '../snippets.js';

type Description = Outputs['datasets']['describe'];

function DatasetDoc({ d }: { d: Description }) {
  return (
    <Card title={d.name}>
      <p>{d.description}</p>
      <p class="muted small">
        {d.defaultTimeDimension ? `Time dimension: ${d.defaultTimeDimension}. ` : ''}
        {d.cacheTtlSeconds !== null ? `Results are cached for ${d.cacheTtlSeconds} s. ` : ''}
        Up to {d.limits.maxRows.toLocaleString('en-US')} rows per query.
      </p>
      <h3>Dimensions</h3>
      <div class="table-wrap">
        <table>
          <TableHead columns={['Name', 'Label', 'Type', 'Description']} />
          <tbody>
            {d.dimensions.map((x) => (
              <tr key={x.name}>
                <td>
                  <code>{x.name}</code>
                </td>
                <td>{x.label}</td>
                <td>{x.type}</td>
                <td class="muted">{x.description ?? ('expression' in x && x.expression ? `computed: ${x.expression}` : `column ${'column' in x ? x.column : ''}`)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <h3>Metrics</h3>
      <div class="table-wrap">
        <table>
          <TableHead columns={['Name', 'Label', 'Aggregation', 'Format', 'Description']} />
          <tbody>
            {d.metrics.map((x) => (
              <tr key={x.name}>
                <td>
                  <code>{x.name}</code>
                </td>
                <td>{x.label}</td>
                <td>
                  {x.aggregation}
                  {x.column ? `(${x.column})` : ''}
                </td>
                <td>{x.format}</td>
                <td class="muted">{x.description ?? (x.filter ? `only rows where ${x.filter}` : '')}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <p class="muted small">
        Filter operators: {d.filterOps.join(', ')}. Time grains: {d.timeGrains.join(', ')}.
      </p>
      <h3>Example query</h3>
      <Code label="TypeScript" text={typescriptSnippet(d.exampleQuery)} />
      <Code label="curl" text={curlSnippet(d.exampleQuery)} />
      <Code label="CSV URL" text={restUrl(d.exampleQuery)} />
    </Card>
  );
}

export function Datasets() {
  const docs = useLoad(async () => Promise.all((await api.datasets.list.query()).map((d) => api.datasets.describe.query({ name: d.name }))));
  return (
    <>
      <PageHeader title="Datasets">Generated from the server's catalog: what you can ask for, and how.</PageHeader>
      <ErrorPanel error={docs.error} />
      {!docs.data && !docs.error && <Loading />}
      {docs.data?.map((d) => <DatasetDoc key={d.name} d={d} />)}
    </>
  );
}
