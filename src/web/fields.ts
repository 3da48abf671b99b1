import { h, uniqueId } from './dom.js';

// Form fields with their label and hint tied to the control, so a screen reader reads both.

type Control = HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement;

export function field(label: string, control: Control, hint?: string): HTMLElement {
  control.id ||= uniqueId('field');
  const hintElement = hint === undefined ? null : h('span', { class: 'hint', id: uniqueId('hint') }, hint);
  if (hintElement) control.setAttribute('aria-describedby', hintElement.id);
  return h('div', { class: 'field' }, h('label', { for: control.id }, label), hintElement, control);
}

/** A choice of `options`: each a value shown as it is, or a value and the text that shows it. */
export function select(name: string, options: readonly (string | readonly [value: string, text: string])[], selected?: string): HTMLSelectElement {
  return h(
    'select',
    { name },
    options.map((option) => {
      const [value, text] = typeof option === 'string' ? [option, option] : option;
      return h('option', { value, selected: value === selected }, text);
    }),
  );
}

/** Scopes as a person types them: separated by spaces or commas. */
export function scopesFrom(text: string): string[] {
  return text.split(/[\s,]+/).filter((scope) => scope !== '');
}

/** A whole number typed into a field, or undefined when left empty. */
export function optionalInteger(input: HTMLInputElement): number | undefined {
  return input.value.trim() === '' ? undefined : Number(input.value);
}
