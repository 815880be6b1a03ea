// Calls: the history with filters, missed calls and whether the caller was reached again; a call's
// recordings played in the page, transcripts whose segments seek the audio, key facts.

import { api } from './api.js';
import { h, replace, notice, viewHeading } from './dom.js';
import * as fmt from './format.js';

const OUTCOMES = { answered: 'Answered', no_answer: 'Missed (no answer)', busy: 'Missed (busy)', failed: 'Failed' };
const TRANSCRIPTION = {
  none: 'not transcribed', queued: 'transcription queued', processing: 'being transcribed',
  completed: 'transcribed', failed: 'transcription failed', not_configured: 'transcription not configured',
};
const HOUR_MS = 3600_000;

function missed(call) {
  return call.direction === 'inbound' && (call.disposition === 'no_answer' || call.disposition === 'busy');
}

/** How a missed caller was reached again within the hour, from the calls listed (as analytics counts). */
function reachedAgain(call, calls) {
  const start = Date.parse(call.startedAt);
  const ways = [];
  if (call.textedBack) ways.push('texted back');
  for (const other of calls) {
    const t = Date.parse(other.startedAt);
    if (other.id === call.id || other.contactNumber !== call.contactNumber) continue;
    if (t <= start || t > start + HOUR_MS || other.disposition !== 'answered') continue;
    ways.push(other.direction === 'outbound' ? 'called back' : 'called again');
  }
  return [...new Set(ways)];
}

function filtersForm(params) {
  const field = (label, input) => h('div', { class: 'field' }, h('label', { for: input.id }, label), input);
  const select = (id, options, value) =>
    h('select', { id, name: id }, Object.entries(options).map(([v, text]) => h('option', { value: v, selected: v === value }, text)));
  const form = h(
    'form',
    { class: 'filters', role: 'search', 'aria-label': 'Filter calls' },
    field('From', h('input', { type: 'date', id: 'dateFrom', name: 'dateFrom', value: params.dateFrom, required: true })),
    field('To', h('input', { type: 'date', id: 'dateTo', name: 'dateTo', value: params.dateTo, required: true })),
    field('Direction', select('direction', { '': 'Any', inbound: 'Incoming', outbound: 'Outgoing' }, params.direction || '')),
    field('Outcome', select('disposition', { '': 'Any', answered: 'Answered', no_answer: 'No answer', busy: 'Busy', failed: 'Failed' }, params.disposition || '')),
    field('Number', h('input', { type: 'tel', id: 'contact', name: 'contact', value: params.contact || '', autocomplete: 'off' })),
    h('div', { class: 'field field-button' }, h('button', { type: 'submit', class: 'primary' }, 'Show calls')),
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const query = new URLSearchParams();
    for (const [key, value] of new FormData(form)) if (value) query.set(key, value);
    location.hash = `#/calls?${query}`;
  });
  return form;
}

function callRow(call, calls) {
  const isMissed = missed(call);
  let reached = '';
  if (isMissed) {
    const ways = reachedAgain(call, calls);
    reached = ways.length ? `Reached again: ${ways.join(', ')}` : 'Not reached again yet';
  }
  const label = `${call.direction === 'inbound' ? 'Call from' : 'Call to'} ${call.contactName ? `${call.contactName}, ` : ''}${fmt.phone(call.contactNumber)}`;
  return h(
    'tr',
    { class: isMissed ? 'missed' : '' },
    h('td', { 'data-label': 'When' }, h('time', { datetime: call.startedAt }, fmt.fullTime(call.startedAt))),
    h('td', { 'data-label': 'Call' }, h('a', { href: `#/calls/${call.id}`, 'aria-label': `${label}, ${fmt.fullTime(call.startedAt)}` }, label)),
    h('td', { 'data-label': 'Outcome' },
      h('span', { class: `badge ${isMissed ? 'badge-urgent' : call.disposition === 'answered' ? 'badge-ok' : 'badge-muted'}` }, OUTCOMES[call.disposition] || call.disposition),
      isMissed ? h('span', { class: `reached ${reached.startsWith('Reached') ? 'yes' : 'no'}` }, reached) : null),
    h('td', { 'data-label': 'Length' }, fmt.clock(call.durationSeconds)),
    h('td', { 'data-label': 'Recording' },
      call.recordingCount ? `${call.recordingCount} recording${call.recordingCount > 1 ? 's' : ''}, ${TRANSCRIPTION[call.transcriptionStatus] || call.transcriptionStatus}` : '—',
      call.needsReview ? h('span', { class: 'badge badge-review' }, call.reviewReason || 'needs review') : null),
  );
}

function renderList(main, params) {
  document.title = 'Calls · Pedro';
  params.dateFrom ||= fmt.isoDay(-6);
  params.dateTo ||= fmt.isoDay(0);
  const body = h('tbody');
  const status = h('div', { class: 'list-status' });
  const more = h('button', { type: 'button', class: 'secondary', hidden: true }, 'Load more calls');
  const table = h('table', { class: 'calls' },
    h('caption', { class: 'visually-hidden' }, 'Calls, newest first'),
    h('thead', {}, h('tr', {}, ['When', 'Call', 'Outcome', 'Length', 'Recording'].map((t) => h('th', { scope: 'col' }, t)))),
    body);
  replace(main, viewHeading('Calls'), filtersForm(params), status, h('div', { class: 'table-wrap' }, table), more);
  const calls = [];
  let cursor = null;
  const load = async () => {
    replace(status, notice('Loading calls…'));
    try {
      const page = await api('/api/voip/calls/history', {
        query: { dateFrom: params.dateFrom, dateTo: params.dateTo, direction: params.direction, disposition: params.disposition, contact: params.contact, limit: 100, cursor },
      });
      calls.push(...page.calls);
      cursor = page.nextCursor;
      replace(body, calls.map((c) => callRow(c, calls)));
      const missedCount = calls.filter(missed).length;
      replace(status, h('p', { class: 'muted', role: 'status' },
        `${calls.length} call${calls.length === 1 ? '' : 's'}${missedCount ? `, ${missedCount} missed` : ''} (times in your browser's zone; days in the practice's, ${page.timezone}).`));
      more.hidden = !cursor;
    } catch (error) {
      replace(status, notice(error.message, 'error'));
    }
  };
  more.addEventListener('click', load);
  load();
}

function keyFacts(facts) {
  if (!facts) return null;
  const f = facts.facts || {};
  const rows = [];
  const add = (label, value) => {
    if (value === undefined || value === null || value === '' || (Array.isArray(value) && !value.length)) return;
    rows.push(h('dt', {}, label), h('dd', {}, Array.isArray(value) ? value.join(', ') : String(value)));
  };
  add('Request', f.request);
  add('Urgency', f.urgency);
  add('Call back requested', f.callbackRequested === undefined ? undefined : f.callbackRequested ? 'yes' : 'no');
  add('Names', f.names);
  add('Phone numbers', (f.phoneNumbers || []).map(fmt.phone));
  add('Times mentioned', f.mentionedTimes);
  return h('section', { class: 'facts', 'aria-labelledby': 'facts-title' },
    h('h3', { id: 'facts-title' }, 'Summary and key facts'),
    f.summary ? h('p', { class: 'summary' }, f.summary) : null,
    rows.length ? h('dl', { class: 'fact-list' }, rows) : null,
    f.followUpActions?.length ? [h('h4', {}, 'Follow-up'), h('ul', {}, f.followUpActions.map((a) => h('li', {}, a)))] : null,
    h('p', { class: 'muted small' }, `From ${facts.source === 'llm' ? `a language model${facts.model ? ` (${facts.model})` : ''}` : 'rules'}.`));
}

function recordingSection(recording, index) {
  const audio = h('audio', { controls: true, preload: 'metadata', class: 'player' });
  const player = h('div', { class: 'player-wrap' });
  const section = h('section', { class: 'recording card', 'aria-labelledby': `rec-${index}` },
    h('h2', { id: `rec-${index}` }, `Recording ${index + 1}`, h('span', { class: 'muted small' }, ` · ${fmt.fullTime(recording.recordedAt)}`)),
    player);
  const playable = recording.status === 'stored' || recording.status === 'listed';
  if (playable) {
    replace(player, notice('Loading the recording…'));
    api(`/api/voip/calls/recording/${encodeURIComponent(recording.id)}`)
      .then((link) => {
        audio.src = link.url;
        audio.setAttribute('aria-label', `Recording ${index + 1}`);
        replace(player, audio);
      })
      .catch((error) => replace(player, notice(`The recording cannot be played: ${error.message}`, 'error')));
  } else {
    replace(player, notice(`No audio: the recording is ${recording.status}${recording.error ? ` (${recording.error})` : ''}.`, 'warn'));
  }

  const status = TRANSCRIPTION[recording.transcriptionStatus] || recording.transcriptionStatus;
  section.append(h('p', { class: 'transcription-status' }, h('strong', {}, 'Transcription: '), status));
  if (recording.transcriptionFailures?.length) {
    section.append(h('ul', { class: 'failures', 'aria-label': 'Why transcription failed' },
      recording.transcriptionFailures.map((f) => h('li', {}, `${f.provider}: ${f.reason}`))));
  }
  const t = recording.transcript;
  if (t) {
    section.append(h('h3', {}, 'Transcript'));
    if (t.segments?.length) {
      const buttons = [];
      const list = h('ol', { class: 'segments' }, t.segments.map((s) => {
        const button = h('button', { type: 'button', class: 'segment', dataset: { start: s.start, end: s.end } },
          h('span', { class: 'segment-time' }, h('span', { class: 'visually-hidden' }, 'Play from '), `${fmt.clock(s.start)}–${fmt.clock(s.end)}`),
          h('span', { class: 'segment-text' }, s.text.trim()));
        button.addEventListener('click', () => {
          audio.currentTime = s.start;
          audio.play().catch(() => {}); // a browser may refuse to play; the position is set anyway
        });
        buttons.push(button);
        return h('li', {}, button);
      }));
      // The segment being heard is marked as it plays.
      audio.addEventListener('timeupdate', () => {
        for (const b of buttons) {
          const on = audio.currentTime >= Number(b.dataset.start) && audio.currentTime < Number(b.dataset.end);
          b.classList.toggle('playing', on);
          if (on) b.setAttribute('aria-current', 'true'); else b.removeAttribute('aria-current');
        }
      });
      section.append(list);
    } else {
      section.append(h('p', { class: 'transcript-text' }, t.text));
    }
    section.append(h('p', { class: 'muted small' }, `Transcribed by ${t.provider} (${t.model}).`));
  }
  const facts = keyFacts(recording.keyFacts);
  if (facts) section.append(facts);
  return section;
}

async function renderCall(main, id, moveFocus) {
  document.title = 'Call · Pedro';
  replace(main, h('a', { href: '#/calls', class: 'back' }, '← All calls'), viewHeading('Call'), notice('Loading…'));
  try {
    const { call, recordings } = await api('/api/voip/calls/recordings', { query: { callId: id } });
    const isMissed = missed(call);
    const heading = viewHeading(`${call.direction === 'inbound' ? 'Call from' : 'Call to'} ${call.contactName ? `${call.contactName}, ` : ''}${fmt.phone(call.contactNumber)}`);
    const facts = h('dl', { class: 'fact-list call-facts' },
      h('dt', {}, 'When'), h('dd', {}, fmt.fullTime(call.startedAt)),
      h('dt', {}, 'Outcome'), h('dd', {}, OUTCOMES[call.disposition] || call.disposition),
      h('dt', {}, 'Length'), h('dd', {}, fmt.clock(call.durationSeconds)),
      h('dt', {}, 'Practice number'), h('dd', {}, fmt.phone(call.did)),
      isMissed ? [h('dt', {}, 'Missed-call text'), h('dd', {}, call.textedBack ? 'sent' : 'not sent')] : null,
      call.needsReview ? [h('dt', {}, 'Needs review'), h('dd', {}, call.reviewReason || 'yes')] : null);
    replace(main,
      h('a', { href: '#/calls', class: 'back' }, '← All calls'),
      heading,
      facts,
      recordings.length ? recordings.map(recordingSection) : h('p', { class: 'muted' }, 'This call has no recording.'));
    if (moveFocus) heading.focus();
  } catch (error) {
    replace(main, h('a', { href: '#/calls', class: 'back' }, '← All calls'), viewHeading('Call'), notice(error.message, 'error'));
  }
}

export function render(main, { id, params, moveFocus }) {
  if (id) renderCall(main, id, moveFocus);
  else renderList(main, { ...params });
}
