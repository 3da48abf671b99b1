import { h } from './dom.js';
import { announce } from './feedback.js';

// A key in clear, as create and rotate answer it once: shown here with a copy button, the
// warning, and snippets to paste, and nowhere else. It lives only in this panel's DOM (never in
// storage, the URL or a log); "I have saved it" removes the panel and the key with it.

/** Where the snippet's MCP client connects: the reader's own MCP server, which keygate does not know. */
const MCP_SERVER_URL_PLACEHOLDER = 'https://your-mcp-server.example/mcp';

function mcpClientConfig(name: string, apiKey: string): string {
  const server = { url: MCP_SERVER_URL_PLACEHOLDER, headers: { Authorization: `Bearer ${apiKey}` } };
  return JSON.stringify({ mcpServers: { [name]: server } }, null, 2);
}

function verifyCommand(apiKey: string): string {
  return `curl -X POST ${location.origin}/api/v1/api-keys/verify -H 'X-API-Key: ${apiKey}'`;
}

function copyButton(label: string, text: () => string): HTMLButtonElement {
  const button = h('button', { type: 'button', class: 'copy' }, label);
  button.addEventListener('click', () => {
    navigator.clipboard.writeText(text()).then(
      () => announce('Copied to the clipboard.'),
      () => announce('Copying was refused by the browser: select the text and copy it by hand.'),
    );
  });
  return button;
}

function snippet(title: string, copyLabel: string, text: string): HTMLElement {
  return h(
    'div',
    { class: 'snippet' },
    h('div', { class: 'snippet-head' }, h('h4', {}, title), copyButton(copyLabel, () => text)),
    h('pre', { tabindex: 0, 'aria-label': title }, h('code', {}, text)),
  );
}

export interface IssuedKey {
  keyId: string;
  name: string;
  apiKey: string;
  heading: string;
}

export function issuedKeyPanel(issued: IssuedKey, onDone: () => void): HTMLElement {
  const panel = h(
    'section',
    { class: 'issued', 'aria-labelledby': 'issued-heading' },
    h('h2', { id: 'issued-heading', tabindex: -1 }, issued.heading),
    h('p', { class: 'notice warning' }, h('strong', {}, 'Copy this key now: it will not be shown again. '), 'keygate keeps only a hash of it.'),
    h('div', { class: 'key-line' }, h('code', { class: 'api-key', 'data-testid': 'api-key' }, issued.apiKey), copyButton('Copy key', () => issued.apiKey)),
    h('h3', {}, 'Use it'),
    h('p', {}, `An MCP client sends it as a bearer token: put your MCP server's address in place of ${MCP_SERVER_URL_PLACEHOLDER}.`),
    snippet('MCP client config', 'Copy config', mcpClientConfig(issued.name, issued.apiKey)),
    snippet('Check it with curl', 'Copy command', verifyCommand(issued.apiKey)),
    h('button', { type: 'button', class: 'primary', on: { click: () => { panel.remove(); onDone(); } } }, 'I have saved it'),
  );
  return panel;
}
