import type { FastifyInstance } from 'fastify';

/**
 * JSON is the only body keygate reads: other media types are answered 415.
 *
 * Fastify's own JSON parser (with its prototype-poisoning protection), except that an empty
 * body is no body: generated clients send `Content-Type: application/json` on DELETE and on
 * the body-less rotate POST, and those requests must not fail.
 */
export function acceptEmptyJsonBodies(app: FastifyInstance): void {
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser(['application/json', 'text/plain']);
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    // parseAs 'string' always hands over a string.
    if (body === '') {
      done(null, undefined);
      return;
    }
    parseJson(request, body as string, done);
  });
}
