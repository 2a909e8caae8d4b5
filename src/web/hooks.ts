import { useCallback, useEffect, useState } from 'preact/hooks';
import { describeError, type PlainError } from './api.js';

export interface Loaded<T> {
  data: T | undefined;
  error: PlainError | undefined;
  loading: boolean;
  reload: () => void;
}

/** Runs `load` now and whenever `deps` change; errors come back described in plain words. */
export function useLoad<T>(load: () => Promise<T>, deps: unknown[] = []): Loaded<T> {
  const [state, setState] = useState<{ data?: T; error?: PlainError; loading: boolean }>({ loading: true });
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let live = true;
    setState((s) => ({ ...s, loading: true }));
    load().then(
      (data) => live && setState({ data, loading: false }),
      (error: unknown) => live && setState({ error: describeError(error), loading: false }),
    );
    return () => {
      live = false;
    };
  }, [...deps, tick]);
  const reload = useCallback(() => setTick((t) => t + 1), []);
  return { data: state.data, error: state.error, loading: state.loading, reload };
}

/** An action (a mutation) with its pending state and plain-words error. */
export function useAction<A extends unknown[], R>(run: (...args: A) => Promise<R>) {
  const [pending, setPending] = useState(false);
  const [error, setError] = useState<PlainError>();
  /** True when `run` succeeded. */
  const call = async (...args: A): Promise<boolean> => {
    setPending(true);
    setError(undefined);
    try {
      await run(...args);
      return true;
    } catch (e) {
      setError(describeError(e));
      return false;
    } finally {
      setPending(false);
    }
  };
  return { call, pending, error, clearError: () => setError(undefined) };
}
