// scripts/soak.ts, small: the block actor killed twice during write + sync
// and the emulator SIGKILLed twice right after the guest's sync lose nothing
// (every file and raw block as written, e2fsck clean). docs/faults.md has the
// 100 + 100 run; the 20-kill version is tests/e2e/supervision_block_test.ts.

import assert from "../../testing/assert.ts";
import { E2FS_MISSING } from "../../testing/block_tools.ts";
import { soakKills, soakSigkills, table } from "../../scripts/soak.ts";

Deno.test({
  name: "soak: 2 block-actor kills and 2 emulator SIGKILLs lose no synced file",
  ignore: E2FS_MISSING !== null,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const seed = 5;
    const rows = [await soakKills(2, seed), await soakSigkills(2, seed)];
    const text = table(rows, seed);
    for (const r of rows) {
      assert.deepEqual(r.notes, [], text);
      assert.deepEqual(r.done, 2, `${r.phase}: kills made\n${text}`);
      assert.deepEqual(r.lost, 0, text);
      assert.ok(r.fsckClean, text);
    }
    assert.ok(rows[0].checked >= 20, text); // one round of files at least
    assert.deepEqual(rows[1].checked, 8, text); // 2 files + 2 raw blocks, after each kill and at the end
  },
});
