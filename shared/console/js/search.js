// Search across texts, transcripts and call summaries. Snippets come HTML-escaped with only
// <mark> as markup; they are rebuilt here as text nodes and <mark> elements, never parsed as HTML.

import { api } from './api.js';
import { h, replace, notice, viewHeading } from './dom.js';
import * as fmt from './format.js';

const ENTITIES = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

/** Undoes the escaping of the snippet's text (`&lt;` → `<`, `&#39;` → `'`). */
export function unescapeText(text) {
  return text.replace(/&(#x[0-9a-f]+|#[0-9]+|[a-z]+);/gi, (whole, name) => {
    if (name[0] === '#') {
      const code = name[1] === 'x' || name[1] === 'X' ? parseInt(name.slice(2), 16) : parseInt(name.slice(1), 10);
      return Number.isFinite(code) && code > 0 && code <= 0x10ffff ? String.fromCodePoint(code) : whole;
    }
    return ENTITIES[name.toLowerCase()] ?? whole;
  });
}

/** The snippet as nodes: text between the marks, and <mark> elements holding text. */
export function snippetNodes(snippet) {
  const nodes = [];
  let marked = false;
  for (const piece of snippet.split(/(<mark>|<\/mark>)/)) {
    if (piece === '<mark>') marked = true;
    else if (piece === '</mark>') marked = false;
    else if (piece) {
      const text = unescapeText(piece);
      nodes.push(marked ? h('mark', {}, text) : document.createTextNode(text));
    }
  }
  return nodes;
}

const KINDS = { message: 'Text', transcript: 'Call transcript', summary: 'Call summary' };

function hitItem(hit) {
  let href = null;
  if (hit.kind === 'message' && hit.conversationId) href = `#/inbox/${hit.conversationId}`;
  else if (hit.callId) href = `#/calls/${hit.callId}`;
  const title = `${KINDS[hit.kind] || hit.kind} · ${fmt.fullTime(hit.at)}`;
  return h('li', { class: 'hit card' },
    href ? h('a', { href, class: 'hit-link' }, title) : h('span', { class: 'hit-link' }, `${title} (not matched to a call yet)`),
    h('p', { class: 'snippet' }, snippetNodes(hit.snippet)));
}

export function render(main, { params }) {
  document.title = 'Search · Pedro';
  const q = params.q || '';
  const type = params.type || 'all';
  const input = h('input', { type: 'search', id: 'search-q', name: 'q', value: q, required: true, autocomplete: 'off' });
  const kind = h('select', { id: 'search-type', name: 'type' },
    [['all', 'Calls and texts'], ['messages', 'Texts'], ['calls', 'Calls']].map(([v, t]) => h('option', { value: v, selected: v === type }, t)));
  const form = h('form', { class: 'filters', role: 'search', 'aria-label': 'Search calls and texts' },
    h('div', { class: 'field field-grow' }, h('label', { for: 'search-q' }, 'Search for'), input),
    h('div', { class: 'field' }, h('label', { for: 'search-type' }, 'In'), kind),
    h('div', { class: 'field field-button' }, h('button', { type: 'submit', class: 'primary' }, 'Search')));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    location.hash = `#/search?${new URLSearchParams({ q: input.value.trim(), type: kind.value })}`;
  });
  const status = h('div', { class: 'list-status' });
  const results = h('ol', { class: 'hits', 'aria-label': 'Results' });
  const more = h('button', { type: 'button', class: 'secondary', hidden: true }, 'More results');
  replace(main, viewHeading('Search'), form, status, results, more);
  if (!q) {
    replace(status, h('p', { class: 'muted' }, 'Words, "a phrase", or -word to leave out. Searches texts, call transcripts and summaries.'));
    return;
  }
  let cursor = null;
  let count = 0;
  const load = async () => {
    try {
      const page = await api('/api/voip/search', { query: { q, type, limit: 20, cursor } });
      results.append(...page.results.map(hitItem));
      count += page.results.length;
      cursor = page.nextCursor;
      more.hidden = !cursor;
      replace(status, h('p', { role: 'status', class: 'muted' }, count ? `${count} result${count === 1 ? '' : 's'} for “${q}”` : `Nothing found for “${q}”.`));
    } catch (error) {
      replace(status, notice(error.message, 'error'));
    }
  };
  more.addEventListener('click', load);
  load();
}
