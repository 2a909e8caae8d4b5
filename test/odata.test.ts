/**
 * OData v4 end to end over real HTTP, as Power BI, Excel and Tableau use it: the service document,
 * `$metadata` (parsed as XML), every supported query option through the engine, server-driven
 * paging to exactly `$count` rows (also by an OData client nobody on this project wrote), tenant
 * isolation, every credential form, refused options, the audit event and the error shape.
 * The option grammar itself is unit-tested in src/odata/query-options.test.ts.
 */
import { eq } from 'drizzle-orm';
import { XMLParser } from 'fast-xml-parser';
import { ODataQuery } from 'ts-odata-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditEvents } from '../db/schema/index.js';
import { withTenant } from '../db/tenant-tx.js';
import { AuditBuffer } from '../src/modules/audit-log/audit-buffer.js';
import { createPlatformAdminKey } from '../src/modules/tenants/tenants.service.js';
import { redactedUrl } from '../src/odata/credential.js';
import { catalogWithEveryType } from './fixtures/every-type-catalog.js';
import { appPool, makeTenantWithOrders, ownerPool, startServer, type Fixture, type TestServer } from './harness.js';

const catalog = catalogWithEveryType;

const PAGE_SIZE = 10;
const owner = ownerPool();
const app = appPool(4);
const auditBuffer = new AuditBuffer(app);
let server: TestServer;
let a: Fixture;
let b: Fixture;

beforeAll(async () => {
  server = await startServer(app, { deps: { catalog, auditBuffer, odataPageSize: PAGE_SIZE } });
  [a, b] = await Promise.all([makeTenantWithOrders(owner, 25), makeTenantWithOrders(owner, 3)]);
});
afterAll(async () => {
  await server.close();
  await Promise.all([owner.end(), app.end()]);
});

const basic = (key: string, user = 'powerbi') => `Basic ${Buffer.from(`${user}:${key}`).toString('base64')}`;

async function odata(pathAndQuery: string, key: string | null = a.tenant.apiKey, init: RequestInit = {}) {
  const headers = new Headers(init.headers);
  if (key !== null && !headers.has('authorization')) headers.set('authorization', basic(key));
  return fetch(`${server.url}/odata${pathAndQuery}`, { ...init, headers });
}

interface Page {
  '@odata.context': string;
  '@odata.count'?: number;
  '@odata.nextLink'?: string;
  value: Record<string, unknown>[];
}

async function page(pathAndQuery: string, key?: string): Promise<Page> {
  const res = await odata(pathAndQuery, key);
  expect(res.status, await res.clone().text()).toBe(200);
  expect(res.headers.get('odata-version')).toBe('4.0');
  expect(res.headers.get('content-type')).toMatch(/^application\/json;odata\.metadata=minimal/);
  return (await res.json()) as Page;
}

async function errorOf(res: Response) {
  expect(res.headers.get('content-type')).toMatch(/^application\/json/);
  const body = (await res.json()) as { error: { code: string; message: string } };
  return { status: res.status, ...body.error };
}

describe('service document and $metadata', () => {
  it('lists every dataset as an entity set, with or without the trailing slash', async () => {
    for (const root of ['/', '']) {
      const doc = await page(root);
      expect(doc['@odata.context']).toBe(`${server.url}/odata/$metadata`);
      expect(doc.value.map((s) => [s['name'], s['kind'], s['url']])).toEqual(catalog.datasets.map((d) => [d.name, 'EntitySet', d.name]));
    }
  });

  it('describes each dataset in CSDL: a keyed entity type with the catalog’s types and labels, and a container', async () => {
    const res = await odata('/$metadata');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/xml/);
    const parsed = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '', isArray: (name, _path, _leaf, isAttribute) => !isAttribute && ['EntityType', 'Property', 'EntitySet', 'Annotation'].includes(name) }).parse(await res.text());
    const edmx = parsed['edmx:Edmx'];
    expect(edmx.Version).toBe('4.0');
    const schema = edmx['edmx:DataServices'].Schema;
    expect(schema.Namespace).toBe('Palisade');
    const sets = schema.EntityContainer.EntitySet as { Name: string; EntityType: string }[];
    expect(sets.map((s) => [s.Name, s.EntityType])).toEqual(catalog.datasets.map((d) => [d.name, `Palisade.${d.name}`]));
    const sales = (schema.EntityType as { Name: string; Key: { PropertyRef: { Name: string } }; Property: Record<string, unknown>[] }[]).find((t) => t.Name === 'sales')!;
    expect(sales.Key.PropertyRef.Name).toBe('_key');
    const types = Object.fromEntries(sales.Property.map((p) => [p['Name'], p['Type']]));
    expect(types).toEqual({
      _key: 'Edm.String',
      region: 'Edm.String',
      amount: 'Edm.Decimal',
      big: 'Edm.Boolean',
      order_date: 'Edm.Date',
      created_at: 'Edm.DateTimeOffset',
      status: 'Edm.String',
      open_status: 'Edm.String',
      revenue: 'Edm.Decimal',
      order_count: 'Edm.Int64',
      smallest: 'Edm.Decimal',
      largest: 'Edm.Decimal',
    });
    const region = sales.Property.find((p) => p['Name'] === 'region') as { Annotation: { Term: string; String: string }[] };
    expect(region.Annotation).toEqual([
      { Term: 'Core.Description', String: 'Sales region' },
      { Term: 'Core.LongDescription', String: 'Where it shipped.' },
    ]);
    expect(sales.Property.find((p) => p['Name'] === 'revenue')).toMatchObject({ Scale: 'variable' });
    expect(sales.Property.find((p) => p['Name'] === '_key')).toMatchObject({ Nullable: 'false' });
  });
});

describe('entity sets', () => {
  it('answers $top=2 with two rows and a nextLink (the README’s curl)', async () => {
    const body = await page('/orders?$top=2');
    expect(body['@odata.context']).toBe(`${server.url}/odata/$metadata#orders`);
    expect(body.value).toHaveLength(2);
    expect(body.value[0]).toHaveProperty('_key');
    expect(body['@odata.nextLink']).toBe(`${server.url}/odata/orders?$top=2&$skip=2`);
    const upper = await page('/orders?$TOP=2&$SKIP=1');
    expect(upper['@odata.nextLink']).toBe(`${server.url}/odata/orders?$TOP=2&$skip=3`);
  });

  it('pages through a set larger than a page to exactly $count rows, each once', async () => {
    let next: string | undefined = '/sales?$count=true';
    const keys: string[] = [];
    let count: number | undefined;
    let pages = 0;
    while (next) {
      const body = await page(next);
      count ??= body['@odata.count'];
      expect(body['@odata.count']).toBe(count);
      expect(body.value.length).toBeLessThanOrEqual(PAGE_SIZE);
      keys.push(...body.value.map((r) => r['_key'] as string));
      next = body['@odata.nextLink']?.slice(`${server.url}/odata`.length);
      pages++;
    }
    expect(count).toBe(25);
    expect(keys).toHaveLength(25);
    expect(new Set(keys).size).toBe(25);
    expect(pages).toBe(3);
  });

  it('is read by an npm OData v4 client (ts-odata-client), which follows nextLink and builds $filter itself', async () => {
    interface Sale { _key: string; region: string; amount: number; order_count: number }
    const query = ODataQuery.forV4<Sale>(`${server.url}/odata/sales`, { requestInit: () => ({ headers: { authorization: basic(a.tenant.apiKey) } }) });
    const all: Sale[] = [];
    for await (const row of query) all.push(row);
    expect(all).toHaveLength(25);
    const large: Sale[] = [];
    for await (const row of query.filter((s) => s.amount.$greaterThanOrEqualTo(20).and(s.region.$equals('north')))) large.push(row);
    // Orders i = 0..24 have amount 10.50 + i; even i are north.
    expect(large.map((r) => r.amount).sort((x, y) => x - y)).toEqual(Array.from({ length: 25 }, (_, i) => i).filter((i) => i % 2 === 0 && 10.5 + i >= 20).map((i) => 10.5 + i));
  });

  it('chooses the grain with $select or $apply, and re-aggregates metrics at it', async () => {
    const bySelect = await page('/sales?$select=region,order_count,revenue&$orderby=region');
    expect(bySelect['@odata.context']).toBe(`${server.url}/odata/$metadata#sales(region,order_count,revenue)`);
    expect(bySelect.value.map((r) => [r['region'], r['order_count']])).toEqual([['north', 13], ['south', 12]]);
    expect(bySelect['@odata.nextLink']).toBeUndefined();
    const byApply = await page('/sales?$apply=groupby((region),aggregate(order_count))&$orderby=order_count desc');
    expect(byApply.value.map((r) => [r['region'], r['order_count']])).toEqual([['north', 13], ['south', 12]]);
    const hidden = await page('/sales?$apply=groupby((region,big),aggregate(order_count))&$select=region,order_count&$orderby=region');
    expect(hidden.value.map((r) => Object.keys(r))).toEqual([['_key', 'region', 'order_count'], ['_key', 'region', 'order_count']]);
    const total = await page('/sales?$apply=aggregate(order_count)');
    expect(total.value).toEqual([{ _key: 'all', order_count: 25 }]);
  });

  it.each([
    ["region eq 'north'", (i: number) => i % 2 === 0],
    ["region ne 'north' and amount lt 20", (i: number) => i % 2 === 1 && 10.5 + i < 20],
    ["region in ('south') or amount ge 30", (i: number) => i % 2 === 1 || 10.5 + i >= 30],
    ["not (region eq 'north')", (i: number) => i % 2 === 1],
    ["contains(region,'ort')", (i: number) => i % 2 === 0],
    ["startswith(region,'so')", (i: number) => i % 2 === 1],
    ['order_date ge 2026-01-05 and order_date lt 2026-01-10', (i: number) => (i % 28) + 1 >= 5 && (i % 28) + 1 < 10],
    ['created_at lt 2000-01-01T00:00:00Z', () => false],
    ['big eq false', () => true],
    ['amount gt 30.5', (i: number) => 10.5 + i > 30.5],
  ])('$filter=%s', async (filter, pick) => {
    const body = await page(`/sales?$filter=${encodeURIComponent(filter)}&$count=true&$top=100`);
    const expected = Array.from({ length: 25 }, (_, i) => i).filter(pick).length;
    expect(body['@odata.count']).toBe(expected);
    expect(body.value).toHaveLength(Math.min(expected, PAGE_SIZE));
  });

  it('filters metrics after aggregation', async () => {
    const body = await page(`/sales?$select=region,order_count&$filter=${encodeURIComponent('order_count gt 12')}`);
    expect(body.value.map((r) => r['region'])).toEqual(['north']);
  });

  it('orders, skips and counts; /$count answers the number as text', async () => {
    const desc = await page('/sales?$select=amount&$orderby=amount desc&$top=3&$skip=1');
    expect(desc.value.map((r) => r['amount'])).toEqual([33.5, 32.5, 31.5]);
    const res = await odata(`/sales/$count?$filter=${encodeURIComponent("region eq 'south'")}`);
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('12');
    const none = await page('/sales?$top=0&$count=true');
    expect(none).toMatchObject({ value: [], '@odata.count': 25 });
    expect(none['@odata.nextLink']).toBeUndefined();
  });

  it('never shows one tenant another’s rows, on any path', async () => {
    const ofB = await page('/sales?$count=true', b.tenant.apiKey);
    expect(ofB['@odata.count']).toBe(3);
    expect(ofB.value.map((r) => r['amount']).sort()).toEqual([10.5, 11.5, 12.5]);
    const countOfB = await odata('/orders/$count', b.tenant.apiKey);
    expect(await countOfB.text()).toBe('3');
    const ofA = await page('/sales?$apply=aggregate(order_count)');
    expect(ofA.value[0]!['order_count']).toBe(25);
  });

  it('goes through the cache and the audit log (dataset.query, via odata)', async () => {
    const first = await odata('/orders?$select=region,revenue', b.tenant.apiKey);
    expect(first.headers.get('x-palisade-cache')).toBe('miss');
    expect(first.headers.get('ratelimit-limit') ?? first.headers.get('ratelimit-policy')).not.toBeNull();
    const again = await odata('/orders?$select=region,revenue', b.tenant.apiKey);
    expect(again.headers.get('x-palisade-cache')).toBe('hit');
    await auditBuffer.flush();
    const events = await withTenant(owner, b.tenant.id, (tx) => tx.select().from(auditEvents).where(eq(auditEvents.action, 'dataset.query')));
    expect(events.some((e) => (e.details as Record<string, unknown>)['via'] === 'odata')).toBe(true);
  });
});

describe('credentials', () => {
  it('takes Basic (key as password), Bearer and the api_key parameter', async () => {
    const key = a.tenant.apiKey;
    expect((await odata('/', null, { headers: { authorization: basic(key, '') } })).status).toBe(200);
    expect((await odata('/', null, { headers: { authorization: `Bearer ${key}` } })).status).toBe(200);
    expect((await odata(`/?api_key=${encodeURIComponent(key)}`, null)).status).toBe(200);
  });

  it('needs a credential for everything, $metadata included, and asks for Basic', async () => {
    for (const p of ['/', '/$metadata', '/orders']) {
      const res = await odata(p, null);
      expect(String(res.headers.get('www-authenticate')), `${p}: ${JSON.stringify([...res.headers])} ${await res.clone().text()}`).toMatch(/^Basic realm="Palisade"/);
      expect(await errorOf(res)).toMatchObject({ status: 401, code: 'KEY_MISSING' });
    }
    expect(await errorOf(await odata('/', `pk_${a.tenant.slug}_${'A'.repeat(32)}`))).toMatchObject({ status: 401, code: 'KEY_UNKNOWN' });
    expect(await errorOf(await odata('/', null, { headers: { authorization: basic('', 'user') } }))).toMatchObject({ status: 401, code: 'KEY_MALFORMED' });
    const admin = await createPlatformAdminKey(owner, 'odata test admin');
    expect(await errorOf(await odata('/', admin))).toMatchObject({ status: 403, code: 'TENANT_KEY_REQUIRED' });
  });

  it('keeps the key out of logged URLs', () => {
    expect(redactedUrl(new URL('http://h/odata/orders?api_key=pk_x_secret&$top=2'))).toBe('/odata/orders?api_key=REDACTED&%24top=2');
    expect(redactedUrl(new URL('http://h/odata/orders?$top=2'))).toBe('/odata/orders?$top=2');
  });
});

describe('refusals in OData’s error shape', () => {
  it.each([
    ['/orders?$expand=customer', 'UNSUPPORTED_OPTION', '$expand'],
    ['/orders?$search=north', 'UNSUPPORTED_OPTION', '$search'],
    ['/orders?$format=xml', 'UNSUPPORTED_OPTION', '$format'],
    ['/orders?$frobnicate=1', 'UNSUPPORTED_OPTION', '$frobnicate'],
    ["/orders('x')", 'UNSUPPORTED_OPTION', 'one entity'],
    ['/orders?$filter=nope eq 1', 'UNKNOWN_FIELD', 'nope'],
    ["/orders?$filter=region eq 'north' and", 'INVALID_FILTER', '$filter'],
    ['/orders?$filter=endswith(region,\'th\')', 'INVALID_FILTER', 'endswith'],
    ['/orders?$top=-1', 'INVALID_QUERY', '$top'],
    ['/orders?$skip=2000000', 'INVALID_QUERY', '$skip'],
    ['/nope', 'UNKNOWN_DATASET', 'nope'],
  ])('%s → %s', async (p, code, mentions) => {
    const error = await errorOf(await odata(p));
    expect(error).toMatchObject({ code });
    expect(error.status).toBe(code === 'UNKNOWN_DATASET' ? 404 : 400);
    expect(error.message).toContain(mentions);
  });

  it('refuses $batch and writes', async () => {
    expect(await errorOf(await odata('/$batch', null, { method: 'POST', body: '' }))).toMatchObject({ status: 400, code: 'UNSUPPORTED_OPTION' });
    expect(await errorOf(await odata('/orders', null, { method: 'POST', body: '{}' }))).toMatchObject({ status: 405, code: 'METHOD_NOT_SUPPORTED' });
  });
});
