// The live feed (GET /api/v1/live, server-sent events): one EventSource
// for the whole console, shared by the pages that show live figures. The
// browser reconnects by itself when the node ends a stream.

let source = null;
const listeners = new Set();
let last = { tick: null, history: null };

export function subscribe(fn) {
  listeners.add(fn);
  if (last.tick || last.history) fn(last);
  return () => listeners.delete(fn);
}

function emit() {
  for (const fn of listeners) fn(last);
}

export function startLive() {
  if (source) return;
  source = new EventSource("/api/v1/live", { withCredentials: true });
  source.addEventListener("tick", (e) => {
    last = { ...last, tick: JSON.parse(e.data) };
    emit();
  });
  source.addEventListener("history", (e) => {
    last = { ...last, history: JSON.parse(e.data) };
    emit();
  });
  source.addEventListener("end", () => stopLive());
  source.addEventListener("open", () => document.body.classList.remove("offline"));
  source.addEventListener("error", () => document.body.classList.add("offline"));
}

export function stopLive() {
  if (source) source.close();
  source = null;
  last = { tick: null, history: null };
}
