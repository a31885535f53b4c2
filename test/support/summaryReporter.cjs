// Mocha's spec reporter, plus the plain closing line CI reads: "N passed, N failed, N skipped".
'use strict';
const Mocha = require('mocha');
const { Spec } = Mocha.reporters;
const { EVENT_RUN_END } = Mocha.Runner.constants;

class SummaryReporter extends Spec {
  constructor(runner, options) {
    super(runner, options);
    runner.once(EVENT_RUN_END, () => {
      const s = runner.stats || {};
      const line = `${s.passes || 0} passed, ${s.failures || 0} failed, ${s.pending || 0} skipped`;
      // Written after the spec epilogue; a summary file lets scripts/test-all.mjs add suites up.
      process.nextTick(() => {
        console.log(`mocha: ${line}`);
        if (process.env.SDG_SUMMARY_FILE) {
          require('fs').writeFileSync(process.env.SDG_SUMMARY_FILE, JSON.stringify({ passed: s.passes || 0, failed: s.failures || 0, skipped: s.pending || 0 }));
        }
      });
    });
  }
}
module.exports = SummaryReporter;
