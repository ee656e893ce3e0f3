// What every t/sdk/*.test.mjs script shares: the checks' assertions and
// the runner that prints "1..N" and one "ok - name" / "not ok - name:
// reason" line per check (read by t/lib/LLMGW/SDK.pm), each check bounded
// to 30 s, and exits non-zero when one failed.
export function assert(cond, what) { if (!cond) throw new Error(what); }

// Deep equality on the JSON form.
export function eq(got, want, what) {
  const g = JSON.stringify(got), w = JSON.stringify(want);
  if (g !== w) throw new Error(`${what}: got ${g}, want ${w}`);
}

export async function runChecks(checks) {
  console.log(`1..${checks.length}`);
  let failed = 0;
  for (const [name, fn] of checks) {
    try {
      await Promise.race([
        fn(),
        new Promise((_, rej) => setTimeout(() => rej(new Error('check timed out after 30 s')), 30000).unref()),
      ]);
      console.log(`ok - ${name}`);
    } catch (e) {
      failed++;
      console.log(`not ok - ${name}: ${String(e && e.message || e).replace(/\s+/g, ' ')}`);
    }
  }
  process.exit(failed ? 1 : 0);
}
