// Analytics for a chosen range: the headline figures (exactly GET /api/voip/analytics), per-day
// charts of calls, missed calls, texts and automatic replies (uPlot), and the busiest hours.

import uPlot from '../vendor/uplot/uPlot.esm.js';
import { api } from './api.js';
import { h, replace, notice, viewHeading } from './dom.js';
import * as fmt from './format.js';

/** The headline figures: [path in `analytics`, label, format]. The browser test reads them back. */
export const FIGURES = [
  ['calls.total', 'Calls', 'count'],
  ['calls.missed', 'Missed calls', 'count'],
  ['calls.missedFollowUp.reachedAgain', 'Missed callers reached again', 'count'],
  ['calls.missedFollowUp.reachedAgainRate', 'Reached again (share)', 'percent'],
  ['calls.completionRate', 'Calls completed (share)', 'percent'],
  ['calls.averageDuration', 'Average answered call', 'seconds'],
  ['sms.received', 'Texts received', 'count'],
  ['sms.sent', 'Texts sent', 'count'],
  ['sms.autoReplies.total', 'Automatic replies', 'count'],
  ['sms.deliveryRate', 'Delivered (share)', 'percent'],
  ['sms.review.flagged', 'Texts flagged for a person', 'count'],
  ['sms.review.medianWaitSeconds', 'Median wait for review', 'seconds'],
  ['sms.optOuts', 'Opt-outs', 'count'],
  ['transcription.recordings', 'Recordings transcribed', 'count'],
];

export function formatFigure(value, format) {
  if (format === 'percent') return fmt.percent(value);
  if (format === 'seconds') return fmt.clock(value);
  return String(value);
}

function pick(object, path) {
  return path.split('.').reduce((o, k) => (o == null ? undefined : o[k]), object);
}

// Colours and dashes tell the series apart without relying on colour alone.
const SERIES = {
  calls: [
    { label: 'Calls', value: (d) => d.calls.total, stroke: '#0b5f75', dash: [] },
    { label: 'Missed calls', value: (d) => d.calls.missed, stroke: '#b3261e', dash: [6, 4] },
  ],
  texts: [
    { label: 'Texts', value: (d) => d.sms.total, stroke: '#2e6b30', dash: [] },
    { label: 'Automatic replies', value: (d) => d.sms.autoReplies.total, stroke: '#6a3d9a', dash: [2, 3] },
  ],
};

function dayStamp(iso) {
  const [y, m, d] = iso.split('-').map(Number);
  return new Date(y, m - 1, d).getTime() / 1000;
}

function chart(title, id, series, daily) {
  const box = h('div', { class: 'chart', role: 'img', 'aria-labelledby': `${id}-title`, 'aria-describedby': `${id}-desc` });
  const totals = series.map((s) => `${s.label}: ${daily.reduce((sum, d) => sum + s.value(d), 0)}`).join(', ');
  const figure = h('figure', { class: 'chart-card card' },
    h('figcaption', { id: `${id}-title` }, title),
    h('ul', { class: 'legend', 'aria-hidden': 'true' }, series.map((s) =>
      h('li', {}, h('span', { class: `swatch swatch-${s.dash.length ? 'dashed' : 'solid'}`, dataset: { color: s.stroke } }), s.label))),
    box,
    h('p', { id: `${id}-desc`, class: 'visually-hidden' }, `Per day, ${daily.length} days. Totals: ${totals}. The table below lists each day.`));
  // Swatch colours are set through the CSSOM (allowed by the CSP, unlike style attributes).
  for (const swatch of figure.querySelectorAll('.swatch')) swatch.style.borderColor = swatch.dataset.color;
  const data = [daily.map((d) => dayStamp(d.date)), ...series.map((s) => daily.map(s.value))];
  const make = () => {
    const width = Math.max(260, box.clientWidth || 600);
    box.replaceChildren();
    return new uPlot({
      width,
      height: 220,
      legend: { show: false },
      cursor: { drag: { x: false, y: false } },
      scales: { x: { time: true }, y: { range: (u, min, max) => [0, Math.max(4, max)] } },
      axes: [{ stroke: '#333' }, { stroke: '#333', incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000] }],
      series: [{}, ...series.map((s) => ({ label: s.label, stroke: s.stroke, width: 2, dash: s.dash, points: { show: daily.length < 40 } }))],
    }, data, box);
  };
  return { figure, make, box };
}

function dailyTable(daily) {
  return h('details', { class: 'card' },
    h('summary', {}, 'Per-day figures as a table'),
    h('div', { class: 'table-wrap', tabindex: '0', role: 'region', 'aria-label': 'Per-day figures' },
      h('table', { class: 'daily' },
        h('thead', {}, h('tr', {}, ['Day', 'Calls', 'Missed', 'Texts', 'Automatic replies'].map((t) => h('th', { scope: 'col' }, t)))),
        h('tbody', {}, daily.map((d) => h('tr', {},
          h('th', { scope: 'row' }, fmt.day(d.date)),
          h('td', {}, d.calls.total), h('td', {}, d.calls.missed), h('td', {}, d.sms.total), h('td', {}, d.sms.autoReplies.total)))))));
}

const WEEKDAYS = { monday: 'Mon', tuesday: 'Tue', wednesday: 'Wed', thursday: 'Thu', friday: 'Fri', saturday: 'Sat', sunday: 'Sun' };

function busiestHours(b) {
  const totals = b.calls.map((row, i) => row.map((n, hour) => n + b.texts[i][hour]));
  const max = Math.max(1, ...totals.flat());
  const level = (n) => (n === 0 ? 0 : Math.min(5, Math.ceil((n / max) * 5)));
  return h('section', { class: 'card', 'aria-labelledby': 'busiest-title' },
    h('h2', { id: 'busiest-title' }, 'Busiest hours'),
    h('p', { class: 'muted small' }, 'Incoming calls and texts by weekday and hour, in the practice’s time zone. Darker is busier.'),
    h('div', { class: 'table-wrap', tabindex: '0', role: 'region', 'aria-label': 'Busiest hours grid' },
      h('table', { class: 'heat' },
        h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, h('span', { class: 'visually-hidden' }, 'Weekday')),
          Array.from({ length: 24 }, (_, hour) => h('th', { scope: 'col' }, String(hour))))),
        h('tbody', {}, b.weekdays.map((day, i) => h('tr', {},
          h('th', { scope: 'row' }, WEEKDAYS[day] || day),
          totals[i].map((n, hour) => h('td', {
            class: `heat-${level(n)}`,
            title: `${WEEKDAYS[day]} ${hour}:00 — ${b.calls[i][hour]} calls, ${b.texts[i][hour]} texts`,
          }, n ? String(n) : h('span', { class: 'visually-hidden' }, '0')))))))));
}

export function render(main, { params }) {
  document.title = 'Analytics · Pedro';
  const start = params.start || fmt.isoDay(-29);
  const end = params.end || fmt.isoDay(0);
  const form = h('form', { class: 'filters', 'aria-label': 'Period' },
    h('div', { class: 'field' }, h('label', { for: 'start' }, 'From'), h('input', { type: 'date', id: 'start', name: 'start', value: start, required: true })),
    h('div', { class: 'field' }, h('label', { for: 'end' }, 'To'), h('input', { type: 'date', id: 'end', name: 'end', value: end, required: true })),
    h('div', { class: 'field field-button' }, h('button', { type: 'submit', class: 'primary' }, 'Show')));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    location.hash = `#/analytics?${new URLSearchParams(new FormData(form))}`;
  });
  const body = h('div', { class: 'analytics' }, notice('Loading…'));
  replace(main, viewHeading('Analytics'), form, body);
  const plots = [];
  let observer = null;
  (async () => {
    try {
      const { analytics: a } = await api('/api/voip/analytics', { query: { startDate: start, endDate: end } });
      const figures = h('dl', { class: 'figures', id: 'figures', dataset: { start: a.startDate, end: a.endDate } },
        FIGURES.map(([path, label, format]) => h('div', { class: 'figure', dataset: { figure: path, format } },
          h('dt', {}, label), h('dd', {}, formatFigure(pick(a, path), format)))));
      const calls = chart('Calls and missed calls per day', 'chart-calls', SERIES.calls, a.daily);
      const texts = chart('Texts and automatic replies per day', 'chart-texts', SERIES.texts, a.daily);
      replace(body,
        h('p', { class: 'muted' }, `${fmt.day(a.startDate)} to ${fmt.day(a.endDate)} (${a.days} days, ${a.timezone}).`),
        h('section', { 'aria-label': 'Headline figures' }, figures),
        h('div', { class: 'charts' }, calls.figure, texts.figure),
        dailyTable(a.daily),
        busiestHours(a.busiestHours));
      for (const c of [calls, texts]) plots.push({ chart: c, plot: c.make() });
      // Charts follow their box's width (a phone, a resized window).
      observer = new ResizeObserver(() => {
        for (const p of plots) {
          const width = Math.max(260, p.chart.box.clientWidth);
          if (Math.abs(width - p.plot.width) > 4) p.plot.setSize({ width, height: 220 });
        }
      });
      for (const p of plots) observer.observe(p.chart.box);
    } catch (error) {
      replace(body, notice(error.message, 'error'));
    }
  })();
  return () => {
    observer?.disconnect();
    for (const p of plots) p.plot.destroy();
  };
}
