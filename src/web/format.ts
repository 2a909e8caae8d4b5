/** Number and date formatting shared by the pages. */
const integer = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
const decimal = new Intl.NumberFormat('en-US', { maximumFractionDigits: 2 });
const currency = new Intl.NumberFormat('en-US', { style: 'currency', currency: 'USD', maximumFractionDigits: 2 });
const compact = new Intl.NumberFormat('en-US', { notation: 'compact', maximumFractionDigits: 1 });

export type Format = 'number' | 'integer' | 'currency' | 'percent';

export function formatValue(value: unknown, format: Format = 'number'): string {
  if (value === null || value === undefined) return '–';
  if (typeof value !== 'number') return String(value);
  if (format === 'integer') return integer.format(value);
  if (format === 'currency') return currency.format(value);
  if (format === 'percent') return `${decimal.format(value * 100)}%`;
  return decimal.format(value);
}

export const formatCompact = (value: number) => compact.format(value);
export const formatMs = (value: number | null) => (value === null ? '–' : `${decimal.format(value)} ms`);
export const formatRate = (value: number | null) => (value === null ? '–' : `${decimal.format(value * 100)}%`);

export function formatDate(iso: string | null): string {
  if (!iso) return '–';
  return new Date(iso).toLocaleString('en-GB', { dateStyle: 'medium', timeStyle: 'short', timeZone: 'UTC' }) + ' UTC';
}

export function timeAgo(iso: string | null): string {
  if (!iso) return 'never';
  const seconds = Math.round((Date.now() - Date.parse(iso)) / 1000);
  if (seconds < 60) return 'just now';
  if (seconds < 3600) return `${Math.round(seconds / 60)} min ago`;
  if (seconds < 86_400) return `${Math.round(seconds / 3600)} h ago`;
  return `${Math.round(seconds / 86_400)} days ago`;
}
