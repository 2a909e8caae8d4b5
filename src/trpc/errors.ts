import { TRPCError } from '@trpc/server';
import type { AppError } from '../lib/errors.js';

/** The AppError as tRPC's error of the same code (and so the same HTTP status); the AppError is its cause. */
export function toTRPCError(error: AppError): TRPCError {
  return new TRPCError({ code: error.code, message: error.message, cause: error });
}
