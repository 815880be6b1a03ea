// Settings (admins): office hours, holidays, time zone, the quiet period, the after-hours note,
// missed-call text-back, and the automatic-reply rules. The API checks everything and says which
// field is wrong (`error.field`); the message is shown next to that field.

import { api } from './api.js';
import { h, replace, notice, announce, viewHeading } from './dom.js';
import { category } from './format.js';

const DAYS = [['mon', 'Monday'], ['tue', 'Tuesday'], ['wed', 'Wednesday'], ['thu', 'Thursday'], ['fri', 'Friday'], ['sat', 'Saturday'], ['sun', 'Sunday']];
let uid = 0;
const nextId = (prefix) => `${prefix}-${++uid}`;

function field(label, input, path, hint) {
  input.id ||= nextId('f');
  const hintEl = hint ? h('p', { class: 'hint', id: `${input.id}-hint` }, hint) : null;
  if (hintEl) input.setAttribute('aria-describedby', hintEl.id);
  return h('div', { class: 'field', dataset: { field: path } }, h('label', { for: input.id }, label), input, hintEl);
}

/** Shows `message` beside the element whose data-field is `path` (or its nearest parent path). */
function showFieldError(form, path, message) {
  let target = null;
  let p = path || '';
  while (p && !target) {
    target = form.querySelector(`[data-field="${CSS.escape(p)}"]`);
    p = p.replace(/(\[\d+\]|\.[^.[\]]+)$/, '');
  }
  target ||= form;
  const id = nextId('err');
  const el = h('p', { class: 'field-error', id, role: 'alert' }, message);
  target.append(el);
  const input = target.querySelector('input, textarea, select');
  if (input) {
    input.setAttribute('aria-invalid', 'true');
    input.setAttribute('aria-describedby', `${input.getAttribute('aria-describedby') || ''} ${id}`.trim());
    input.focus();
  }
}

function clearErrors(form) {
  for (const el of form.querySelectorAll('.field-error')) el.remove();
  for (const el of form.querySelectorAll('[aria-invalid]')) el.removeAttribute('aria-invalid');
}

function rangeRow(day, dayName, index, range, onRemove) {
  const open = h('input', { type: 'time', value: range[0], required: true, class: 'open', id: nextId('open') });
  const close = h('input', { type: 'time', value: range[1], required: true, class: 'close', id: nextId('close') });
  // "Opens" on screen; "Monday opens" to a screen reader, which hears the field out of its fieldset.
  const label = (input, text) => h('label', { for: input.id }, h('span', { class: 'visually-hidden' }, `${dayName} `), text);
  const remove = h('button', { type: 'button', class: 'link-button' }, 'Remove');
  remove.setAttribute('aria-label', `Remove ${dayName} hours ${index + 1}`);
  remove.addEventListener('click', onRemove);
  return h('div', { class: 'range', dataset: { field: `officeHours.${day}[${index}]` } },
    h('div', { class: 'field' }, label(open, 'opens'), open),
    h('span', { 'aria-hidden': 'true', class: 'to' }, '–'),
    h('div', { class: 'field' }, label(close, 'closes'), close),
    remove);
}

function dayFieldset(day, dayName, ranges) {
  const list = h('div', { class: 'ranges' });
  const redraw = () => {
    replace(list, ranges.length
      ? ranges.map((r, i) => rangeRow(day, dayName, i, r, () => { collect(); ranges.splice(i, 1); redraw(); }))
      : h('p', { class: 'muted closed' }, 'Closed'));
  };
  // Reads what was typed back into `ranges` before redrawing.
  const collect = () => {
    list.querySelectorAll('.range').forEach((row, i) => { ranges[i] = [row.querySelector('.open').value, row.querySelector('.close').value]; });
  };
  const add = h('button', { type: 'button', class: 'secondary small', 'aria-label': `Add hours on ${dayName}` }, 'Add hours');
  add.addEventListener('click', () => {
    collect();
    ranges.push(ranges.length ? [ranges[ranges.length - 1][1], '17:00'] : ['09:00', '17:00']);
    redraw();
    list.querySelectorAll('.range input.open')[ranges.length - 1]?.focus();
  });
  redraw();
  const fieldset = h('fieldset', { class: 'day', dataset: { field: `officeHours.${day}`, day } }, h('legend', {}, dayName), list, add);
  fieldset.read = () => { collect(); return ranges.map((r) => [...r]); };
  return fieldset;
}

function holidaysField(holidays) {
  const dates = [...holidays].sort();
  const list = h('ul', { class: 'holidays' });
  const input = h('input', { type: 'date', id: nextId('holiday') });
  const add = h('button', { type: 'button', class: 'secondary small' }, 'Add holiday');
  const redraw = () => replace(list, dates.length ? dates.map((d, i) => {
    const remove = h('button', { type: 'button', class: 'link-button', 'aria-label': `Remove holiday ${d}` }, 'Remove');
    remove.addEventListener('click', () => { dates.splice(i, 1); redraw(); });
    return h('li', { dataset: { field: `holidays[${i}]` } }, h('time', { datetime: d }, d), ' ', remove);
  }) : h('li', { class: 'muted' }, 'No holidays.'));
  add.addEventListener('click', () => {
    if (input.value && !dates.includes(input.value)) { dates.push(input.value); dates.sort(); redraw(); }
    input.value = '';
  });
  redraw();
  const fieldset = h('fieldset', { dataset: { field: 'holidays' } }, h('legend', {}, 'Holidays (closed all day)'), list,
    h('div', { class: 'inline' }, h('label', { for: input.id }, 'Date'), input, add));
  fieldset.read = () => [...dates];
  return fieldset;
}

function practiceForm(settings) {
  const days = DAYS.map(([key, name]) => dayFieldset(key, name, (settings.officeHours[key] || []).map((r) => [...r])));
  const holidays = holidaysField(settings.holidays || []);
  const zones = typeof Intl.supportedValuesOf === 'function' ? Intl.supportedValuesOf('timeZone') : [];
  const timezone = h('input', { type: 'text', value: settings.timezone, list: 'zones', required: true, autocomplete: 'off' });
  const quiet = h('input', { type: 'number', min: 0, step: 1, value: settings.quietHours, required: true });
  const note = h('textarea', { rows: 2 }, settings.afterHoursNote || '');
  const tb = settings.missedCallTextBack || { enabled: false, text: '', minutes: 0 };
  const tbEnabled = h('input', { type: 'checkbox', id: nextId('tb'), checked: Boolean(tb.enabled) });
  const tbText = h('textarea', { rows: 3 }, tb.text || '');
  const tbMinutes = h('input', { type: 'number', min: 0, step: 1, value: tb.minutes ?? 0 });
  const status = h('div', { class: 'form-status' });
  const save = h('button', { type: 'submit', class: 'primary' }, 'Save settings');
  const form = h('form', { class: 'settings card', 'aria-labelledby': 'practice-title', novalidate: true },
    h('h2', { id: 'practice-title' }, `${settings.name}: hours and replies`),
    h('fieldset', { class: 'week', dataset: { field: 'officeHours' } }, h('legend', {}, 'Office hours'), h('div', { class: 'days' }, days)),
    holidays,
    field('Time zone', timezone, 'timezone', 'An IANA zone, e.g. America/Toronto.'),
    h('datalist', { id: 'zones' }, zones.map((z) => h('option', { value: z }))),
    field('Quiet period (hours)', quiet, 'quietHours', 'After an automatic reply, the same question from the same number is not answered again for this long.'),
    field('After-hours note', note, 'afterHoursNote', 'Added to automatic replies sent while the office is closed.'),
    h('fieldset', { dataset: { field: 'missedCallTextBack' } }, h('legend', {}, 'Missed-call text-back'),
      h('div', { class: 'check', dataset: { field: 'missedCallTextBack.enabled' } }, tbEnabled, h('label', { for: tbEnabled.id }, 'Text callers nobody answered')),
      field('Text', tbText, 'missedCallTextBack.text'),
      field('Wait before texting (minutes)', tbMinutes, 'missedCallTextBack.minutes')),
    h('div', { class: 'form-actions' }, save),
    status);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearErrors(form);
    replace(status);
    const officeHours = Object.fromEntries(DAYS.map(([key], i) => [key, days[i].read()]));
    const body = {
      timezone: timezone.value.trim(),
      officeHours,
      holidays: holidays.read(),
      quietHours: Number(quiet.value),
      afterHoursNote: note.value.trim() || null,
      missedCallTextBack: { enabled: tbEnabled.checked, text: tbText.value, minutes: Number(tbMinutes.value) },
    };
    save.disabled = true;
    try {
      await api('/api/voip/settings', { method: 'PUT', body });
      replace(status, notice('Settings saved.'));
      announce('Settings saved.');
    } catch (error) {
      if (error.field) showFieldError(form, error.field, error.message);
      replace(status, notice(`Not saved: ${error.message}`, 'error'));
    } finally {
      save.disabled = false;
    }
  });
  return form;
}

const LIST_FIELDS = [
  ['keywords', 'Keywords'],
  ['weakKeywords', 'Weak keywords (count only with context)'],
  ['contextKeywords', 'Context keywords'],
  ['negations', 'Negations'],
  ['exclusions', 'Exclusions'],
];

function ruleForm(rule) {
  // Consent rules (STOP, START, HELP) answer keywords fixed by the carriers' rules: only their
  // reply text can change, and they stay on.
  const consent = rule.kind === 'consent';
  const enabled = h('input', { type: 'checkbox', id: nextId('rule-on'), checked: rule.enabled, disabled: consent });
  const priority = h('input', { type: 'number', step: 1, min: 0, max: 1000, value: rule.priority ?? 0 });
  const reply = h('textarea', { rows: 3, maxlength: 640 }, rule.replyText || '');
  const lists = consent ? [] : LIST_FIELDS.map(([key, label]) => [key, label, h('textarea', { rows: 4 }, (rule[key] || []).join(', '))]);
  const status = h('div', { class: 'form-status' });
  const save = h('button', { type: 'submit', class: 'secondary' }, `Save “${category(rule.category)}”`);
  const placeholders = rule.placeholders?.length ? `Placeholders: ${rule.placeholders.map((p) => (p.startsWith('{') ? p : `{${p}}`)).join(', ')}.` : null;
  const badge = h('span', { class: `badge ${rule.enabled ? 'badge-ok' : 'badge-muted'}` }, rule.enabled ? 'on' : 'off');
  const summary = h('summary', {}, h('span', { class: 'rule-name' }, category(rule.category)), badge,
    consent ? h('span', { class: 'badge badge-muted' }, 'consent') : null);
  const form = h('form', { class: 'rule', novalidate: true, 'aria-label': `Rule ${category(rule.category)}` },
    h('div', { class: 'check', dataset: { field: 'enabled' } }, enabled,
      h('label', { for: enabled.id }, consent ? 'Always answered (required for consent keywords)' : 'Answer automatically')),
    field('Reply text', reply, 'replyText', placeholders),
    consent ? null : field('Priority', priority, 'priority', 'Higher wins when a text matches several rules; an emergency always wins.'),
    lists.map(([key, label, input]) => field(label, input, key, 'Separated by commas.')),
    h('div', { class: 'form-actions' }, save),
    status);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearErrors(form);
    replace(status);
    const body = { replyText: reply.value };
    if (!consent) {
      body.enabled = enabled.checked;
      body.priority = Number(priority.value);
      for (const [key, , input] of lists) body[key] = input.value.split(',').map((s) => s.trim()).filter(Boolean);
    }
    save.disabled = true;
    try {
      const saved = await api(`/api/voip/settings/rules/${encodeURIComponent(rule.category)}`, { method: 'PUT', body });
      const on = saved?.enabled ?? rule.enabled;
      replace(badge, on ? 'on' : 'off');
      badge.className = `badge ${on ? 'badge-ok' : 'badge-muted'}`;
      replace(status, notice('Rule saved.'));
      announce(`Rule ${category(rule.category)} saved.`);
    } catch (error) {
      if (error.field) showFieldError(form, error.field, error.message);
      replace(status, notice(`Not saved: ${error.message}`, 'error'));
    } finally {
      save.disabled = false;
    }
  });
  return h('details', { class: 'rule-card', dataset: { category: rule.category } }, summary, form);
}

export function render(main) {
  document.title = 'Settings · Pedro';
  const body = h('div', { class: 'settings-body' }, notice('Loading…'));
  replace(main, viewHeading('Settings'), body);
  (async () => {
    try {
      const [settings, { rules }] = await Promise.all([
        api('/api/voip/settings'),
        api('/api/voip/settings/rules'),
      ]);
      replace(body,
        practiceForm(settings),
        h('section', { class: 'card', 'aria-labelledby': 'rules-title' },
          h('h2', { id: 'rules-title' }, 'Automatic replies'),
          h('p', { class: 'muted small' }, 'What each kind of question is answered with, and the words that recognise it.'),
          rules.map(ruleForm)));
    } catch (error) {
      const message = error.status === 403 ? 'Only practice admins can change settings.' : error.message;
      replace(body, notice(message, 'error'));
    }
  })();
}
