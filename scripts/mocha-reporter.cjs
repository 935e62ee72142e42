// Spec reporter plus one closing line, "tests: N passed, N failed, N skipped", that CI reads to
// know how many tests ran (mocha's own summary is not among the formats it recognises).
'use strict'
const { reporters, Runner } = require('mocha')
class SpecWithTotals extends reporters.Spec {
  constructor(runner, options) {
    super(runner, options)
    runner.once(Runner.constants.EVENT_RUN_END, () => {
      const s = this.stats
      process.stdout.write(`tests: ${s.passes} passed, ${s.failures} failed, ${s.pending} skipped\n`)
    })
  }
}
module.exports = SpecWithTotals
