// Order matters: tenantTable() registers tables in declaration order, parents before children,
// which is the order tenant export/import insert in (and purge deletes in reverse).
export * from './tenants.js';
export * from './tenancy.js';
export * from './api-keys.js';
export * from './demo.js';
export * from './users.js';
export * from './audit-events.js';
export * from './usage.js';
export * from './idempotency.js';
