// Building the page from data without ever parsing it as markup: every string becomes a text node
// (patients' texts, transcripts and names are data, never HTML).

/** `h('a', {href: '#/calls', class: 'x', onclick: fn}, 'text', child)`: an element. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'class') el.className = value;
    else if (key === 'text') el.textContent = value;
    else if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2), value);
    else if (key === 'dataset') Object.assign(el.dataset, value);
    else if (key in el && typeof value !== 'string') el[key] = value;
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replaces an element's children. */
export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** Says something to screen readers (the page's polite live region). */
export function announce(message) {
  const region = document.getElementById('announcer');
  if (!region) return;
  region.textContent = '';
  // A new text node after a tick, so the same message twice is still read.
  setTimeout(() => { region.textContent = message; }, 50);
}

/** A status line (role=status) or an alert (role=alert) for errors. */
export function notice(message, kind = 'info') {
  return h('p', { class: `notice notice-${kind}`, role: kind === 'error' ? 'alert' : 'status' }, message);
}

/** A heading that takes the focus when a view opens, so keyboard and screen-reader users land on it. */
export function viewHeading(text, level = 'h1') {
  return h(level, { tabindex: '-1', class: 'view-heading' }, text);
}
