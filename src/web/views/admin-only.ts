import { h } from '../dom.js';

/** What a non-admin sees on an admin page reached by its address. */
export function adminOnlyView(main: HTMLElement, title: string): void {
  main.replaceChildren(
    h('h1', { tabindex: -1 }, title),
    h('div', { class: 'notice error', role: 'alert' }, h('p', {}, 'This page is for admins only: your account is not an admin.'), h('p', {}, h('a', { href: '#/keys' }, 'Go to your keys'))),
  );
}
