import { connect } from 'node:net';

// HTTP/1.1 by hand over a loopback socket, for the requests fetch() refuses to send: any method
// (CONNECT, TRACE, lowercase, garbage), any request target (absolute-form, `*`, bad
// percent-encoding), header values with control characters or bytes that are not UTF-8, several
// fields of one name, no Host, chunked bodies, bodies that are not UTF-8. The answer is read up
// to the end of its first final response (by Content-Length, chunked framing or the server
// closing), so a request that keeps the connection alive cannot hang the reader.

export type HeaderValue = string | Buffer;

export interface RawRequest {
  method: string;
  /** The request target exactly as it goes on the request line. */
  target: string;
  /** In order; names may repeat. Host is not added: a request without one is a valid case. */
  headers: [string, HeaderValue][];
  body?: Buffer;
  /** `length`: a correct Content-Length; `chunked`: Transfer-Encoding: chunked; `none`: neither. */
  framing?: 'length' | 'chunked' | 'none';
}

export interface RawAnswer {
  status: number;
  /** Lowercase names; repeated fields keep every value. */
  headers: Map<string, string[]>;
  body: Buffer;
  /** The status line, headers and body as received (after interim 1xx answers). */
  text: string;
}

/** The bytes of `request` on the wire. */
export function encodeRequest(request: RawRequest): Buffer {
  const body = request.body ?? Buffer.alloc(0);
  const framing = request.framing ?? (request.body === undefined ? 'none' : 'length');
  const lines: Buffer[] = [Buffer.from(`${request.method} ${request.target} HTTP/1.1\r\n`, 'latin1')];
  for (const [name, value] of request.headers) {
    lines.push(Buffer.from(`${name}: `, 'latin1'), typeof value === 'string' ? Buffer.from(value, 'utf8') : value, Buffer.from('\r\n'));
  }
  if (framing === 'length') lines.push(Buffer.from(`Content-Length: ${body.length}\r\n`));
  if (framing === 'chunked') lines.push(Buffer.from('Transfer-Encoding: chunked\r\n'));
  lines.push(Buffer.from('\r\n'));
  if (framing === 'chunked') {
    // Two chunks when there is anything to split, so that reassembly is exercised too.
    const half = Math.floor(body.length / 2);
    for (const chunk of [body.subarray(0, half), body.subarray(half)]) {
      if (chunk.length > 0) lines.push(Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from('\r\n'));
    }
    lines.push(Buffer.from('0\r\n\r\n'));
  } else {
    lines.push(body);
  }
  return Buffer.concat(lines);
}

/**
 * Sends `request` to `baseUrl` (http://127.0.0.1:port) on a new connection. Resolves with the
 * first final answer, or undefined if the server closed the connection without answering.
 * Rejects if nothing complete arrived within `hangAfterMs`: a hang detector, so that a server
 * that never answers fails the test instead of stalling the run; it measures no performance.
 */
export function rawRequest(baseUrl: string, request: RawRequest, hangAfterMs = 30_000): Promise<RawAnswer | undefined> {
  const { hostname, port } = new URL(baseUrl);
  const bytes = encodeRequest(request);
  const isHead = request.method.toUpperCase() === 'HEAD';
  return new Promise((resolve, reject) => {
    const socket = connect({ host: hostname, port: Number(port) });
    let received = Buffer.alloc(0);
    let settled = false;
    const finish = (answer: RawAnswer | undefined, error?: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      if (error) reject(error);
      else resolve(answer);
    };
    const timer = setTimeout(
      () => finish(undefined, new Error(`no complete answer within ${hangAfterMs} ms; received so far:\n${received.toString('latin1')}`)),
      hangAfterMs,
    );
    socket.on('connect', () => socket.write(bytes));
    const settle = (closed: boolean) => {
      try {
        const answer = received.length === 0 ? undefined : parseAnswer(received, isHead, closed);
        if (answer !== undefined || closed) finish(answer ?? (received.length === 0 ? undefined : malformed(received)));
      } catch (error) {
        finish(undefined, error as Error);
      }
    };
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      settle(false);
    });
    // The server may close as soon as it has answered (or reset while we still write): what
    // arrived is the answer, if it is one.
    const onClosed = () => settle(true);
    socket.on('end', onClosed);
    socket.on('close', onClosed);
    socket.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'ECONNRESET' || error.code === 'EPIPE') onClosed();
      else finish(undefined, error);
    });
  });
}

function malformed(received: Buffer): never {
  throw new Error(`the server sent something that is not an HTTP answer:\n${received.toString('latin1')}`);
}

/** The first final answer in `received`, or undefined while it is incomplete (and the connection open). */
function parseAnswer(received: Buffer, isHead: boolean, closed: boolean): RawAnswer | undefined {
  let start = 0;
  for (;;) {
    const headEnd = received.indexOf('\r\n\r\n', start);
    if (headEnd === -1) return undefined;
    const head = received.subarray(start, headEnd).toString('latin1').split('\r\n');
    const statusLine = /^HTTP\/1\.[01] (\d{3})/.exec(head[0] ?? '');
    if (statusLine === null) return closed ? malformed(received) : undefined;
    const status = Number(statusLine[1]);
    const headers = new Map<string, string[]>();
    for (const line of head.slice(1)) {
      const colon = line.indexOf(':');
      const name = line.slice(0, colon).trim().toLowerCase();
      headers.set(name, [...(headers.get(name) ?? []), line.slice(colon + 1).trim()]);
    }
    const bodyStart = headEnd + 4;
    if (status >= 100 && status < 200) {
      start = bodyStart; // 100 Continue and the like: the final answer follows
      continue;
    }
    const text = (body: Buffer) => ({ status, headers, body, text: received.subarray(start, bodyStart).toString('latin1') + body.toString('utf8') });
    if (isHead || status === 204 || status === 304) return text(Buffer.alloc(0));
    const rest = received.subarray(bodyStart);
    if (headers.get('transfer-encoding')?.some((value) => /chunked/i.test(value))) {
      const body = dechunk(rest);
      return body === undefined ? (closed ? malformed(received) : undefined) : text(body);
    }
    const length = headers.get('content-length')?.[0];
    if (length !== undefined) {
      if (rest.length < Number(length)) return closed ? malformed(received) : undefined;
      return text(rest.subarray(0, Number(length)));
    }
    return closed ? text(rest) : undefined;
  }
}

/** The body of a chunked message, or undefined until its last chunk has arrived. */
function dechunk(rest: Buffer): Buffer | undefined {
  const parts: Buffer[] = [];
  let at = 0;
  for (;;) {
    const lineEnd = rest.indexOf('\r\n', at);
    if (lineEnd === -1) return undefined;
    const size = parseInt(rest.subarray(at, lineEnd).toString('latin1'), 16);
    if (Number.isNaN(size)) return undefined;
    if (size === 0) return Buffer.concat(parts);
    if (rest.length < lineEnd + 2 + size + 2) return undefined;
    parts.push(rest.subarray(lineEnd + 2, lineEnd + 2 + size));
    at = lineEnd + 2 + size + 2;
  }
}
