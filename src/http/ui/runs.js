import { downloadLog, follow, get, post } from './api.js';
import { FINAL, duration, h, local, runsTable, status, toast } from './dom.js';

export async function runList(main, { every }) {
  const render = async () => {
    const page = await get('/api/v1/runs?limit=100');
    main.replaceChildren(h('h1', {}, 'Runs'), h('div', { class: 'card' }, runsTable(page.runs)));
  };
  await render();
  every(3000, render);
}

function meta(r) {
  const rows = [
    ['Schedule', h('a', { href: `#/schedules/${encodeURIComponent(r.schedule)}` }, r.schedule)],
    ['Task', r.task],
    ['Status', status(r.status)],
    ['Attempt', String(r.attempt)],
    ['Scheduled', local(r.scheduledAt)],
    ['Started', local(r.startedAt)],
    ['Finished', local(r.finishedAt)],
    ['Duration', duration(r.durationMs)],
    ['Node', r.node ?? '–'],
    ['Exit', r.signal ?? (r.exitCode === null ? '–' : String(r.exitCode))],
    ['Reason', r.reason ?? '–'],
    ['Manual', r.manual ? 'yes (run now)' : 'no'],
  ];
  return h('dl', { class: 'meta', id: 'meta' }, rows.map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));
}

export async function runPage(main, { params, onLeave }) {
  const id = Number(params[0]);
  let run = await get(`/api/v1/runs/${id}`);
  const out = h('pre', { class: 'output', id: 'output' });
  const metaBox = h('section', { class: 'card' }, h('h2', {}, 'Run'), meta(run));
  const cancel = h('button', { type: 'button', class: 'danger', id: 'cancel', onclick: async () => {
    try {
      run = await post(`/api/v1/runs/${id}/cancel`);
      toast(run.status === 'cancelled' ? `Run #${id} cancelled` : `Stop requested for run #${id}`);
    } catch (err) {
      toast(err.message);
    }
  } }, 'Cancel');
  const download = h('button', { type: 'button', class: 'secondary', id: 'download', onclick: () => downloadLog(id).catch((err) => toast(err.message)) }, 'Download full log');
  const live = h('span', { class: 'muted', id: 'live' });
  const update = (r) => {
    run = r;
    metaBox.replaceChildren(h('h2', {}, 'Run'), meta(r));
    cancel.hidden = FINAL.includes(r.status);
    live.textContent = FINAL.includes(r.status) ? '' : 'live';
  };
  main.replaceChildren(
    h('h1', {}, `Run #${id} `, status(run.status)),
    h('div', { class: 'actions' }, cancel, download),
    h('div', { class: 'grid' }, metaBox, h('section', { class: 'card wide' }, h('h2', {}, 'Output ', live), out)),
  );
  update(run);

  const append = (stream, text) => {
    if (stream === 'stderr') out.append(h('span', { class: 'err' }, text));
    else out.append(text);
    out.scrollTop = out.scrollHeight;
  };
  // Output streams in through SSE while the run goes on; a finished run's stream ends at once.
  const abort = new AbortController();
  onLeave(() => abort.abort());
  follow(
    id,
    (event, data) => {
      if (event === 'run') update(data);
      else if (event === 'output') append(data.stream, data.text);
      else if (event === 'reset') {
        for (const node of [...out.childNodes]) if ((node.className === 'err') === (data.stream === 'stderr')) node.remove();
        append(data.stream, data.text);
      } else if (event === 'end') {
        update(data.run);
        main.querySelector('h1').replaceChildren(`Run #${id} `, status(data.run.status));
      }
    },
    abort.signal,
  ).catch((err) => {
    if (err.name !== 'AbortError') toast(err.message);
  });
}
