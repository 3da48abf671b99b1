import { Unavailable } from '../errors.js';

/**
 * Runs at most `concurrency` jobs at once; the rest wait in line, at most `maxWaiting` of them
 * and each at most `maxWaitMs`. Beyond either bound a job is refused at once with Unavailable
 * (503, Retry-After), never queued without end. Background jobs, which nobody waits on, have a
 * line of their own (at most `maxWaiting` long) that moves only while the first one is empty.
 *
 * The Retry-After of a refusal is how long the work ahead would take at the pace jobs have been
 * running (a moving average of their durations): a client told "1 s" while 30 s of compares are
 * queued would come back 30 times for nothing.
 *
 * Why a line of our own in front of libuv's thread pool: a job handed to the pool cannot be
 * taken back, so a wait bound must be enforced before it is handed over.
 */
export class BoundedQueue {
  private running = 0;
  private readonly waiting: Waiter[] = [];
  private readonly background: Array<() => void> = [];
  /** Moving average of how long a job ran, in ms; 0 until one has. */
  private averageJobMs = 0;

  constructor(
    private readonly concurrency: number,
    private readonly maxWaiting: number,
    private readonly maxWaitMs: number,
    /** Milliseconds of a monotonic clock (tests move their own). */
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Jobs running and waiting. */
  get size(): number {
    return this.running + this.waiting.length;
  }

  run<T>(job: () => Promise<T>): Promise<T> {
    if (this.running < this.concurrency) return this.start(job);
    if (this.waiting.length >= this.maxWaiting) return Promise.reject(this.overloaded());
    return new Promise<T>((resolve, reject) => {
      const waiter: Waiter = {
        start: () => {
          clearTimeout(waiter.timer);
          this.start(job).then(resolve, reject);
        },
        timer: setTimeout(() => {
          this.waiting.splice(this.waiting.indexOf(waiter), 1);
          reject(this.overloaded());
        }, this.maxWaitMs),
      };
      this.waiting.push(waiter);
    });
  }

  /**
   * Runs `job` once no `run` job waits: a slot free now goes to it only if nobody is in line, and
   * a slot freed later goes to it only when the line is empty. So work nobody waits on (a rehash
   * after a change of hash scheme, during a cold burst) never delays a verification; it waits
   * without a time bound, since no answer hangs on it.
   */
  runInBackground<T>(job: () => Promise<T>): Promise<T> {
    if (this.running < this.concurrency && this.waiting.length === 0) return this.start(job);
    if (this.background.length >= this.maxWaiting) return Promise.reject(this.overloaded());
    return new Promise<T>((resolve, reject) => this.background.push(() => this.start(job).then(resolve, reject)));
  }

  private async start<T>(job: () => Promise<T>): Promise<T> {
    this.running += 1;
    const started = this.now();
    try {
      return await job();
    } finally {
      const ran = this.now() - started;
      this.averageJobMs = this.averageJobMs === 0 ? ran : 0.8 * this.averageJobMs + 0.2 * ran;
      this.running -= 1;
      const next = this.waiting.shift();
      if (next) next.start();
      else this.background.shift()?.();
    }
  }

  /**
   * A refusal whose Retry-After is the time the jobs ahead (running and waiting) would take, at
   * least 1 s and at most the wait bound (a job that hung for minutes says nothing of the next).
   */
  private overloaded(): QueueFull {
    const aheadMs = ((this.running + this.waiting.length) * this.averageJobMs) / this.concurrency;
    return overloaded(Math.ceil(Math.min(Math.max(aheadMs, 1000), Math.max(this.maxWaitMs, 1000)) / 1000));
  }
}

interface Waiter {
  start(): void;
  timer: NodeJS.Timeout;
}

/** The queue's bounds are reached: the caller may retry shortly. */
export class QueueFull extends Unavailable {}

/** `retryAfterSeconds`: when the queue expects to have room (1 s where nobody knows better). */
export function overloaded(retryAfterSeconds = 1): QueueFull {
  return new QueueFull('Too many keys are being verified at once; retry shortly', { retryAfterSeconds });
}
