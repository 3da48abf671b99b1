import type { FastifyInstance } from 'fastify';
import type { CpuAnswer, ServerReady, ToServer } from './protocol.js';

/**
 * The end of every server child: listen on an ephemeral loopback port, tell the parent the port
 * (over IPC), answer its CPU-time queries, and close cleanly when asked (so that a --cpu-prof
 * profile gets written). A parent that goes away takes the child with it.
 */
export async function serveForBench(
  app: FastifyInstance,
  ready: Omit<ServerReady, 'type' | 'port'>,
  close: () => Promise<void> = async () => {},
): Promise<void> {
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  if (address === null || typeof address === 'string') throw new Error('server has no TCP address');

  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    await app.close();
    await close();
    process.exit(0);
  };
  process.on('message', (message: ToServer) => {
    if (message.type === 'cpu') {
      const usage = process.cpuUsage();
      const answer: CpuAnswer = { type: 'cpu', micros: usage.user + usage.system };
      process.send?.(answer);
    } else if (message.type === 'stop') {
      void stop();
    }
  });
  process.on('disconnect', () => void stop());
  const message: ServerReady = { type: 'ready', port: address.port, ...ready };
  process.send?.(message);
}

/** Runs a child's main function; any failure is printed and ends the child with status 1. */
export function runChild(main: () => Promise<void>): void {
  main().catch((error: unknown) => {
    console.error(`${process.argv[1] ?? 'bench child'}:`, error);
    process.exit(1);
  });
}
