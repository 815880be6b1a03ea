// How numbers, times and phone numbers are shown.

const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });
const timeOnly = new Intl.DateTimeFormat(undefined, { timeStyle: 'short' });
const dayOnly = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium' });

/** `+14385550199` as `(438) 555-0199`; anything else as it came. */
export function phone(number) {
  const m = /^\+1(\d{3})(\d{3})(\d{4})$/.exec(number || '');
  return m ? `(${m[1]}) ${m[2]}-${m[3]}` : String(number ?? '');
}

/** A time: only the clock for today, the date too otherwise. */
export function when(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  const today = new Date();
  return d.toDateString() === today.toDateString() ? timeOnly.format(d) : dateTime.format(d);
}

export function fullTime(iso) {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? '' : dateTime.format(d);
}

export function day(isoDate) {
  // A bare date is a local calendar day, not UTC midnight.
  const [y, m, d] = isoDate.split('-').map(Number);
  return dayOnly.format(new Date(y, m - 1, d));
}

/** Seconds as `m:ss` (or `h:mm:ss`). */
export function clock(seconds) {
  const s = Math.max(0, Math.floor(seconds || 0));
  const hours = Math.floor(s / 3600);
  const mm = String(Math.floor((s % 3600) / 60));
  const ss = String(s % 60).padStart(2, '0');
  return hours ? `${hours}:${mm.padStart(2, '0')}:${ss}` : `${mm}:${ss}`;
}

/** A 0..1 rate as a percentage with one decimal. */
export function percent(rate) {
  return `${(Number(rate) * 100).toFixed(1)}%`;
}

/** The local date `YYYY-MM-DD`, `offset` days from today. */
export function isoDay(offset = 0) {
  const d = new Date();
  d.setDate(d.getDate() + offset);
  const pad = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}

const CATEGORY_NAMES = {
  appointment: 'appointments',
  emergency: 'emergency',
  office_hours: 'office hours',
  location: 'location',
  insurance: 'insurance',
  optout: 'opt-out (STOP)',
  optin: 'opt-in (START)',
  help: 'help',
  missed_call: 'missed call',
};

export function category(name) {
  return CATEGORY_NAMES[name] || String(name || '').replace(/_/g, ' ');
}
