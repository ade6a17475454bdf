// SIP trace: start a filtered trace (gateway, number, source), watch the
// messages arrive, pick a call for its ladder diagram, download what was
// captured as a pcap. Messages are shown as text only (textContent).
import { h, svg, clear, note, button, fmtTime } from "./dom.js";
import { api, query, download } from "./api.js";

// Messages kept in the page (and sent to the pcap download).
const KEEP = 2000;

// "2026-12-07T10:52:25.541467Z" -> µs since the epoch.
function micros(iso) {
  const m = /^(.*?)(?:\.(\d+))?Z$/.exec(iso);
  if (!m) return 0;
  return Date.parse(m[1] + "Z") * 1000 + Number(((m[2] || "") + "000000").slice(0, 6));
}

// A ladder label: the start line, cut to fit between two columns.
function short(summary) {
  const s = summary.replace(/ SIP\/2\.0$/, "").replace(/^SIP\/2\.0 /, "");
  return s.length > 44 ? s.slice(0, 43) + "…" : s;
}

export function render(main) {
  const f = {
    gateway: h("input", { id: "trace-gateway", placeholder: "gateway" }),
    number: h("input", { id: "trace-number", placeholder: "number (contained)" }),
    source: h("input", { id: "trace-source", placeholder: "source IP, CIDR or IP:port" }),
    duration: h("input", { id: "trace-duration", type: "number", min: 1, max: 3600, value: 300, title: "seconds" }),
  };
  const start = h("button", { type: "submit", id: "trace-start" }, "Start trace");
  const stopBtn = button("Stop", () => stop(), "");
  stopBtn.id = "trace-stop";
  stopBtn.disabled = true;
  const pcap = button("Download pcap", async () => {
    try {
      await download("POST", "/api/v1/trace/pcap", { messages: msgs.map((m) => ({
        time_us: micros(m.time), direction: m.direction, transport: m.transport,
        local: m.local, remote: m.remote, message: m.message })) }, "trace.pcap");
    } catch (e) { status.replaceChildren(note("error", e.message)); }
  });
  pcap.id = "trace-pcap";
  const status = h("div", { id: "trace-status" });
  const list = h("tbody", { id: "trace-messages" });
  const callsEl = h("ul", { id: "trace-calls", class: "calls" });
  const ladder = h("div", { id: "trace-ladder", class: "ladder" });
  const detail = h("pre", { id: "trace-detail", class: "sip" });
  const form = h("form", { class: "filters", id: "trace-form" },
    f.gateway, f.number, f.source, h("label", null, "seconds ", f.duration), start, stopBtn, pcap);
  main.append(h("h1", null, "SIP trace"), form, status,
    h("div", { class: "columns trace" },
      h("section", null, h("h2", null, "Messages"),
        h("div", { class: "scroll" }, h("table", { class: "grid" },
          h("thead", null, h("tr", null, ["Time", "Dir", "Peer", "Message", "Mark"].map((t) => h("th", null, t)))), list))),
      h("section", null, h("h2", null, "Calls"), callsEl)),
    h("h2", null, "Ladder"), ladder, h("h2", null, "Message"), detail);

  let msgs = [];
  let abort = null;
  // Calls: both legs of a call in one ladder. A leg is a Call-ID; the node
  // names the caller leg's Call-ID on each carrier leg's messages
  // (caller_call_id), as HEP capture correlates them. Records without it
  // (a leg the node no longer remembers) fall back to order: the carrier
  // leg is the first INVITE tollgate sends after a caller's INVITE arrived
  // (within kPairMs), as a B2BUA does for each call.
  const kPairMs = 10000;
  const groups = new Map();  // group id (the caller leg's Call-ID) -> {msgs, legs, t, paired, inbound}
  const legOf = new Map();   // Call-ID -> group id
  let shownCall = null;

  function group(gid, m) {
    if (!groups.has(gid)) {
      groups.set(gid, { msgs: [], legs: [], t: Date.parse(m.time), paired: false,
                        inbound: m.direction === "in" && m.summary.startsWith("INVITE ") });
      const li = h("li", null, h("a", { href: "#/trace", "data-call-id": gid, onclick: (ev) => {
        ev.preventDefault();
        showLadder(gid);
      } }, gid), " ", h("span", { class: "muted" }, m.summary));
      callsEl.append(li);
    }
    return groups.get(gid);
  }

  function addCall(m) {
    if (!m.call_id) return;
    let gid = legOf.get(m.call_id);
    if (!gid) {
      if (m.caller_call_id) {
        gid = legOf.get(m.caller_call_id) || m.caller_call_id;
        group(gid, m).paired = true;
      } else if (m.direction === "out" && m.summary.startsWith("INVITE ")) {
        const t = Date.parse(m.time);
        for (const [id, g] of [...groups].reverse()) {
          if (!g.paired && g.inbound && t - g.t <= kPairMs) {
            gid = id;
            g.paired = true;
            g.byOrder = true;
            break;
          }
        }
      }
      if (!gid) gid = m.call_id;
      group(gid, m);
      legOf.set(m.call_id, gid);
      if (!groups.get(gid).legs.includes(m.call_id)) groups.get(gid).legs.push(m.call_id);
    }
    groups.get(gid).msgs.push(m);
    if (shownCall === gid) showLadder(gid);
  }

  function showLadder(callId) {
    shownCall = callId;
    const g = groups.get(callId);
    const ms = g ? g.msgs : [];
    // Columns: the caller, tollgate, then the carriers, in order of appearance.
    const cols = [];
    for (const m of ms) {
      for (const a of m.direction === "in" && m.call_id === callId ? [m.remote, m.local] : [m.local, m.remote]) {
        if (!cols.includes(a)) cols.push(a);
      }
    }
    const colW = 320, rowH = 30, top = 40;
    const W = Math.max(1, cols.length) * colW, H = top + ms.length * rowH + 20;
    const x = (a) => cols.indexOf(a) * colW + colW / 2;
    const pic = svg("svg", { viewBox: `0 0 ${W} ${H}`, width: W, height: H, class: "ladder-svg", "data-call-id": callId });
    cols.forEach((a) => {
      pic.append(svg("text", { x: x(a), y: 16, class: "peer", "text-anchor": "middle" }, a));
      pic.append(svg("line", { x1: x(a), y1: 24, x2: x(a), y2: H, class: "life" }));
    });
    ms.forEach((m, i) => {
      const from = m.direction === "in" ? m.remote : m.local;
      const to = m.direction === "in" ? m.local : m.remote;
      const y = top + i * rowH + 16;
      const x1 = x(from), x2 = x(to);
      const g = svg("g", { class: "msg", "data-seq": m.seq });
      g.append(svg("line", { x1, y1: y, x2, y2: y, class: "arrow" }));
      const dirSign = x2 >= x1 ? -1 : 1;
      g.append(svg("path", { d: `M${x2} ${y} l${dirSign * 8} -4 l0 8 z`, class: "head" }));
      g.append(svg("text", { x: (x1 + x2) / 2, y: y - 5, "text-anchor": "middle", class: "label" },
        short(m.summary) + (m.mark ? "  [" + m.mark + "]" : "")));
      g.addEventListener("click", () => { detail.textContent = m.message; });
      pic.append(g);
    });
    clear(ladder).append(h("div", { class: "muted" }, "Call-IDs: " + (g ? g.legs.join(" · ") : callId),
      g && g.byOrder ? " (legs paired by order: the node did not name the caller leg)" : ""), pic);
  }

  function add(m) {
    msgs.push(m);
    if (msgs.length > KEEP) msgs = msgs.slice(-KEEP);
    const tr = h("tr", { "data-seq": m.seq, class: "clickable" },
      h("td", null, fmtTime(m.time)), h("td", null, m.direction === "in" ? "→ in" : "← out"),
      h("td", null, m.remote), h("td", { class: "summary" }, m.summary), h("td", null, m.mark));
    tr.addEventListener("click", () => { detail.textContent = m.message; });
    list.append(tr);
    addCall(m);
  }

  async function run() {
    const q = query({ format: "ndjson", gateway: f.gateway.value.trim(), number: f.number.value.trim(),
                      source: f.source.value.trim(), duration: f.duration.value });
    abort = new AbortController();
    start.disabled = true;
    stopBtn.disabled = false;
    status.replaceChildren(note("info", "Tracing…"));
    status.firstChild.id = "trace-running";
    try {
      const res = await fetch("/api/v1/trace" + q, { credentials: "same-origin", signal: abort.signal,
                                                     headers: { Accept: "application/x-ndjson" } });
      if (!res.ok) {
        const e = await res.json().catch(() => ({}));
        throw new Error((e.field ? e.field + ": " : "") + (e.message || "HTTP " + res.status));
      }
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let buf = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += value;
        let nl;
        while ((nl = buf.indexOf("\n")) >= 0) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          if (line.trim()) add(JSON.parse(line));
        }
      }
      status.replaceChildren(note("ok", `Trace ended: ${msgs.length} messages.`));
    } catch (e) {
      if (e.name !== "AbortError") status.replaceChildren(note("error", e.message));
      else status.replaceChildren(note("ok", `Trace stopped: ${msgs.length} messages.`));
    } finally {
      start.disabled = false;
      stopBtn.disabled = true;
      abort = null;
    }
  }
  function stop() {
    if (abort) abort.abort();
  }
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    msgs = [];
    groups.clear();
    legOf.clear();
    shownCall = null;
    clear(list);
    clear(callsEl);
    clear(ladder);
    detail.textContent = "";
    run();
  });
  return stop;
}
