/**
 * Bearer secret formats and hashing (pure). A tenant key reads `pk_<tenant slug>_<32 base62 chars>`
 * (~190 random bits), a sign-in session token `ps_<tenant slug>_<32 base62>`, a platform-admin key
 * `pa_<32 base62 chars>`. Only the SHA-256 of the whole secret is stored: secrets are
 * high-entropy, so a fast hash is enough and lookups stay cheap.
 */
import { createHash, randomInt } from 'node:crypto';

const ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const SECRET_LENGTH = 32;
const TENANT_KEY = /^(pk|ps)_([a-z0-9](?:-?[a-z0-9])*)_([0-9A-Za-z]{32})$/;
const PLATFORM_KEY = /^pa_([0-9A-Za-z]{32})$/;

export interface GeneratedKey {
  /** Shown once to the caller, never stored. */
  secret: string;
  hash: string;
  /** Non-secret beginning kept for display: `pk_acme_Ab3x`. */
  start: string;
}

export type ParsedKey =
  | { kind: 'tenant'; slug: string; hash: string }
  | { kind: 'session'; slug: string; hash: string }
  | { kind: 'platform'; hash: string };

function randomSecret(): string {
  let out = '';
  for (let i = 0; i < SECRET_LENGTH; i++) out += ALPHABET[randomInt(ALPHABET.length)];
  return out;
}

export function hashKey(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

function generated(secret: string, prefixLength: number): GeneratedKey {
  return { secret, hash: hashKey(secret), start: secret.slice(0, prefixLength + 4) };
}

export function generateTenantKey(slug: string): GeneratedKey {
  const prefix = `pk_${slug}_`;
  return generated(prefix + randomSecret(), prefix.length);
}

/** A sign-in session token; like a key, it names its tenant so it can be resolved before one is known. */
export function generateSessionToken(slug: string): GeneratedKey {
  const prefix = `ps_${slug}_`;
  return generated(prefix + randomSecret(), prefix.length);
}

export function generatePlatformKey(): GeneratedKey {
  return generated(`pa_${randomSecret()}`, 3);
}

/** The key's kind and hash, or undefined when it is not shaped like one of ours. */
export function parseKey(raw: string): ParsedKey | undefined {
  const tenant = TENANT_KEY.exec(raw);
  if (tenant?.[2]) return { kind: tenant[1] === 'ps' ? 'session' : 'tenant', slug: tenant[2], hash: hashKey(raw) };
  if (PLATFORM_KEY.test(raw)) return { kind: 'platform', hash: hashKey(raw) };
  return undefined;
}
