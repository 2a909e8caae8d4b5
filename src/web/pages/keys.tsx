/** API keys (admins and owners): list, create (secret shown once), rotate with a grace period, revoke. */
import { useState } from 'preact/hooks';
import { api, type Outputs } from '../api.js';
import { ActionForm, Badge, Card, CloseAction, ConfirmActions, Dialog, ErrorPanel, Loading, PageHeader, RoleSelect, SecretReveal, SubmitButton, TableHead } from '../components.js';
import { formatDate, timeAgo } from '../format.js';
import { useAction, useLoad } from '../hooks.js';
import type { TenantRole } from '../session.js';

type Key = Outputs['apiKeys']['list']['items'][number];

export function Keys() {
  const [showRevoked, setShowRevoked] = useState(true);
  const keys = useLoad(() => api.apiKeys.list.query({ includeRevoked: showRevoked, limit: 200 }), [showRevoked]);
  const [secret, setSecret] = useState<{ title: string; secret: string }>();
  const [confirmRevoke, setConfirmRevoke] = useState<Key>();
  const [rotating, setRotating] = useState<Key>();
  const [grace, setGrace] = useState(7);

  const create = useAction(async (form: FormData) => {
    const expires = String(form.get('expiresAt') ?? '');
    const rateLimit = String(form.get('rateLimit') ?? '').trim();
    const created = await api.apiKeys.create.mutate({
      name: String(form.get('name')),
      role: String(form.get('role')) as TenantRole,
      ...(expires ? { expiresAt: new Date(`${expires}T23:59:59Z`).toISOString() } : {}),
      ...(rateLimit ? { rateLimit } : {}),
    });
    setSecret({ title: `New key “${created.key.name}”`, secret: created.secret });
    keys.reload();
  });
  const revoke = useAction(async (key: Key) => {
    await api.apiKeys.revoke.mutate({ keyId: key.id });
    setConfirmRevoke(undefined);
    keys.reload();
  });
  const rotate = useAction(async (key: Key, gracePeriodDays: number) => {
    const rotated = await api.apiKeys.rotate.mutate({ keyId: key.id, gracePeriodDays });
    setRotating(undefined);
    setSecret({ title: `Rotated key “${rotated.key.name}”`, secret: rotated.secret });
    keys.reload();
  });

  return (
    <>
      <PageHeader title="API keys">Keys let programs call the API as this tenant. Give each integration its own key with the least role it needs.</PageHeader>
      <Card title="Create a key">
        <ActionForm onSubmit={create.call}>
          <label>
            Name
            <input name="name" required maxLength={100} placeholder="reporting" />
          </label>
          <label>
            Role
            <RoleSelect name="role" />
          </label>
          <label>
            Expires (optional)
            <input name="expiresAt" type="date" />
          </label>
          <label>
            Rate limit (optional)
            <input name="rateLimit" placeholder="100/minute" pattern="\d+/(second|minute|hour)" />
          </label>
          <SubmitButton pending={create.pending} label="Create key" pendingLabel="Creating…" />
        </ActionForm>
        <ErrorPanel error={create.error} />
      </Card>
      <Card
        title="Keys"
        actions={
          <label class="check">
            <input type="checkbox" checked={showRevoked} onChange={() => setShowRevoked(!showRevoked)} /> Show revoked
          </label>
        }
      >
        <ErrorPanel error={keys.error ?? revoke.error} />
        {!keys.data && !keys.error && <Loading />}
        {keys.data && (
          <div class="table-wrap">
            <table data-testid="keys-table">
              <TableHead columns={['Name', 'Key', 'Role', 'Status', 'Created', 'Last used', 'Expires', '']} />
              <tbody>
                {keys.data.items.map((k) => (
                  <tr key={k.id} data-key-id={k.id}>
                    <td>{k.name}</td>
                    <td>
                      <code>{k.start}…</code>
                    </td>
                    <td>{k.role}</td>
                    <td>
                      <Badge value={k.status} />
                    </td>
                    <td>{formatDate(k.createdAt)}</td>
                    <td>{timeAgo(k.lastUsedAt)}</td>
                    <td>{k.expiresAt ? formatDate(k.expiresAt) : 'never'}</td>
                    <td class="actions">
                      {(k.status === 'active' || k.status === 'expiring') && (
                        <>
                          <button type="button" class="button small ghost" onClick={() => (rotate.clearError(), setRotating(k))} aria-label={`Rotate ${k.name}`}>
                            Rotate
                          </button>
                          <button type="button" class="button small danger" onClick={() => (revoke.clearError(), setConfirmRevoke(k))} aria-label={`Revoke ${k.name}`}>
                            Revoke
                          </button>
                        </>
                      )}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
            {keys.data.items.length === 0 && <p class="muted">No keys yet.</p>}
          </div>
        )}
      </Card>

      <Dialog title={secret?.title ?? ''} open={!!secret} onClose={() => setSecret(undefined)}>
        {secret && <SecretReveal label="key" secret={secret.secret} />}
        <CloseAction onClose={() => setSecret(undefined)} label="I have stored it" />
      </Dialog>

      <Dialog title={`Revoke “${confirmRevoke?.name ?? ''}”?`} open={!!confirmRevoke} onClose={() => setConfirmRevoke(undefined)}>
        <p>Requests with this key are refused from the next request on. This cannot be undone.</p>
        <ErrorPanel error={revoke.error} />
        <ConfirmActions onCancel={() => setConfirmRevoke(undefined)} onConfirm={() => confirmRevoke && void revoke.call(confirmRevoke)} label="Revoke key" tone="danger" disabled={revoke.pending} />
      </Dialog>

      <Dialog title={`Rotate “${rotating?.name ?? ''}”`} open={!!rotating} onClose={() => setRotating(undefined)}>
        <p>A new secret is created now. The old one keeps working for the grace period, so you can deploy the new one first.</p>
        <label>
          Grace period (days)
          <input type="number" min={0} max={90} value={grace} onInput={(e) => setGrace(Number((e.currentTarget as HTMLInputElement).value))} />
        </label>
        <ErrorPanel error={rotate.error} />
        <ConfirmActions onCancel={() => setRotating(undefined)} onConfirm={() => rotating && void rotate.call(rotating, grace)} label="Rotate key" disabled={rotate.pending} />
      </Dialog>
    </>
  );
}
