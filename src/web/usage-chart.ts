import { h, s, uniqueId } from './dom.js';
import { timeElement } from './time.js';
import type { KeyUsage } from './types.js';

// A key's verifications per hour or day as stacked bars (valid below, refused above), drawn as
// inline SVG: its title and description say what it shows for a screen reader, and the same
// counts are in a table beneath it for anyone who would rather read numbers. The bars stretch to
// the width they have; the axis labels are HTML beside them, so that they stay readable at any
// width rather than shrinking with the drawing.

/** The drawing's own units: bars are one unit wide with a gap, heights in counts. */
const SLOT = 10;
const BAR = 8;
const HEIGHT = 100;

function bucketLabel(iso: string, granularity: KeyUsage['granularity']): string {
  const options: Intl.DateTimeFormatOptions = granularity === 'hour' ? { month: 'short', day: 'numeric', hour: 'numeric' } : { month: 'short', day: 'numeric' };
  return new Intl.DateTimeFormat(undefined, options).format(new Date(iso));
}

function description(usage: KeyUsage): string {
  const count = (bucket: { valid: number; refused: number }) => bucket.valid + bucket.refused;
  const span = `${usage.series.length} ${usage.granularity === 'hour' ? 'hours' : 'days'}`;
  const busiest = usage.series.reduce((most, bucket) => (count(bucket) > count(most) ? bucket : most), usage.series[0]!);
  const peak = count(busiest) === 0 ? 'No verifications at all.' : `Most in one ${usage.granularity}: ${count(busiest)}.`;
  return `Over the last ${span}: ${usage.total.valid} valid and ${usage.total.refused} refused verifications. ${peak}`;
}

function bars(usage: KeyUsage, highest: number): SVGSVGElement {
  const titleId = uniqueId('chart-title');
  const descriptionId = uniqueId('chart-description');
  const y = (count: number) => HEIGHT - (count / highest) * HEIGHT;
  return s(
    'svg',
    {
      viewBox: `0 0 ${usage.series.length * SLOT} ${HEIGHT}`,
      preserveAspectRatio: 'none',
      role: 'img',
      'aria-labelledby': `${titleId} ${descriptionId}`,
      class: 'chart',
    },
    s('title', { id: titleId }, `Verifications per ${usage.granularity}, valid and refused`),
    s('desc', { id: descriptionId }, description(usage)),
    usage.series.flatMap((bucket, index) => {
      const x = index * SLOT + (SLOT - BAR) / 2;
      const validTop = y(bucket.valid);
      const refusedTop = y(bucket.valid + bucket.refused);
      return [
        s('rect', { class: 'valid', x, y: validTop, width: BAR, height: HEIGHT - validTop }),
        s('rect', { class: 'refused', x, y: refusedTop, width: BAR, height: validTop - refusedTop }),
      ];
    }),
  );
}

function countsTable(usage: KeyUsage): HTMLElement {
  return h(
    'table',
    { class: 'usage-table' },
    h('caption', {}, `Verifications per ${usage.granularity}`),
    h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, usage.granularity === 'hour' ? 'Hour starting' : 'Day'), h('th', { scope: 'col' }, 'Valid'), h('th', { scope: 'col' }, 'Refused'))),
    h(
      'tbody',
      {},
      usage.series.map((bucket) => h('tr', {}, h('td', {}, timeElement(bucket.start)), h('td', {}, bucket.valid), h('td', {}, bucket.refused))),
    ),
    h('tfoot', {}, h('tr', {}, h('th', { scope: 'row' }, 'Total'), h('td', { 'data-testid': 'usage-total-valid' }, usage.total.valid), h('td', { 'data-testid': 'usage-total-refused' }, usage.total.refused))),
  );
}

export function usageView(usage: KeyUsage): HTMLElement {
  const highest = Math.max(1, ...usage.series.map((bucket) => bucket.valid + bucket.refused));
  const first = usage.series[0]!;
  const last = usage.series[usage.series.length - 1]!;
  return h(
    'div',
    { class: 'usage' },
    h('p', { class: 'legend' }, h('span', { class: 'swatch valid' }), 'valid', h('span', { class: 'swatch refused' }), 'refused'),
    h(
      'div',
      { class: 'chart-area' },
      // The labels repeat what the description and the table say: hidden from screen readers.
      h('div', { class: 'y-axis', 'aria-hidden': 'true' }, h('span', {}, highest), h('span', {}, 0)),
      bars(usage, highest),
      h('div', { class: 'x-axis', 'aria-hidden': 'true' }, h('span', {}, bucketLabel(first.start, usage.granularity)), h('span', {}, bucketLabel(last.start, usage.granularity))),
    ),
    h('details', {}, h('summary', {}, 'The counts as a table'), countsTable(usage)),
  );
}
