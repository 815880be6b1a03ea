// Inbox: threads that need a person first, a thread's messages (what was answered automatically
// and why), the reply box, marking reviewed. Polls every few seconds so new texts appear.

import { api } from './api.js';
import { h, replace, announce, notice, viewHeading } from './dom.js';
import * as fmt from './format.js';
import { countSms } from './sms.js';

const POLL_MS = 4000;
const listeners = new Set();
let feed = { conversations: [], loaded: false };
let feedTimer = null;
let lastUnread = new Map();

/** Loads the threads (flagged ones first) and tells whoever listens (the nav badge, the inbox). */
export async function refreshFeed() {
  const [flagged, recent] = await Promise.all([
    api('/api/voip/sms/conversations', { query: { needsReview: 'true', limit: 100 } }),
    api('/api/voip/sms/conversations', { query: { limit: 100 } }),
  ]);
  const byId = new Map();
  for (const c of [...flagged.conversations, ...recent.conversations]) byId.set(c.id, c);
  const conversations = [...byId.values()].sort(
    (a, b) => Number(b.needsReview) - Number(a.needsReview) || b.lastMessageAt.localeCompare(a.lastMessageAt),
  );
  // New texts are announced (aria-live) once the first load is done.
  if (feed.loaded) {
    for (const c of conversations) {
      const before = lastUnread.get(c.id) ?? 0;
      if (c.unreadCount > before) announce(`New text from ${fmt.phone(c.contactNumber)}`);
    }
  }
  lastUnread = new Map(conversations.map((c) => [c.id, c.unreadCount]));
  feed = { conversations, loaded: true };
  for (const fn of listeners) fn(feed);
  return feed;
}

export function startFeed() {
  stopFeed();
  const tick = async () => {
    try {
      // A tab in the background does not poll; it catches up when shown again.
      if (!document.hidden) await refreshFeed();
    } catch {
      // A failed poll is retried on the next tick; a 401 has already signed the user out.
    }
    feedTimer = setTimeout(tick, POLL_MS);
  };
  tick();
}

export function stopFeed() {
  clearTimeout(feedTimer);
  feedTimer = null;
}

export function onFeed(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

function reasonBadge(reason) {
  const emergency = /emergenc/i.test(reason || '');
  return h('span', { class: `badge ${emergency ? 'badge-urgent' : 'badge-review'}` }, reason || 'needs a person');
}

function threadItem(c, openId) {
  const current = c.id === openId;
  return h(
    'li',
    {},
    h(
      'a',
      { href: `#/inbox/${c.id}`, class: `thread${current ? ' current' : ''}`, 'aria-current': current ? 'true' : null },
      h('span', { class: 'thread-top' },
        h('span', { class: 'thread-contact' }, fmt.phone(c.contactNumber)),
        h('time', { datetime: c.lastMessageAt, class: 'muted' }, fmt.when(c.lastMessageAt))),
      h('span', { class: 'thread-preview' }, c.lastMessagePreview || ''),
      h('span', { class: 'thread-badges' },
        c.needsReview ? reasonBadge(c.reviewReason) : null,
        c.unreadCount > 0 ? h('span', { class: 'badge badge-unread' }, `${c.unreadCount} unread`) : null,
        c.optedOut ? h('span', { class: 'badge badge-muted' }, 'Opted out') : null),
    ),
  );
}

function threadList(list, openId) {
  const flagged = feed.conversations.filter((c) => c.needsReview);
  const rest = feed.conversations.filter((c) => !c.needsReview);
  if (!feed.loaded) return replace(list, notice('Loading texts…'));
  if (feed.conversations.length === 0) return replace(list, notice('No texts yet.'));
  replace(
    list,
    h('h2', { class: 'list-heading' }, `Needs a person (${flagged.length})`),
    flagged.length ? h('ul', { class: 'threads' }, flagged.map((c) => threadItem(c, openId))) : h('p', { class: 'muted pad' }, 'Nothing waiting.'),
    h('h2', { class: 'list-heading' }, 'All other threads'),
    h('ul', { class: 'threads' }, rest.map((c) => threadItem(c, openId))),
  );
}

function statusText(m) {
  const labels = {
    queued: 'waiting to be sent', sending: 'sending', sent: 'sent', sandboxed: 'sandbox (not delivered)',
    unknown: 'delivery unknown', failed: 'send failed', cancelled: 'not sent (cancelled)',
  };
  return labels[m.status] || m.status;
}

function messageItem(m, answered) {
  const inbound = m.direction === 'inbound';
  let who;
  if (inbound) who = 'Patient';
  else if (m.origin === 'auto_reply') who = 'Automatic reply';
  else if (m.origin === 'missed_call') who = 'Missed-call text (automatic)';
  else who = 'Sent by staff';
  const notes = [];
  if (inbound && m.autoResponseCategory) notes.push(`About: ${fmt.category(m.autoResponseCategory)}`);
  if (inbound && answered.has(m.id)) notes.push('Answered automatically');
  if (!inbound && m.origin === 'auto_reply' && m.autoResponseCategory) {
    notes.push(`Why: the text was about ${fmt.category(m.autoResponseCategory)}`);
  }
  return h(
    'li',
    { class: `msg msg-${m.direction}${m.needsReview ? ' msg-flagged' : ''}`, dataset: { id: m.id } },
    h('p', { class: 'msg-meta' },
      h('span', { class: 'msg-who' }, who), ' · ',
      h('time', { datetime: m.occurredAt }, fmt.fullTime(m.occurredAt)),
      inbound ? null : [' · ', h('span', { class: `msg-status status-${m.status}` }, statusText(m))]),
    // The patient's words are text, never markup.
    h('p', { class: 'msg-body' }, m.body),
    notes.length ? h('p', { class: 'msg-note' }, notes.join(' · ')) : null,
    m.needsReview ? h('p', { class: 'msg-note' }, reasonBadge(m.reviewReason)) : null,
    m.error ? h('p', { class: 'msg-note msg-error' }, `Not delivered: ${m.error}`) : null,
  );
}

function replyBox(conversation, onSent) {
  const id = 'reply-text';
  const textarea = h('textarea', { id, name: 'message', rows: 3, maxlength: 1600, 'aria-describedby': 'reply-count reply-optout', required: true });
  const count = h('p', { id: 'reply-count', class: 'muted' });
  const status = h('div', { class: 'reply-status' });
  const button = h('button', { type: 'submit', class: 'primary' }, 'Send');
  const optedOut = conversation.optedOut
    ? h('p', { id: 'reply-optout', class: 'notice notice-warn' }, `${fmt.phone(conversation.contactNumber)} has opted out (replied STOP): texts to this number are not sent.`)
    : h('span', { id: 'reply-optout', hidden: true });
  const update = () => {
    const c = countSms(textarea.value);
    count.textContent = `${c.characters} characters · ${c.parts} SMS part${c.parts === 1 ? '' : 's'} (${c.encoding}, ${c.perPart} per part) · ${c.remaining} left in this part`;
  };
  textarea.addEventListener('input', update);
  update();
  const form = h(
    'form',
    { class: 'reply', 'aria-label': 'Reply' },
    h('label', { for: id }, `Reply to ${fmt.phone(conversation.contactNumber)}`),
    optedOut,
    textarea,
    h('div', { class: 'reply-actions' }, count, button),
    status,
  );
  if (conversation.optedOut) button.disabled = true;
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const message = textarea.value.trim();
    if (!message) return;
    button.disabled = true;
    replace(status);
    try {
      const sent = await api('/api/voip/sms/send', { method: 'POST', body: { conversationId: conversation.id, message } });
      textarea.value = '';
      update();
      announce(sent.status === 'failed' ? 'The text could not be sent.' : 'Text sent.');
      await onSent();
    } catch (error) {
      replace(status, notice(error.message, 'error'));
    } finally {
      button.disabled = Boolean(conversation.optedOut);
    }
  });
  return form;
}

async function renderThread(pane, id, state) {
  const page = await api(`/api/voip/sms/conversations/${encodeURIComponent(id)}/messages`, { query: { limit: 100 } });
  const c = page.conversation;
  const messages = [...page.messages].reverse(); // the API gives newest first
  const answered = new Set(messages.filter((m) => m.origin === 'auto_reply' && m.replyToId).map((m) => m.replyToId));
  const signature = JSON.stringify([c, messages.map((m) => [m.id, m.status, m.needsReview])]);
  if (state.signature === signature) return;
  state.signature = signature;
  const list = h('ol', { class: 'messages', 'aria-label': 'Messages, oldest first' }, messages.map((m) => messageItem(m, answered)));
  if (!state.built || state.conversationId !== c.id) {
    state.built = true;
    state.conversationId = c.id;
    state.header = h('div', { class: 'thread-header' });
    state.messages = h('div', { class: 'messages-wrap' });
    const refresh = async () => {
      state.signature = null;
      await renderThread(pane, id, state);
      await refreshFeed().catch(() => {});
    };
    state.refresh = refresh;
    replace(pane, state.header, state.messages, replyBox(c, refresh));
  }
  const review = h('button', { type: 'button', class: 'secondary', id: 'mark-reviewed', disabled: !c.needsReview && c.unreadCount === 0 }, c.needsReview ? 'Mark as reviewed' : 'Mark as read');
  review.addEventListener('click', async () => {
    review.disabled = true;
    try {
      await api(`/api/voip/sms/conversations/${encodeURIComponent(c.id)}/review`, { method: 'POST' });
      announce('Thread marked as reviewed.');
      await state.refresh();
    } catch (error) {
      review.after(notice(error.message, 'error'));
      review.disabled = false;
    }
  });
  replace(
    state.header,
    h('a', { href: '#/inbox', class: 'back' }, '← All threads'),
    h('h2', { id: 'thread-title', tabindex: '-1' }, fmt.phone(c.contactNumber)),
    h('p', { class: 'thread-badges' },
      c.needsReview ? reasonBadge(c.reviewReason) : h('span', { class: 'badge badge-ok' }, 'Reviewed'),
      c.optedOut ? h('span', { class: 'badge badge-muted' }, 'Opted out') : null,
      c.unreadCount ? h('span', { class: 'badge badge-unread' }, `${c.unreadCount} unread`) : null),
    review,
  );
  const stickToBottom = state.messages.scrollHeight - state.messages.scrollTop - state.messages.clientHeight < 40;
  replace(state.messages, list);
  if (stickToBottom || !state.scrolled) {
    state.messages.scrollTop = state.messages.scrollHeight;
    state.scrolled = true;
  }
}

export function render(main, { id, moveFocus }) {
  document.title = 'Inbox · Pedro';
  const list = h('nav', { class: 'thread-list', 'aria-label': 'Threads' });
  const pane = h('section', { class: 'thread-pane', 'aria-labelledby': id ? 'thread-title' : 'inbox-title' });
  replace(
    main,
    viewHeading('Inbox'),
    h('div', { class: `inbox${id ? ' has-thread' : ''}` },
      h('div', { class: 'inbox-side' }, list),
      pane),
  );
  main.querySelector('.view-heading').id = 'inbox-title';
  const state = {};
  if (!id) replace(pane, h('p', { class: 'muted pad' }, 'Choose a thread to read it and reply.'));
  const stop = onFeed(() => threadList(list, id));
  threadList(list, id);
  refreshFeed().catch((error) => replace(list, notice(error.message, 'error')));
  let timer = null;
  let alive = true;
  const poll = async () => {
    if (!alive || !id) return;
    try {
      if (!document.hidden || !state.built) await renderThread(pane, id, state);
    } catch (error) {
      if (!state.built) replace(pane, notice(error.message, 'error'));
    }
    if (alive) timer = setTimeout(poll, POLL_MS);
  };
  if (id) {
    poll().then(() => {
      if (moveFocus) document.getElementById('thread-title')?.focus();
    });
  }
  return () => {
    alive = false;
    clearTimeout(timer);
    stop();
  };
}
