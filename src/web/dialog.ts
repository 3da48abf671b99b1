import { h, uniqueId, type Child } from './dom.js';

// A modal <dialog>: the page behind it is inert, Escape cancels, Tab and Shift+Tab go round its
// own controls only, and focus goes back to what opened it when it closes.

export interface DialogAction {
  label: string;
  /** What the promise resolves to when this action is chosen. */
  value: string;
  kind?: 'primary' | 'danger';
}

const FOCUSABLE = 'button, input, select, textarea, a[href], [tabindex]:not([tabindex="-1"])';

function trapTab(dialog: HTMLDialogElement, event: KeyboardEvent): void {
  if (event.key !== 'Tab') return;
  const focusable = [...dialog.querySelectorAll<HTMLElement>(FOCUSABLE)].filter((element) => !element.hasAttribute('disabled'));
  const first = focusable[0];
  const last = focusable[focusable.length - 1];
  if (first === undefined || last === undefined) return;
  if (event.shiftKey && document.activeElement === first) {
    event.preventDefault();
    last.focus();
  } else if (!event.shiftKey && document.activeElement === last) {
    event.preventDefault();
    first.focus();
  }
}

/**
 * Opens a dialog with `content` and a Cancel button beside `actions`; resolves to the chosen
 * action's value, or undefined when cancelled (Cancel or Escape). Fields in `content` are checked
 * by the browser's form validation before an action closes it.
 */
export function openDialog(title: string, content: Child[], actions: DialogAction[]): Promise<string | undefined> {
  const opener = document.activeElement instanceof HTMLElement ? document.activeElement : undefined;
  const titleId = uniqueId('dialog-title');
  const form = h(
    'form',
    { method: 'dialog' },
    h('h2', { id: titleId }, title),
    ...content,
    h(
      'div',
      { class: 'actions' },
      h('button', { type: 'submit', value: 'cancel', formnovalidate: true }, 'Cancel'),
      actions.map((action) => h('button', { type: 'submit', value: action.value, class: action.kind ?? '' }, action.label)),
    ),
  );
  const dialog = h('dialog', { 'aria-labelledby': titleId }, form);
  dialog.addEventListener('keydown', (event) => trapTab(dialog, event));
  document.body.append(dialog);
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => {
      const chosen = dialog.returnValue;
      dialog.remove();
      if (opener?.isConnected) opener.focus();
      resolve(actions.some((action) => action.value === chosen) ? chosen : undefined);
    });
    dialog.showModal();
  });
}
