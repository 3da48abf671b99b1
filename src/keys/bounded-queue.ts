import { Unavailable } from '../errors.js';

/**
 * Runs at most `concurrency` jobs at once; the rest wait in line, at most `maxWaiting` of them
 * and each at most `maxWaitMs`. Beyond either bound a job is refused at once with Unavailable
 * (503, Retry-After), never queued without end.
 *
 * Why a line of our own in front of libuv's thread pool: a job handed to the pool cannot be
 * taken back, so a wait bound must be enforced before it is handed over.
 */
export class BoundedQueue {
  private running = 0;
  private readonly waiting: Waiter[] = [];

  constructor(
    private readonly concurrency: number,
    private readonly maxWaiting: number,
    private readonly maxWaitMs: number,
  ) {}

  /** Jobs running and waiting. */
  get size(): number {
    return this.running + this.waiting.length;
  }

  run<T>(job: () => Promise<T>): Promise<T> {
    if (this.running < this.concurrency) return this.start(job);
    if (this.waiting.length >= this.maxWaiting) return Promise.reject(overloaded());
    return new Promise<T>((resolve, reject) => {
      const waiter: Waiter = {
        start: () => {
          clearTimeout(waiter.timer);
          this.start(job).then(resolve, reject);
        },
        timer: setTimeout(() => {
          this.waiting.splice(this.waiting.indexOf(waiter), 1);
          reject(overloaded());
        }, this.maxWaitMs),
      };
      this.waiting.push(waiter);
    });
  }

  private async start<T>(job: () => Promise<T>): Promise<T> {
    this.running += 1;
    try {
      return await job();
    } finally {
      this.running -= 1;
      this.waiting.shift()?.start();
    }
  }
}

interface Waiter {
  start(): void;
  timer: NodeJS.Timeout;
}

/** The queue's bounds are reached: the caller may retry shortly. */
export class QueueFull extends Unavailable {}

export function overloaded(): QueueFull {
  return new QueueFull('Too many keys are being verified at once; retry shortly', { retryAfterSeconds: 1 });
}
