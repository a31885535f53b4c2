import { strict as assert } from 'node:assert';
import type { ProgressEvent } from '../../src/core/engine/progress';
import { ProgressRenderer, formatCount, formatDuration, formatPlainLine, formatProgressLine } from '../../src/cli/progress';

function event(patch: Partial<ProgressEvent> = {}): ProgressEvent {
  return {
    elapsedMs: 65_000, total: 10_000, done: 4480, failed: 20, resumed: 0, inFlight: 37,
    concurrency: 64, maxConcurrency: 256, requests: 4600, retries: 3, rateLimited: 0,
    tokens: { prompt: 1, completion: 2 }, requestsPerSec: 12.34, tokensPerSec: 4100, itemsPerSec: 12,
    etaMs: 192_000, lastErrors: ['429 Too Many Requests from http://h/v1'], final: false, ...patch,
  };
}

class Sink {
  text = '';
  constructor(readonly isTTY: boolean, readonly columns = 120) {}
  write(s: string) { this.text += s; }
}

describe('cli progress renderer', () => {
  it('formats counts and durations', () => {
    assert.equal(formatCount(999), '999');
    assert.equal(formatCount(4500), '4,500');
    assert.equal(formatCount(12_345), '12,345');
    assert.equal(formatCount(123_456), '123k');
    assert.equal(formatCount(2_500_000), '2.5M');
    assert.equal(formatDuration(45_000), '45s');
    assert.equal(formatDuration(192_000), '3m12s');
    assert.equal(formatDuration(2 * 3600_000 + 5 * 60_000), '2h05m');
  });

  it('TTY line: bar, percent, counts, rates, limit, ETA, last error; fits the width', () => {
    const line = formatProgressLine(event(), 200, 'gsm8k');
    assert.match(line, /^gsm8k \[█+░+\]  45\.0% 4,500\/10,000 ✗20 \| ETA 3m12s \| 12\.3 req\/s 4,100 tok\/s \| 37 running \(limit 64\/256\) \| last error: 429/);
    for (const w of [40, 60, 80, 100]) {
      const l = formatProgressLine(event(), w, 'gsm8k');
      assert.ok(l.length <= w, `width ${w}: ${l.length} "${l}"`);
      assert.match(l, /45\.0%/);
    }
    // Unknown total: no bar, no percent, no ETA.
    const unknown = formatProgressLine(event({ total: null, etaMs: null }), 120);
    assert.doesNotMatch(unknown, /[█%]|ETA/);
    assert.match(unknown, /^4,500 items/);
  });

  it('TTY: redraws in place, throttled, and ends the line on the final event', () => {
    const out = new Sink(true);
    let now = 0;
    const r = new ProgressRenderer({ stream: out, now: () => now, ttyIntervalMs: 100 });
    r.update(event());
    now = 50;
    r.update(event({ done: 4490 }));
    assert.equal(out.text.split('\r\x1b[K').length - 1, 1);
    now = 200;
    r.update(event({ done: 4500 }));
    r.log('a message');
    r.update(event({ done: 10_000, failed: 0, final: true }));
    assert.ok(out.text.endsWith('\n'));
    assert.ok(out.text.includes('\r\x1b[Ka message\n'));
    assert.match(out.text, /100\.0% 10,000\/10,000 \| in 1m05s/);
  });

  it('non-TTY: plain lines at most every interval, plus the final one', () => {
    const out = new Sink(false);
    let now = 0;
    const r = new ProgressRenderer({ stream: out, label: 'labels', now: () => now, plainIntervalMs: 10_000 });
    for (let t = 0; t <= 30_000; t += 250) {
      now = t;
      r.update(event({ elapsedMs: t }));
    }
    r.update(event({ final: true, etaMs: 0 }));
    const lines = out.text.trim().split('\n');
    assert.equal(lines.length, 5); // t = 0, 10 s, 20 s, 30 s, final
    assert.ok(!out.text.includes('\r'));
    assert.equal(lines[0], formatPlainLine(event({ elapsedMs: 0 }), 'labels'));
    assert.match(lines[0], /^labels: 4,480 done of 10,000 \(45\.0%\), 20 failed, 37 running \(limit 64\/256\), 12\.3 req\/s, 4,100 tok\/s, ETA 3m12s, 3 retries, last error: 429/);
    assert.match(lines[4], /finished in/);
  });
});
