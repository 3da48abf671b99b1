// An HTTP client that acts as a browser does in a redirect flow, with none of a browser's
// rendering: it keeps cookies per host (name and value; expiry and Max-Age=0 honoured) and
// sends them back, and follows redirects one at a time so a test can watch each hop.

export interface Hop {
  url: string;
  status: number;
  headers: Headers;
  body: string;
}

export class CookieClient {
  /** host:port → name → value. Paths and SameSite are not modelled: every cookie goes back to its host. */
  private readonly jar = new Map<string, Map<string, string>>();

  cookie(url: string, name: string): string | undefined {
    return this.jar.get(new URL(url).host)?.get(name);
  }

  setCookie(url: string, name: string, value: string): void {
    this.cookiesOf(url).set(name, value);
  }

  dropCookie(url: string, name: string): void {
    this.cookiesOf(url).delete(name);
  }

  /** One request, no redirect followed; Set-Cookie answers go into the jar. */
  async request(url: string, init: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<Hop> {
    const cookies = [...this.cookiesOf(url)].map(([name, value]) => `${name}=${value}`).join('; ');
    const headers = { ...init.headers, ...(cookies === '' ? {} : { cookie: cookies }) };
    const response = await fetch(url, { method: init.method ?? 'GET', headers, body: init.body, redirect: 'manual' });
    for (const line of response.headers.getSetCookie()) this.store(url, line);
    return { url, status: response.status, headers: response.headers, body: await response.text() };
  }

  /** GETs `url` and every Location after it until an answer is not a redirect, or `stop` says so; every hop, in order. */
  async follow(url: string, stop: (hop: Hop) => boolean = () => false, init: Parameters<CookieClient['request']>[1] = {}): Promise<Hop[]> {
    const hops: Hop[] = [];
    let next: string | undefined = url;
    let options = init;
    while (next !== undefined) {
      if (hops.length > 20) throw new Error(`more than 20 redirects from ${url}`);
      const hop = await this.request(next, options);
      hops.push(hop);
      const location = hop.headers.get('location');
      next = hop.status >= 300 && hop.status < 400 && location !== null && !stop(hop) ? new URL(location, next).href : undefined;
      options = {};
    }
    return hops;
  }

  private cookiesOf(url: string): Map<string, string> {
    const host = new URL(url).host;
    let cookies = this.jar.get(host);
    if (cookies === undefined) this.jar.set(host, (cookies = new Map()));
    return cookies;
  }

  private store(url: string, line: string): void {
    const [pair = '', ...attributes] = line.split(';');
    const equals = pair.indexOf('=');
    const name = pair.slice(0, equals).trim();
    const value = pair.slice(equals + 1).trim();
    const gone = attributes.some((attribute) => {
      const [key = '', setting = ''] = attribute.split('=').map((part) => part.trim());
      return (key.toLowerCase() === 'max-age' && Number(setting) <= 0) || (key.toLowerCase() === 'expires' && Date.parse(setting) <= Date.now());
    });
    if (gone) this.cookiesOf(url).delete(name);
    else this.cookiesOf(url).set(name, value);
  }
}
