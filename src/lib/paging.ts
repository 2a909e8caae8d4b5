import { z } from 'zod';

export const pageInput = {
  limit: z.number().int().min(1).max(500).default(50),
  offset: z.number().int().min(0).max(1_000_000).default(0),
};

/** Rows were fetched with limit + 1: the extra row only says whether there is a next page. */
export function page<T>(rows: T[], limit: number, offset: number): { items: T[]; nextOffset: number | null } {
  return { items: rows.slice(0, limit), nextOffset: rows.length > limit ? offset + limit : null };
}
