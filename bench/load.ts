import autocannon from 'autocannon';
import type { LoadJob, LoadResult } from './protocol.js';

// The load generator, in a process of its own so that it never shares an event loop (or, on
// a 2-core machine, a core) with the server under test. It takes one LoadJob over IPC, runs it
// and answers one LoadResult, then exits. A warmup is a job of its own whose result is ignored.

function run(job: LoadJob): Promise<Omit<LoadResult, 'type' | 'cpuMicros'>> {
  return new Promise((resolve, reject) => {
    const latencies: number[] = [];
    const otherStatuses: Record<string, number> = {};
    const expected = job.expectedStatus === undefined ? (status: number) => status >= 200 && status < 300 : (status: number) => status === job.expectedStatus;
    // Only for jobs of a fixed amount (bursts), so that timed runs do no extra work per response.
    const drain = job.amount === undefined ? undefined : new DrainClock();
    let next = 0;
    const keys = job.rotatingKeys;
    const options: autocannon.Options = {
      url: job.url,
      method: job.method,
      headers: job.headers,
      connections: job.connections,
      pipelining: 1,
      timeout: job.timeoutSeconds,
    };
    if (job.amount !== undefined) options.amount = job.amount;
    else options.duration = job.durationSeconds ?? 5;
    if (keys !== undefined) {
      // One key per request, in order: every request of the burst presents a key never seen before.
      options.requests = [
        {
          setupRequest: (request) => {
            const key = keys[next % keys.length] as string;
            next += 1;
            return { ...request, headers: { ...request.headers, 'x-api-key': key } };
          },
        },
      ];
    }
    const started = process.hrtime.bigint();
    const instance = autocannon(options, (error: unknown, result) => {
      if (error) {
        reject(error instanceof Error ? error : new Error(String(error)));
        return;
      }
      latencies.sort((x, y) => x - y);
      resolve({
        ok: latencies.length,
        otherStatuses,
        errors: result.errors,
        timeouts: result.timeouts,
        seconds: result.duration > 0 ? result.duration : Number(process.hrtime.bigint() - started) / 1e9,
        latencies,
        keysUsed: next,
        ...(drain === undefined ? {} : { drainSeconds: drain.seconds() }),
      });
    });
    instance.on('response', (_client, statusCode, _bytes, responseTime) => {
      drain?.answered(responseTime);
      if (expected(statusCode)) latencies.push(responseTime);
      else otherStatuses[statusCode] = (otherStatuses[statusCode] ?? 0) + 1;
    });
  });
}

/**
 * First request written to last answer read. autocannon times each response from the moment its
 * request was written, so a request's send time is its answer's arrival less its latency.
 */
class DrainClock {
  private firstSent = Infinity;
  private lastAnswer = -Infinity;

  answered(latencyMs: number): void {
    const now = performance.now();
    this.firstSent = Math.min(this.firstSent, now - latencyMs);
    this.lastAnswer = now;
  }

  seconds(): number {
    return this.lastAnswer > this.firstSent ? (this.lastAnswer - this.firstSent) / 1000 : NaN;
  }
}

process.once('message', (job: LoadJob) => {
  run(job)
    .then((measured) => {
      const cpu = process.cpuUsage();
      const result: LoadResult = { type: 'result', ...measured, cpuMicros: cpu.user + cpu.system };
      process.send?.(result, () => process.exit(0));
    })
    .catch((error: unknown) => {
      console.error('bench/load:', error);
      process.exit(1);
    });
});
