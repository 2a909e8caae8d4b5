/**
 * The dashboard in a real browser (Chromium via playwright-core) against a real listening server
 * and Postgres: sign-in both ways, Explore shows only the tenant's numbers, key create / revoke /
 * rotate (checked in the database and over HTTP), tenant B sees none of A's keys or audit
 * entries, errors in plain words, and a platform admin suspending a tenant whose key is then
 * refused, and Connect's Power BI / Excel / Tableau steps with this server's OData URL. Every page
 * is saved as a screenshot under test/artifacts/screenshots/.
 */
import { eq } from 'drizzle-orm';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Sql } from '../../db/client.js';
import { apiKeys, customers, orders, usageDaily, users } from '../../db/schema/index.js';
import { withTenant } from '../../db/tenant-tx.js';
import { createPlatformAdminKey, type ProvisionedTenant } from '../../src/modules/tenants/tenants.service.js';
import { appPool, makeTenant, ownerPool, startServer, type TestServer } from '../harness.js';
import { ensureWebBuild, launchChromium, screenshot, SCREENSHOTS } from './browser.js';

const REGIONS_A = ['north', 'south', 'east', 'west'] as const;

/** Tenant A: 96 orders over four regions and six months; every amount ends in .37 or .61. */
function ordersOfA(customerId: string) {
  return Array.from({ length: 96 }, (_, i) => ({
    customerId,
    region: REGIONS_A[i % 4]!,
    amount: `${40 + ((i * 37) % 180) + Math.floor(i / 16) * 25}.${i % 2 ? '37' : '61'}`,
    orderDate: `2026-0${Math.floor(i / 16) + 1}-${String((i % 27) + 1).padStart(2, '0')}`,
    status: (['paid', 'shipped', 'pending'] as const)[i % 3]!,
  }));
}

/** Tenant B: a region A does not have and amounts A's cannot add up to. */
const ORDERS_B = [
  { region: 'central', amount: '98765.43', orderDate: '2026-02-03' },
  { region: 'north', amount: '55555.55', orderDate: '2026-03-04' },
];

const money = (n: number) => new Intl.NumberFormat('en-US', { style: 'currency', currency: 'USD', maximumFractionDigits: 2 }).format(n);

async function seedOrders(owner: Sql, tenant: ProvisionedTenant, rows: (customerId: string) => (typeof orders.$inferInsert)[]) {
  await withTenant(owner, tenant.id, async (tx) => {
    const [customer] = await tx.insert(customers).values({ name: 'First customer', email: `first@${tenant.slug}.example` }).returning();
    await tx.insert(orders).values(rows(customer!.id));
  });
}

/** A month of usage history, so the Overview has something to draw. */
async function seedUsage(owner: Sql, tenantId: string) {
  const today = Date.parse(new Date().toISOString().slice(0, 10));
  await withTenant(owner, tenantId, (tx) =>
    tx.insert(usageDaily).values(
      Array.from({ length: 30 }, (_, i) => {
        const requests = 300 + Math.round(160 * Math.sin(i / 2.5)) + i * 12 + (i % 7 === 5 ? -120 : 0);
        return {
          day: new Date(today - (29 - i) * 86_400_000).toISOString().slice(0, 10),
          requests,
          datasetQueries: Math.round(requests * 0.6),
          cacheHits: Math.round(requests * 0.6 * (0.45 + (i % 5) * 0.08)),
          errors: i % 4 === 0 ? 8 + (i % 3) * 4 : i % 3,
          rateLimited: i === 9 ? 14 : 0,
          totalDurationMs: requests * (9 + (i % 4) * 3),
          latencyBuckets: (i % 3 === 0 ? [0.5, 0.3, 0.17, 0.03, 0, 0] : i % 3 === 1 ? [0.3, 0.3, 0.2, 0.12, 0.06, 0.02] : [0.4, 0.3, 0.2, 0.07, 0.03, 0]).concat([0, 0, 0, 0, 0, 0]).map((share) => Math.round(requests * share)),
          lastActive: new Date(Math.min(Date.now() - 120_000, today - (29 - i) * 86_400_000 + 15 * 3_600_000)),
        };
      }),
    ),
  );
}

describe('dashboard in Chromium', { timeout: 90_000 }, () => {
  let owner: Sql;
  let pool: Sql;
  let server: TestServer;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let a: ProvisionedTenant;
  let b: ProvisionedTenant;
  let adminKey: string;
  const expectedA = new Map<string, number>();
  const newPasswordA = 'a long passphrase for e2e';
  let revokedSecret = '';
  let revokedKeyId = '';

  const at = (path: string) => `${server.url}${path}`;
  const nav = (label: string) => page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: label, exact: true });
  const whoami = (key: string) => fetch(at('/trpc/auth.whoami'), { headers: { authorization: `Bearer ${key}` } });
  const keyRow = (name: string) => page.getByTestId('keys-table').locator('tr', { hasText: name });

  /** From a clean tab: an earlier failed test must not leave its session behind. */
  async function signInWithKey(key: string, tab: Page = page) {
    await tab.goto(at('/'));
    await tab.evaluate('sessionStorage.clear()'); // runs in the page
    await tab.reload();
    await tab.getByRole('tab', { name: 'API key' }).click();
    await tab.getByLabel('API key').fill(key);
    await tab.getByRole('button', { name: 'Sign in with key' }).click();
  }

  async function signOut() {
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('heading', { name: 'Sign in', level: 1 }).waitFor();
  }

  beforeAll(async () => {
    await ensureWebBuild();
    browser = await launchChromium();
    owner = ownerPool();
    pool = appPool();
    a = await makeTenant(owner, 'Alpha Analytics', { withOwner: true });
    b = await makeTenant(owner, 'Bravo Logistics', { withOwner: true });
    const rowsA = (customerId: string) => {
      const rows = ordersOfA(customerId);
      for (const r of rows) expectedA.set(r.region, (expectedA.get(r.region) ?? 0) + Number(r.amount));
      return rows;
    };
    await seedOrders(owner, a, rowsA);
    await seedOrders(owner, b, (customerId) => ORDERS_B.map((o) => ({ ...o, customerId })));
    await seedUsage(owner, a.id);
    adminKey = await createPlatformAdminKey(owner, 'e2e admin');
    server = await startServer(pool);
    context = await browser.newContext({ viewport: { width: 1280, height: 800 }, baseURL: server.url });
    page = await context.newPage();
    page.setDefaultTimeout(20_000);
  });

  afterAll(async () => {
    await browser?.close();
    await server?.close();
    await Promise.all([owner?.end(), pool?.end()]);
  });

  it('signs tenant A in with email and the temporary password, asks for a new one, then shows the Overview', async () => {
    await page.goto(at('/'));
    await page.getByLabel('Tenant').fill(a.slug);
    await page.getByLabel('Email').fill(a.owner!.email);
    await page.getByLabel('Password', { exact: true }).fill(a.owner!.temporaryPassword);
    await screenshot(page, '01-sign-in');
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();

    await page.getByRole('heading', { name: 'Choose a new password', level: 1 }).waitFor();
    await page.getByLabel('New password', { exact: true }).fill(newPasswordA);
    await page.getByLabel('Repeat new password').fill(newPasswordA);
    await page.getByRole('button', { name: 'Set password and continue' }).click();

    await page.getByRole('heading', { name: 'Overview', level: 1 }).waitFor();
    expect(new URL(page.url()).pathname).toBe('/overview');
    await page.getByText('Requests per day').waitFor();
    await expect(page.locator('.stat', { hasText: 'Requests today' }).locator('.stat-value').textContent()).resolves.toMatch(/\d/);
    await page.locator('svg.chart rect.bar').last().waitFor(); // today's bar: seeded, so not empty
    await screenshot(page, '02-overview');

    const [user] = await withTenant(owner, a.id, (tx) => tx.select().from(users).where(eq(users.id, a.owner!.userId)));
    expect(user!.mustChangePassword).toBe(false);
  });

  it('runs a query in Explore and shows only tenant A’s numbers', async () => {
    await nav('Explore').click();
    await page.getByRole('heading', { name: 'Explore', level: 1 }).waitFor();
    await page.getByRole('button', { name: 'Run query' }).click();
    const table = page.getByTestId('result-table');
    await table.waitFor();
    const text = (await table.textContent()) ?? '';
    for (const [region, revenue] of expectedA) {
      expect(text).toContain(region);
      expect(text).toContain(money(revenue));
    }
    expect(text).not.toContain('central');
    for (const o of ORDERS_B) expect(text).not.toContain(money(Number(o.amount)));
    await expect(table.locator('tbody tr').count()).resolves.toBe(REGIONS_A.length);
    await expect(page.locator('.code', { hasText: 'CSV URL' }).textContent()).resolves.toContain(`${server.url}/v1/query?dataset=orders`);

    // The CSV URL the page offers answers the same numbers over REST.
    const csvUrl = (await page.locator('.code', { hasText: 'CSV URL' }).locator('pre').textContent())!;
    const csv = await (await fetch(csvUrl, { headers: { authorization: `Bearer ${a.apiKey}` } })).text();
    expect(csv.split('\r\n')[0]).toBe('region,revenue,order_count');

    // By region and month: a line per region.
    await page.getByLabel('Order date').check();
    await page.getByLabel('Time grain').selectOption('month');
    await page.getByRole('button', { name: 'Run query' }).click();
    await page.getByRole('heading', { name: 'Revenue by Region and Order date' }).waitFor();
    await expect(page.getByTestId('result-table').locator('tbody tr').count()).resolves.toBe(REGIONS_A.length * 6);
    await screenshot(page, '03-explore');
  });

  it('documents the datasets and shows connection details with this server’s URL', async () => {
    await nav('Datasets').click();
    await page.getByRole('heading', { name: 'orders', exact: true }).waitFor();
    await expect(page.locator('.card', { hasText: 'Dimensions' }).first().textContent()).resolves.toContain('order_date');
    await screenshot(page, '04-datasets');
    await nav('Connect').click();
    await page.getByRole('heading', { name: 'Power BI Desktop' }).waitFor();
    await expect(page.locator('main').textContent()).resolves.toContain(`${server.url}/trpc`);
    await screenshot(page, '05-connect');
  });

  it('creates a key (secret shown once), then revokes it: refused over HTTP and revoked in the database', async () => {
    await nav('API keys').click();
    await page.getByRole('heading', { name: 'API keys', level: 1 }).waitFor();
    await page.getByLabel('Name').fill('e2e reporting');
    await page.getByLabel('Role').selectOption('viewer');
    await page.getByRole('button', { name: 'Create key' }).click();
    const dialog = page.getByRole('dialog');
    await dialog.getByText('shown only once').waitFor();
    revokedSecret = (await dialog.getByTestId('secret').textContent())!;
    expect(revokedSecret).toMatch(new RegExp(`^pk_${a.slug}_`));
    await screenshot(page, '06-key-created');
    expect((await whoami(revokedSecret)).status).toBe(200);
    await dialog.getByRole('button', { name: 'I have stored it' }).click();

    await keyRow('e2e reporting').getByRole('button', { name: 'Revoke e2e reporting' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Revoke key' }).click();
    await keyRow('e2e reporting').getByText('revoked').waitFor();

    const [row] = await withTenant(owner, a.id, (tx) => tx.select().from(apiKeys).where(eq(apiKeys.name, 'e2e reporting')));
    expect(row!.revokedAt).toBeInstanceOf(Date);
    revokedKeyId = row!.id;
    const refused = await whoami(revokedSecret);
    expect(refused.status).toBe(401);
    expect(((await refused.json()) as { error: { data: { reason: string } } }).error.data.reason).toBe('KEY_REVOKED');
  });

  it('rotates a key: a new secret now, the old one expiring after the grace period', async () => {
    await page.getByLabel('Name').fill('e2e deploy');
    await page.getByLabel('Role').selectOption('analyst');
    await page.getByRole('button', { name: 'Create key' }).click();
    const oldSecret = (await page.getByRole('dialog').getByTestId('secret').textContent())!;
    await page.getByRole('dialog').getByRole('button', { name: 'I have stored it' }).click();

    await keyRow('e2e deploy').getByRole('button', { name: 'Rotate e2e deploy' }).click();
    await page.getByRole('dialog').getByLabel('Grace period (days)').fill('3');
    await page.getByRole('dialog').getByRole('button', { name: 'Rotate key' }).click();
    await page.getByRole('dialog', { name: /Rotated key/ }).waitFor();
    const newSecret = (await page.getByRole('dialog').getByTestId('secret').textContent())!;
    expect(newSecret).not.toBe(oldSecret);
    await page.getByRole('dialog').getByRole('button', { name: 'I have stored it' }).click();
    await keyRow('e2e deploy').getByText('expiring').waitFor();
    await screenshot(page, '07-keys');

    const rows = await withTenant(owner, a.id, (tx) => tx.select().from(apiKeys).where(eq(apiKeys.name, 'e2e deploy')));
    expect(rows).toHaveLength(2);
    const old = rows.find((r) => r.expiresAt !== null)!;
    const days = (old.expiresAt!.getTime() - Date.now()) / 86_400_000;
    expect(days).toBeGreaterThan(2.9);
    expect(days).toBeLessThanOrEqual(3);
    expect((await whoami(oldSecret)).status).toBe(200);
    expect((await whoami(newSecret)).status).toBe(200);
  });

  it('creates a user, changes the role and disables them', async () => {
    await nav('Users').click();
    await page.getByRole('heading', { name: 'Users', level: 1 }).waitFor();
    const invite = page.locator('.card', { hasText: 'Invite a user' });
    await invite.getByLabel('Email').fill(`ana@${a.slug}.example`);
    await invite.getByLabel('Name').fill('Ana Analyst');
    await invite.getByLabel('Role').selectOption('viewer');
    await page.getByRole('button', { name: 'Create user' }).click();
    await page.getByRole('dialog').getByTestId('secret').waitFor();
    await page.getByRole('dialog').getByRole('button', { name: 'Done' }).click();

    await page.getByLabel(`Role of ana@${a.slug}.example`).selectOption('analyst');
    const row = page.getByTestId('users-table').locator('tr', { hasText: 'Ana Analyst' });
    await row.getByRole('button', { name: 'Disable' }).click();
    await row.getByRole('button', { name: 'Enable' }).waitFor();
    await screenshot(page, '08-users');

    const [ana] = await withTenant(owner, a.id, (tx) => tx.select().from(users).where(eq(users.email, `ana@${a.slug}.example`)));
    expect(ana!.role).toBe('analyst');
    expect(ana!.disabledAt).toBeInstanceOf(Date);
  });

  it('shows the audit log, filtered by action and paged', async () => {
    await nav('Audit log').click();
    await page.getByRole('heading', { name: 'Audit log', level: 1 }).waitFor();
    await page.getByLabel('Action').fill('api_key.');
    await page.getByRole('button', { name: 'Apply' }).click();
    const table = page.getByTestId('audit-table');
    await table.getByText('api_key.revoke').waitFor();
    await table.getByText('api_key.rotate').waitFor();
    await expect.poll(() => table.getByText('user.create').count()).toBe(0);
    await screenshot(page, '09-audit');
    await signOut();
  });

  it('tenant B, signed in with its key, sees none of tenant A’s keys or audit entries', async () => {
    await signInWithKey(b.apiKey);
    await page.getByRole('heading', { name: 'Overview', level: 1 }).waitFor();
    await nav('API keys').click();
    const keys = page.getByTestId('keys-table');
    await keys.getByText('default').waitFor();
    const keysText = (await keys.textContent()) ?? '';
    // Tenant A's key names, not the bare 'e2e': random hex ids can contain that.
    for (const name of ['e2e reporting', 'e2e deploy']) expect(keysText).not.toContain(name);
    expect(keysText).not.toContain(`pk_${a.slug}`);

    await nav('Audit log').click();
    const audit = page.getByTestId('audit-table');
    await audit.getByText('api_key.create').first().waitFor();
    const auditText = (await audit.textContent()) ?? '';
    expect(auditText).not.toContain('api_key.revoke');
    for (const name of ['e2e reporting', 'e2e deploy']) expect(auditText).not.toContain(name);
    expect(auditText).not.toContain(revokedKeyId.slice(0, 8));
    expect(auditText).not.toContain(a.slug);

    await nav('Explore').click();
    await page.getByRole('button', { name: 'Run query' }).click();
    const result = (await page.getByTestId('result-table').textContent()) ?? '';
    expect(result).toContain(money(98765.43));
    for (const revenue of expectedA.values()) expect(result).not.toContain(money(revenue));
    await signOut();
  });

  it('shows API errors in plain words instead of a blank page', async () => {
    await signInWithKey(revokedSecret);
    await page.getByRole('alert').getByText('This key or session has been revoked').waitFor();
    await signInWithKey('not-a-key');
    await page.getByRole('alert').getByText('That does not look like a Palisade key').waitFor();
    await page.getByRole('tab', { name: 'Email and password' }).click();
    await page.getByLabel('Tenant').fill(a.slug);
    await page.getByLabel('Email').fill(a.owner!.email);
    await page.getByLabel('Password', { exact: true }).fill('wrong password');
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.getByRole('alert').getByText('The tenant, email or password is not correct.').waitFor();
    await screenshot(page, '10-error');
  });

  it('platform admin suspends tenant B; B’s key is then refused, in the browser and over HTTP', async () => {
    const bContext = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const bPage = await bContext.newPage();
    try {
      // B is signed in in another browser before the suspension.
      await signInWithKey(b.apiKey, bPage);
      await bPage.getByRole('heading', { name: 'Overview', level: 1 }).waitFor();

      await signInWithKey(adminKey);
      await page.getByRole('heading', { name: 'Tenants', level: 1 }).waitFor();
      const row = page.locator(`tr[data-tenant="${b.slug}"]`);
      await row.waitFor();
      await screenshot(page, '11-admin-tenants');
      await row.getByRole('button', { name: `Details of ${b.slug}` }).click();
      await page.getByRole('dialog').getByText('orders').waitFor();
      await screenshot(page, '12-admin-tenant-details');
      await page.getByRole('dialog').getByRole('button', { name: 'Close' }).click();

      await row.getByRole('button', { name: `Suspend ${b.slug}` }).click();
      await row.getByText('suspended').waitFor();
      const [tenant] = await owner`select status from tenants where id = ${b.id}`;
      expect(tenant!.status).toBe('suspended');

      const refused = await whoami(b.apiKey);
      expect(refused.status).toBe(403);
      expect(((await refused.json()) as { error: { data: { reason: string } } }).error.data.reason).toBe('TENANT_SUSPENDED');

      await bPage.getByRole('link', { name: 'API keys' }).click();
      await bPage.getByRole('alert').filter({ hasText: 'This tenant is suspended' }).waitFor();
      await bPage.getByRole('button', { name: 'Sign in again' }).waitFor();
      await screenshot(bPage, '13-suspended');

      await nav('Alerts').click();
      await page.getByRole('heading', { name: 'Alerts', level: 1 }).waitFor();
      await screenshot(page, '14-admin-alerts');

      // Tenant A is untouched.
      expect((await whoami(a.apiKey)).status).toBe(200);
      expect((await owner`select status from tenants where id = ${a.id}`)[0]!.status).toBe('active');
    } finally {
      await bContext.close();
    }
  });

  describe('no dead ends: every address shows a page', () => {
    const path = (tab: Page = page) => new URL(tab.url()).pathname;

    it('a reload of / while signed in shows the role’s home, and the address bar says so', async () => {
      await signInWithKey(a.apiKey);
      await page.getByRole('heading', { name: 'Overview', level: 1 }).waitFor();
      await page.goto(at('/'));
      await page.getByRole('heading', { name: 'Overview', level: 1 }).waitFor();
      await page.getByText('Requests per day').waitFor();
      await expect.poll(() => path()).toBe('/overview');
      await page.reload();
      await page.getByRole('heading', { name: 'Overview', level: 1 }).waitFor();

      await signInWithKey(adminKey);
      // Signed in (the session stored) before the reload, or the reload would race the sign-in.
      await page.getByRole('heading', { name: 'Tenants', level: 1 }).waitFor();
      await page.goto(at('/'));
      await page.getByRole('heading', { name: 'Tenants', level: 1 }).waitFor();
      await page.locator(`tr[data-tenant="${a.slug}"]`).waitFor();
      await expect.poll(() => path()).toBe('/admin');
    });

    it('an unknown path or a stale bookmark lands on the home page, not a blank one', async () => {
      await signInWithKey(a.apiKey);
      await page.getByRole('heading', { name: 'Overview', level: 1 }).waitFor();
      for (const stale of ['/tenants', '/no/such/page']) {
        await page.goto(at(stale));
        await page.getByRole('heading', { name: 'Overview', level: 1 }).waitFor();
        await page.getByText('Requests per day').waitFor();
        await expect.poll(() => path()).toBe('/overview');
      }
      // Back from home does not return to the dead address: the redirect replaced it.
      await nav('Datasets').click();
      await page.getByRole('heading', { name: 'orders', exact: true }).waitFor();
      await page.goBack();
      await page.getByRole('heading', { name: 'Overview', level: 1 }).waitFor();
      await screenshot(page, '16-unknown-path-home');
    });

    it('a bookmark to /explore while signed out asks to sign in, then opens Explore', async () => {
      const fresh = await browser.newContext({ viewport: { width: 1280, height: 800 } });
      const tab = await fresh.newPage();
      try {
        await tab.goto(at('/explore'));
        await tab.getByRole('heading', { name: 'Sign in', level: 1 }).waitFor();
        expect(path(tab)).toBe('/explore');
        await tab.getByRole('tab', { name: 'API key' }).click();
        await tab.getByLabel('API key').fill(a.apiKey);
        await tab.getByRole('button', { name: 'Sign in with key' }).click();
        await tab.getByRole('heading', { name: 'Explore', level: 1 }).waitFor();
        await tab.getByRole('button', { name: 'Run query' }).waitFor();
        expect(path(tab)).toBe('/explore');
        await screenshot(tab, '17-bookmark-after-sign-in');
      } finally {
        await fresh.close();
      }
    });

    it('a viewer opening /keys is told the page is not for their role, with a link home', async () => {
      const created = await fetch(at('/trpc/apiKeys.create'), {
        method: 'POST',
        headers: { authorization: `Bearer ${a.apiKey}`, 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'e2e viewer', role: 'viewer' }),
      });
      expect(created.status).toBe(200);
      const { secret } = ((await created.json()) as { result: { data: { secret: string } } }).result.data;

      await signInWithKey(secret);
      await page.getByRole('heading', { name: 'Overview', level: 1 }).waitFor();
      await expect(page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'API keys' }).count()).resolves.toBe(0);
      await page.goto(at('/keys'));
      await page.getByRole('heading', { name: 'API keys is not available', level: 1 }).waitFor();
      await page.getByRole('alert').getByText('Your role (viewer) cannot open API keys.').waitFor();
      expect(path()).toBe('/keys');
      await expect(page.getByTestId('keys-table').count()).resolves.toBe(0);
      await screenshot(page, '18-viewer-not-allowed');
      await page.getByRole('link', { name: 'Go to Overview' }).click();
      await page.getByRole('heading', { name: 'Overview', level: 1 }).waitFor();
      expect(path()).toBe('/overview');
    });
  });

  it('Connect gives Power BI, Excel and Tableau the OData feed with this server’s URL, and links the OpenAPI document', async () => {
    await signInWithKey(a.apiKey);
    await page.getByRole('heading', { name: 'Overview', level: 1 }).waitFor();
    await nav('Connect').click();
    await page.getByRole('heading', { name: 'BI tools: the OData feed' }).waitFor();
    const feed = `${server.url}/odata/`;
    const card = (title: string) => page.locator('section.card', { has: page.getByRole('heading', { name: title, level: 2, exact: true }) });

    // One table per dataset, listed from the catalog once it has loaded.
    const bi = page.getByTestId('bi-tools');
    await bi.getByText(`${feed}customers`, { exact: true }).waitFor();
    await expect(bi.textContent()).resolves.toContain(`${feed}orders`);

    const powerBi = (await card('Power BI Desktop').textContent()) ?? '';
    for (const text of ['Get data → OData feed', feed, `${feed}orders`, 'Basic', a.slug, 'Data source credentials', 'RangeStart', 'api_key']) expect(powerBi).toContain(text);
    const excel = (await card('Excel').textContent()) ?? '';
    for (const text of ['From Other Sources → From OData Feed', feed, 'Basic', a.slug]) expect(excel).toContain(text);
    const tableau = (await card('Tableau').textContent()) ?? '';
    for (const text of ['To a Server → OData', `${feed}orders`, 'Username and Password', a.slug]) expect(tableau).toContain(text);
    // No placeholder left where the origin belongs.
    for (const text of [powerBi, excel, tableau]) expect(text).not.toContain('<origin>');

    const openApi = page.getByRole('link', { name: `${server.url}/v1/openapi.json` });
    await expect(openApi.getAttribute('href')).resolves.toBe(`${server.url}/v1/openapi.json`);
    await expect(card('TypeScript (@palisade/client)').textContent()).resolves.toContain(`createPalisadeClient({ url: '${server.url}', token: process.env.PALISADE_KEY! })`);

    await screenshot(page, '19-connect-bi');
    await bi.screenshot({ path: `${SCREENSHOTS}/19-connect-bi-tools.png` });
  });

  it('works at phone width: the menu opens from a button and the page fits', async () => {
    const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true });
    const p = await phone.newPage();
    try {
      await signInWithKey(a.apiKey, p);
      await p.getByRole('heading', { name: 'Overview', level: 1 }).waitFor();
      expect(Number(await p.evaluate('document.documentElement.scrollWidth'))).toBeLessThanOrEqual(390);
      await p.getByRole('button', { name: 'Menu' }).click();
      await p.getByRole('link', { name: 'Explore' }).click();
      await p.getByRole('heading', { name: 'Explore', level: 1 }).waitFor();
      await screenshot(p, '15-phone-explore');
    } finally {
      await phone.close();
    }
  });
});
