import { strict as assert } from 'node:assert';
import { appendFileSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { LockHeldError, acquireLock } from '../../src/core/run/lock';
import { DuplicateItemsError, openRunOutput } from '../../src/core/run/output';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('run lock', () => {
  let dir: string;
  beforeEach(() => { dir = mkdtempSync(join(tmpdir(), 'sdg-runlock-')); });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('is complete from the moment it exists, refreshes its mtime, and leaves no temp file', async () => {
    const file = join(dir, 'x.lock');
    const lock = await acquireLock(file, { heartbeatMs: 40 });
    const owner = JSON.parse(readFileSync(file, 'utf8'));
    assert.equal(owner.pid, process.pid);
    assert.equal(owner.host, hostname());
    assert.equal(typeof owner.token, 'string');
    assert.equal(statSync(file).nlink, 1);
    const old = new Date(Date.now() - 60_000);
    utimesSync(file, old, old);
    await sleep(150);
    assert.ok(Date.now() - statSync(file).mtimeMs < 10_000, 'the heartbeat did not touch the lock');
    await lock.release();
    assert.deepEqual(readdirSync(dir), []);
  });

  it('refuses a fresh lock of another host naming it; takes over a stale one', async () => {
    const file = join(dir, 'x.lock');
    writeFileSync(file, JSON.stringify({ pid: 7, host: 'node-b', token: 't' }));
    await assert.rejects(acquireLock(file, { heartbeatMs: 1000 }), (e: unknown) => e instanceof LockHeldError && e.owner.host === 'node-b' && e.owner.pid === 7);
    const old = new Date(Date.now() - 9_000);
    utimesSync(file, old, old);
    const lock = await acquireLock(file, { heartbeatMs: 1000 }); // stale after 8 s
    assert.equal(JSON.parse(readFileSync(file, 'utf8')).pid, process.pid);
    await lock.release();
  });

  it('an owner whose lock was taken over stops writing (and does not delete the new owner\'s lock)', async () => {
    const out = join(dir, 'out.jsonl');
    process.env.SDG_LOCK_HEARTBEAT_MS = '30';
    try {
      const o = await openRunOutput<{ id: string }>({ path: out, keyOf: (r) => r.id });
      await o.writeItem([{ id: 'a' }]);
      const theirs = JSON.stringify({ pid: 99999999, host: 'node-c', token: 'other' });
      writeFileSync(`${out}.lock`, theirs);
      await sleep(150);
      await assert.rejects(o.writeItem([{ id: 'b' }]), /taken over by pid 99999999 on node-c/);
      await o.close().catch(() => undefined);
      assert.equal(readFileSync(`${out}.lock`, 'utf8'), theirs, 'the new owner\'s lock was removed');
      assert.deepEqual(readFileSync(out, 'utf8').trim().split('\n').map((l) => JSON.parse(l).id), ['a']);
    } finally {
      delete process.env.SDG_LOCK_HEARTBEAT_MS;
    }
  });

  it('close() fails when another writer slipped rows of the same item into the file; the next open keeps one copy', async () => {
    const out = join(dir, 'out.jsonl');
    const o = await openRunOutput<{ id: string }>({ path: out, keyOf: (r) => r.id });
    await o.writeItem([{ id: 'a' }]);
    await o.flush();
    appendFileSync(out, JSON.stringify({ id: 'a' }) + '\n'); // a second writer, past any lock
    await o.writeItem([{ id: 'b' }]);
    await assert.rejects(o.close(), (e: unknown) => e instanceof DuplicateItemsError && e.duplicates === 1 && /written more than once/.test(e.message));
    const again = await openRunOutput<{ id: string }>({ path: out, keyOf: (r) => r.id });
    assert.equal(again.recovery.duplicatesRemoved, 1);
    await again.close();
    assert.deepEqual(readFileSync(out, 'utf8').trim().split('\n').map((l) => JSON.parse(l).id), ['a', 'b']);
  });
});
