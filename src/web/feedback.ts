import { ApiError, NetworkError } from './api.js';
import { h } from './dom.js';

// How the pages say that something is loading, failed, or happened.

/** What a person should read about a failure, from the API's `detail` where there is one. */
export function failureText(error: unknown): string {
  if (error instanceof NetworkError) return error.message;
  if (error instanceof ApiError) {
    if (error.status === 429) {
      const wait = error.retryAfterSeconds === undefined ? 'in a moment' : `in ${error.retryAfterSeconds} s`;
      return `Too many requests: try again ${wait}. (${error.message})`;
    }
    if (error.status === 403) return `Not allowed: ${error.message}`;
    return error.message;
  }
  return error instanceof Error ? error.message : String(error);
}

/** A failure, announced at once (role=alert), with a way to try again where that can help. */
export function failureBox(error: unknown, retry?: () => void): HTMLElement {
  const retryable = error instanceof NetworkError || (error instanceof ApiError && (error.status === 429 || error.status >= 500));
  return h(
    'div',
    { class: 'notice error', role: 'alert' },
    h('p', {}, failureText(error)),
    retry && retryable ? h('button', { type: 'button', on: { click: retry } }, 'Try again') : null,
  );
}

export function loadingBox(what: string): HTMLElement {
  return h('p', { class: 'loading', role: 'status' }, `Loading ${what}…`);
}

/**
 * Shows "Loading…" in `container`, then what `show` makes of the answer, or the failure with a
 * "Try again" that starts over.
 */
export async function loadInto<T>(container: HTMLElement, what: string, load: () => Promise<T>, show: (value: T) => Node): Promise<void> {
  container.replaceChildren(loadingBox(what));
  container.setAttribute('aria-busy', 'true');
  try {
    const value = await load();
    container.replaceChildren(show(value));
  } catch (error) {
    container.replaceChildren(failureBox(error, () => void loadInto(container, what, load, show)));
  } finally {
    container.removeAttribute('aria-busy');
  }
}

let announcer: HTMLElement | undefined;
/** Whether the line was said since the page was last drawn: "Key revoked" is said, then the list drawn. */
let saidOnThisPage = false;

/** Where announce() speaks: the shell's live region. */
export function useAnnouncer(region: HTMLElement): void {
  announcer = region;
}

/** A short status line ("Key disabled") that screen readers read out and everyone sees. */
export function announce(text: string): void {
  if (announcer === undefined) return;
  announcer.textContent = text;
  saidOnThisPage = true;
}

/** A new page is drawn: the line said on the page before it goes. */
export function pageChanged(): void {
  if (!saidOnThisPage && announcer !== undefined) announcer.textContent = '';
  saidOnThisPage = false;
}
