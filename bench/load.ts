import autocannon from 'autocannon';
import type { LoadJob, LoadResult } from './protocol.js';

// The load generator, in a process of its own so that it never shares an event loop (or, on
// a 2-core machine, a core) with the server under test. It takes one LoadJob over IPC, runs it
// and answers one LoadResult, then exits. A warmup is a job of its own whose result is ignored.

function run(job: LoadJob): Promise<Omit<LoadResult, 'type' | 'cpuMicros'>> {
  return new Promise((resolve, reject) => {
    const latencies: number[] = [];
    const otherStatuses: Record<string, number> = {};
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
      });
    });
    instance.on('response', (_client, statusCode, _bytes, responseTime) => {
      if (statusCode >= 200 && statusCode < 300) latencies.push(responseTime);
      else otherStatuses[statusCode] = (otherStatuses[statusCode] ?? 0) + 1;
    });
  });
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
