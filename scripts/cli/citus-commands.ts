/** `palisade citus distribute`: shards the schema on a Citus coordinator (db/citus.ts). */
import { distributeSchema, DistributionError } from '../../db/citus.js';
import type { CommandGroup } from './command.js';
import { InputError } from './errors.js';

export const citusCommands: CommandGroup = {
  name: 'citus',
  summary: 'scale out on a Citus cluster',
  commands: [
    {
      name: 'citus distribute',
      summary: 'make platform tables reference tables and distribute tenant tables by tenant_id (idempotent)',
      synopsis: '',
      examples: ['DATABASE_URL=postgres://owner@coordinator:5432/palisade palisade citus distribute'],
      async run(ctx) {
        let report;
        try {
          report = await distributeSchema(ctx.pool);
        } catch (error) {
          if (error instanceof DistributionError) throw new InputError(error.message);
          throw error;
        }
        const line = (label: string, names: string[]) => `${label.padEnd(24)} ${names.length > 0 ? names.join(', ') : '–'}`;
        return {
          json: report,
          text: [
            line('Reference tables:', report.referenceTables),
            line('Distributed (tenant_id):', report.distributedTables),
            line('Already in place:', report.unchanged),
            'citus.propagate_set_commands = local for this database: restart servers connected to it.',
            '',
          ].join('\n'),
        };
      },
    },
  ],
};
