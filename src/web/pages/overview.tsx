/** The tenant's usage: today's figures and 30 days of history (usage.get). */
import { api } from '../api.js';
import { BarChart, Card, ErrorPanel, LineChart, Loading, PageHeader, Ring, Stat } from '../components.js';
import { formatCompact, formatDate, formatMs, formatRate, timeAgo } from '../format.js';
import { useLoad } from '../hooks.js';

const shortDay = (day: string) => new Date(`${day}T00:00:00Z`).toLocaleDateString('en-GB', { day: 'numeric', month: 'short', timeZone: 'UTC' });

export function Overview() {
  const usage = useLoad(() => api.usage.get.query({ days: 30 }));
  const u = usage.data;
  return (
    <>
      <PageHeader title="Overview">Your tenant's API usage. Figures are per UTC day and lag live traffic by a few seconds.</PageHeader>
      <ErrorPanel error={usage.error} />
      {!u && !usage.error && <Loading />}
      {u && (
        <>
          <div class="stats">
            <Stat label="Requests today" value={formatCompact(u.queries_today)} hint={`${formatCompact(u.daily.reduce((s, d) => s + d.requests, 0))} in 30 days`} />
            <Stat label="Average latency" value={formatMs(u.avg_response_time_ms)} hint="today" />
            <Stat label="p95 latency" value={formatMs(u.p95_response_time_ms)} hint="today, bucket upper bound" />
            <Stat label="Errors today" value={formatCompact(u.errors_today)} hint="4xx and 5xx, without 429 and TENANT_BUSY" />
            <Stat label="Rate-limited today" value={formatCompact(u.rate_limited_today)} hint={`429 answers${u.tenant_busy_today > 0 ? `; ${formatCompact(u.tenant_busy_today)} more refused as too many at once (503 TENANT_BUSY)` : ''}`} />
            <Stat label="Last active" value={timeAgo(u.last_active)} hint={formatDate(u.last_active)} />
          </div>
          <div class="grid-2">
            <Card title="Requests per day">
              <BarChart label="Requests per day, last 30 days" points={u.daily.map((d) => ({ label: shortDay(d.day), value: d.requests }))} />
            </Card>
            <Card title="Cache hit rate today">
              <div class="ring-wrap">
                <Ring value={u.cache_hit_rate} label="Cache hit rate today" />
                <p class="muted">
                  Share of today's dataset queries answered from the cache ({formatRate(u.cache_hit_rate)}). Repeated queries within the
                  cache lifetime cost no database work.
                </p>
              </div>
            </Card>
          </div>
          <div class="grid-2 even">
            <Card title="Latency per day">
              <LineChart
                label="Average and p95 latency per day in milliseconds"
                format={(n) => `${formatCompact(n)} ms`}
                series={[
                  { name: 'p95', tone: 'violet', points: u.daily.map((d) => ({ label: shortDay(d.day), value: d.p95_response_time_ms })) },
                  { name: 'average', tone: 'blue', points: u.daily.map((d) => ({ label: shortDay(d.day), value: d.avg_response_time_ms })) },
                ]}
              />
            </Card>
            <Card title="Errors and rate-limit hits per day">
              <LineChart
                label="Errors and rate-limited requests per day"
                series={[
                  { name: 'errors', tone: 'red', points: u.daily.map((d) => ({ label: shortDay(d.day), value: d.errors })) },
                  { name: 'rate-limited', tone: 'amber', points: u.daily.map((d) => ({ label: shortDay(d.day), value: d.rate_limited })) },
                ]}
              />
            </Card>
          </div>
        </>
      )}
    </>
  );
}
