/** A tiny history router: paths like `/keys`, links that navigate without reloading. */
import { useEffect, useState } from 'preact/hooks';

const listeners = new Set<() => void>();

/** Goes to `path`; `replace` rewrites the current history entry (a redirect, not a visit). */
export function navigate(path: string, { replace = false } = {}): void {
  if (path !== location.pathname + location.search) {
    if (replace) history.replaceState(null, '', path);
    else history.pushState(null, '', path);
  }
  for (const listener of listeners) listener();
}

addEventListener('popstate', () => {
  for (const listener of listeners) listener();
});

export function useRoute(): string {
  const [path, setPath] = useState(location.pathname);
  useEffect(() => {
    const update = () => setPath(location.pathname);
    listeners.add(update);
    // A navigate() between the first render and this effect had no listener to tell.
    update();
    return () => listeners.delete(update);
  }, []);
  return path;
}

/** onClick for an <a href>: navigate in place unless the user asked for a new tab. */
export function linkClick(event: MouseEvent): void {
  const anchor = event.currentTarget as HTMLAnchorElement;
  if (event.metaKey || event.ctrlKey || event.shiftKey || event.button !== 0) return;
  event.preventDefault();
  navigate(anchor.getAttribute('href') ?? '/');
}
