import { randomBytes, scryptSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { DECOY_HASH, hashPassword, needsRehash, verifyPassword } from './password.js';

/** A hash as stored before issue 19 raised N: scrypt N=2^15, r=8, p=1. */
function legacyHash(password: string): string {
  const salt = randomBytes(16);
  const key = scryptSync(password.normalize('NFC'), salt, 32, { N: 2 ** 15, r: 8, p: 1, maxmem: 64 * 1024 * 1024 });
  return ['scrypt', 2 ** 15, 8, 1, salt.toString('base64'), key.toString('base64')].join('$');
}

const fake = (n: number, r = 8, p = 1, keyBytes = 32) =>
  `scrypt$${n}$${r}$${p}$${randomBytes(16).toString('base64')}$${randomBytes(keyBytes).toString('base64')}`;

describe('password hashing', () => {
  it('hashes with N=2^17, r=8, p=1 and a fresh salt; verifies only the right password', async () => {
    const stored = await hashPassword('correct horse battery staple');
    expect(stored).toMatch(/^scrypt\$131072\$8\$1\$[A-Za-z0-9+/]{22}==\$[A-Za-z0-9+/]{43}=$/);
    expect(stored).not.toContain('correct horse');
    expect(await verifyPassword('correct horse battery staple', stored)).toBe(true);
    expect(await verifyPassword('correct horse battery stapler', stored)).toBe(false);
    expect(needsRehash(stored)).toBe(false);
  });

  it('still verifies a 2^15 hash, and asks for it to be re-hashed', async () => {
    const stored = legacyHash('an older passphrase');
    expect(await verifyPassword('an older passphrase', stored)).toBe(true);
    expect(await verifyPassword('another passphrase', stored)).toBe(false);
    expect(needsRehash(stored)).toBe(true);
  });

  it('needsRehash: weaker parameters, another key length or an unknown form yes; current or stronger no', () => {
    expect(needsRehash(fake(2 ** 17))).toBe(false);
    expect(needsRehash(fake(2 ** 18))).toBe(false);
    expect(needsRehash(fake(2 ** 17, 16, 2))).toBe(false);
    expect(needsRehash(fake(2 ** 16))).toBe(true);
    expect(needsRehash(fake(2 ** 17, 4))).toBe(true);
    expect(needsRehash(fake(2 ** 18, 8, 0))).toBe(true);
    expect(needsRehash(fake(2 ** 17, 8, 1, 16))).toBe(true);
    for (const odd of ['', 'x', 'scrypt$abc', 'bcrypt$131072$8$1$c2FsdA==$aGFzaA==', `${fake(2 ** 17)}$extra`, fake(Number.NaN)]) {
      expect(needsRehash(odd), odd).toBe(true);
    }
  });

  it('the decoy has the current parameters and matches no password', async () => {
    expect(needsRehash(DECOY_HASH)).toBe(false);
    expect(await verifyPassword('', DECOY_HASH)).toBe(false);
  });
});
