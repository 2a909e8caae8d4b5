/**
 * The OpenAPI document of /v1 (src/rest/openapi.ts): valid OpenAPI 3.1, served without a key and
 * without spending a rate-limit budget, in step with the routes Hono registered (both ways), and
 * honest: a request built from the document for each operation succeeds on a real server, and its
 * answer, headers and real error answers validate against what the document says.
 */
import { createRequire } from 'node:module';
import { Validator } from '@seriousme/openapi-schema-validator';
import { beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { apiKeys } from '../db/schema/index.js';
import { withTenant } from '../db/tenant-tx.js';
import { createApp } from '../src/app.js';
import { buildDeps } from '../src/deps.js';
import { addSchema } from '../src/rest/openapi.js';
import { datasetDescription, datasetList, errorEnvelope, queryResult } from '../src/rest/schemas.js';
import { makeTenantWithOrders, TEST_CONFIG, useServer } from './harness.js';

// ajv 8 as the validator package itself loads it: the top-level `ajv` is eslint's ajv 6.
interface ValidateFunction {
  (data: unknown): boolean;
  errors?: unknown[] | null;
}
interface Ajv {
  addSchema(schema: object, key: string): Ajv;
  compile(schema: object): ValidateFunction;
}
const fromValidator = createRequire(createRequire(import.meta.url).resolve('@seriousme/openapi-schema-validator'));
const Ajv2020 = (fromValidator('ajv/dist/2020.js') as { default: new (options: object) => Ajv }).default;
const addFormats = (fromValidator('ajv-formats') as { default: (ajv: Ajv) => void }).default;

type Json = Record<string, unknown>;
interface Parameter {
  name: string;
  in: 'query' | 'path' | 'header';
  required?: boolean;
  schema?: Json;
  example?: unknown;
}
interface Operation {
  operationId: string;
  security?: unknown[];
  parameters?: (Parameter | { $ref: string })[];
  requestBody?: { content: Record<string, { schema: Json; example?: unknown }> };
  responses: Record<string, Json>;
}
interface Document {
  openapi: string;
  servers: { url: string }[];
  paths: Record<string, Record<string, Operation>>;
  components: Json;
}

const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];

const { owner, app, server } = useServer();
let doc: Document;
let apiKey: string;
let ajv: Ajv;

/** A local `$ref` (`#/components/…`) of the document, followed. */
function resolve<T>(value: unknown): T {
  if (typeof value !== 'object' || value === null || !('$ref' in value) || typeof value.$ref !== 'string') return value as T;
  const target = value.$ref
    .replace(/^#\//, '')
    .split('/')
    .reduce<unknown>((node, key) => (node as Json)[key.replaceAll('~1', '/').replaceAll('~0', '~')], doc);
  expect(target, value.$ref).toBeDefined();
  return resolve<T>(target);
}

/** Validates `data` against a schema of the document (its `$ref`s resolve within it). */
function expectValid(schema: Json, data: unknown, what: string) {
  const validate = ajv.compile(schemaIn(schema));
  const valid = validate(data);
  expect(validate.errors ?? [], `${what}: ${JSON.stringify(data).slice(0, 300)}`).toEqual([]);
  expect(valid).toBe(true);
}

/** A schema of the document as ajv sees it: local refs point into the document registered as `openapi.json`. */
function schemaIn(schema: Json): Json {
  return JSON.parse(JSON.stringify(schema).replaceAll('"$ref":"#/', '"$ref":"openapi.json#/')) as Json;
}

const operations = () =>
  Object.entries(doc.paths).flatMap(([path, item]) =>
    Object.entries(item)
      .filter(([method]) => METHODS.includes(method))
      .map(([method, op]) => ({ path, method, op })),
  );

/** The request the document describes for `op`, from its examples; with the tenant's key where it asks for one. */
function requestFor(path: string, method: string, op: Operation, { headers = {}, key = true }: { headers?: Record<string, string>; key?: boolean } = {}) {
  const url = new URL(`${server.url}${doc.servers[0]!.url}`);
  let filled = path;
  const query = new URLSearchParams();
  for (const parameter of (op.parameters ?? []).map((p) => resolve<Parameter>(p))) {
    if (parameter.example === undefined) {
      expect(parameter.required ?? false, `${op.operationId}: required parameter ${parameter.name} has no example`).toBe(false);
      continue;
    }
    if (parameter.schema) expectValid(parameter.schema, parameter.example, `${op.operationId} ${parameter.name} example`);
    if (parameter.in === 'path') filled = filled.replace(`{${parameter.name}}`, encodeURIComponent(String(parameter.example)));
    // Query arrays are style form, explode true (the default): the parameter repeats.
    else if (parameter.in === 'query') for (const v of [parameter.example].flat()) query.append(parameter.name, String(v));
  }
  const body = op.requestBody?.content['application/json'];
  if (body) {
    expect(body.example, `${op.operationId}: request body example`).toBeDefined();
    expectValid(body.schema, body.example, `${op.operationId} body example`);
  }
  const init: RequestInit = {
    method: method.toUpperCase(),
    headers: {
      ...(key && op.security?.length ? { authorization: `Bearer ${apiKey}` } : {}),
      ...(body ? { 'content-type': 'application/json' } : {}),
      ...headers,
    },
    ...(body && { body: JSON.stringify(body.example) }),
  };
  return { url: `${url.toString().replace(/\/$/, '')}${filled}${query.size ? `?${query}` : ''}`, init };
}

beforeAll(async () => {
  const response = await fetch(`${server.url}/v1/openapi.json`);
  expect(response.status).toBe(200);
  doc = (await response.json()) as Document;
  ajv = new Ajv2020({ strict: false, allErrors: true });
  addFormats(ajv);
  ajv.addSchema(doc, 'openapi.json');
  ({
    tenant: { apiKey },
  } = await makeTenantWithOrders(owner, 3));
});

describe('GET /v1/openapi.json', () => {
  it('is a valid OpenAPI 3.1 document', async () => {
    expect(doc.openapi).toBe('3.1.0');
    const validator = new Validator();
    const result = await validator.validate(structuredClone(doc) as unknown as Json);
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
    expect(validator.version).toBe('3.1');
  });

  it('is served without a key, and spends no rate-limit budget', async () => {
    const { tenant } = await makeTenantWithOrders(owner, 1);
    await withTenant(owner, tenant.id, (tx) => tx.update(apiKeys).set({ rateLimit: '2/minute' }));
    for (let i = 0; i < 3; i++) {
      const response = await fetch(`${server.url}/v1/openapi.json`, { headers: { authorization: `Bearer ${tenant.apiKey}` } });
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toMatch(/^application\/json/);
      expect(response.headers.get('ratelimit-limit')).toBeNull();
      expect(response.headers.get('x-request-id')).toBeTruthy();
    }
    // The key's two requests are still there.
    const statuses = [];
    for (let i = 0; i < 3; i++) statuses.push((await fetch(`${server.url}/v1/datasets`, { headers: { authorization: `Bearer ${tenant.apiKey}` } })).status);
    expect(statuses).toEqual([200, 200, 429]);
  });

  it('documents every /v1 route Hono has registered, and nothing else', async () => {
    const built = buildDeps(TEST_CONFIG, { pool: app, platformPool: app });
    let registered: string[];
    try {
      registered = createApp(built.deps)
        .routes.filter((r) => r.path.startsWith('/v1/') && r.method !== 'ALL')
        .map((r) => `${r.method} ${r.path}`);
    } finally {
      await built.stop();
    }
    const documented = operations().map(({ path, method }) => `${method.toUpperCase()} ${doc.servers[0]!.url}${path.replace(/\{(\w+)\}/g, ':$1')}`);
    expect([...new Set(registered)].sort()).toEqual(documented.sort());
    expect(registered.length).toBeGreaterThan(0);
  });

  it('gives every operation an id, path parameters matching its path, and bearer auth on the data routes', () => {
    const ids = new Set<string>();
    for (const { path, method, op } of operations()) {
      expect(op.operationId, `${method} ${path}`).toMatch(/^\w+$/);
      expect(ids.has(op.operationId)).toBe(false);
      ids.add(op.operationId);
      const inPath = [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]);
      const declared = (op.parameters ?? []).map((p) => resolve<Parameter>(p)).filter((p) => p.in === 'path').map((p) => p.name);
      expect(declared.sort()).toEqual(inPath.sort());
      if (path === '/openapi.json') expect(op.security).toEqual([]);
      else {
        expect(op.security).toEqual([{ bearer: [] }]);
        for (const status of ['401', '403', '429', '503']) expect(Object.keys(op.responses), `${op.operationId}`).toContain(status);
      }
    }
    expect(resolve<Json>({ $ref: '#/components/securitySchemes/bearer' })).toMatchObject({ type: 'http', scheme: 'bearer' });
  });
});

describe('requests built from the document', () => {
  // The same answers checked with the zod schemas the document was generated from.
  const zodOf: Record<string, z.ZodType> = {
    listDatasets: datasetList,
    describeDataset: datasetDescription,
    queryDataset: queryResult,
    queryDatasetByUrl: queryResult,
  };

  it('succeed for every operation, with the documented body and headers', async () => {
    for (const { path, method, op } of operations()) {
      const { url, init } = requestFor(path, method, op);
      const response = await fetch(url, init);
      const text = await response.text();
      expect(response.status, `${op.operationId}: ${text.slice(0, 300)}`).toBe(200);
      expect(response.headers.get('content-type')).toMatch(/^application\/json/);
      const body: unknown = JSON.parse(text);
      const ok = resolve<Json & { content: Record<string, { schema: Json }>; headers?: Record<string, Json> }>(op.responses['200']!);
      expectValid(ok.content['application/json']!.schema, body, `${op.operationId} 200`);
      zodOf[op.operationId]?.parse(body);
      for (const header of Object.keys(ok.headers ?? {})) expect(response.headers.get(header), `${op.operationId}: ${header}`).not.toBeNull();
      if (op.operationId.startsWith('query')) expect((body as { rowCount: number }).rowCount).toBeGreaterThan(0);
    }
  });

  it('answer CSV where the document offers it', async () => {
    const csvOperations = operations().filter(({ op }) => resolve<{ content?: Json }>(op.responses['200']!).content?.['text/csv']);
    expect(csvOperations.map(({ op }) => op.operationId).sort()).toEqual(['queryDataset', 'queryDatasetByUrl']);
    for (const { path, method, op } of csvOperations) {
      const { url, init } = requestFor(path, method, op, { headers: { accept: 'text/csv' } });
      const response = await fetch(url, init);
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toMatch(/^text\/csv/);
      expect((await response.text()).split('\r\n')[0]).toBe('order_date,revenue,order_count');
    }
  });

  it('get the documented error envelope when they fail', async () => {
    const [describe, getQuery] = (['describeDataset', 'queryDatasetByUrl'] as const).map((id) => operations().find(({ op }) => op.operationId === id)!);
    const cases = [
      { status: 401, reason: 'KEY_MISSING', ...requestFor(describe!.path, 'get', describe!.op, { key: false }) },
      { status: 404, reason: 'UNKNOWN_DATASET', url: `${server.url}/v1/datasets/nope`, init: { headers: { authorization: `Bearer ${apiKey}` } } },
      { status: 400, reason: 'INVALID_QUERY', url: `${requestFor(getQuery!.path, 'get', getQuery!.op).url}&offset=-1`, init: { headers: { authorization: `Bearer ${apiKey}` } } },
    ];
    for (const { status, reason, url, init } of cases) {
      const response = await fetch(url, init);
      expect(response.status).toBe(status);
      const body: unknown = await response.json();
      const op = status === 400 ? getQuery!.op : describe!.op;
      const documented = resolve<{ content: Record<string, { schema: Json }> }>(op.responses[String(status)]!);
      expectValid(documented.content['application/json']!.schema, body, `${status}`);
      expect(errorEnvelope.parse(body).error.reason).toBe(reason);
    }
  });
});

describe('GET /v1/query reads its URL through the documented parameters', () => {
  const get = (params: string, headers: Record<string, string> = {}) =>
    fetch(`${server.url}/v1/query?dataset=orders&metrics=revenue&${params}`, { headers: { authorization: `Bearer ${apiKey}`, ...headers } });

  it('ignores undocumented parameters and takes lists comma-separated or repeated', async () => {
    const response = await get('dimensions=region&dimensions=status,customer&orderBy=-region&_=123');
    expect(response.status).toBe(200);
    const body = queryResult.parse(await response.json());
    expect(body.columns.map((c) => c.name)).toEqual(['region', 'status', 'customer', 'revenue']);
    expect(body.rows[0]!['region']).toBe('south');
  });

  it('answers a bad value with a 400 naming the parameter', async () => {
    for (const [params, name] of [['format=xml', 'format'], ['limit=abc', 'limit'], ['timeGrain=hour', 'timeGrain']]) {
      const response = await get(params!);
      expect(response.status).toBe(400);
      const { error } = errorEnvelope.parse(await response.json());
      expect(error.reason).toBe('INVALID_QUERY');
      expect(error.message).toMatch(new RegExp(`^${name}: `));
    }
  });

  it('lets format=json win over Accept: text/csv', async () => {
    const response = await get('format=json', { accept: 'text/csv' });
    expect(response.headers.get('content-type')).toMatch(/^application\/json/);
  });

  it('takes filters as JSON, as in the POST body, together with filter=', async () => {
    const filters = JSON.stringify([{ dimension: 'region', op: 'eq', value: 'north' }]);
    const response = await get(`dimensions=region&filters=${encodeURIComponent(filters)}&filter=region:is_not_null`);
    expect(response.status).toBe(200);
    expect(queryResult.parse(await response.json()).rows.map((r) => r['region'])).toEqual(['north']);
  });
});

describe('component schemas from zod', () => {
  it('moves $defs beside the component and rewrites every $ref, whatever recursion zod needed', () => {
    // A recursive root (zod refers to it as `#`), and a part with a meta id (`#/$defs/Leaf`).
    const leaf = z.object({ field: z.string() }).meta({ id: 'Leaf' });
    const tree = z.object({
      leaf: leaf.optional(),
      get all() {
        return z.array(tree).optional();
      },
    });
    const schemas: Record<string, Json> = {};
    expect(addSchema(schemas, 'Tree', tree, 'input')).toEqual({ $ref: '#/components/schemas/Tree' });
    expect(Object.keys(schemas).sort()).toEqual(['Tree', 'Tree_Leaf']);
    const refs = JSON.stringify(schemas).match(/"\$ref":"[^"]*"/g) ?? [];
    expect(refs.length).toBeGreaterThan(0);
    for (const ref of refs) expect(ref).toMatch(/"\$ref":"#\/components\/schemas\/(Tree|Tree_Leaf)"/);
    expect(JSON.stringify(schemas)).not.toContain('$defs');
    const local = new Ajv2020({ strict: false });
    local.addSchema({ components: { schemas } }, 'probe.json');
    const validate = local.compile({ $ref: 'probe.json#/components/schemas/Tree' });
    expect(validate({ all: [{ leaf: { field: 'a' } }, { all: [] }] })).toBe(true);
    expect(validate({ all: [{ leaf: { field: 1 } }] })).toBe(false);
    expect(() => addSchema(schemas, 'Tree', tree, 'input')).toThrow(/two component schemas/);
  });
});
