// Calls in progress, live from the feed: filter by gateway, number, source
// or state; end a call (operator).
import { h, clear, table, fmtTime, fmtDuration, note, button } from "./dom.js";
import { api } from "./api.js";
import { subscribe } from "./live.js";

export function render(main, session) {
  const f = {
    gateway: h("input", { id: "calls-gateway", placeholder: "gateway" }),
    number: h("input", { id: "calls-number", placeholder: "caller, name or callee contains" }),
    source: h("input", { id: "calls-source", placeholder: "source contains" }),
    state: h("select", { id: "calls-state" }, ["", "routing", "early", "answered", "confirmed"]
      .map((s) => h("option", { value: s }, s || "any state"))),
  };
  const count = h("span", { id: "calls-count" });
  const list = h("div", { id: "calls-list" });
  const msg = h("div", { id: "calls-msg" });
  main.append(h("h1", null, "Calls ", count),
    h("div", { class: "filters" }, Object.values(f)), msg, list);
  let last = null;
  const ending = new Set();

  function draw() {
    if (!last) return;
    const g = f.gateway.value.trim(), n = f.number.value.trim(), s = f.source.value.trim();
    const rows = last.calls.filter((c) =>
      (!g || c.mapping_gateway === g || c.routing_gateway === g) &&
      (!n || c.caller.includes(n) || c.callee.includes(n) || (c.caller_name || "").includes(n)) &&
      (!s || c.source.includes(s)) &&
      (!f.state.value || c.state === f.state.value));
    count.textContent = `(${rows.length} shown of ${last.calls_total})`;
    const cols = [
      ["id", "Id"], ["caller", "Caller"], ["caller_name", "Caller name"], ["callee", "Callee"],
      ["source", "Source"],
      ["mapping_gateway", "From gateway"], ["routing_gateway", "To carrier"], ["state", "State"],
      ["start", "Start", (c) => fmtTime(c.start)],
      ["duration_ms", "Talk", (c) => (c.answer ? fmtDuration(c.duration_ms) : "")],
      ["user_agent", "User-Agent"],
    ];
    if (session.can("operator")) {
      cols.push(["", "", (c) => button(ending.has(c.id) ? "Ending…" : "End call", async (ev) => {
        if (!confirm(`End call ${c.id} (${c.caller} → ${c.callee})?`)) return;
        ending.add(c.id);
        ev.target.disabled = true;
        try {
          await api("DELETE", "/api/v1/calls/" + encodeURIComponent(c.id));
          msg.replaceChildren(note("ok", `Call ${c.id} ended.`));
        } catch (e) {
          msg.replaceChildren(note("error", e.message));
        }
      }, "small danger")]);
    }
    clear(list).append(table(cols, rows, { empty: "no calls in progress",
      rowAttrs: (c) => ({ "data-call": c.id }) }));
  }
  for (const el of Object.values(f)) el.addEventListener("input", draw);
  return subscribe(({ tick }) => {
    if (tick) {
      last = tick;
      draw();
    }
  });
}
