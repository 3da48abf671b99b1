import { whenSessionEnds } from './api.js';
import { h } from './dom.js';
import { failureBox, loadingBox, pageChanged, useAnnouncer } from './feedback.js';
import { routeOf, type Route } from './routes.js';
import { forgetSession, resumeSession, signedIn, signOut } from './session.js';
import { adminKeysView } from './views/admin-keys.js';
import { adminOnlyView } from './views/admin-only.js';
import { auditTrailView } from './views/audit-trail.js';
import { createKeyView } from './views/create-key.js';
import { keyContext, keyPageView } from './views/key-page.js';
import { myKeysView } from './views/my-keys.js';
import { signInView } from './views/sign-in.js';

// The dashboard's entry: finds the session, draws the header for it, and shows the page the
// address names; every change of address draws again and moves focus to the new page's heading.

const main = document.getElementById('main') as HTMLElement;
const nav = document.getElementById('nav') as HTMLElement;
const account = document.getElementById('account') as HTMLElement;
useAnnouncer(document.getElementById('announcer') as HTMLElement);

/** Said on the sign-in page once: why the reader is there. */
let signInNotice: string | undefined;
/** Where to go back to after signing in. */
let afterSignIn = '#/keys';

function drawHeader(route: Route): void {
  const session = signedIn();
  const link = (href: string, label: string, current: boolean) => h('a', { href, 'aria-current': current ? 'page' : undefined }, label);
  nav.replaceChildren(
    ...(session === undefined
      ? []
      : [
          link('#/keys', 'My keys', route.page === 'keys' || route.page === 'create' || (route.page === 'key' && !route.admin)),
          session.admin ? link('#/admin/keys', 'All keys', route.page === 'admin-keys' || (route.page === 'key' && route.admin)) : null,
          session.admin ? link('#/admin/audit', 'Audit trail', route.page === 'audit') : null,
        ].filter((item) => item !== null)),
  );
  account.replaceChildren(
    ...(session === undefined
      ? []
      : [
          h('span', { class: 'who' }, 'Signed in as ', h('strong', {}, session.username), session.admin ? ' (admin)' : ''),
          h('button', { type: 'button', on: { click: () => void signOutAndShow() } }, 'Sign out'),
        ]),
  );
}

async function signOutAndShow(): Promise<void> {
  try {
    await signOut();
    signInNotice = 'You have signed out.';
  } catch (error) {
    main.replaceChildren(failureBox(error));
    return;
  }
  location.hash = '#/signin';
}

function showPage(route: Route): void {
  const session = signedIn();
  if (route.page === 'signin' || session === undefined) {
    if (route.page !== 'signin') afterSignIn = location.hash || '#/keys';
    // A failed provider sign-in comes back as #/signin?error=<code>: the view says it in words.
    const notice = signInNotice ?? (route.page === 'signin' && route.error ? { failureCode: route.error } : undefined);
    signInNotice = undefined;
    signInView(main, notice, () => {
      const target = afterSignIn.startsWith('#/signin') ? '#/keys' : afterSignIn;
      afterSignIn = '#/keys';
      // A session that ended leaves the address as it was: signing in again draws that page anew.
      if (location.hash === target) draw(true);
      else location.hash = target;
    });
    return;
  }
  switch (route.page) {
    case 'keys':
      return myKeysView(main);
    case 'create':
      return createKeyView(main);
    case 'key':
      return route.admin && !session.admin ? adminOnlyView(main, 'A key') : keyPageView(main, keyContext(route.keyId, route.admin));
    case 'admin-keys':
      return session.admin ? adminKeysView(main, route) : adminOnlyView(main, 'All keys');
    case 'audit':
      return session.admin ? auditTrailView(main, route) : adminOnlyView(main, 'Audit trail');
    case 'not-found':
      main.replaceChildren(h('h1', { tabindex: -1 }, 'No such page'), h('p', {}, h('a', { href: '#/keys' }, 'Go to your keys')));
  }
}

/**
 * Draws the page the address names. After a move within the dashboard focus goes to the new
 * page's heading (a screen reader starts reading there); on the first load it stays at the
 * document's start, so that the first Tab reaches the skip link.
 */
function draw(moveFocus: boolean): void {
  const route = routeOf(location.hash);
  drawHeader(route);
  pageChanged();
  showPage(route);
  const heading = main.querySelector<HTMLElement>('h1');
  document.title = heading?.textContent ? `${heading.textContent} · keygate` : 'keygate';
  if (moveFocus) heading?.focus();
}

async function start(): Promise<void> {
  main.replaceChildren(loadingBox('keygate'));
  try {
    await resumeSession();
  } catch (error) {
    main.replaceChildren(failureBox(error, () => void start()));
    return;
  }
  draw(false);
}

whenSessionEnds(() => {
  if (signedIn() === undefined) return;
  forgetSession();
  signInNotice = 'Your session has ended: sign in again.';
  afterSignIn = location.hash || '#/keys';
  draw(true);
});
// The skip link moves focus without touching the address, which names the page.
document.querySelector('.skip-link')?.addEventListener('click', (event) => {
  event.preventDefault();
  main.focus();
});
window.addEventListener('hashchange', () => draw(true));
void start();
