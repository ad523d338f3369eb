// Fork campaigns (launcher/campaign.ts) on the bundled guest: one cold boot
// made into a snapshot by snapshotAtReady, then three restores two at a time,
// each typing its own script; the outcomes say each run's fate, its script's
// exit status and its last line, and the table has a row per run. A run
// whose snapshot is missing is "refused", not a crash of the campaign.
// The 20-seed block-fault campaign of docs/snapshot.md: scripts/campaign.ts.

import assert from "../../testing/assert.ts";
import { campaignTable, runCampaign, snapshotAtReady } from "../../launcher/campaign.ts";

Deno.test({
  name: "campaign e2e: three restores of one snapshot, each with its own script",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "actorvm-campaign-" });
    try {
      const snap = `${dir}/ready.snap`;
      const r = await snapshotAtReady([], snap, ["echo from-setup > /tmp/setup"]);
      assert.ok(r.bytes > 0 && r.bootMs > 0);
      const out = await runCampaign({
        snapshot: snap,
        parallel: 2,
        timeoutMs: 90_000,
        runs: [
          { name: "reads", script: ["cat /tmp/setup"] },
          { name: "fails", script: ["echo about-to-fail", "false"] },
          { name: "sums", script: ["echo $((6 * 7))"] },
        ],
      });
      assert.deepEqual(out.map((o) => [o.name, o.fate, o.scriptStatus]), [
        ["reads", "powered off", 0],
        ["fails", "powered off", 1],
        ["sums", "powered off", 0],
      ]);
      assert.deepEqual(out[0].tail.at(-1), "from-setup");
      assert.deepEqual(out[1].tail.at(-1), "about-to-fail");
      assert.deepEqual(out[2].tail.at(-1), "42");
      const table = campaignTable(out);
      assert.deepEqual(table.split("\n").length, 2 + 3);
      assert.match(table, /^fails +powered off +1 +about-to-fail/m);

      const missing = await runCampaign({ snapshot: `${dir}/none.snap`, runs: [{ seed: 1 }] });
      assert.deepEqual(missing[0].fate, "refused");
      assert.match(missing[0].reason, /no such file/);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
