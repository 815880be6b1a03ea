// Sign-in with Supabase Auth (email and password). The session lives in sessionStorage (gone when
// the tab closes) and is refreshed a minute before it expires. Under `auth: "none"` (`pedro serve
// --insecure-no-auth`) there is no sign-in and the server treats every request as the service role.

const KEY = 'pedro.console.session';
let config = { auth: 'none' };
let session = null;
let refreshTimer = null;
const listeners = new Set();

export async function init(cfg) {
  config = cfg;
  if (config.auth !== 'supabase') return;
  try {
    session = JSON.parse(sessionStorage.getItem(KEY) || 'null');
  } catch {
    session = null;
  }
  if (session && session.expiresAt < Date.now() + 30_000) {
    // Expired (or about to) while the tab slept: the refresh token may still be good. Settled
    // before the first view asks the API anything.
    await refresh().catch(() => {
      session = null;
      sessionStorage.removeItem(KEY);
    });
  } else if (session) {
    schedule();
  }
}

export function required() {
  return config.auth === 'supabase';
}

export function signedIn() {
  return !required() || Boolean(session?.accessToken);
}

export function token() {
  return session?.accessToken || null;
}

/** Called with `(signedIn, reason)` whenever that changes. */
export function onChange(fn) {
  listeners.add(fn);
}

function notify(reason) {
  for (const fn of listeners) fn(signedIn(), reason);
}

async function tokenRequest(grant, body) {
  if (!config.supabaseUrl || !config.supabaseAnonKey) {
    throw new Error('Sign-in is not configured (SUPABASE_URL and SUPABASE_ANON_KEY).');
  }
  const url = `${config.supabaseUrl.replace(/\/$/, '')}/auth/v1/token?grant_type=${grant}`;
  const response = await fetch(url, {
    method: 'POST',
    headers: { apikey: config.supabaseAnonKey, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) {
    throw new Error(data.error_description || data.msg || data.message || 'Sign-in failed.');
  }
  store(data);
}

function store(data) {
  session = {
    accessToken: data.access_token,
    refreshToken: data.refresh_token,
    expiresAt: Date.now() + Number(data.expires_in || 3600) * 1000,
  };
  sessionStorage.setItem(KEY, JSON.stringify(session));
  schedule();
}

function schedule() {
  clearTimeout(refreshTimer);
  const wait = Math.max(5_000, session.expiresAt - Date.now() - 60_000);
  refreshTimer = setTimeout(() => refresh().catch(() => signOut('Your session ended. Please sign in again.')), wait);
}

export async function signIn(email, password) {
  await tokenRequest('password', { email, password });
  notify();
}

export async function refresh() {
  if (!session?.refreshToken) throw new Error('no session');
  await tokenRequest('refresh_token', { refresh_token: session.refreshToken });
}

export function signOut(reason) {
  const old = session;
  clearTimeout(refreshTimer);
  session = null;
  sessionStorage.removeItem(KEY);
  if (old?.accessToken && config.supabaseUrl) {
    // Ends the refresh token on Supabase's side too; the page is signed out either way.
    fetch(`${config.supabaseUrl.replace(/\/$/, '')}/auth/v1/logout`, {
      method: 'POST',
      headers: { apikey: config.supabaseAnonKey, authorization: `Bearer ${old.accessToken}` },
    }).catch(() => {});
  }
  notify(reason);
}

/** The access token's claims (not verified here: the API verifies it; this only shapes the page). */
export function claims() {
  const jwt = token();
  if (!jwt) return {};
  try {
    const payload = jwt.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    const json = decodeURIComponent(
      Array.from(atob(payload), (c) => `%${c.charCodeAt(0).toString(16).padStart(2, '0')}`).join(''),
    );
    return JSON.parse(json);
  } catch {
    return {};
  }
}

/** Admins (and the service role, and everyone without sign-in) see analytics and settings. */
export function isAdmin() {
  if (!required()) return true;
  const c = claims();
  return c.role === 'service_role' || c.app_metadata?.practice_role === 'admin';
}

export function who() {
  const c = claims();
  return c.email || '';
}
