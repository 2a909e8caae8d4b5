import { TRPCError } from '@trpc/server';
import { DrizzleQueryError } from 'drizzle-orm/errors';
import postgres from 'postgres';
import { describe, expect, it } from 'vitest';
import { toAppError } from './error-mapping.js';
import { databaseFailure, replicaReadFailure, violates } from './pg-errors.js';

const server = (code: string) => new postgres.PostgresError({ code, message: `sqlstate ${code}` } as unknown as string);
/** As postgres.js makes connection errors: a plain Error with a code. */
const coded = (code: string, cause?: unknown) => Object.assign(new Error(`write ${code} 127.0.0.1:5432`, { cause }), { code });
/** As Drizzle wraps a driver error, then tRPC a resolver's error. */
const wrapped = (error: Error) => new TRPCError({ code: 'INTERNAL_SERVER_ERROR', cause: new DrizzleQueryError('select 1', [], error) });

describe('replicaReadFailure', () => {
  it('a lost or saturated replica, or a recovery conflict: sent again to the primary', () => {
    for (const error of [coded('ECONNREFUSED'), coded('QUEUE_TIMEOUT'), server('57P01'), server('40001'), server('40P01'), wrapped(server('40001'))]) {
      expect(replicaReadFailure(error)).toBe(true);
    }
  });

  it('the read’s own errors (a timeout, a bad value, a refused write): not retried', () => {
    for (const error of [server('57014'), server('22008'), server('25006'), server('42501'), new TypeError('tenant id must be a uuid')]) {
      expect(replicaReadFailure(error)).toBe(false);
    }
  });
});

describe('databaseFailure', () => {
  it.each([
    'CONNECTION_CLOSED',
    'CONNECTION_DESTROYED',
    'CONNECTION_ENDED',
    'CONNECT_TIMEOUT',
    'ECONNREFUSED',
    'ECONNRESET',
    'EPIPE',
    'ETIMEDOUT',
    'EHOSTUNREACH',
    'ENOTFOUND',
  ])('%s: unavailable, bare and wrapped', (code) => {
    expect(databaseFailure(coded(code))).toBe('unavailable');
    expect(databaseFailure(wrapped(coded(code)))).toBe('unavailable');
  });

  it.each(['57P01', '57P02', '57P03', '57P05', '25P03', '08006', '08001', '08P01'])('SQLSTATE %s: unavailable', (code) => {
    expect(databaseFailure(server(code))).toBe('unavailable');
    expect(databaseFailure(wrapped(server(code)))).toBe('unavailable');
  });

  it('a connection closed by a FATAL error (its cause): unavailable', () => {
    expect(databaseFailure(coded('CONNECTION_CLOSED', server('57P01')))).toBe('unavailable');
  });

  it('no connection free in time, or no slot on the server: busy', () => {
    expect(databaseFailure(wrapped(coded('QUEUE_TIMEOUT')))).toBe('busy');
    expect(databaseFailure(server('53300'))).toBe('busy');
  });

  it('every other error: not a database failure', () => {
    for (const code of ['23505', '23503', '42501', '57014', '22008', '42P01', '40001']) expect(databaseFailure(wrapped(server(code)))).toBeUndefined();
    expect(databaseFailure(new Error('boom'))).toBeUndefined();
    expect(databaseFailure(coded('QUERY_TIMEOUT'))).toBeUndefined();
    expect(databaseFailure(undefined)).toBeUndefined();
    expect(databaseFailure('ECONNREFUSED')).toBeUndefined();
  });
});

describe('toAppError for database failures', () => {
  it('unavailable: 503 DATABASE_UNAVAILABLE, Retry-After 2 s, the driver error as its cause', () => {
    const cause = wrapped(coded('ECONNREFUSED'));
    expect(toAppError(cause)).toMatchObject({ code: 'SERVICE_UNAVAILABLE', reason: 'DATABASE_UNAVAILABLE', retryAfterSeconds: 2, cause });
  });

  it('busy: 503 DATABASE_BUSY, Retry-After 1 s', () => {
    expect(toAppError(coded('QUEUE_TIMEOUT'))).toMatchObject({ code: 'SERVICE_UNAVAILABLE', reason: 'DATABASE_BUSY', retryAfterSeconds: 1 });
  });

  it('leaves the other mappings alone', () => {
    expect(toAppError(server('23505'))).toMatchObject({ code: 'CONFLICT', reason: 'ALREADY_EXISTS', retryAfterSeconds: undefined });
    expect(toAppError(new Error('boom'))).toBeUndefined();
  });
});

describe('violates', () => {
  const unique = (fields: Record<string, string>) => new postgres.PostgresError({ code: '23505', ...fields } as unknown as string);
  it('matches the constraint by name, with a Citus shard suffix, or quoted in a relayed message', () => {
    expect(violates(wrapped(unique({ constraint_name: 'users_tenant_id_email_key', message: 'dup' })), 'users_tenant_id_email_key')).toBe(true);
    expect(violates(unique({ constraint_name: 'users_tenant_id_email_key_102159', message: 'dup' }), 'users_tenant_id_email_key')).toBe(true);
    expect(violates(unique({ message: 'duplicate key value violates unique constraint "users_tenant_id_email_key_102159"' }), 'users_tenant_id_email_key')).toBe(true);
  });
  it('does not match another constraint that shares a prefix, or no constraint', () => {
    expect(violates(unique({ constraint_name: 'users_tenant_id_email_key_extra', message: 'dup' }), 'users_tenant_id_email_key')).toBe(false);
    expect(violates(unique({ constraint_name: 'tenants_slug_key', message: 'dup' }), 'users_tenant_id_email_key')).toBe(false);
    expect(violates(new Error('x'), 'tenants_slug_key')).toBe(false);
  });
});
