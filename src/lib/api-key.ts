/**
 * API key format and hashing (pure). A tenant key reads `pk_<tenant slug>_<32 base62 chars>`
 * (~190 random bits); a platform-admin key `pa_<32 base62 chars>`. Only the SHA-256 of the whole
 * key is stored: keys are high-entropy, so a fast hash is enough and lookups stay cheap.
 */
import { createHash, randomInt } from 'node:crypto';

const ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const SECRET_LENGTH = 32;
const TENANT_KEY = /^pk_([a-z0-9](?:-?[a-z0-9])*)_([0-9A-Za-z]{32})$/;
const PLATFORM_KEY = /^pa_([0-9A-Za-z]{32})$/;

export interface GeneratedKey {
  /** Shown once to the caller, never stored. */
  secret: string;
  hash: string;
  /** Non-secret beginning kept for display: `pk_acme_Ab3x`. */
  start: string;
}

export type ParsedKey = { kind: 'tenant'; slug: string; hash: string } | { kind: 'platform'; hash: string };

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

export function generatePlatformKey(): GeneratedKey {
  return generated(`pa_${randomSecret()}`, 3);
}

/** The key's kind and hash, or undefined when it is not shaped like one of ours. */
export function parseKey(raw: string): ParsedKey | undefined {
  const tenant = TENANT_KEY.exec(raw);
  if (tenant?.[1]) return { kind: 'tenant', slug: tenant[1], hash: hashKey(raw) };
  if (PLATFORM_KEY.test(raw)) return { kind: 'platform', hash: hashKey(raw) };
  return undefined;
}
