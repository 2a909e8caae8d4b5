/**
 * Build a dataset query (dimensions, metrics, filters, time grain), run it through the typed
 * client, see the table and a chart, and copy the same query as curl, TypeScript or a CSV URL.
 */
import { useEffect, useMemo, useState } from 'preact/hooks';
import { api, type Outputs, type PlainError } from '../api.js';
import { BarChart, Card, Code, ErrorPanel, LineChart, Loading, PageHeader, TableHead } from '../components.js';
import { formatValue, type Format } from '../format.js';
import { useAction, useLoad } from '../hooks.js';
import { curlSnippet, restUrl, typescriptSnippet, type Query } from '../snippets.js';

type Description = Outputs['datasets']['describe'];
type Result = Outputs['query'];
type Op = Description['filterOps'][number];
type Grain = Description['timeGrains'][number];

interface FilterRow {
  dimension: string;
  op: Op;
  value: string;
}

const LIST_OPS = new Set<Op>(['in', 'not_in', 'between']);
const NO_VALUE_OPS = new Set<Op>(['is_null', 'is_not_null']);

function toFilter(row: FilterRow, description: Description) {
  const type = description.dimensions.find((d) => d.name === row.dimension)?.type;
  const typed = (raw: string) => (type === 'number' && raw.trim() !== '' && !Number.isNaN(Number(raw)) ? Number(raw) : raw.trim());
  if (NO_VALUE_OPS.has(row.op)) return { dimension: row.dimension, op: row.op };
  if (LIST_OPS.has(row.op)) return { dimension: row.dimension, op: row.op, values: row.value.split(',').map(typed) };
  return { dimension: row.dimension, op: row.op, value: typed(row.value) };
}

/** The builder's choices before they become a query. */
interface Draft {
  dimensions: string[];
  metrics: string[];
  filters: FilterRow[];
  grain: Grain | '';
  limit: number;
}

/** The query the builder shows: filters without a value are left out, a grain only with a time dimension. */
function buildQuery(d: Description, { dimensions, metrics, filters, grain, limit }: Draft): Query {
  const hasTime = dimensions.some((x) => ['date', 'timestamp'].includes(d.dimensions.find((y) => y.name === x)?.type ?? ''));
  return {
    dataset: d.name,
    dimensions,
    metrics,
    filters: filters.filter((f) => f.dimension && (NO_VALUE_OPS.has(f.op) || f.value.trim() !== '')).map((f) => toFilter(f, d)),
    ...(grain && hasTime ? { timeGrain: grain } : {}),
    limit,
  };
}

const TONES = ['blue', 'violet', 'green', 'amber', 'red', 'teal'];
const isTime = (type: string) => type === 'date' || type === 'timestamp';

/**
 * The first metric as a chart: over one time dimension a line; over a time dimension and one
 * other, a line per value of the other (up to six); otherwise bars.
 */
function ResultChart({ result, description }: { result: Result; description: Description }) {
  const metric = result.columns.find((c) => description.metrics.some((m) => m.name === c.name));
  const dims = result.columns.filter((c) => c !== metric && description.dimensions.some((d) => d.name === c.name));
  if (!metric || result.rows.length === 0) return null;
  const format = (description.metrics.find((m) => m.name === metric.name)?.format ?? 'number') as Format;
  const fmt = (n: number) => formatValue(n, format === 'currency' ? 'number' : format);
  const valueOf = (r: Result['rows'][number]) => (typeof r[metric.name] === 'number' ? (r[metric.name] as number) : null);
  const label = `${metric.label}${dims.length ? ` by ${dims.map((d) => d.label).join(' and ')}` : ''}`;
  const time = dims.find((d) => isTime(d.type));
  const other = dims.find((d) => d !== time);
  let chart;
  if (time && dims.length === 1) {
    chart = <LineChart label={label} format={fmt} series={[{ name: metric.label, tone: 'blue', points: result.rows.map((r) => ({ label: String(r[time.name]), value: valueOf(r) })) }]} />;
  } else if (time && other && dims.length === 2) {
    const times = [...new Set(result.rows.map((r) => String(r[time.name])))].sort();
    const groups = [...new Set(result.rows.map((r) => String(r[other.name])))].slice(0, TONES.length);
    const series = groups.map((g, i) => ({
      name: g,
      tone: TONES[i]!,
      points: times.map((t) => ({ label: t, value: valueOf(result.rows.find((r) => String(r[time.name]) === t && String(r[other.name]) === g) ?? {}) })),
    }));
    chart = <LineChart label={label} format={fmt} series={series} />;
  } else {
    const points = result.rows.slice(0, 60).map((r) => ({ label: dims.map((d) => String(r[d.name] ?? '–')).join(' · ') || metric.label, value: valueOf(r) }));
    chart = <BarChart label={label} format={fmt} points={points} />;
  }
  return <Card title={label}>{chart}</Card>;
}

function DatasetSelect({ datasets, value, onChange }: { datasets: Outputs['datasets']['list'] | undefined; value: string; onChange: (name: string) => void }) {
  return (
    <label>
      Dataset
      <select value={value} onChange={(e) => onChange((e.currentTarget as HTMLSelectElement).value)}>
        {datasets?.map((x) => (
          <option key={x.name} value={x.name}>
            {x.name}
          </option>
        ))}
      </select>
    </label>
  );
}

/** A checkbox per field (dimension or metric), `note` beside its label. */
function FieldChecks({
  legend,
  fields,
  selected,
  onChange,
}: {
  legend: string;
  fields: { name: string; label: string; note: string }[];
  selected: string[];
  onChange: (selected: string[]) => void;
}) {
  const toggle = (value: string) => onChange(selected.includes(value) ? selected.filter((x) => x !== value) : [...selected, value]);
  return (
    <fieldset>
      <legend>{legend}</legend>
      {fields.map((x) => (
        <label key={x.name} class="check">
          <input type="checkbox" checked={selected.includes(x.name)} onChange={() => toggle(x.name)} />
          {x.label} <small class="muted">{x.note}</small>
        </label>
      ))}
    </fieldset>
  );
}

/** One filter: dimension, operator and (unless the operator takes none) a value or a comma list. */
function FilterEditor({
  index,
  row,
  description: d,
  onChange,
  onRemove,
}: {
  index: number;
  row: FilterRow;
  description: Description;
  onChange: (patch: Partial<FilterRow>) => void;
  onRemove: () => void;
}) {
  const n = index + 1;
  return (
    <div class="filter-row">
      <select aria-label={`Filter ${n} dimension`} value={row.dimension} onChange={(e) => onChange({ dimension: (e.currentTarget as HTMLSelectElement).value })}>
        {d.dimensions.map((x) => (
          <option key={x.name} value={x.name}>
            {x.label}
          </option>
        ))}
      </select>
      <select aria-label={`Filter ${n} operator`} value={row.op} onChange={(e) => onChange({ op: (e.currentTarget as HTMLSelectElement).value as Op })}>
        {d.filterOps.map((op) => (
          <option key={op} value={op}>
            {op.replaceAll('_', ' ')}
          </option>
        ))}
      </select>
      {!NO_VALUE_OPS.has(row.op) && (
        <input
          aria-label={`Filter ${n} value`}
          placeholder={LIST_OPS.has(row.op) ? 'a,b' : 'value'}
          value={row.value}
          onInput={(e) => onChange({ value: (e.currentTarget as HTMLInputElement).value })}
        />
      )}
      <button type="button" class="button small ghost" aria-label={`Remove filter ${n}`} onClick={onRemove}>
        ✕
      </button>
    </div>
  );
}

function FilterList({ filters, description: d, onChange }: { filters: FilterRow[]; description: Description; onChange: (filters: FilterRow[]) => void }) {
  return (
    <fieldset>
      <legend>Filters</legend>
      {filters.map((f, i) => (
        <FilterEditor
          key={i}
          index={i}
          row={f}
          description={d}
          onChange={(patch) => onChange(filters.map((g, j) => (j === i ? { ...g, ...patch } : g)))}
          onRemove={() => onChange(filters.filter((_, j) => j !== i))}
        />
      ))}
      <button type="button" class="button small ghost" onClick={() => onChange([...filters, { dimension: d.dimensions[0]!.name, op: 'eq', value: '' }])}>
        + Add filter
      </button>
    </fieldset>
  );
}

function GrainAndLimit({
  description: d,
  grain,
  limit,
  onGrain,
  onLimit,
}: {
  description: Description;
  grain: Grain | '';
  limit: number;
  onGrain: (grain: Grain | '') => void;
  onLimit: (limit: number) => void;
}) {
  return (
    <div class="row">
      <label>
        Time grain
        <select value={grain} onChange={(e) => onGrain((e.currentTarget as HTMLSelectElement).value as Grain | '')}>
          <option value="">none</option>
          {d.timeGrains.map((g) => (
            <option key={g} value={g}>
              {g}
            </option>
          ))}
        </select>
      </label>
      <label>
        Row limit
        <input type="number" min={1} max={d.limits.maxRows} value={limit} onInput={(e) => onLimit(Number((e.currentTarget as HTMLInputElement).value) || 1)} />
      </label>
    </div>
  );
}

/** The rows, metric columns formatted as the catalog says, with the row count and where they came from. */
function ResultTable({ result, description: d }: { result: Result; description: Description }) {
  const formatOf = (column: string) => (d.metrics.find((m) => m.name === column)?.format ?? undefined) as Format | undefined;
  return (
    <Card
      title={`${result.rowCount} row${result.rowCount === 1 ? '' : 's'}${result.truncated ? ' (truncated)' : ''}`}
      actions={
        <span class="muted small">
          {result.cached ? 'from cache' : 'fresh'} · {result.durationMs} ms
        </span>
      }
    >
      <div class="table-wrap">
        <table data-testid="result-table">
          <TableHead columns={result.columns.map((c) => (formatOf(c.name) ? { label: c.label, num: true as const } : c.label))} />
          <tbody>
            {result.rows.map((r, i) => (
              <tr key={i}>
                {result.columns.map((c) => (
                  <td key={c.name} class={formatOf(c.name) ? 'num' : ''}>
                    {formatValue(r[c.name], formatOf(c.name))}
                  </td>
                ))}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </Card>
  );
}

function QuerySnippets({ query }: { query: Query }) {
  return (
    <Card title="Use this query elsewhere">
      <Code label="curl" text={curlSnippet(query)} />
      <Code label="TypeScript" text={typescriptSnippet(query)} />
      <Code label="CSV URL" text={restUrl(query)} />
    </Card>
  );
}

/** The last run's chart and table (or why it failed), then the current query to copy. */
function QueryResults({ result, error, description, query }: { result: Result | undefined; error: PlainError | undefined; description: Description; query: Query }) {
  return (
    <div class="results">
      <ErrorPanel error={error} />
      {result && (
        <>
          <ResultChart result={result} description={description} />
          <ResultTable result={result} description={description} />
        </>
      )}
      {!result && !error && (
        <Card>
          <p class="muted">Pick dimensions and metrics, then run the query. The same query, ready to copy:</p>
        </Card>
      )}
      <QuerySnippets query={query} />
    </div>
  );
}

export function Explore() {
  const datasets = useLoad(() => api.datasets.list.query());
  const [dataset, setDataset] = useState<string>();
  const name = dataset ?? datasets.data?.[0]?.name;
  const description = useLoad(() => (name ? api.datasets.describe.query({ name }) : Promise.resolve(undefined)), [name]);
  const d = description.data;

  const [dimensions, setDimensions] = useState<string[]>([]);
  const [metrics, setMetrics] = useState<string[]>([]);
  const [filters, setFilters] = useState<FilterRow[]>([]);
  const [grain, setGrain] = useState<Grain | ''>('');
  const [limit, setLimit] = useState(100);
  const [result, setResult] = useState<Result>();

  // Another dataset: start over from its first string dimension and its example metrics.
  useEffect(() => {
    if (!d) return;
    setDimensions([(d.dimensions.find((x) => x.type === 'string') ?? d.dimensions[0]!).name]);
    setMetrics(d.exampleQuery.metrics);
    setFilters([]);
    setGrain('');
    setResult(undefined);
  }, [d?.name]);

  const query: Query | undefined = useMemo(() => (d ? buildQuery(d, { dimensions, metrics, filters, grain, limit }) : undefined), [d, dimensions, metrics, filters, grain, limit]);

  const run = useAction(async (q: Query) => setResult(await api.query.query(q)));

  return (
    <>
      <PageHeader title="Explore">Metrics by dimensions over your own data. Every query runs inside your tenant, so only your rows exist.</PageHeader>
      <ErrorPanel error={datasets.error ?? description.error} />
      {!d && !datasets.error && !description.error && <Loading />}
      {d && query && (
        <div class="explore">
          <form
            class="card builder"
            aria-label="Query builder"
            onSubmit={(e) => {
              e.preventDefault();
              void run.call(query);
            }}
          >
            <DatasetSelect datasets={datasets.data} value={d.name} onChange={setDataset} />
            <FieldChecks legend="Dimensions" fields={d.dimensions.map((x) => ({ ...x, note: x.type }))} selected={dimensions} onChange={setDimensions} />
            <FieldChecks legend="Metrics" fields={d.metrics.map((x) => ({ ...x, note: x.aggregation }))} selected={metrics} onChange={setMetrics} />
            <FilterList filters={filters} description={d} onChange={setFilters} />
            <GrainAndLimit description={d} grain={grain} limit={limit} onGrain={setGrain} onLimit={setLimit} />
            <button class="button primary wide" disabled={run.pending}>
              {run.pending ? 'Running…' : 'Run query'}
            </button>
          </form>
          <QueryResults result={result} error={run.error} description={d} query={query} />
        </div>
      )}
    </>
  );
}
