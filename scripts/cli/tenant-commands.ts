/** `palisade tenant …`: the tenant lifecycle, with the same service functions the platform-admin API uses. */
import fs from 'node:fs';
import {
  createTenantInput,
  listTenantsInput,
  setTenantStatusInput,
  tenantStats,
  listTenants,
  setTenantStatus,
  type Tenant,
} from '../../src/modules/tenants/tenant-admin.service.js';
import { exportTenant, importTenant, importTenantInput, purgeTenant, purgeTenantInput } from '../../src/modules/tenants/tenant-data.service.js';
import { issueTenantDbRole, revokeTenantDbRole } from '../../src/modules/tenants/tenant-db-role.service.js';
import { provisionTenant } from '../../src/modules/tenants/tenants.service.js';
import { withLogin } from '../../src/database.js';
import { detectEngine } from '../../db/citus.js';
import type { Args } from './args.js';
import type { CommandGroup } from './command.js';
import type { CliContext } from './context.js';
import { InputError, message } from './errors.js';
import { fields, secret, table, type Column } from './output.js';

const TENANT_COLUMNS: Column<Tenant>[] = [
  { header: 'id', value: (t) => t.id },
  { header: 'slug', value: (t) => t.slug },
  { header: 'name', value: (t) => t.name },
  { header: 'status', value: (t) => t.status },
  { header: 'created', value: (t) => t.createdAt },
];

const tenantFields = (t: Tenant) =>
  fields([
    ['id', t.id],
    ['slug', t.slug],
    ['name', t.name],
    ['status', t.status],
  ]);

async function setStatus(ctx: CliContext, args: Args, status: 'active' | 'suspended') {
  const tenant = await ctx.resolveTenant(args.positional(0));
  const input = setTenantStatusInput.parse({ tenantId: tenant.id, status, reason: args.string('reason') });
  const result = await setTenantStatus(ctx.pool, input, ctx.actor, ctx);
  const verb = status === 'suspended' ? 'Suspended' : 'Resumed';
  const unchanged = tenant.status === status ? ` (it already was ${status}; nothing changed)` : '';
  return { json: result, text: `${verb} tenant ${result.slug}${unchanged}.\n${tenantFields(result)}` };
}

/** `-` (or nothing) is stdout. */
const toStdout = (out: string | undefined) => out === undefined || out === '-';

export const tenantCommands: CommandGroup = {
  name: 'tenant',
  summary: 'tenant lifecycle',
  commands: [
    {
      name: 'tenant create',
      summary: 'create a tenant with an owner user and an owner API key (both secrets printed once)',
      synopsis: '--name <name> [--slug <slug>] --owner-email <email>',
      options: {
        name: { type: 'string', placeholder: '<name>', description: 'display name' },
        slug: { type: 'string', placeholder: '<slug>', description: 'URL-safe id (default: derived from the name)' },
        'owner-email': { type: 'string', placeholder: '<email>', description: "the owner user's email" },
      },
      examples: ['palisade tenant create --name "Acme Corp" --slug acme --owner-email ann@acme.example'],
      async run(ctx, args) {
        const input = createTenantInput.parse({ name: args.required('name'), slug: args.string('slug'), ownerEmail: args.required('owner-email') });
        const created = await provisionTenant(ctx.pool, input, ctx.actor);
        const owner = created.owner;
        return {
          json: created,
          text:
            `Created tenant ${created.slug}.\n` +
            fields([
              ['id', created.id],
              ['slug', created.slug],
              ['name', created.name],
              ['owner', owner?.email],
            ]) +
            secret('Owner API key', created.apiKey) +
            (owner ? secret(`Temporary password for ${owner.email} (must be changed at first sign-in)`, owner.temporaryPassword) : ''),
        };
      },
    },
    {
      name: 'tenant list',
      summary: 'list tenants, newest first',
      synopsis: '[--search <text>] [--status <active|suspended>] [--limit <n>] [--offset <n>]',
      options: {
        search: { type: 'string', placeholder: '<text>', description: 'part of the name or slug' },
        status: { type: 'string', placeholder: '<status>', description: 'active or suspended' },
        limit: { type: 'string', placeholder: '<n>', description: 'at most this many (default 50)' },
        offset: { type: 'string', placeholder: '<n>', description: 'skip this many' },
      },
      async run(ctx, args) {
        const input = listTenantsInput.parse({
          search: args.string('search'),
          status: args.string('status'),
          limit: args.integer('limit'),
          offset: args.integer('offset'),
        });
        const result = await listTenants(ctx.pool, input);
        const more = result.nextOffset === null ? '' : `(more: --offset ${result.nextOffset})\n`;
        return { json: result, text: table(result.items, TENANT_COLUMNS) + more };
      },
    },
    {
      name: 'tenant stats',
      summary: "a tenant's users, keys, rows per table and last activity",
      synopsis: '<slug|id>',
      positionals: ['<slug|id>'],
      async run(ctx, args) {
        const tenant = await ctx.resolveTenant(args.positional(0));
        const stats = await tenantStats(ctx.pool, tenant.id, ctx.now);
        const text =
          fields([
            ['id', stats.tenantId],
            ['slug', stats.slug],
            ['name', stats.name],
            ['status', stats.status],
            ['created', stats.createdAt],
            ['last active', stats.lastActiveAt],
            ['users', `${stats.users.total} (${stats.users.active} active, ${stats.users.disabled} disabled)`],
            ['API keys', `${stats.apiKeys.active} active, ${stats.apiKeys.expired} expired, ${stats.apiKeys.revoked} revoked`],
          ]) +
          '\n' +
          table(stats.tables, [
            { header: 'table', value: (t) => t.table },
            { header: 'rows', value: (t) => t.rows },
            { header: 'approx bytes', value: (t) => t.approxBytes },
          ]);
        return { json: stats, text };
      },
    },
    {
      name: 'tenant suspend',
      summary: "suspend a tenant: its keys and sessions are refused from the next request on (data is kept)",
      synopsis: '<slug|id> [--reason <text>]',
      positionals: ['<slug|id>'],
      options: { reason: { type: 'string', placeholder: '<text>', description: 'recorded in the platform audit log' } },
      examples: ['palisade tenant suspend acme --reason "invoice overdue"'],
      run: (ctx, args) => setStatus(ctx, args, 'suspended'),
    },
    {
      name: 'tenant resume',
      summary: 'resume a suspended tenant',
      synopsis: '<slug|id> [--reason <text>]',
      positionals: ['<slug|id>'],
      options: { reason: { type: 'string', placeholder: '<text>', description: 'recorded in the platform audit log' } },
      run: (ctx, args) => setStatus(ctx, args, 'active'),
    },
    {
      name: 'tenant delete',
      summary: 'delete a tenant and every row it owns (cannot be undone; export first)',
      synopsis: '<slug|id> --confirm <slug>',
      positionals: ['<slug|id>'],
      options: { confirm: { type: 'string', placeholder: '<slug>', description: "the tenant's slug, typed again" } },
      examples: ['palisade tenant delete acme --confirm acme'],
      async run(ctx, args) {
        const tenant = await ctx.resolveTenant(args.positional(0));
        const input = purgeTenantInput.parse({ tenantId: tenant.id, confirm: args.required('confirm') });
        const result = await purgeTenant(ctx.pool, input, ctx.actor, ctx);
        const rows = Object.entries(result.deleted).map(([name, count]) => ({ name, count }));
        return {
          json: result,
          text: `Deleted tenant ${result.slug} (${result.tenantId}) and all its rows.\n${table(rows, [
            { header: 'table', value: (r) => r.name },
            { header: 'deleted rows', value: (r) => r.count },
          ])}`,
        };
      },
    },
    {
      name: 'tenant db-role',
      summary: 'a database login role Postgres holds to this tenant, for an instance of its own (password printed once)',
      synopsis: '<slug|id> [--drop]',
      positionals: ['<slug|id>'],
      options: { drop: { type: 'boolean', description: 'drop the role instead (new connections are refused; stop the instance using it first)' } },
      examples: ['palisade tenant db-role acme', 'palisade tenant db-role acme --drop'],
      async run(ctx, args) {
        const tenant = await ctx.resolveTenant(args.positional(0));
        if (!args.flag('drop') && (await detectEngine(ctx.pool)) === 'citus') {
          throw new InputError('per-tenant database roles are not available on Citus (its shards keep no restrictive policy); pin an instance with PALISADE_TENANT instead');
        }
        if (args.flag('drop')) {
          const result = await revokeTenantDbRole(ctx.pool, tenant, ctx.actor);
          const text = result.dropped ? `Dropped role ${result.role} of tenant ${tenant.slug}.\n` : `Tenant ${tenant.slug} has no role ${result.role}; nothing changed.\n`;
          return { json: result, text };
        }
        const result = await issueTenantDbRole(ctx.pool, tenant, ctx.actor);
        const appDatabaseUrl = withLogin(ctx.databaseUrl, result.role, result.password);
        const verb = result.created ? 'Created' : 'Gave a new password to';
        return {
          json: { ...result, appDatabaseUrl },
          text:
            `${verb} role ${result.role}: it sees and writes only ${tenant.slug}'s rows, whatever the tenant setting says.\n` +
            `Run an instance for the tenant with PALISADE_TENANT=${tenant.slug} and APP_DATABASE_URL set to:\n` +
            secret('APP_DATABASE_URL', appDatabaseUrl),
        };
      },
    },
    {
      name: 'tenant export',
      summary: 'write every row of a tenant to a JSON bundle (contains key and password hashes: keep it safe)',
      synopsis: '<slug|id> [--out <file.json|->]',
      positionals: ['<slug|id>'],
      options: { out: { type: 'string', placeholder: '<file.json|->', description: 'where to write the bundle (default -, stdout)' } },
      examples: ['palisade tenant export acme --out acme.json'],
      async run(ctx, args) {
        const tenant = await ctx.resolveTenant(args.positional(0));
        const out = args.string('out');
        const bundle = await exportTenant(ctx.pool, tenant.id, ctx.actor);
        const json = `${JSON.stringify(bundle, null, 2)}\n`;
        // The bundle is the output itself on stdout, with or without --json.
        if (toStdout(out)) return { json: bundle, text: json };
        try {
          // 0600: the bundle holds key and password hashes.
          fs.writeFileSync(out!, json, { mode: 0o600 });
        } catch (error) {
          throw new InputError(`--out: cannot write ${out}: ${message(error)}`);
        }
        const counts = Object.fromEntries(bundle.tables.map((t) => [t.name, t.rowCount]));
        return {
          json: { tenantId: tenant.id, slug: tenant.slug, file: out, rows: counts },
          text: `Exported tenant ${tenant.slug} to ${out}.\n${table(bundle.tables, [
            { header: 'table', value: (t) => t.name },
            { header: 'rows', value: (t) => t.rowCount },
          ])}`,
        };
      },
    },
    {
      name: 'tenant import',
      summary: 'load a bundle into a new tenant, or into an existing empty one with --into',
      synopsis: '--file <file.json|-> [--into <slug|id>] [--name <name>] [--slug <slug>]',
      options: {
        file: { type: 'string', placeholder: '<file.json|->', description: 'the bundle from tenant export (- is stdin)' },
        into: { type: 'string', placeholder: '<slug|id>', description: 'an existing tenant with no rows yet' },
        name: { type: 'string', placeholder: '<name>', description: "the new tenant's name (default: the bundle's)" },
        slug: { type: 'string', placeholder: '<slug>', description: "the new tenant's slug (default: the bundle's)" },
      },
      examples: ['palisade tenant import --file acme.json --slug acme-copy --name "Acme (copy)"'],
      async run(ctx, args) {
        const file = args.required('file');
        const options = importTenantInput.pick({ name: true, slug: true }).parse({ name: args.string('name'), slug: args.string('slug') });
        if (args.string('into') && (options.name || options.slug)) {
          throw new InputError('--name and --slug name a new tenant; leave them out with --into');
        }
        let bundle: unknown;
        try {
          bundle = JSON.parse(fs.readFileSync(file === '-' ? 0 : file, 'utf8'));
        } catch (error) {
          throw new InputError(`--file: cannot read a JSON bundle from ${file}: ${message(error)}`);
        }
        const into = args.string('into');
        const tenantId = into ? (await ctx.resolveTenant(into)).id : undefined;
        const result = await importTenant(ctx.pool, { bundle, tenantId, ...options }, ctx.actor, ctx);
        const rows = Object.entries(result.imported).map(([name, count]) => ({ name, count }));
        return {
          json: result,
          text: `Imported into tenant ${result.slug} (${result.tenantId}).\n${table(rows, [
            { header: 'table', value: (r) => r.name },
            { header: 'rows', value: (r) => r.count },
          ])}`,
        };
      },
    },
  ],
};
