/**
 * Round trips counted on the wire, as test/round-trips.test.ts does: a TCP proxy in front of
 * Postgres counts "flights" (the client writing after it has heard back from the server). Measured
 * on a one-connection pool, sequentially, after a warm-up (connection set up, statements prepared).
 */
import net from 'node:net';

export interface FlightCounter {
  /** `url` rewritten to go through the proxy. */
  via(url: string): string;
  reset(): void;
  readonly flights: number;
  close(): Promise<void>;
}

export async function startFlightCounter(targetUrl: string): Promise<FlightCounter> {
  const target = new URL(targetUrl);
  let flights = 0;
  const sockets = new Set<net.Socket>();
  const proxy = net.createServer((client) => {
    const server = net.connect(Number(target.port || 5432), target.hostname);
    sockets.add(client).add(server);
    let lastFromClient = false;
    client.on('data', (chunk) => {
      if (!lastFromClient) flights++;
      lastFromClient = true;
      server.write(chunk);
    });
    server.on('data', (chunk) => {
      lastFromClient = false;
      client.write(chunk);
    });
    const close = () => {
      client.destroy();
      server.destroy();
      sockets.delete(client);
      sockets.delete(server);
    };
    for (const s of [client, server]) {
      s.on('close', close);
      s.on('error', close);
    }
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  const port = (proxy.address() as net.AddressInfo).port;
  return {
    via(url) {
      const u = new URL(url);
      u.hostname = '127.0.0.1';
      u.port = String(port);
      return u.toString();
    },
    reset() {
      flights = 0;
    },
    get flights() {
      return flights;
    },
    close() {
      for (const s of sockets) s.destroy();
      return new Promise((resolve) => proxy.close(() => resolve()));
    },
  };
}

/** Mean flights per call of `run` over `calls` sequential calls, after `warmup` calls. */
export async function flightsPerCall(counter: FlightCounter, run: () => Promise<unknown>, calls = 50, warmup = 5): Promise<number> {
  for (let i = 0; i < warmup; i++) await run();
  counter.reset();
  for (let i = 0; i < calls; i++) await run();
  return Math.round((counter.flights / calls) * 100) / 100;
}
