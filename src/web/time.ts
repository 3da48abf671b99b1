import { h } from './dom.js';

// Times as the reader reads them (their locale and time zone), with the exact UTC value kept
// in the markup (datetime) and shown on hover (title).

const LOCAL = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });

/** "2026-12-02 05:30:00 UTC": the exact value, unambiguous in any locale. */
function utcText(iso: string): string {
  return `${iso.slice(0, 10)} ${iso.slice(11, 19)} UTC`;
}

export function timeElement(iso: string | null, absent = 'never'): HTMLElement {
  if (iso === null) return h('span', { class: 'muted' }, absent);
  return h('time', { datetime: iso, title: utcText(iso) }, LOCAL.format(new Date(iso)));
}
