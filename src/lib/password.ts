/**
 * Password hashing with scrypt (memory-hard, from node:crypto). Stored as
 * `scrypt$N$r$p$<salt b64>$<hash b64>` so parameters can be raised later without breaking old hashes:
 * verification reads the parameters from the stored string, and `needsRehash` tells sign-in to
 * replace a hash made with weaker ones. Measurements and the cost of the parameters: docs/passwords.md.
 */
import { randomBytes, randomInt, scrypt as scryptCb, timingSafeEqual, type ScryptOptions } from 'node:crypto';

/** OWASP's minimum for scrypt (N=2^17, r=8, p=1). Hashes made before issue 19 use N=2^15. */
const PARAMS = { N: 2 ** 17, r: 8, p: 1 } as const;
const KEY_LENGTH = 32;
// scrypt needs about 128·N·r bytes (128 MiB at N=2^17, r=8) plus a little; Node refuses anything
// above maxmem (default 32 MiB), so allow twice the current need. It also caps what a stored hash
// with a larger N can make one verification allocate.
const MAXMEM = 256 * 1024 * 1024;

function scrypt(password: string, salt: Buffer, options: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    scryptCb(password.normalize('NFC'), salt, KEY_LENGTH, { ...options, maxmem: MAXMEM }, (error, key) =>
      error ? reject(error) : resolve(key),
    ),
  );
}

export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await scrypt(password, salt, PARAMS);
  return ['scrypt', PARAMS.N, PARAMS.r, PARAMS.p, salt.toString('base64'), key.toString('base64')].join('$');
}

export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const [scheme, n, r, p, salt, hash] = stored.split('$');
  if (scheme !== 'scrypt' || !salt || !hash) return false;
  const expected = Buffer.from(hash, 'base64');
  const actual = await scrypt(password, Buffer.from(salt, 'base64'), { N: Number(n), r: Number(r), p: Number(p) });
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}

/**
 * Whether a stored hash (one `verifyPassword` accepted) should be replaced by `hashPassword`'s:
 * true when any of its parameters is below the current ones, its key is not the current length,
 * or it is not in the `scrypt$N$r$p$salt$hash` form. A hash with stronger parameters is kept.
 */
export function needsRehash(stored: string): boolean {
  const [scheme, n, r, p, salt, hash, ...rest] = stored.split('$');
  if (scheme !== 'scrypt' || !salt || !hash || rest.length > 0) return true;
  const [N, R, P] = [Number(n), Number(r), Number(p)];
  if (![N, R, P].every(Number.isSafeInteger)) return true;
  return N < PARAMS.N || R < PARAMS.r || P < PARAMS.p || Buffer.from(hash, 'base64').length !== KEY_LENGTH;
}

/** A hash no password matches, for spending the same time on unknown users as on known ones. */
export const DECOY_HASH = `scrypt$${PARAMS.N}$${PARAMS.r}$${PARAMS.p}$${randomBytes(16).toString('base64')}$${randomBytes(32).toString('base64')}`;

const WORDS_ALPHABET = 'abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789';

/** A temporary password (~95 bits), shown once; the user must replace it at first sign-in. */
export function generateTemporaryPassword(): string {
  let out = '';
  for (let i = 0; i < 16; i++) out += WORDS_ALPHABET[randomInt(WORDS_ALPHABET.length)];
  return `${out.slice(0, 4)}-${out.slice(4, 8)}-${out.slice(8, 12)}-${out.slice(12)}`;
}
