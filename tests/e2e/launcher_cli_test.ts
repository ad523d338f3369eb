// The launcher's command line and its refusals: every bad input gets a clear
// message and a non-zero exit, with nothing started. The pure parser is
// tested in-process; the refusals through `mod.ts` as a user runs it.
import assert from "../../testing/assert.ts";
import { fileURLToPath } from "node:url";
import { parseCommandLine, readCommandLine, UsageError, VERSION } from "../../launcher/cli.ts";

Deno.test("cli: -h, --help, --version, and -- ending the options", () => {
  assert.deepEqual(readCommandLine(["-h"]), "help");
  assert.deepEqual(readCommandLine(["--verbose", "--help", "64", "/tmp/Image"]), "help");
  assert.deepEqual(readCommandLine(["--version"]), "version");
  assert.deepEqual(parseCommandLine(["-h"]), null);
  assert.deepEqual(parseCommandLine(["--version"]), null);
  // After --, words that look like options are positional: here the kernel's name.
  const o = parseCommandLine(["--verbose", "--", "64", "--odd-name", "--help"])!;
  assert.deepEqual([o.verbose, o.memMb, o.kernel, o.cmdline], [true, 64, "--odd-name", "--help"]);
  assert.deepEqual(parseCommandLine(["--"])!.bundled, true);
  assert.throws(() => parseCommandLine(["--", "--help"]), /want <mem-in-mb> <kernel>/);
  assert.throws(() => parseCommandLine(["-x"]), /unknown option -x/);
  assert.throws(() => parseCommandLine(["--version=2"]), /takes no value/);
});

Deno.test("cli: --jit=on|off selects the translator, on by default", () => {
  assert.deepEqual(parseCommandLine([])!.jit, true);
  assert.deepEqual(parseCommandLine(["--jit=off"])!.jit, false);
  assert.deepEqual(parseCommandLine(["--jit", "off", "--jit=on"])!.jit, true);
  assert.throws(() => parseCommandLine(["--jit=fast"]), /--jit=fast: want on or off/);
  assert.throws(() => parseCommandLine(["--jit"]), /--jit needs a value/);
});

Deno.test("cli: --mmu=sv39|sv48|sv57 picks the widest paging mode, sv48 by default", () => {
  assert.equal(parseCommandLine([])!.mmu, "sv48");
  assert.equal(parseCommandLine(["--mmu=sv57"])!.mmu, "sv57");
  assert.equal(parseCommandLine(["--mmu", "sv39"])!.mmu, "sv39");
  assert.throws(() => parseCommandLine(["--mmu=sv64"]), /--mmu=sv64: want sv39, sv48 or sv57/);
});

Deno.test("cli: --smp=N, 1..8, picks the bundled SMP kernel when N > 1", () => {
  assert.equal(parseCommandLine([])!.smp, 1);
  assert.match(parseCommandLine([])!.kernel, /guest\/Image$/);
  const o = parseCommandLine(["--smp=4"])!;
  assert.equal(o.smp, 4);
  assert.match(o.kernel, /guest\/variants\/Image-smp$/);
  assert.match(o.systemMap!, /guest\/variants\/System.map-smp$/);
  assert.equal(
    parseCommandLine(["--smp", "2", "64", "/k"])!.kernel,
    "/k",
    "a named kernel is kept",
  );
  for (const bad of ["0", "9", "two", "1.5", "-1"]) {
    assert.throws(() => parseCommandLine([`--smp=${bad}`]), /want a number of harts, 1..8/);
  }
  assert.throws(
    () => parseCommandLine(["--smp=2", "--bios=fw.bin"]),
    /firmware boots have one hart/,
  );
  assert.throws(
    () => parseCommandLine(["--smp=2", "--restore=x.snap"]),
    /a snapshot holds one hart/,
  );
  assert.throws(
    () => parseCommandLine(["--smp=2", "--deterministic"]),
    /--deterministic: --smp=2 is not supported in deterministic mode/,
  );
});

Deno.test("launcher: --version and -h print and exit 0", async () => {
  const run = (arg: string) =>
    new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", fileURLToPath(new URL("../../mod.ts", import.meta.url)), arg],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
  const v = await run("--version");
  assert.deepEqual(v.code, 0);
  assert.deepEqual(new TextDecoder().decode(v.stdout), `actorvm ${VERSION}\n`);
  assert.match(VERSION, /^\d+\.\d+\.\d+$/);
  const h = await run("-h");
  assert.deepEqual(h.code, 0);
  assert.match(new TextDecoder().decode(h.stdout), /^Usage: deno run -A mod.ts/m);
});

Deno.test("cli: lguest usage — options, memory, kernel, kernel args", () => {
  const o = parseCommandLine([
    "--verbose",
    "--initrd=/tmp/i.cpio",
    "--block=/tmp/a.img",
    "--block=/tmp/b.img,ro",
    "--actor",
    "block=./x.ts",
    "64",
    "/tmp/Image",
    "console=hvc0",
    "quiet",
  ])!;
  assert.deepEqual(o.verbose, true);
  assert.deepEqual(o.initrd, "/tmp/i.cpio");
  assert.deepEqual(o.blocks, [{ path: "/tmp/a.img", readOnly: false }, {
    path: "/tmp/b.img",
    readOnly: true,
  }]);
  assert.deepEqual(o.actors.get("block"), "./x.ts");
  assert.deepEqual(o.memMb, 64);
  assert.deepEqual(o.kernel, "/tmp/Image");
  assert.deepEqual(o.cmdline, "console=hvc0 quiet");
  assert.deepEqual(o.bundled, false);
});

Deno.test("cli: --share takes a directory, a tag (share0, share1, ... by default) and ro", () => {
  const o = parseCommandLine(["--share=/a", "--share=/b,tag=host,ro", "--share=/c,ro,rw"])!;
  assert.deepEqual(o.shares, [
    { path: "/a", tag: "share0", readOnly: false },
    { path: "/b", tag: "host", readOnly: true },
    { path: "/c", tag: "share2", readOnly: false },
  ]);
});

Deno.test("cli: no positional arguments boots the bundled guest", () => {
  const o = parseCommandLine([])!;
  assert.ok(o.bundled);
  assert.deepEqual(o.memMb, 128);
  assert.match(o.kernel, /guest\/Image$/);
  assert.match(o.initrd!, /guest\/initramfs\.cpio$/);
  assert.deepEqual(parseCommandLine(["--help"]), null);
});

Deno.test("cli: bad usage is a UsageError that says what is wrong", () => {
  const cases: [string[], RegExp][] = [
    [["--frobnicate"], /unknown option --frobnicate/],
    [["--block"], /needs a value/],
    [["--block=x,rx"], /unknown flag "rx"/],
    [["--share=/tmp,rx"], /--share=\/tmp,rx: unknown flag "rx"/],
    [["--share=,ro"], /no directory named/],
    [["--share=/tmp,tag=a b"], /tag "a b" must be/],
    [["--share=/tmp,tag=x", "--share=/srv,tag=x"], /tag "x" is already used/],
    [["--actor", "gpu=x.ts"], /role one of cpu, waker, console, net, block, irq, share/],
    [["--mac=01:00:00:00:00:01"], /multicast/],
    [["--mac=zz"], /six hex bytes/],
    [["--seed=-3"], /non-negative integer/],
    [["64"], /want <mem-in-mb> <kernel>/],
    [["sixty", "k"], /positive whole number/],
    [["0", "k"], /positive whole number/],
    [["--verbose=1"], /takes no value/],
  ];
  for (const [argv, re] of cases) {
    assert.throws(() => parseCommandLine(argv), re, argv.join(" "));
    try {
      parseCommandLine(argv);
    } catch (e) {
      assert.ok(e instanceof UsageError);
    }
  }
});

async function launch(args: string[]): Promise<{ code: number; stderr: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", fileURLToPath(new URL("../../mod.ts", import.meta.url)), ...args],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code: out.code, stderr: new TextDecoder().decode(out.stderr) };
}

Deno.test("launcher: bad inputs are refused with a clear message and exit 2", async () => {
  const dir = Deno.makeTempDirSync();
  try {
    const junk = `${dir}/junk.bin`;
    Deno.writeFileSync(junk, new Uint8Array(4096).fill(0x41));
    const cases: [string[], RegExp][] = [
      [["--nope"], /unknown option --nope/],
      [["64", `${dir}/missing`], /kernel.*does not exist|No such file/i],
      [["64", dir], /kernel.*is a directory/i],
      [["64", junk], /not a RISC-V kernel|neither/i],
      [
        [
          "--initrd=/nonexistent/initrd",
          "64",
          fileURLToPath(new URL("../../guest/Image", import.meta.url)),
        ],
        /initrd.*does not exist|No such file/i,
      ],
      [["1", fileURLToPath(new URL("../../guest/Image", import.meta.url))], /too small|need/i],
      [
        ["99999999", fileURLToPath(new URL("../../guest/Image", import.meta.url))],
        /too large|cannot hold|at most/i,
      ],
    ];
    cases.push([
      [
        ...Array.from({ length: 8 }, () => `--block=${junk}`),
        "64",
        fileURLToPath(new URL("../../guest/Image", import.meta.url)),
      ],
      /too many devices: .* at most 7 disks, shares and networks/,
    ]);
    for (const [args, re] of cases) {
      const r = await launch(args);
      assert.deepEqual(r.code, 2, `${args.join(" ")}: exit code (stderr: ${r.stderr})`);
      assert.match(r.stderr, re, args.join(" "));
    }
    const help = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", fileURLToPath(new URL("../../mod.ts", import.meta.url)), "--help"],
      stdout: "piped",
    }).output();
    assert.deepEqual(help.code, 0);
    assert.match(new TextDecoder().decode(help.stdout), /--block=<file>\[,ro\]/);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("launcher: empty and truncated inputs, and each error names its option (exit 2)", async () => {
  const dir = Deno.makeTempDirSync();
  const image = fileURLToPath(new URL("../../guest/Image", import.meta.url));
  const map = fileURLToPath(new URL("../../guest/System.map", import.meta.url));
  try {
    const empty = `${dir}/empty.bin`;
    Deno.writeFileSync(empty, new Uint8Array(0));
    const whole = Deno.readFileSync(image);
    const head = `${dir}/Image.100k`;
    Deno.writeFileSync(head, whole.subarray(0, 100_000));
    const short = `${dir}/Image.short`;
    Deno.writeFileSync(short, whole.subarray(0, whole.length - 4096));
    const imageSize = new DataView(whole.buffer).getBigUint64(16, true);
    const unreadable = `${dir}/unreadable`;
    Deno.mkdirSync(unreadable, { mode: 0o000 });
    Deno.chmodSync(unreadable, 0o000);
    const cases: [string[], RegExp][] = [
      // An empty initrd is not "no initrd" (the guest would panic, exit 1).
      [[`--initrd=${empty}`, "64", image], /--initrd: ".*empty\.bin" is empty \(0 bytes\)/],
      [["64", empty], /kernel ".*empty\.bin" is empty \(0 bytes\)/],
      [[`--bios=${empty}`, "64", image], /--bios: ".*empty\.bin" is empty \(0 bytes\)/],
      // The first 100 KB of the bundled kernel: its header says how big it is.
      [
        ["64", head],
        new RegExp(
          `Image\\.100k: truncated: the header says ${imageSize} bytes \\(image_size\\), ` +
            `the file has 100000`,
        ),
      ],
      // All but its last 4 KiB: only its System.map (_edata) can tell.
      [
        [`--system-map=${map}`, "64", short],
        new RegExp(
          `Image\\.short: truncated: .* \\(_edata\\), the file has ${whole.length - 4096}`,
        ),
      ],
      [[`--block=${dir}/missing.img`, "64", image], /--block=.*missing\.img: no such file/],
      [[`--faults=${dir}/missing.json`, "64", image], /--faults: .*missing\.json/],
      [[`--sharenet=${empty}`, "64", image], /--sharenet=.*empty\.bin: exists and is not a dir/],
    ];
    for (const [args, re] of cases) {
      const r = await launch(args);
      assert.deepEqual(r.code, 2, `${args.join(" ")}: exit code (stderr: ${r.stderr})`);
      assert.match(r.stderr, re, args.join(" "));
    }
    // A directory root cannot enter once its capabilities are gone (as any user).
    const out = await new Deno.Command("setpriv", {
      args: [
        "--bounding-set=-all",
        "--inh-caps=-all",
        Deno.execPath(),
        "run",
        "-A",
        fileURLToPath(new URL("../../mod.ts", import.meta.url)),
        `--sharenet=${unreadable}`,
        "64",
        image,
      ],
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).output();
    const err = new TextDecoder().decode(out.stderr);
    assert.deepEqual(out.code, 2, err);
    assert.match(err, /--sharenet=.*unreadable: .*[Pp]ermission denied/);
  } finally {
    Deno.chmodSync(`${dir}/unreadable`, 0o755);
    Deno.removeSync(dir, { recursive: true });
  }
});
