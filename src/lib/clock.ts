/**
 * The server's notion of "now" for expiry decisions (keys, rotation grace, sessions). Injected so
 * tests can move time forward against a real database instead of rewriting rows.
 */
export type Clock = () => Date;

export const systemClock: Clock = () => new Date();

export const DAY_MS = 86_400_000;
