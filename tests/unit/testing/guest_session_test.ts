// The session helper's command runner, against a plain `sh` instead of a
// guest: output is cut between the markers it prints, kernel console lines
// that land in the middle are dropped, and a failing status throws.
import assert from "../../../testing/assert.ts";
import { GuestSession, withoutKernelLines } from "../../../testing/guest_session.ts";

function shell(): GuestSession {
  const child = new Deno.Command("sh", { stdin: "piped", stdout: "piped", stderr: "piped" })
    .spawn();
  return new GuestSession({ child });
}

Deno.test("session run: output between the markers, a printk in the middle dropped", async () => {
  const s = shell();
  try {
    assert.equal(await s.run("echo hello"), "hello\n");
    assert.equal(await s.run("true"), "");
    assert.equal(await s.run("printf abc"), "abc");
    // A kernel line between two lines of output, and one cutting a line in two.
    const got = await s.run(
      "echo 1234abcd; echo '[   12.345678] virtio_net virtio1 eth0: link up'; " +
        "printf 'ab'; printf '[    0.000001] late printk\\r\\n'; echo 'cd  -'",
    );
    assert.equal(got, "1234abcd\nabcd  -\n");
    await assert.rejects(() => s.run("echo oops; false"), /guest command failed \(1\)[^]*oops/);
  } finally {
    await s.close();
  }
});

Deno.test("withoutKernelLines keeps everything that is not a printk line", () => {
  assert.equal(withoutKernelLines("a [1] b\n[ 1.5] x\n"), "a [1] b\n[ 1.5] x\n");
  assert.equal(withoutKernelLines("x\n[    3.000000] y\nz"), "x\nz");
});
