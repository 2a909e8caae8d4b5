/** `palisade admin-key create`: bootstraps the platform-admin path on a platform that has no key yet. */
import { createPlatformAdminKey } from '../../src/modules/tenants/tenants.service.js';
import type { CommandGroup } from './command.js';
import { InputError } from './errors.js';
import { secret } from './output.js';

export const adminKeyCommands: CommandGroup = {
  name: 'admin-key',
  summary: 'platform-admin keys',
  commands: [
    {
      name: 'admin-key create',
      summary: 'mint a platform-admin key (for the platform-admin API)',
      synopsis: '[--name <name>]',
      options: { name: { type: 'string', placeholder: '<name>', description: 'what the key is for (default: "cli:<your user>")' } },
      examples: ['palisade admin-key create --name ops-dashboard'],
      async run(ctx, args) {
        const name = (args.string('name') ?? `cli:${ctx.actor.id ?? 'operator'}`).trim();
        if (!name) throw new InputError('--name: must not be empty');
        const key = await createPlatformAdminKey(ctx.pool, name, ctx.actor);
        return { json: { name, apiKey: key }, text: `Created platform-admin key "${name}".\n${secret('Platform-admin key', key)}` };
      },
    },
  ],
};
