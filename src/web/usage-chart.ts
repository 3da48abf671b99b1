import { h, s, uniqueId } from './dom.js';
import { timeElement } from './time.js';
import type { KeyUsage } from './types.js';

// A key's verifications per hour or day as stacked bars (valid below, refused above), drawn as
// inline SVG: its title and description say what it shows for a screen reader, and the same
// counts are in a table beneath it for anyone who would rather read numbers.

const WIDTH = 720;
const HEIGHT = 220;
const MARGIN = { left: 44, right: 8, top: 12, bottom: 28 };

function bucketLabel(iso: string, granularity: KeyUsage['granularity']): string {
  const options: Intl.DateTimeFormatOptions = granularity === 'hour' ? { hour: 'numeric', minute: '2-digit' } : { month: 'short', day: 'numeric' };
  return new Intl.DateTimeFormat(undefined, options).format(new Date(iso));
}

function description(usage: KeyUsage): string {
  const span = usage.granularity === 'hour' ? `${usage.series.length} hours` : `${usage.series.length} days`;
  const busiest = usage.series.reduce((most, bucket) => (bucket.valid + bucket.refused > most.valid + most.refused ? bucket : most), usage.series[0]!);
  const peak = busiest.valid + busiest.refused === 0 ? 'No verifications at all.' : `Most in one ${usage.granularity}: ${busiest.valid + busiest.refused}.`;
  return `Over the last ${span}: ${usage.total.valid} valid and ${usage.total.refused} refused verifications. ${peak}`;
}

function chart(usage: KeyUsage): SVGSVGElement {
  const titleId = uniqueId('chart-title');
  const descriptionId = uniqueId('chart-description');
  const plotWidth = WIDTH - MARGIN.left - MARGIN.right;
  const plotHeight = HEIGHT - MARGIN.top - MARGIN.bottom;
  const highest = Math.max(1, ...usage.series.map((bucket) => bucket.valid + bucket.refused));
  const slot = plotWidth / usage.series.length;
  const barWidth = Math.max(1, slot * 0.8);
  const y = (count: number) => MARGIN.top + plotHeight - (count / highest) * plotHeight;
  const bars = usage.series.flatMap((bucket, index) => {
    const x = MARGIN.left + index * slot + (slot - barWidth) / 2;
    const validTop = y(bucket.valid);
    const refusedTop = y(bucket.valid + bucket.refused);
    return [
      s('rect', { class: 'valid', x, y: validTop, width: barWidth, height: MARGIN.top + plotHeight - validTop }),
      s('rect', { class: 'refused', x, y: refusedTop, width: barWidth, height: validTop - refusedTop }),
    ];
  });
  const labelled = [0, Math.floor(usage.series.length / 2), usage.series.length - 1];
  const xLabels = [...new Set(labelled)].map((index) =>
    s('text', { class: 'axis', x: MARGIN.left + index * slot + slot / 2, y: HEIGHT - 8, 'text-anchor': 'middle' }, bucketLabel(usage.series[index]!.start, usage.granularity)),
  );
  return s(
    'svg',
    { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, role: 'img', 'aria-labelledby': `${titleId} ${descriptionId}`, class: 'chart' },
    s('title', { id: titleId }, `Verifications per ${usage.granularity}, valid and refused`),
    s('desc', { id: descriptionId }, description(usage)),
    s('line', { class: 'baseline', x1: MARGIN.left, x2: WIDTH - MARGIN.right, y1: MARGIN.top + plotHeight, y2: MARGIN.top + plotHeight }),
    s('text', { class: 'axis', x: MARGIN.left - 6, y: MARGIN.top + 4, 'text-anchor': 'end' }, highest),
    s('text', { class: 'axis', x: MARGIN.left - 6, y: MARGIN.top + plotHeight, 'text-anchor': 'end' }, 0),
    bars,
    xLabels,
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
  return h(
    'div',
    { class: 'usage' },
    h('p', { class: 'legend' }, h('span', { class: 'swatch valid' }), 'valid', h('span', { class: 'swatch refused' }), 'refused'),
    chart(usage),
    h('details', {}, h('summary', {}, 'The counts as a table'), countsTable(usage)),
  );
}
