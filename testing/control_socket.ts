// One command on a machine's control socket (--control, QMP-shaped JSON
// lines: docs/snapshot.md), for the end-to-end tests that drive one.

/** One command on the control socket (a connection per command): its reply line. */
export async function control(
  sock: string,
  execute: string,
  args?: unknown,
): Promise<Record<string, unknown>> {
  const conn = await Deno.connect({ transport: "unix", path: sock });
  try {
    const line = JSON.stringify({ execute, ...(args ? { arguments: args } : {}), id: 1 }) + "\n";
    await conn.write(new TextEncoder().encode(line));
    const dec = new TextDecoder();
    const buf = new Uint8Array(65536);
    let text = "";
    const end = Date.now() + 60_000;
    while (Date.now() < end) {
      for (const l of text.split("\n").slice(0, -1)) {
        const x = JSON.parse(l);
        if (x.id === 1) return x;
      }
      const n = await conn.read(buf);
      if (n === null) break;
      text += dec.decode(buf.subarray(0, n), { stream: true });
    }
    throw new Error(`control ${execute}: no reply in ${JSON.stringify(text)}`);
  } finally {
    conn.close();
  }
}
