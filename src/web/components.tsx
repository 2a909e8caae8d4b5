/** Shared pieces: error panel, copy button, code block, dialog, badges, charts (inline SVG). */
import type { ComponentChildren } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import type { PlainError } from './api.js';
import { formatCompact } from './format.js';
import { grantableRoles, session, TENANT_ROLES } from './session.js';
import { navigate } from './router.js';

export function ErrorPanel({ error }: { error: PlainError | undefined }) {
  if (!error) return null;
  // The server's message often starts with the same words: then it is the title.
  const repeats = error.detail.toLowerCase().startsWith(error.title.toLowerCase());
  return (
    <div class="error" role="alert">
      {repeats ? <strong>{error.detail}</strong> : <><strong>{error.title}.</strong> <span>{error.detail}</span></>}
      {error.requestId && <small class="muted"> Request id: {error.requestId}</small>}
      {error.signInAgain && (
        <div>
          <button
            type="button"
            class="button small"
            onClick={() => {
              session.set(null);
              navigate('/');
            }}
          >
            Sign in again
          </button>
        </div>
      )}
    </div>
  );
}

export function Loading({ what = 'Loading' }: { what?: string }) {
  return (
    <p class="muted" aria-live="polite">
      {what}…
    </p>
  );
}

export function PageHeader({ title, children }: { title: string; children?: ComponentChildren }) {
  return (
    <header class="page-header">
      <h1>{title}</h1>
      {children && <p class="muted">{children}</p>}
    </header>
  );
}

export function Card({ title, children, actions }: { title?: string; children: ComponentChildren; actions?: ComponentChildren }) {
  return (
    <section class="card">
      {(title || actions) && (
        <div class="card-head">
          {title && <h2>{title}</h2>}
          {actions}
        </div>
      )}
      {children}
    </section>
  );
}

export function CopyButton({ text, label = 'Copy' }: { text: string; label?: string }) {
  const [copied, setCopied] = useState(false);
  return (
    <button
      type="button"
      class="button small ghost"
      onClick={() => {
        void navigator.clipboard?.writeText(text).catch(() => undefined);
        setCopied(true);
        setTimeout(() => setCopied(false), 1500);
      }}
    >
      {copied ? 'Copied' : label}
    </button>
  );
}

export function Code({ text, label }: { text: string; label: string }) {
  return (
    <div class="code">
      <div class="code-head">
        <span>{label}</span>
        <CopyButton text={text} label={`Copy ${label}`} />
      </div>
      <pre>
        <code>{text}</code>
      </pre>
    </div>
  );
}

/** A modal <dialog>: Escape closes it, focus stays inside while open. */
export function Dialog({ title, open, onClose, children }: { title: string; open: boolean; onClose: () => void; children: ComponentChildren }) {
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const dialog = ref.current;
    if (!dialog) return;
    if (open && !dialog.open) dialog.showModal();
    if (!open && dialog.open) dialog.close();
  }, [open]);
  return (
    <dialog ref={ref} onClose={onClose} aria-labelledby="dialog-title">
      <h2 id="dialog-title">{title}</h2>
      {open && children}
    </dialog>
  );
}

/** Shows a secret once: copy button and a warning that it cannot be shown again. */
export function SecretReveal({ label, secret }: { label: string; secret: string }) {
  return (
    <div class="secret">
      <p class="warning" role="note">
        <strong>Copy it now.</strong> This {label} is shown only once; Palisade keeps only a hash and cannot show it again.
      </p>
      <div class="secret-row">
        <code data-testid="secret">{secret}</code>
        <CopyButton text={secret} />
      </div>
    </div>
  );
}

const STATUS_TONES: Record<string, string> = {
  active: 'green',
  expiring: 'amber',
  expired: 'grey',
  revoked: 'red',
  suspended: 'red',
  disabled: 'grey',
};

export function Badge({ value }: { value: string }) {
  return <span class={`badge ${STATUS_TONES[value] ?? 'blue'}`}>{value}</span>;
}

export function Stat({ label, value, hint }: { label: string; value: string; hint?: string }) {
  return (
    <div class="stat">
      <span class="stat-label">{label}</span>
      <span class="stat-value">{value}</span>
      {hint && <span class="stat-hint">{hint}</span>}
    </div>
  );
}

export interface Point {
  label: string;
  value: number | null;
}

const W = 640;
const H = 220;
const PAD = { top: 12, right: 12, bottom: 28, left: 44 };

function niceMax(max: number): number {
  if (max <= 0) return 1;
  const step = 10 ** Math.floor(Math.log10(max));
  return Math.ceil(max / step) * step;
}

function Axes({ max, labels, format }: { max: number; labels: string[]; format: (n: number) => string }) {
  const inner = H - PAD.top - PAD.bottom;
  const every = Math.max(1, Math.ceil(labels.length / 8));
  const width = (W - PAD.left - PAD.right) / Math.max(labels.length, 1);
  return (
    <g class="axes">
      {[0, 0.25, 0.5, 0.75, 1].map((f) => {
        const y = PAD.top + inner * (1 - f);
        return (
          <g key={f}>
            <line x1={PAD.left} x2={W - PAD.right} y1={y} y2={y} class="grid" />
            <text x={PAD.left - 6} y={y + 4} text-anchor="end">
              {format(max * f)}
            </text>
          </g>
        );
      })}
      {labels.map((label, i) =>
        i % every === 0 ? (
          <text key={label + i} x={PAD.left + width * (i + 0.5)} y={H - 8} text-anchor="middle">
            {label}
          </text>
        ) : null,
      )}
    </g>
  );
}

/** Vertical bars; each has a <title> for hover and screen readers. */
export function BarChart({ points, label, format = formatCompact, tone = 'blue' }: { points: Point[]; label: string; format?: (n: number) => string; tone?: string }) {
  const max = niceMax(Math.max(0, ...points.map((p) => p.value ?? 0)));
  const inner = H - PAD.top - PAD.bottom;
  const width = (W - PAD.left - PAD.right) / Math.max(points.length, 1);
  return (
    <svg class={`chart ${tone}`} viewBox={`0 0 ${W} ${H}`} role="img" aria-label={label}>
      <Axes max={max} labels={points.map((p) => p.label)} format={format} />
      {points.map((p, i) => {
        const h = ((p.value ?? 0) / max) * inner;
        return (
          <rect key={i} class="bar" x={PAD.left + width * i + width * 0.15} width={width * 0.7} y={PAD.top + inner - h} height={Math.max(h, 0)} rx={2}>
            <title>{`${p.label}: ${p.value === null ? '–' : format(p.value)}`}</title>
          </rect>
        );
      })}
    </svg>
  );
}

export interface Series {
  name: string;
  tone: string;
  points: Point[];
}

/** One or more lines over the same labels, with a legend; null values break the line. */
export function LineChart({ series, label, format = formatCompact }: { series: Series[]; label: string; format?: (n: number) => string }) {
  const labels = series[0]?.points.map((p) => p.label) ?? [];
  const max = niceMax(Math.max(0, ...series.flatMap((s) => s.points.map((p) => p.value ?? 0))));
  const inner = H - PAD.top - PAD.bottom;
  const width = (W - PAD.left - PAD.right) / Math.max(labels.length, 1);
  const x = (i: number) => PAD.left + width * (i + 0.5);
  const y = (v: number) => PAD.top + inner * (1 - v / max);
  return (
    <figure class="chart-figure">
      <svg class="chart" viewBox={`0 0 ${W} ${H}`} role="img" aria-label={label}>
        <Axes max={max} labels={labels} format={format} />
        {series.map((s) => {
          const segments: string[] = [];
          let current = '';
          s.points.forEach((p, i) => {
            if (p.value === null) {
              if (current) segments.push(current);
              current = '';
            } else current += `${current ? 'L' : 'M'}${x(i).toFixed(1)},${y(p.value).toFixed(1)}`;
          });
          if (current) segments.push(current);
          return (
            <g key={s.name} class={`line ${s.tone}`}>
              {segments.map((d) => (
                <path key={d} d={d} />
              ))}
              {s.points.map((p, i) =>
                p.value === null ? null : (
                  <circle key={i} cx={x(i)} cy={y(p.value)} r={3}>
                    <title>{`${s.name}, ${p.label}: ${format(p.value)}`}</title>
                  </circle>
                ),
              )}
            </g>
          );
        })}
      </svg>
      {series.length > 1 && (
        <figcaption class="legend">
          {series.map((s) => (
            <span key={s.name} class={`swatch ${s.tone}`}>
              {s.name}
            </span>
          ))}
        </figcaption>
      )}
    </figure>
  );
}

/** A ring showing a 0–1 share (cache hit rate). */
export function Ring({ value, label }: { value: number | null; label: string }) {
  const r = 42;
  const c = 2 * Math.PI * r;
  const share = value ?? 0;
  return (
    <svg class="ring" viewBox="0 0 100 100" role="img" aria-label={`${label}: ${value === null ? 'no data' : `${Math.round(share * 100)}%`}`}>
      <circle cx="50" cy="50" r={r} class="ring-track" />
      <circle cx="50" cy="50" r={r} class="ring-value" stroke-dasharray={`${c * share} ${c}`} transform="rotate(-90 50 50)" />
      <text x="50" y="56" text-anchor="middle">
        {value === null ? '–' : `${Math.round(share * 100)}%`}
      </text>
    </svg>
  );
}

/** A table header; `num` columns align right, an empty label is the (screen-reader) actions column. */
export function TableHead({ columns }: { columns: (string | { label: string; num: true })[] }) {
  return (
    <thead>
      <tr>
        {columns.map((c, i) =>
          typeof c === 'string' ? <th key={i}>{c || <span class="sr-only">Actions</span>}</th> : <th key={i} class="num">{c.label}</th>,
        )}
      </tr>
    </thead>
  );
}

/** A form whose fields go to `onSubmit` as FormData; cleared once `onSubmit` reports success. */
export function ActionForm({ onSubmit, label, children }: { onSubmit: (form: FormData) => Promise<boolean>; label?: string; children: ComponentChildren }) {
  return (
    <form
      class="inline-form"
      aria-label={label}
      onSubmit={(e) => {
        e.preventDefault();
        const form = e.currentTarget as HTMLFormElement;
        void onSubmit(new FormData(form)).then((ok) => ok && form.reset());
      }}
    >
      {children}
    </form>
  );
}

/** A role picker offering every role, the ones above the caller's disabled. */
export function RoleSelect({ name, label, value, onChange, disabled }: { name?: string; label?: string; value?: string; onChange?: (role: string) => void; disabled?: boolean }) {
  const grantable = grantableRoles() as string[];
  return (
    <select
      name={name}
      aria-label={label}
      value={value}
      defaultValue={value === undefined ? 'viewer' : undefined}
      disabled={disabled}
      onChange={onChange && ((e) => onChange((e.currentTarget as HTMLSelectElement).value))}
    >
      {TENANT_ROLES.map((r) => (
        <option key={r} value={r} disabled={!grantable.includes(r)}>
          {r}
        </option>
      ))}
    </select>
  );
}

/** Cancel and confirm buttons at the foot of a dialog. */
export function ConfirmActions({ onCancel, onConfirm, label, tone = 'primary', disabled }: { onCancel: () => void; onConfirm: () => void; label: string; tone?: 'primary' | 'danger'; disabled?: boolean }) {
  return (
    <div class="dialog-actions">
      <button type="button" class="button ghost" onClick={onCancel}>
        Cancel
      </button>
      <button type="button" class={`button ${tone}`} disabled={disabled} onClick={onConfirm}>
        {label}
      </button>
    </div>
  );
}

/** The single button closing a dialog that only informs. */
export function CloseAction({ onClose, label }: { onClose: () => void; label: string }) {
  return (
    <div class="dialog-actions">
      <button type="button" class="button primary" onClick={onClose}>
        {label}
      </button>
    </div>
  );
}

export function SearchBox({ label, placeholder, value, onInput }: { label: string; placeholder: string; value: string; onInput: (value: string) => void }) {
  return (
    <label class="search">
      <span class="sr-only">{label}</span>
      <input type="search" placeholder={placeholder} value={value} onInput={(e) => onInput((e.currentTarget as HTMLInputElement).value)} />
    </label>
  );
}

export function SubmitButton({ pending, label, pendingLabel }: { pending: boolean; label: string; pendingLabel: string }) {
  return (
    <button class="button primary" disabled={pending}>
      {pending ? pendingLabel : label}
    </button>
  );
}
