/** Root hooks of the reliability suite: count outcomes, write docs/reliability.md at the end. */
import { outcome, writeReport } from './report';

const startedAt = new Date();

export const mochaHooks = {
  afterEach(this: Mocha.Context) {
    const t = this.currentTest;
    if (!t) return;
    if (t.state === 'passed') outcome.passed++;
    else if (t.state === 'failed') { outcome.failed++; outcome.failedTitles.push(t.fullTitle()); }
  },
  afterAll() {
    writeReport(startedAt);
  },
};
