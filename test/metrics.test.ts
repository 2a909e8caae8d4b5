/** The Prometheus registry's text output (prom-client) and the /metrics handler (no database involved). */
import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import { metricsRoute, METRICS_CONTENT_TYPE } from '../src/http/metrics-route.js';
import { requestId, type RequestIdEnv } from '../src/http/request-id.js';
import { AppError } from '../src/lib/errors.js';
import { escapeLabelValue, MetricsRegistry } from '../src/platform/metrics/metrics.js';

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\\\|\\"|\\n)*)"/y;

/** A strict reader of the text format: every line is HELP, TYPE, a sample of a declared family, or empty (prom-client separates families with one). */
function parse(text: string): { types: Map<string, string>; samples: Sample[] } {
  expect(text.endsWith('\n')).toBe(true);
  const types = new Map<string, string>();
  const samples: Sample[] = [];
  for (const line of text.slice(0, -1).split('\n')) {
    if (line === '') continue;
    const meta = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/.exec(line);
    if (meta) {
      if (meta[1] === 'TYPE') {
        expect(['counter', 'gauge', 'histogram']).toContain(meta[3]);
        types.set(meta[2]!, meta[3]!);
      }
      continue;
    }
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    expect(m, `unparseable line: ${line}`).not.toBeNull();
    const labels: Record<string, string> = {};
    const body = m![2] ?? '';
    let pos = 0;
    while (pos < body.length) {
      LABEL.lastIndex = pos;
      const l = LABEL.exec(body);
      expect(l, `bad labels: ${body}`).not.toBeNull();
      labels[l![1]!] = l![2]!.replace(/\\(["\\n])/g, (_, c: string) => (c === 'n' ? '\n' : c));
      pos = LABEL.lastIndex;
      if (body[pos] === ',') pos++;
    }
    const name = m![1]!;
    const family = types.has(name) ? name : name.replace(/_(bucket|sum|count)$/, '');
    expect(types.has(family), `sample before its TYPE: ${line}`).toBe(true);
    const value = m![3] === '+Inf' ? Infinity : Number(m![3]);
    // prom-client writes `Nan` (Prometheus reads it) for its event-loop statistics before their first sample; ours never are.
    if (!/^nodejs_eventloop_lag_\w+_seconds$/.test(name) || m![3] !== 'Nan') expect(Number.isNaN(value), line).toBe(false);
    samples.push({ name, labels, value });
  }
  return { types, samples };
}

/** prom-client's default process, GC and event-loop metrics: present, and left out of the comparisons below. */
const isOurs = (name: string) => name.startsWith('palisade_') || name === 'process_resident_memory_bytes';

const find = (samples: Sample[], name: string, labels: Record<string, string>) =>
  samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));

describe('MetricsRegistry.render', () => {
  it('produces valid exposition text with every series', async () => {
    const registry = new MetricsRegistry();
    registry.observeRequest({ tenant: 'acme', transport: 'trpc', status: 200, durationMs: 3 });
    registry.observeRequest({ tenant: 'acme', transport: 'trpc', status: 201, durationMs: 40 });
    registry.observeRequest({ tenant: 'acme', transport: 'rest', status: 429, durationMs: 1 });
    registry.observeRequest({ tenant: 'acme', transport: 'rest', status: 500, durationMs: 20_000 });
    registry.observeRequest({ tenant: null, transport: 'trpc', status: 401, durationMs: 2 });
    registry.cacheResult('acme', true);
    registry.cacheResult('acme', false);
    registry.cacheResult('acme', true);
    registry.rateLimited('acme');
    registry.observeRequest({ tenant: 'acme', transport: 'odata', status: 503, durationMs: 500 });
    registry.tenantBusy('acme');
    registry.setPoolState({ inUse: 3, waiting: 1, max: 10 });

    const { types, samples } = parse(await registry.render());
    expect(Object.fromEntries([...types].filter(([name]) => isOurs(name)))).toEqual({
      palisade_http_requests_total: 'counter',
      palisade_http_request_duration_seconds: 'histogram',
      palisade_query_cache_total: 'counter',
      palisade_rate_limited_total: 'counter',
      palisade_tenant_busy_total: 'counter',
      palisade_db_pool_connections: 'gauge',
      palisade_db_pool_saturation: 'gauge',
      process_resident_memory_bytes: 'gauge',
    });
    const requests = (labels: Record<string, string>) => find(samples, 'palisade_http_requests_total', labels).map((s) => s.value);
    expect(requests({ tenant: 'acme', transport: 'trpc', status_class: '2xx' })).toEqual([2]);
    expect(requests({ tenant: 'acme', transport: 'rest', status_class: '4xx' })).toEqual([1]);
    expect(requests({ tenant: 'acme', transport: 'rest', status_class: '5xx' })).toEqual([1]);
    expect(requests({ tenant: 'none', transport: 'trpc', status_class: '4xx' })).toEqual([1]);

    const buckets = find(samples, 'palisade_http_request_duration_seconds_bucket', { tenant: 'acme' });
    expect(buckets.map((b) => b.labels.le)).toEqual(['0.005', '0.01', '0.025', '0.05', '0.1', '0.25', '0.5', '1', '2.5', '5', '10', '+Inf']);
    expect(buckets.map((b) => b.value)).toEqual([2, 2, 2, 3, 3, 3, 4, 4, 4, 4, 4, 5]); // cumulative
    expect(find(samples, 'palisade_http_request_duration_seconds_count', { tenant: 'acme' })[0]!.value).toBe(5);
    expect(find(samples, 'palisade_http_request_duration_seconds_sum', { tenant: 'acme' })[0]!.value).toBeCloseTo(20.544, 6);

    expect(find(samples, 'palisade_query_cache_total', { tenant: 'acme', result: 'hit' })[0]!.value).toBe(2);
    expect(find(samples, 'palisade_query_cache_total', { tenant: 'acme', result: 'miss' })[0]!.value).toBe(1);
    expect(find(samples, 'palisade_rate_limited_total', { tenant: 'acme' })[0]!.value).toBe(1);
    expect(find(samples, 'palisade_tenant_busy_total', { tenant: 'acme' })[0]!.value).toBe(1);
    expect(find(samples, 'palisade_db_pool_connections', {}).map((s) => [s.labels.state, s.value])).toEqual([['in_use', 3], ['waiting', 1], ['max', 10]]);
    expect(find(samples, 'palisade_db_pool_saturation', {})[0]!.value).toBeCloseTo(0.3);
    expect(find(samples, 'process_resident_memory_bytes', {})[0]!.value).toBeGreaterThan(0);
    // A few of prom-client's defaults.
    expect(types.get('process_cpu_user_seconds_total')).toBe('counter');
    expect(types.get('nodejs_eventloop_lag_seconds')).toBe('gauge');
    expect(types.get('nodejs_gc_duration_seconds')).toBe('histogram');
  });

  it('reads a pool-state function at every render', async () => {
    const registry = new MetricsRegistry();
    let inUse = 1;
    registry.setPoolState(() => ({ inUse, max: 4 }));
    const saturation = async () => find(parse(await registry.render()).samples, 'palisade_db_pool_saturation', {})[0]!.value;
    expect(await saturation()).toBe(0.25);
    inUse = 4;
    expect(await saturation()).toBe(1);
  });

  it('gives the first maxTenantLabels tenants their own label and the rest "other"', async () => {
    const registry = new MetricsRegistry();
    for (let i = 1; i <= 52; i++) registry.observeRequest({ tenant: `t${i}`, transport: 'trpc', status: 200, durationMs: 1 });
    registry.observeRequest({ tenant: 't1', transport: 'trpc', status: 200, durationMs: 1 }); // still its own
    registry.cacheResult('t51', true);
    registry.rateLimited('t52');
    registry.tenantBusy('t52');
    registry.tenantBusy('t1');
    const { samples } = parse(await registry.render());
    const tenants = new Set(find(samples, 'palisade_http_requests_total', {}).map((s) => s.labels.tenant));
    expect(tenants.size).toBe(51);
    expect(tenants.has('t50')).toBe(true);
    expect(tenants.has('t51')).toBe(false);
    expect(tenants.has('other')).toBe(true);
    expect(find(samples, 'palisade_http_requests_total', { tenant: 't1' })[0]!.value).toBe(2);
    expect(find(samples, 'palisade_http_requests_total', { tenant: 'other' })[0]!.value).toBe(2);
    expect(find(samples, 'palisade_query_cache_total', { tenant: 'other', result: 'hit' })[0]!.value).toBe(1);
    expect(find(samples, 'palisade_rate_limited_total', { tenant: 'other' })[0]!.value).toBe(1);
    expect(find(samples, 'palisade_tenant_busy_total', {}).map((s) => [s.labels.tenant, s.value])).toEqual([['other', 1], ['t1', 1]]);
    expect(new Set(find(samples, 'palisade_http_request_duration_seconds_count', {}).map((s) => s.labels.tenant)).size).toBe(51);

    const small = new MetricsRegistry({ maxTenantLabels: 1 });
    expect([small.tenantLabel('a'), small.tenantLabel('b'), small.tenantLabel('a'), small.tenantLabel(null)]).toEqual(['a', 'other', 'a', 'none']);
  });

  it('escapes label values', async () => {
    expect(escapeLabelValue('a"b\\c\nd')).toBe('a\\"b\\\\c\\nd');
    const registry = new MetricsRegistry();
    const nasty = 'x"} 1\nfake_metric{a="b';
    registry.rateLimited(nasty);
    const text = await registry.render();
    expect(text).not.toMatch(/^fake_metric/m);
    const { samples } = parse(text);
    expect(find(samples, 'palisade_rate_limited_total', {}).map((s) => s.labels.tenant)).toEqual([nasty]);
  });

  it('renders well-formed text with no samples at all', async () => {
    const { samples } = parse(await new MetricsRegistry().render());
    expect(samples.map((s) => s.name).filter(isOurs)).toEqual(['palisade_db_pool_connections', 'palisade_db_pool_connections', 'palisade_db_pool_connections', 'palisade_db_pool_saturation', 'process_resident_memory_bytes']);
  });

  it('keeps each registry to itself (several apps in one process), and can leave out the defaults', async () => {
    const one = new MetricsRegistry();
    const two = new MetricsRegistry({ defaultMetrics: false });
    one.rateLimited('acme');
    expect(find(parse(await one.render()).samples, 'palisade_rate_limited_total', {})).toHaveLength(1);
    const { types, samples } = parse(await two.render());
    expect(find(samples, 'palisade_rate_limited_total', {})).toHaveLength(0);
    expect([...types.keys()].filter((name) => !isOurs(name))).toEqual([]);
    expect(find(samples, 'process_resident_memory_bytes', {})[0]!.value).toBeGreaterThan(0);
  });
});

describe('metricsRoute', () => {
  const app = (authorize: (headers: Headers) => Promise<void>) => {
    const registry = new MetricsRegistry();
    registry.rateLimited('acme');
    const hono = new Hono<RequestIdEnv>();
    hono.use(requestId);
    hono.get('/metrics', metricsRoute({ registry, authorize }));
    return hono;
  };

  it('serves the text format to an authorized caller', async () => {
    const seen: (string | null)[] = [];
    const res = await app(async (headers) => void seen.push(headers.get('authorization'))).request('/metrics', { headers: { authorization: 'Bearer pa_x' } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe(METRICS_CONTENT_TYPE);
    expect(await res.text()).toContain('palisade_rate_limited_total{tenant="acme"} 1');
    expect(seen).toEqual(['Bearer pa_x']);
  });

  it('answers a refused caller in the REST error envelope, without metrics', async () => {
    const res = await app(() => Promise.reject(new AppError('PLATFORM_ADMIN_REQUIRED', 'needs a platform-admin key'))).request('/metrics');
    expect(res.status).toBe(403);
    const body = (await res.json()) as { error: { code: string; reason: string; requestId: string } };
    expect(body.error).toMatchObject({ code: 'FORBIDDEN', reason: 'PLATFORM_ADMIN_REQUIRED' });
    expect(body.error.requestId).toBe(res.headers.get('x-request-id'));
  });
});
