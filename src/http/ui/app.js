import { ApiFailure, get, token } from './api.js';
import { dashboard } from './dashboard.js';
import { h } from './dom.js';
import { nodesPage } from './nodes.js';
import { runList, runPage } from './runs.js';
import { scheduleList, schedulePage } from './schedules.js';

const main = document.getElementById('main');
const nav = document.getElementById('nav');
const who = document.getElementById('who');

const routes = [
  [/^#?\/?$/, dashboard],
  [/^#\/schedules$/, scheduleList],
  [/^#\/schedules\/(.+)$/, schedulePage],
  [/^#\/runs$/, runList],
  [/^#\/runs\/(\d+)$/, runPage],
  [/^#\/nodes$/, nodesPage],
];

// Timers and streams of the page being shown; leaving it stops them.
let cleanups = [];
function leave() {
  for (const fn of cleanups.splice(0)) fn();
}

function showError(err) {
  main.replaceChildren(h('h1', {}, 'Something went wrong'), h('p', { class: 'error' }, err instanceof ApiFailure ? `${err.message} (HTTP ${err.status})` : String(err)));
}

async function show() {
  leave();
  if (!token.get()) return login();
  const hash = location.hash || '#/';
  const match = routes.map(([re, page]) => [re.exec(hash), page]).find(([m]) => m);
  if (!match) return main.replaceChildren(h('h1', {}, 'Not found'), h('p', {}, h('a', { href: '#/' }, 'Back to the dashboard')));
  const [m, page] = match;
  const ctx = {
    params: m.slice(1),
    go: (to) => (location.hash = to),
    onLeave: (fn) => cleanups.push(fn),
    every(ms, fn) {
      let stopped = false;
      const tick = async () => {
        if (stopped) return;
        try {
          await fn();
        } catch (err) {
          if (!stopped) showError(err);
        }
        if (!stopped) timer = setTimeout(tick, ms);
      };
      let timer = setTimeout(tick, ms);
      cleanups.push(() => {
        stopped = true;
        clearTimeout(timer);
      });
    },
  };
  try {
    await page(main, ctx);
  } catch (err) {
    showError(err);
  }
}

function login(message) {
  nav.hidden = true;
  who.textContent = '';
  const input = h('input', { type: 'password', id: 'token', name: 'token', autocomplete: 'off', placeholder: 'cf_…', required: true });
  const error = h('p', { class: 'error', id: 'login-error' }, message ?? '');
  const form = h(
    'form',
    { class: 'login card', id: 'login', onsubmit: async (e) => {
      e.preventDefault();
      token.set(input.value.trim());
      try {
        await start();
      } catch (err) {
        token.clear();
        error.textContent = err instanceof ApiFailure && err.status === 401 ? 'That token is unknown or revoked.' : String(err.message ?? err);
      }
    } },
    h('h1', {}, 'Sign in'),
    h('label', { for: 'token' }, 'API token'),
    input,
    h('p', { class: 'muted' }, 'Create one on a node with: cronfleet token create --role viewer --name you. It is kept for this browser tab only.'),
    error,
    h('button', { type: 'submit' }, 'Sign in'),
  );
  main.replaceChildren(form);
  input.focus();
}

async function start() {
  const me = await get('/api/v1/whoami');
  who.textContent = `${me.name} (${me.role}) on ${me.node}`;
  nav.hidden = false;
  await show();
}

document.getElementById('logout').addEventListener('click', () => {
  token.clear();
  leave();
  login();
});
window.addEventListener('hashchange', show);
window.addEventListener('cronfleet:unauthorized', () => {
  // While signing in, the form reports a bad token itself.
  if (nav.hidden) return;
  token.clear();
  leave();
  login('Your token is no longer valid.');
});

if (token.get()) start().catch(() => login()); else login();
