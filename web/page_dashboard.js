// Dashboard: live figures (calls/s, ASR, ACD, active calls), shield drops by
// reason, newest bans (lift one), carrier health and charts of the last
// hour, all from the live feed.
import { h, clear, table, fmtNum, fmtTime, note, button } from "./dom.js";
import { api, query } from "./api.js";
import { subscribe } from "./live.js";
import { sparkline } from "./chart.js";

function tile(id, label) {
  const value = h("div", { class: "value", id }, "–");
  return [h("div", { class: "tile" }, h("div", { class: "label" }, label), value), value];
}

export function render(main, session) {
  const [cpsTile, cps] = tile("dash-cps", "Calls/s");
  const [asrTile, asr] = tile("dash-asr", "ASR (hour)");
  const [acdTile, acd] = tile("dash-acd", "ACD (hour)");
  const [actTile, active] = tile("dash-active", "Active calls");
  const [banTile, bansActive] = tile("dash-bans-active", "Bans in force");
  const drops = h("div", { id: "dash-drops" });
  const bans = h("div", { id: "dash-bans" });
  const carriers = h("div", { id: "dash-carriers" });
  const charts = h("div", { class: "charts", id: "dash-charts" });
  const msg = h("div");
  main.append(h("h1", null, "Dashboard"),
    h("div", { class: "tiles" }, cpsTile, asrTile, acdTile, actTile, banTile), msg, charts,
    h("div", { class: "columns" },
      h("section", null, h("h2", null, "Shield drops by reason (hour)"), drops),
      h("section", null, h("h2", null, "Newest bans"), bans),
      h("section", null, h("h2", null, "Carrier health"), carriers)));

  let prev = null;
  let banKey = null;
  async function loadBans() {
    try {
      const r = await api("GET", "/api/v1/bans" + query({ limit: 8 }));
      const cols = [
        ["address", "Address"], ["reason", "Reason"], ["detail", "Detail"],
        ["created", "Since", (b) => fmtTime(b.created)],
        ["expires", "Until", (b) => (b.expires ? fmtTime(b.expires) : "permanent")],
      ];
      if (session.can("operator")) {
        cols.push(["", "", (b) => button("Lift", async () => {
          try {
            await api("DELETE", "/api/v1/bans" + query({ address: b.address }));
            banKey = null;
            loadBans();
          } catch (e) { msg.replaceChildren(note("error", e.message)); }
        }, "small danger")]);
      }
      clear(bans).append(table(cols, r.bans, { empty: "no bans in force",
        rowAttrs: (b) => ({ "data-address": b.address }) }));
    } catch (e) {
      clear(bans).append(note("error", e.message));
    }
  }

  const stop = subscribe(({ tick, history }) => {
    if (tick) {
      if (prev) {
        const dt = Math.max(0.5, (Date.parse(tick.time) - Date.parse(prev.time)) / 1000);
        cps.textContent = fmtNum((tick.invites - prev.invites) / dt, 1);
      }
      prev = tick;
      active.textContent = String(tick.active_calls);
      asr.textContent = tick.hour.asr === null ? "–" : fmtNum(tick.hour.asr, 1) + " %";
      acd.textContent = tick.hour.acd === null ? "–" : fmtNum(tick.hour.acd, 0) + " s";
      bansActive.textContent = String(tick.bans_active);
      const rows = Object.entries(tick.hour.shield_drops).map(([reason, n]) => ({ reason, n }));
      clear(drops).append(table([["reason", "Reason"], ["n", "Dropped"]], rows.filter((r) => r.n > 0),
        { empty: "nothing dropped", rowAttrs: (r) => ({ "data-reason": r.reason }) }));
      clear(carriers).append(table([
        ["name", "Carrier"], ["address", "Address"],
        ["in_rotation", "State", (c) => h("span", { class: c.in_rotation ? "ok" : "bad" },
          !c.monitored ? "not monitored" : c.in_rotation ? "in rotation" : "out of rotation")],
        ["missed_in_a_row", "Missed"],
      ], tick.carriers, { empty: "no carriers" }));
      const key = [tick.bans_placed, tick.bans_lifted, tick.bans_expired, tick.bans_active].join("/");
      if (key !== banKey) {
        banKey = key;
        loadBans();
      }
    }
    if (history) {
      const p = history.points;
      clear(charts).append(
        sparkline("Calls/s", p, "cps", "", 1),
        sparkline("ASR", p, "asr", " %", 0),
        sparkline("ACD", p, "acd", " s", 0),
        sparkline("Active calls", p, "active", "", 0),
        sparkline("Shield drops/s", p, "drops", "", 1));
    }
  });
  return stop;
}
