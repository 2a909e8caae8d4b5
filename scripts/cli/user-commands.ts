/** `palisade user create|list --tenant <slug|id>`: a tenant's users, as its owner. */
import { createUser, createUserInput, listUsers, listUsersInput, type User } from '../../src/modules/users/users.service.js';
import type { CommandGroup } from './command.js';
import { fields, secret, table, type Column } from './output.js';
import { CLI_CALLER_ROLE, inTenant, TENANT_OPTION } from './tenant-scope.js';

const USER_COLUMNS: Column<User>[] = [
  { header: 'id', value: (u) => u.id },
  { header: 'email', value: (u) => u.email },
  { header: 'name', value: (u) => u.name },
  { header: 'role', value: (u) => u.role },
  { header: 'status', value: (u) => (u.disabledAt ? 'disabled' : u.mustChangePassword ? 'must change password' : 'active') },
  { header: 'created', value: (u) => u.createdAt },
  { header: 'last login', value: (u) => u.lastLoginAt },
];

export const userCommands: CommandGroup = {
  name: 'user',
  summary: "a tenant's users",
  commands: [
    {
      name: 'user create',
      summary: 'create a user with a temporary password (printed once; changed at first sign-in)',
      synopsis: '--tenant <slug|id> --email <email> --name <name> --role <viewer|analyst|admin|owner>',
      options: {
        ...TENANT_OPTION,
        email: { type: 'string', placeholder: '<email>', description: 'sign-in email (unique in the tenant)' },
        name: { type: 'string', placeholder: '<name>', description: 'display name' },
        role: { type: 'string', placeholder: '<role>', description: 'viewer, analyst, admin or owner' },
      },
      examples: ['palisade user create --tenant acme --email bo@acme.example --name "Bo Berg" --role viewer'],
      async run(ctx, args) {
        const input = createUserInput.parse({ email: args.required('email'), name: args.required('name'), role: args.required('role') });
        const { tenant, result } = await inTenant(ctx, args, (tx) =>
          createUser(tx, input, { callerRole: CLI_CALLER_ROLE, actor: ctx.actor, now: ctx.now }),
        );
        const { user, temporaryPassword } = result;
        return {
          json: { tenantId: tenant.id, ...result },
          text:
            `Created user ${user.email} in tenant ${tenant.slug}.\n` +
            fields([
              ['id', user.id],
              ['email', user.email],
              ['name', user.name],
              ['role', user.role],
            ]) +
            secret(`Temporary password for ${user.email} (must be changed at first sign-in)`, temporaryPassword),
        };
      },
    },
    {
      name: 'user list',
      summary: "list a tenant's users",
      synopsis: '--tenant <slug|id> [--search <text>] [--role <role>] [--limit <n>] [--offset <n>]',
      options: {
        ...TENANT_OPTION,
        search: { type: 'string', placeholder: '<text>', description: 'part of the email or name' },
        role: { type: 'string', placeholder: '<role>', description: 'only users with this role' },
        limit: { type: 'string', placeholder: '<n>', description: 'at most this many (default 50)' },
        offset: { type: 'string', placeholder: '<n>', description: 'skip this many' },
      },
      async run(ctx, args) {
        const input = listUsersInput.parse({
          search: args.string('search'),
          role: args.string('role'),
          limit: args.integer('limit'),
          offset: args.integer('offset'),
        });
        const { result } = await inTenant(ctx, args, (tx) => listUsers(tx, input));
        const more = result.nextOffset === null ? '' : `(more: --offset ${result.nextOffset})\n`;
        return { json: result, text: table(result.items, USER_COLUMNS) + more };
      },
    },
  ],
};
