// The one way the dashboard makes elements: text always goes in as text (never parsed as HTML),
// so nothing a key's name, metadata or an audit event holds can become markup.

export type Child = Node | string | number | null | undefined | false;
type AttributeValue = string | number | boolean | undefined;
type Listeners = Partial<Record<keyof HTMLElementEventMap, (event: Event) => unknown>>;
/** Attributes by name (true: present, false or undefined: absent), and `on`: listeners by event. */
type Attributes = { [name: string]: AttributeValue | Listeners; on?: Listeners };

function apply(element: Element, attributes: Attributes, children: (Child | Child[])[]): void {
  for (const [name, value] of Object.entries(attributes)) {
    if (name === 'on' || value === undefined || value === false || typeof value === 'object') continue;
    element.setAttribute(name, value === true ? '' : String(value));
  }
  for (const [event, listener] of Object.entries(attributes.on ?? {})) element.addEventListener(event, listener);
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    element.append(typeof child === 'number' ? String(child) : child);
  }
}

/** An HTML element with attributes (`on` for listeners) and children. */
export function h<Tag extends keyof HTMLElementTagNameMap>(tag: Tag, attributes: Attributes = {}, ...children: (Child | Child[])[]): HTMLElementTagNameMap[Tag] {
  const element = document.createElement(tag);
  apply(element, attributes, children);
  return element;
}

/** An SVG element, in the SVG namespace (createElement would make an unknown HTML element). */
export function s<Tag extends keyof SVGElementTagNameMap>(tag: Tag, attributes: Attributes = {}, ...children: (Child | Child[])[]): SVGElementTagNameMap[Tag] {
  const element = document.createElementNS('http://www.w3.org/2000/svg', tag);
  apply(element, attributes, children);
  return element;
}

/**
 * A table cell with the column's name in data-label, which the narrow layout shows beside the
 * value; the value in one wrapper, so that it flows as one piece there.
 */
export function labelledCell(label: string, ...content: (Child | Child[])[]): HTMLTableCellElement {
  return h('td', { 'data-label': label }, h('span', { class: 'cell' }, ...content));
}

let lastId = 0;
/** An id unique in the page, to tie a label, a hint or an error to its control. */
export function uniqueId(prefix: string): string {
  lastId += 1;
  return `${prefix}-${lastId}`;
}
