/** `palisade key create|list|rotate|revoke --tenant <slug|id>`: a tenant's API keys, as its owner. */
import {
  createApiKey,
  createApiKeyInput,
  keyIdInput,
  listApiKeys,
  listApiKeysInput,
  revokeApiKey,
  rotateApiKey,
  rotateApiKeyInput,
  type ApiKey,
} from '../../src/modules/api-keys/api-keys.service.js';
import type { CommandGroup } from './command.js';
import { fields, secret, table, type Column } from './output.js';
import { CLI_CALLER_ROLE, inTenant, TENANT_OPTION } from './tenant-scope.js';

const KEY_COLUMNS: Column<ApiKey>[] = [
  { header: 'id', value: (k) => k.id },
  { header: 'name', value: (k) => k.name },
  { header: 'role', value: (k) => k.role },
  { header: 'start', value: (k) => k.start },
  { header: 'status', value: (k) => k.status },
  { header: 'created', value: (k) => k.createdAt },
  { header: 'expires', value: (k) => k.expiresAt },
  { header: 'last used', value: (k) => k.lastUsedAt },
  { header: 'rate limit', value: (k) => k.rateLimit },
];

function keyFields(key: ApiKey): string {
  return fields([
    ['id', key.id],
    ['name', key.name],
    ['role', key.role],
    ['start', key.start],
    ['status', key.status],
    ['expires', key.expiresAt],
    ['rate limit', key.rateLimit],
  ]);
}

export const keyCommands: CommandGroup = {
  name: 'key',
  summary: "a tenant's API keys",
  commands: [
    {
      name: 'key create',
      summary: 'create an API key; prints its secret once',
      synopsis: '--tenant <slug|id> --name <name> --role <viewer|analyst|admin|owner> [--expires-at <ISO time>] [--rate-limit <n/unit>]',
      options: {
        ...TENANT_OPTION,
        name: { type: 'string', placeholder: '<name>', description: 'what the key is for, e.g. ci' },
        role: { type: 'string', placeholder: '<role>', description: 'viewer, analyst, admin or owner' },
        'expires-at': { type: 'string', placeholder: '<ISO time>', description: 'when the key stops working, e.g. 2027-01-01T00:00:00Z' },
        'rate-limit': { type: 'string', placeholder: '<n/unit>', description: 'e.g. 100/minute (unit: second, minute, hour)' },
      },
      examples: ['palisade key create --tenant acme --name ci --role analyst --expires-at 2027-01-01T00:00:00Z --rate-limit 100/minute'],
      async run(ctx, args) {
        const input = createApiKeyInput.parse({
          name: args.required('name'),
          role: args.required('role'),
          expiresAt: args.string('expires-at'),
          rateLimit: args.string('rate-limit'),
        });
        const { tenant, result } = await inTenant(ctx, args, (tx, t) =>
          createApiKey(tx, input, { slug: t.slug, callerRole: CLI_CALLER_ROLE, actor: ctx.actor, now: ctx.now }),
        );
        return {
          json: { tenantId: tenant.id, ...result },
          text: `Created API key "${result.key.name}" for tenant ${tenant.slug}.\n${keyFields(result.key)}${secret('API key', result.secret)}`,
        };
      },
    },
    {
      name: 'key list',
      summary: "list a tenant's API keys, newest first (secrets are never shown)",
      synopsis: '--tenant <slug|id> [--active] [--limit <n>] [--offset <n>]',
      options: {
        ...TENANT_OPTION,
        active: { type: 'boolean', description: 'leave out revoked keys' },
        limit: { type: 'string', placeholder: '<n>', description: 'at most this many (default 50)' },
        offset: { type: 'string', placeholder: '<n>', description: 'skip this many' },
      },
      async run(ctx, args) {
        const input = listApiKeysInput.parse({
          includeRevoked: !args.flag('active'),
          limit: args.integer('limit'),
          offset: args.integer('offset'),
        });
        const { result } = await inTenant(ctx, args, (tx) => listApiKeys(tx, input, ctx.now));
        const more = result.nextOffset === null ? '' : `(more: --offset ${result.nextOffset})\n`;
        return { json: result, text: table(result.items, KEY_COLUMNS) + more };
      },
    },
    {
      name: 'key rotate',
      summary: 'replace a key with a new secret; the old one works for the grace period',
      synopsis: '--tenant <slug|id> <keyId> [--grace-days <n>]',
      positionals: ['<keyId>'],
      fields: { keyId: '<keyId>', gracePeriodDays: '--grace-days' },
      options: {
        ...TENANT_OPTION,
        'grace-days': { type: 'string', placeholder: '<n>', description: 'days the old key keeps working (0–90, default 7)' },
      },
      examples: ['palisade key rotate --tenant acme 0b4e… --grace-days 1'],
      async run(ctx, args) {
        const input = rotateApiKeyInput.parse({ keyId: args.positional(0), gracePeriodDays: args.integer('grace-days') });
        const { tenant, result } = await inTenant(ctx, args, (tx, t) =>
          rotateApiKey(tx, input, { slug: t.slug, callerRole: CLI_CALLER_ROLE, actor: ctx.actor, now: ctx.now, credentialsChanged: ctx.credentialsChanged }),
        );
        return {
          json: { tenantId: tenant.id, ...result },
          text:
            `Rotated API key "${result.key.name}" of tenant ${tenant.slug}; the old key (${result.previous.start}…) ` +
            `works until ${result.previous.expiresAt ?? 'revoked'}.\n${keyFields(result.key)}${secret('New API key', result.secret)}`,
        };
      },
    },
    {
      name: 'key revoke',
      summary: 'revoke a key; servers refuse it from the next request (within CREDENTIAL_CACHE_TTL_MS without REDIS_URL)',
      synopsis: '--tenant <slug|id> <keyId>',
      positionals: ['<keyId>'],
      fields: { keyId: '<keyId>' },
      options: { ...TENANT_OPTION },
      async run(ctx, args) {
        const input = keyIdInput.parse({ keyId: args.positional(0) });
        const { tenant, result } = await inTenant(ctx, args, (tx) =>
          revokeApiKey(tx, input, { callerRole: CLI_CALLER_ROLE, actor: ctx.actor, now: ctx.now, credentialsChanged: ctx.credentialsChanged }),
        );
        return { json: { tenantId: tenant.id, key: result }, text: `Revoked API key "${result.name}" of tenant ${tenant.slug}.\n${keyFields(result)}` };
      },
    },
  ],
};
