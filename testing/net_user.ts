// Test and benchmark helper for `--net=user` (passt): a namespace made ready
// for passt, and the host side of the traffic — run inside that namespace as
// this file's `import.meta.main` block — an HTTP server of deterministic bytes
// on the namespace's loopback (what the guest reaches through the gateway
// address), an HTTP client for a port forwarded into the guest, and a
// one-byte round-trip timer for an echo server behind a forwarded port.
// Used by tests/e2e/net_user_test.ts and scripts/bench/net.ts.

import { fileURLToPath } from "node:url";
import type { Netns } from "./netns.ts";
import { streamBytes } from "./net_vm.ts";
import { sha256Hex } from "./sha256.ts";

const SELF = fileURLToPath(import.meta.url);

/**
 * passt takes its template (addresses, routes) from the interface with the
 * default route and refuses to start without one. A fresh namespace has only
 * loopback, so give it a veth pair whose two ends stay inside it and a default
 * route over it: nothing can leave the namespace, and passt maps the gateway
 * address to the namespace's loopback as usual.
 */
export async function preparePasstNetns(ns: Netns): Promise<void> {
  await ns.sh(
    "ip link add avm-pt0 type veth peer name avm-pt1 && " +
      "ip addr add 10.213.40.1/24 dev avm-pt0 && ip link set avm-pt0 up && " +
      "ip link set avm-pt1 up && ip route add default via 10.213.40.254 dev avm-pt0",
  );
}

/** Why passt cannot be used here, or null. */
export async function passtUnavailable(): Promise<string | null> {
  try {
    const r = await new Deno.Command("passt", { args: ["--help"], stdout: "null", stderr: "null" })
      .output();
    return r.code === 0 || r.code === 1 ? null : `passt --help failed (${r.code})`;
  } catch {
    return "passt is not installed (apt-get install passt)";
  }
}

/**
 * Serve `bytes` deterministic bytes (streamBytes(bytes, seed)) at
 * http://<host>:<port>/blob inside `ns`, for every request until stopped.
 * Resolves once it listens.
 */
export async function startBlobServer(
  ns: Netns,
  host: string,
  port: number,
  bytes: number,
  seed = 1,
): Promise<{ sha256: string; stop: () => void }> {
  const child = ns.spawn([
    Deno.execPath(),
    "run",
    "-A",
    SELF,
    "serve",
    host,
    String(port),
    String(bytes),
    String(seed),
  ]);
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let got = "";
  while (!got.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`blob server ended: ${await new Response(child.stderr).text()}`);
    got += value;
  }
  if (!got.startsWith("listening")) throw new Error(`blob server: ${got}`);
  reader.releaseLock();
  void child.stdout.cancel().catch(() => {});
  void child.stderr.cancel().catch(() => {});
  return {
    sha256: await sha256Hex(streamBytes(bytes, seed)),
    stop: () => {
      try {
        child.kill("SIGKILL");
      } catch { /* gone */ }
    },
  };
}

/** GET `url` from inside `ns`: the body's length and SHA-256, or the error. */
export async function fetchInNetns(
  ns: Netns,
  url: string,
): Promise<{ bytes: number; sha256: string; ms: number }> {
  const r = await ns.exec([Deno.execPath(), "run", "-A", SELF, "get", url]);
  if (r.code !== 0) throw new Error(`GET ${url} in ${ns.name}: ${r.stderr.trim()}`);
  return JSON.parse(r.stdout);
}

/**
 * From inside `ns`: connect to host:port (a port forwarded to an echo server
 * in the guest) and time `n` one-byte round trips (after 10 of warm-up).
 */
export async function roundTripsInNetns(
  ns: Netns,
  host: string,
  port: number,
  n = 200,
): Promise<{ medianUs: number; p99Us: number; n: number }> {
  const r = await ns.exec([
    Deno.execPath(),
    "run",
    "-A",
    SELF,
    "rr",
    host,
    String(port),
    String(n),
  ]);
  if (r.code !== 0) throw new Error(`round trips to ${host}:${port}: ${r.stderr.trim()}`);
  return JSON.parse(r.stdout);
}

async function main(args: string[]): Promise<void> {
  const [mode, ...rest] = args;
  if (mode === "serve") {
    const [host, port, bytes, seed] = rest;
    const data = streamBytes(Number(bytes), Number(seed));
    Deno.serve(
      {
        hostname: host,
        port: Number(port),
        onListen: () => console.log("listening"),
      },
      (req) =>
        new URL(req.url).pathname === "/blob"
          ? new Response(data, { headers: { "content-type": "application/octet-stream" } })
          : new Response("not found\n", { status: 404 }),
    );
    return;
  }
  if (mode === "get") {
    const t0 = performance.now();
    const res = await fetch(rest[0], { signal: AbortSignal.timeout(120_000) });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    const body = new Uint8Array(await res.arrayBuffer());
    const ms = performance.now() - t0;
    console.log(JSON.stringify({ bytes: body.length, sha256: await sha256Hex(body), ms }));
    return;
  }
  if (mode === "rr") {
    const [host, port, count] = rest;
    const n = Number(count);
    // The forward is up as soon as passt runs; the guest's echo server may take a moment.
    let conn: Deno.TcpConn | null = null;
    const one = new Uint8Array([42]), back = new Uint8Array(1);
    const times: number[] = [];
    for (let i = 0; i < n + 10; i++) {
      conn ??= await Deno.connect({ hostname: host, port: Number(port) });
      conn.setNoDelay(true);
      const t0 = performance.now();
      await conn.write(one);
      if ((await conn.read(back)) !== 1) throw new Error("the echo server closed the connection");
      if (i >= 10) times.push(performance.now() - t0);
    }
    conn?.close();
    times.sort((a, b) => a - b);
    console.log(JSON.stringify({
      medianUs: Math.round(times[n >> 1] * 1000),
      p99Us: Math.round(times[Math.floor(n * 0.99)] * 1000),
      n,
    }));
    return;
  }
  throw new Error(
    `usage: net_user.ts serve <host> <port> <bytes> <seed> | get <url> | rr <host> <port> <n>`,
  );
}

if (import.meta.main) await main(Deno.args);
