import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BoundedQueue, QueueFull } from '../src/keys/bounded-queue.js';

/** A job that ends when the test says so. */
function heldJob<T>(value: T): { job: () => Promise<T>; release(): void; started: boolean } {
  let release = () => {};
  const held = {
    started: false,
    job: () => {
      held.started = true;
      return new Promise<T>((resolve) => (release = () => resolve(value)));
    },
    release: () => release(),
  };
  return held;
}

test('runs at most `concurrency` jobs; the rest wait their turn, in order', async () => {
  const queue = new BoundedQueue(2, 10, 60_000);
  const jobs = [1, 2, 3, 4].map(heldJob);
  const results = jobs.map((held) => queue.run(held.job));
  assert.deepEqual(jobs.map((held) => held.started), [true, true, false, false]);
  assert.equal(queue.size, 4);
  jobs[1]!.release();
  assert.equal(await results[1], 2);
  assert.deepEqual(jobs.map((held) => held.started), [true, true, true, false]);
  jobs[0]!.release();
  jobs[2]!.release();
  await Promise.all([results[0], results[2]]);
  assert.equal(jobs[3]!.started, true);
  jobs[3]!.release();
  assert.deepEqual(await Promise.all(results), [1, 2, 3, 4]);
  assert.equal(queue.size, 0);
});

test('beyond maxWaiting a job is refused at once with QueueFull (a 503), and nothing runs for it', async () => {
  const queue = new BoundedQueue(1, 1, 60_000);
  const running = heldJob('running');
  const waiting = heldJob('waiting');
  const refused = heldJob('refused');
  const results = [queue.run(running.job), queue.run(waiting.job)];
  await assert.rejects(queue.run(refused.job), (error: unknown) => error instanceof QueueFull && /retry/.test(error.message));
  assert.equal(refused.started, false);
  running.release();
  await results[0];
  waiting.release();
  assert.deepEqual(await Promise.all(results), ['running', 'waiting']);
});

test('a job that waited maxWaitMs is refused, leaves the line, and never runs', async () => {
  const queue = new BoundedQueue(1, 10, 20);
  const running = heldJob('running');
  const late = heldJob('late');
  const first = queue.run(running.job);
  await assert.rejects(queue.run(late.job), QueueFull);
  assert.equal(queue.size, 1, 'only the running job is left');
  running.release();
  assert.equal(await first, 'running');
  assert.equal(late.started, false);
});

test('a failing job frees its place for the next', async () => {
  const queue = new BoundedQueue(1, 10, 60_000);
  const failing = queue.run(() => Promise.reject(new Error('boom')));
  const next = queue.run(async () => 'next');
  await assert.rejects(failing, /boom/);
  assert.equal(await next, 'next');
});

test('a background job takes a slot only when no job waits in line, and never delays one', async () => {
  const queue = new BoundedQueue(1, 10, 60_000);
  const running = heldJob('running');
  const background = heldJob('background');
  const waiting = heldJob('waiting');
  const first = queue.run(running.job);
  const later = queue.runInBackground(background.job);
  const next = queue.run(waiting.job);
  running.release();
  await first;
  assert.deepEqual([waiting.started, background.started], [true, false], 'the job queued after it goes first');
  waiting.release();
  await next;
  assert.equal(background.started, true, 'once the line is empty the background job runs');
  background.release();
  assert.equal(await later, 'background');

  const idle = heldJob('idle');
  const atOnce = queue.runInBackground(idle.job);
  assert.equal(idle.started, true, 'a free slot with nobody in line is taken at once');
  idle.release();
  assert.equal(await atOnce, 'idle');
});

test('a background job never starts while a job waits, and its own line is bounded too', async () => {
  const queue = new BoundedQueue(1, 1, 60_000);
  const running = heldJob('running');
  const waiting = heldJob('waiting');
  const results = [queue.run(running.job), queue.run(waiting.job)];
  const background = heldJob('background');
  const backgroundResult = queue.runInBackground(background.job);
  await assert.rejects(queue.runInBackground(heldJob('refused').job), QueueFull);
  running.release();
  await results[0];
  assert.equal(background.started, false);
  waiting.release();
  await results[1];
  background.release();
  assert.equal(await backgroundResult, 'background');
});

test('a refusal\'s Retry-After is the time the work ahead would take at the pace jobs have run, within 1 s and the wait bound', async () => {
  let now = 0;
  const queue = new BoundedQueue(2, 4, 60_000, () => now);
  const refusal = async () => {
    const error = await queue.run(async () => 'refused').then(
      () => assert.fail('the job was not refused'),
      (refused: unknown) => refused,
    );
    assert.ok(error instanceof QueueFull);
    return error.retryAfterSeconds;
  };
  // Nothing has run yet: nobody knows the pace, so the least wait.
  const first = [1, 2, 3, 4, 5, 6].map(heldJob);
  const results = first.map((held) => queue.run(held.job));
  assert.equal(await refusal(), 1);
  // A job that ran 3 s: six jobs ahead (two running, four waiting) on two slots, 9 s.
  now += 3000;
  first[0]!.release();
  await results[0];
  const seventh = heldJob(7);
  results.push(queue.run(seventh.job));
  assert.equal(await refusal(), 9);
  // In line order: each has started by the time the one before it ended.
  const all = [...first, seventh];
  for (let i = 1; i < all.length; i++) {
    all[i]!.release();
    await results[i];
  }

  // However slow the jobs were, never beyond the wait bound.
  const bounded = new BoundedQueue(1, 1, 5_000, () => now);
  const slow = heldJob('slow');
  const slowResult = bounded.run(slow.job);
  now += 600_000;
  slow.release();
  await slowResult;
  const [running, waiting] = [heldJob('running'), heldJob('waiting')];
  const held = [bounded.run(running.job), bounded.run(waiting.job)];
  await assert.rejects(bounded.run(async () => 'refused'), (error: unknown) => error instanceof QueueFull && error.retryAfterSeconds === 5);
  running.release();
  await held[0];
  waiting.release();
  await held[1];
});
