// CDR search: time range, gateway, number, reason; pages of 50 newest
// first (paging by id, as the API does); CSV export of every match.
import { h, clear, table, fmtTime, note, button } from "./dom.js";
import { api, query, downloadUrl } from "./api.js";

const REASONS = ["caller_bye", "callee_bye", "busy", "no_answer", "cancelled", "rejected", "no_route",
  "route_failed", "unknown_source", "port_mismatch", "bad_request", "too_many_hops", "ack_timeout",
  "draining", "internal_error", "auth_failed", "callee_offline", "carrier_auth_failed", "cps_limit",
  "concurrent_limit", "caller_blacklisted", "callee_blacklisted", "max_duration", "fraud_threshold",
  "carrier_unavailable", "admin_hangup", "invalid_number", "overload"];
const PAGE = 50;

// <input type="datetime-local"> value (UTC) -> API time.
function utc(v) {
  return v ? v + (v.length === 16 ? ":00Z" : "Z") : "";
}

export function render(main) {
  const f = {
    from: h("input", { id: "cdr-from", type: "datetime-local", step: 1, title: "start from (UTC)" }),
    to: h("input", { id: "cdr-to", type: "datetime-local", step: 1, title: "start before (UTC)" }),
    gateway: h("input", { id: "cdr-gateway", placeholder: "gateway (either side)" }),
    number: h("input", { id: "cdr-number", placeholder: "caller or callee" }),
    reason: h("select", { id: "cdr-reason" }, h("option", { value: "" }, "any reason"),
      REASONS.map((r) => h("option", { value: r }, r))),
  };
  const list = h("div", { id: "cdr-list" });
  const msg = h("div", { id: "cdr-msg" });
  const pageInfo = h("span", { id: "cdr-page" });
  const newer = button("← Newer", () => { pages.pop(); load(pages[pages.length - 1]); }, "small");
  const older = button("Older →", () => { pages.push(next); load(next); }, "small");
  newer.id = "cdr-newer";
  older.id = "cdr-older";
  const search = h("button", { type: "submit", id: "cdr-search" }, "Search");
  const csv = button("Export CSV", () => {
    downloadUrl("/api/v1/cdrs" + query({ ...params(), format: "csv" }), "cdrs.csv");
  });
  csv.id = "cdr-csv";
  const form = h("form", { class: "filters", id: "cdr-form" },
    h("label", null, "From (UTC) ", f.from), h("label", null, "To ", f.to), f.gateway, f.number, f.reason, search, csv);
  main.append(h("h1", null, "CDRs"), form, msg, list, h("div", { class: "pager" }, newer, pageInfo, older));

  let pages = [0];
  let next = 0;
  function params() {
    return { from: utc(f.from.value), to: utc(f.to.value), gateway: f.gateway.value.trim(),
             number: f.number.value.trim(), reason: f.reason.value };
  }
  async function load(beforeId) {
    msg.replaceChildren();
    const t0 = performance.now();
    try {
      const r = await api("GET", "/api/v1/cdrs" + query({ ...params(), limit: PAGE, before_id: beforeId || "" }));
      next = r.next_before_id || 0;
      clear(list).append(table([
        ["id", "Id"], ["start", "Start (UTC)", (c) => fmtTime(c.start)], ["caller", "Caller"],
        ["callee", "Callee"], ["source", "Source"], ["mapping_gateway", "From gateway"],
        ["routing_gateway", "To carrier"], ["final_code", "Code"],
        ["duration_ms", "Talk s", (c) => String(Math.round((c.duration_ms || 0) / 1000))],
        ["reason", "Reason"], ["caller_raw", "Caller as sent"], ["callee_raw", "Callee as sent"],
      ], r.cdrs, { empty: "no CDRs match", rowAttrs: (c) => ({ "data-cdr": c.id }) }));
      newer.disabled = pages.length <= 1;
      older.disabled = !next;
      pageInfo.textContent = `page ${pages.length} · ${r.cdrs.length} rows · ${Math.round(performance.now() - t0)} ms`;
      list.dataset.loaded = String(Date.now());
    } catch (e) {
      msg.replaceChildren(note("error", (e.field ? e.field + ": " : "") + e.message));
    }
  }
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    pages = [0];
    load(0);
  });
  load(0);
}
