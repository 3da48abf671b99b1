// Text laid out for people: columns aligned by hand (no dependency for so little).

/** Rows of cells, each column as wide as its widest cell, two spaces apart, no trailing spaces. */
export function alignedColumns(rows: readonly (readonly string[])[]): string {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, column) => (widths[column] = Math.max(widths[column] ?? 0, length(cell))));
  return rows
    .map((row) => row.map((cell, column) => (column === row.length - 1 ? cell : cell + ' '.repeat(widths[column]! - length(cell) + 2))).join('').trimEnd())
    .join('\n');
}

/** A header line over the rows; the header alone when there are none. */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  return alignedColumns([header, ...rows]);
}

/** `text` cut to at most `max` characters, an ellipsis marking the cut. */
export function clip(text: string, max: number): string {
  const characters = [...text];
  return characters.length <= max ? text : `${characters.slice(0, max - 1).join('')}…`;
}

/** A stored time (ISO-8601 UTC with milliseconds) to the second, which is all a person reads; `absent` for null. */
export function shownTime(iso: string | null, absent = '-'): string {
  return iso === null ? absent : iso.replace(/\.\d+Z$/, 'Z');
}

/** Characters, not UTF-16 units: an emoji in a name is one column. */
function length(text: string): number {
  return [...text].length;
}
