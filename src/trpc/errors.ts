import { TRPCError, type TRPC_ERROR_CODE_KEY } from '@trpc/server';
import type { AppError, Reason } from '../lib/errors.js';

/** The AppError as tRPC's error of the same code (and so the same HTTP status); the AppError is its cause. */
export function toTRPCError(error: AppError): TRPCError {
  return new TRPCError({ code: error.code, message: error.message, cause: error });
}

/**
 * The reason of an error tRPC raised itself (no AppError behind it): the codes its HTTP adapter
 * uses, each to a reason of the same code. NOT_FOUND is only ever "no procedure on this path", as
 * REST's unknown route; any other failure is INTERNAL, as on REST.
 */
export const TRPC_REASONS: { readonly [C in TRPC_ERROR_CODE_KEY]?: Reason } = {
  PARSE_ERROR: 'PARSE_ERROR',
  BAD_REQUEST: 'BAD_REQUEST',
  NOT_FOUND: 'ROUTE_NOT_FOUND',
  METHOD_NOT_SUPPORTED: 'METHOD_NOT_SUPPORTED',
  UNSUPPORTED_MEDIA_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  INTERNAL_SERVER_ERROR: 'INTERNAL',
};

/** What the error formatter sends as `reason` for a tRPC error that carries no AppError. */
export function reasonOfTRPCCode(code: TRPC_ERROR_CODE_KEY): Reason {
  return TRPC_REASONS[code] ?? 'INTERNAL';
}
