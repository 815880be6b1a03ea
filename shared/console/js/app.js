// The console's shell: configuration, sign-in, the hash router (#/inbox, #/inbox/<id>, #/calls,
// #/calls/<id>, #/search?q=, #/analytics, #/settings) and the navigation.

import { loadConfig } from './api.js';
import * as auth from './auth.js';
import { h, replace, notice, viewHeading } from './dom.js';
import * as inbox from './inbox.js';
import * as calls from './calls.js';
import * as search from './search.js';
import * as analytics from './analytics.js';
import * as settings from './settings.js';

const VIEWS = { inbox, calls, search, analytics, settings };
const ADMIN_ONLY = new Set(['analytics', 'settings']);
const main = document.getElementById('main');
const nav = document.getElementById('nav');
const signOutButton = document.getElementById('sign-out');
let cleanup = null;
let signInReason = '';
// On the first view the focus stays at the top of the page (the skip link comes first).
let firstView = true;

function parseHash() {
  const hash = location.hash.replace(/^#\/?/, '');
  const [path, query = ''] = hash.split('?');
  const [view = 'inbox', id = null] = path.split('/').filter(Boolean).map(decodeURIComponent);
  return { view, id, params: Object.fromEntries(new URLSearchParams(query)) };
}

function renderSignIn() {
  document.title = 'Sign in · Pedro';
  nav.hidden = true;
  signOutButton.hidden = true;
  const email = h('input', { type: 'email', id: 'email', name: 'email', autocomplete: 'username', required: true });
  const password = h('input', { type: 'password', id: 'password', name: 'password', autocomplete: 'current-password', required: true });
  const status = h('div', { class: 'form-status' }, signInReason ? notice(signInReason, 'warn') : null);
  const button = h('button', { type: 'submit', class: 'primary' }, 'Sign in');
  const form = h('form', { class: 'sign-in card', 'aria-labelledby': 'sign-in-title' },
    viewHeading('Sign in'),
    h('div', { class: 'field' }, h('label', { for: 'email' }, 'Email'), email),
    h('div', { class: 'field' }, h('label', { for: 'password' }, 'Password'), password),
    h('div', { class: 'form-actions' }, button),
    status);
  form.querySelector('h1').id = 'sign-in-title';
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    button.disabled = true;
    replace(status);
    try {
      await auth.signIn(email.value.trim(), password.value);
      signInReason = '';
    } catch (error) {
      replace(status, notice(error.message, 'error'));
      button.disabled = false;
      password.focus();
    }
  });
  replace(main, form);
  email.focus();
}

function route() {
  cleanup?.();
  cleanup = null;
  if (!auth.signedIn()) {
    inbox.stopFeed();
    renderSignIn();
    firstView = false;
    return;
  }
  nav.hidden = false;
  signOutButton.hidden = !auth.required();
  const admin = auth.isAdmin();
  for (const link of nav.querySelectorAll('[data-admin]')) link.closest('li').hidden = !admin;
  let { view, id, params } = parseHash();
  if (!VIEWS[view]) view = 'inbox';
  for (const link of nav.querySelectorAll('a[data-view]')) {
    if (link.dataset.view === view) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  main.dataset.view = view;
  if (ADMIN_ONLY.has(view) && !admin) {
    replace(main, viewHeading('Not available'), notice('Only practice admins can see this page.', 'warn'));
  } else {
    try {
      cleanup = VIEWS[view].render(main, { id, params, moveFocus: !firstView }) || null;
    } catch (error) {
      replace(main, viewHeading('Something went wrong'), notice(error.message, 'error'));
    }
  }
  // Keyboard and screen-reader users land on the new view's heading.
  if (!firstView && (!main.contains(document.activeElement) || document.activeElement === main)) {
    main.querySelector('.view-heading')?.focus({ preventScroll: true });
  }
  firstView = false;
}

function updateUnreadBadge(feed) {
  const badge = document.getElementById('unread-total');
  const unread = feed.conversations.reduce((sum, c) => sum + c.unreadCount, 0);
  badge.hidden = unread === 0;
  badge.textContent = unread ? `${unread} unread` : '';
}

async function start() {
  document.querySelector('.skip').addEventListener('click', (event) => {
    event.preventDefault(); // the hash is the router's
    main.focus();
  });
  signOutButton.addEventListener('click', () => auth.signOut());
  let config;
  try {
    config = await loadConfig();
  } catch (error) {
    replace(main, viewHeading('The console cannot start'), notice(error.message, 'error'));
    return;
  }
  await auth.init(config);
  auth.onChange((signedIn, reason) => {
    if (!signedIn) signInReason = reason || '';
    else inbox.startFeed();
    route();
  });
  inbox.onFeed(updateUnreadBadge);
  window.addEventListener('hashchange', route);
  if (auth.signedIn()) inbox.startFeed();
  route();
}

start();
