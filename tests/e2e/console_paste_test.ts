// End-to-end: 1 MiB of random bytes piped into the emulator's stdin in one
// write arrives in the guest whole and in order. The input ring and the
// console's hold buffer are 64 KiB each; before backpressure the rest was
// dropped in silence (a third arrived). The guest decodes base64 (the tty's
// line discipline would mangle raw bytes) and prints the md5, which must
// match the host's. Read next: launcher/terminal.ts, actors/console/console.worker.ts.
import { fileURLToPath } from "node:url";
import assert from "../../testing/assert.ts";
import { bundledBoot } from "../../testing/guest_session.ts";

const MOD = fileURLToPath(new URL("../../mod.ts", import.meta.url));

Deno.test("console: 1 MiB piped into stdin at once reaches the guest intact (md5 in the guest)", async () => {
  const data = new Uint8Array(1 << 20);
  for (let i = 0; i < data.length; i += 65536) crypto.getRandomValues(data.subarray(i, i + 65536));
  const md5 = await md5Hex(data);
  // 57 bytes make one 76-character base64 line.
  let b64 = "";
  for (let i = 0; i < data.length; i += 57) {
    b64 += btoa(String.fromCharCode(...data.subarray(i, i + 57))) + "\n";
  }
  // stty -echo first: 1.4 MB echoed back would only slow the test down. The
  // shell reads its command line a byte at a time, so everything after it
  // stays in the tty for base64; ^D at the start of a line is its end.
  const input = new TextEncoder().encode(
    `stty -echo; base64 -d | md5sum; poweroff\n${b64}\x04`,
  );
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MOD, ...bundledBoot()],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const timer = setTimeout(() => child.kill("SIGKILL"), 120_000);
  try {
    const w = child.stdin.getWriter();
    // One write of all of it, then end-of-file: the launcher must hold back, not drop.
    await w.write(input);
    await w.close();
    const out = await child.output();
    const stdout = new TextDecoder().decode(out.stdout);
    const stderr = new TextDecoder().decode(out.stderr);
    assert.deepEqual(out.code, 0, stderr);
    // Not anchored at the line's start: bytes that reach the tty before the
    // shell runs stty -echo are echoed, and md5sum's line can follow the last
    // of them with no newline between. Base64 has no spaces, so "  -" is md5sum's.
    const sums = [...stdout.matchAll(/([0-9a-f]{32}) {2}-\r?$/gm)].map((m) => m[1]);
    assert.deepEqual(sums, [md5], `guest md5sum; stdout tail:\n${stdout.slice(-1000)}`);
    assert.ok(!/dropped/.test(stderr), stderr);
  } finally {
    clearTimeout(timer);
  }
});

async function md5Hex(data: Uint8Array): Promise<string> {
  // WebCrypto has no MD5: ask the host's md5sum, as the guest does.
  const p = new Deno.Command("md5sum", { stdin: "piped", stdout: "piped" }).spawn();
  const w = p.stdin.getWriter();
  await w.write(data);
  await w.close();
  const out = await p.output();
  return new TextDecoder().decode(out.stdout).split(" ")[0];
}
