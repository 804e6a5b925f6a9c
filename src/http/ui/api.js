// The API client of the UI. The token lives in sessionStorage: entered once per browser session,
// gone when the tab closes, and sent only as a bearer header (never in URLs).

const KEY = 'cronfleet.token';

export const token = {
  get: () => sessionStorage.getItem(KEY),
  set: (t) => sessionStorage.setItem(KEY, t),
  clear: () => sessionStorage.removeItem(KEY),
};

export class ApiFailure extends Error {
  constructor(status, body) {
    super(body && body.message ? body.message : `HTTP ${status}`);
    this.status = status;
    this.body = body;
  }
}

export async function api(method, path, body) {
  const headers = { authorization: `Bearer ${token.get()}` };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  const data = text ? JSON.parse(text) : null;
  if (!res.ok) {
    if (res.status === 401) window.dispatchEvent(new CustomEvent('cronfleet:unauthorized'));
    throw new ApiFailure(res.status, data);
  }
  return data;
}

export const get = (path) => api('GET', path);
export const post = (path, body) => api('POST', path, body);

/**
 * Follows a run's Server-Sent Events. EventSource cannot send an Authorization header, so the
 * stream is read with fetch and split into events here. Resolves when the stream ends.
 */
export async function follow(runId, onEvent, signal) {
  const res = await fetch(`/api/v1/runs/${runId}/follow`, { headers: { authorization: `Bearer ${token.get()}` }, signal });
  if (!res.ok) throw new ApiFailure(res.status, await res.json().catch(() => null));
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += value;
    let cut;
    while ((cut = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      let event = 'message';
      let data = '';
      for (const line of block.split('\n')) {
        if (line.startsWith('event: ')) event = line.slice(7);
        else if (line.startsWith('data: ')) data += line.slice(6);
      }
      if (data) onEvent(event, JSON.parse(data));
    }
  }
}

/** Downloads the run's full log through fetch, so the token stays in a header. */
export async function downloadLog(runId) {
  const res = await fetch(`/api/v1/runs/${runId}/log`, { headers: { authorization: `Bearer ${token.get()}` } });
  if (!res.ok) throw new ApiFailure(res.status, await res.json().catch(() => null));
  const url = URL.createObjectURL(await res.blob());
  const a = document.createElement('a');
  a.href = url;
  a.download = `run-${runId}.log`;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
