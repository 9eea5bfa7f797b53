import { expect } from 'chai';
import fs = require('fs');
import { open, allocAligned, Ring } from 'odirect';
import {
  availableEngines, DISK_DIR, tempPath, cleanup, fillPattern, checkPattern, rejectionOf, skipBecause,
} from './helpers';

const BLOCK = 4096;

describe('aio: reads submitted by the JS thread with RWF_NOWAIT', () => {
  let ring: Ring;
  let path: string;
  before(async function () {
    if (!availableEngines.includes('aio')) this.skip();  // no Linux AIO on this machine
    ring = new Ring({ engine: 'aio', entries: 64 });
    path = tempPath(DISK_DIR, 'nowait');
    const file = await open(path, 'w', { ring });
    await file.writeAt(fillPattern(allocAligned(3 * BLOCK), 0, 8n), 0);
    await file.close();
  });
  after(async () => {
    await ring?.close();
    cleanup();
  });

  it('are submitted by the JS thread; writes and syncs go to the ring\'s thread', async () => {
    const file = await open(path, 'r+', { ring });
    const buffers = Array.from({ length: 3 }, () => allocAligned(BLOCK));
    // The JS thread only tries the submission lock: while the ring's thread
    // holds it (finishing the set-up's close, on a loaded machine), reads go
    // to that thread instead. So the batch is read again, after a pause,
    // until it went inline once; with no inline path it never would.
    let inline = 0;
    for (let attempt = 0; attempt < 20 && inline !== 3; attempt++) {
      if (attempt > 0) await new Promise((resolve) => setTimeout(resolve, 20));
      const before = ring.stats();
      const counts = await Promise.all(buffers.map((buffer, i) => file.readAt(buffer, i * BLOCK)));
      expect(counts).to.deep.equal([BLOCK, BLOCK, BLOCK]);
      buffers.forEach((buffer, i) => expect(checkPattern(buffer, i * BLOCK, 8n)).to.equal(-1));
      inline = ring.stats().submittedInline - before.submittedInline;
    }
    expect(inline).to.equal(3);
    const middle = ring.stats();
    await file.writeAt(buffers[0], 0);
    await file.datasync();
    const after = ring.stats();
    expect(after.submittedInline - middle.submittedInline).to.equal(0);
    expect(after.submitted - middle.submitted).to.equal(2);
    await file.close();
  });

  it('a short read is not trusted: the ring\'s thread reads again, and the result is the same', async () => {
    const file = await open(path, 'r', { ring });
    const before = ring.stats();
    const buffer = allocAligned(4 * BLOCK);
    expect(await file.readAt(buffer, 0)).to.equal(3 * BLOCK);  // across the end of the file
    expect(checkPattern(buffer, 0, 8n, 3 * BLOCK)).to.equal(-1);
    expect(await file.readAt(allocAligned(BLOCK), 8 * BLOCK)).to.equal(0);  // past it
    const after = ring.stats();
    expect(after.resubmitted - before.resubmitted).to.equal(2);
    expect(after.submitted - before.submitted).to.equal(2);
    expect(after.completed - before.completed).to.equal(2);
    await file.close();
  });

  it('vectored reads too: submitted by the JS thread, and a short one read again by the ring\'s thread', async () => {
    const file = await open(path, 'r', { ring });
    const halves = () => [allocAligned(BLOCK), allocAligned(BLOCK)];
    // As above: tried again until the batch went inline once, and whole
    // (RWF_NOWAIT may say a read would block: then it is submitted again).
    let inline = 0;
    let resubmitted = -1;
    for (let attempt = 0; attempt < 20 && !(inline === 2 && resubmitted === 0); attempt++) {
      if (attempt > 0) await new Promise((resolve) => setTimeout(resolve, 20));
      const before = ring.stats();
      const vectors = [halves(), halves()];
      expect(await Promise.all(vectors.map((buffers) => file.readvAt(buffers, 0)))).to.deep.equal([2 * BLOCK, 2 * BLOCK]);
      for (const [first, second] of vectors) {
        expect(checkPattern(first, 0, 8n)).to.equal(-1);
        expect(checkPattern(second, BLOCK, 8n)).to.equal(-1);
      }
      const after = ring.stats();
      inline = after.submittedInline - before.submittedInline;
      resubmitted = after.resubmitted - before.resubmitted;
    }
    expect({ inline, resubmitted }).to.deep.equal({ inline: 2, resubmitted: 0 });
    // Across the end of the file: short, so read again by the ring's thread,
    // when it went inline (tried again until it did).
    let counts = { inline: 0, resubmitted: 0, completed: 0 };
    for (let attempt = 0; attempt < 20 && counts.inline !== 1; attempt++) {
      if (attempt > 0) await new Promise((resolve) => setTimeout(resolve, 20));
      const before = ring.stats();
      const [first, second] = halves();
      expect(await file.readvAt([first, second], 2 * BLOCK)).to.equal(BLOCK);
      expect(checkPattern(first, 2 * BLOCK, 8n)).to.equal(-1);
      const after = ring.stats();
      counts = {
        inline: after.submittedInline - before.submittedInline,
        resubmitted: after.resubmitted - before.resubmitted,
        completed: after.completed - before.completed,
      };
    }
    expect(counts).to.deep.equal({ inline: 1, resubmitted: 1, completed: 1 });
    await file.close();
  });
});

describe('aio: a file Linux AIO refuses (procfs), written with RWF_* flags', () => {
  let ring: Ring;
  before(function () {
    if (!availableEngines.includes('aio')) skipBecause(this, 'Linux AIO cannot start here');
    ring = new Ring({ engine: 'aio', entries: 8 });
  });
  after(async () => {
    await ring?.close();
  });

  it('a plain write goes by pwrite; with dsync, EINVAL says the flag cannot be carried by that fallback', async () => {
    // A procfs file with .write but no write_iter; rewriting its own value changes nothing.
    const path = '/proc/self/oom_score_adj';
    const value = fs.readFileSync(path);
    const file = await open(path, 'r+', { ring, direct: false });
    try {
      expect(await file.writeAt(value, 0)).to.equal(value.length);
      const error = await rejectionOf(file.writeAt(value, 0, { dsync: true }));
      expect(error).to.include({ code: 'EINVAL', errno: -22, syscall: 'write', path });
      expect(error.message).to.match(/Linux AIO refuses this file .*procfs/);
      expect(error.message).to.match(/RWF_DSYNC \(dsync\) cannot be carried by the pread\/pwrite fallback/);
    } finally {
      await file.close();
    }
    expect(fs.readFileSync(path)).to.deep.equal(value);
  });
});
