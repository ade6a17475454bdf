// The provisioning and security resources of the API, one page each: list,
// view, create, edit, delete where the API allows it and the role may. The
// forms are built from the API's own OpenAPI schemas, and the API's field
// errors are shown beside the field they name.
import { h, clear, table, text, fmtTime, note, button } from "./dom.js";
import { api, query, schemas, ApiError } from "./api.js";

const enc = encodeURIComponent;
// Rows drawn at first on a resource page.
const SHOWN = 200;
const item = (base) => (r) => base + "/" + enc(r.name);

export const RESOURCES = [
  { path: "mapping-gateways", title: "Mapping gateways", group: "Provisioning", list: "/api/v1/mapping-gateways",
    rows: "mapping_gateways", key: "name", create: "MappingGateway", edit: "MappingGateway", editMethod: "PATCH",
    item: item("/api/v1/mapping-gateways"), del: item("/api/v1/mapping-gateways"),
    columns: ["name", "auth", "addresses", "account", "enabled", "cps", "max_concurrent"] },
  { path: "routing-gateways", title: "Routing gateways", group: "Provisioning", list: "/api/v1/routing-gateways",
    rows: "routing_gateways", key: "name", create: "RoutingGateway", edit: "RoutingGateway", editMethod: "PATCH",
    item: item("/api/v1/routing-gateways"), del: item("/api/v1/routing-gateways"),
    columns: ["name", "address", "transport", "prefixes", "priority", "enabled", "max_concurrent"] },
  { path: "accounts", title: "Accounts", group: "Provisioning", list: "/api/v1/accounts", rows: "accounts",
    key: "name", create: "Account", edit: "Account", editMethod: "PATCH", item: item("/api/v1/accounts"),
    del: item("/api/v1/accounts"), columns: ["name", "cps", "max_concurrent", "caller_lists", "callee_lists"] },
  { path: "fraud-rules", title: "Fraud rules", group: "Provisioning", list: "/api/v1/fraud-rules", rows: "fraud_rules",
    key: "name", create: "FraudRule", edit: "FraudRule", editMethod: "PATCH", item: item("/api/v1/fraud-rules"),
    del: item("/api/v1/fraud-rules"), columns: ["name", "account", "prefixes", "window", "calls_per_minute_critical", "concurrent_critical"] },
  { path: "number-lists", title: "Number lists", group: "Provisioning", list: "/api/v1/number-lists", rows: "number_lists",
    key: "name", create: "NumberListCreate", edit: "NumberListPatch", editMethod: "PATCH", editBlank: true,
    item: item("/api/v1/number-lists"), del: item("/api/v1/number-lists"),
    columns: ["name", "kind", "description", "entries", "created", "updated"] },
  { path: "blacklist", title: "Dynamic blacklist", group: "Security", list: "/api/v1/blacklist?limit=1000", rows: "entries",
    key: "number", create: "BlacklistAdd", delVerb: "Remove", del: (r) => "/api/v1/blacklist/" + enc(r.number) + query({ side: r.side }),
    columns: ["number", "side", "rule", "mode", "gateway", "created", "expires", "hits"] },
  { path: "bans", title: "Bans", group: "Security", list: "/api/v1/bans?limit=1000", rows: "bans", key: "address",
    create: "BanAdd", del: (r) => "/api/v1/bans" + query({ address: r.address }), why: true, delVerb: "Lift",
    columns: ["address", "reason", "detail", "origin", "created", "expires", "hits", "level"] },
  { path: "suspensions", title: "Suspensions", group: "Security", list: "/api/v1/suspensions", rows: "suspensions",
    key: "source", del: (r) => "/api/v1/suspensions" + query({ source: r.source, username: r.username }), delVerb: "Lift",
    columns: ["kind", "username", "source", "since", "until", "remaining_s", "offenses", "failures"] },
  { path: "users", title: "Users", group: "Administration", readRole: "admin", writeRole: "admin", list: "/api/v1/users",
    rows: "users", key: "name", create: "UserCreate", edit: "UserUpdate", editMethod: "PATCH",
    item: item("/api/v1/users"), del: item("/api/v1/users"), password: true,
    columns: ["name", "role", "enabled", "created", "password_changed"] },
  { path: "tokens", title: "API tokens", group: "Administration", writeRole: "readonly", list: "/api/v1/tokens",
    rows: "tokens", key: "id", create: "TokenCreate", delVerb: "Revoke", del: (r) => "/api/v1/tokens/" + enc(r.id),
    columns: ["id", "name", "user", "role", "created", "expires", "last_used"] },
  { path: "lockouts", title: "Login lockouts", group: "Administration", readRole: "admin", writeRole: "admin",
    list: "/api/v1/lockouts", rows: "lockouts", key: "source", delVerb: "Clear",
    del: (r) => "/api/v1/lockouts" + query({ scope: r.scope, account: r.scope === "source" ? "" : r.account,
                                             source: r.scope === "account" ? "" : r.source }),
    columns: ["scope", "account", "source", "failures", "window_start", "locked_until"] },
  { path: "audit", title: "Audit log", group: "Administration", readRole: "admin", list: "/api/v1/audit", rows: "entries",
    key: "id", audit: true, columns: ["id", "time", "actor", "source", "action", "target", "result", "before", "after"] },
];

// "ip | ip_port | password" at the start of a description: the choices.
function choices(prop) {
  const m = /^([a-z0-9_-]+(?: \| [a-z0-9_-]+)+)(?:\s|$|\()/.exec(prop.description || "");
  return m ? m[1].split(" | ") : null;
}

function fieldsOf(schema) {
  return Object.entries(schema.properties || {}).filter(([, p]) => p.format !== "date-time");
}

// A form for `schema`, prefilled from `values`; returns {form, read, showError}.
function buildForm(schema, values, opts) {
  const inputs = {};
  const errors = {};
  const rows = [];
  for (const [name, p] of fieldsOf(schema)) {
    const id = "f-" + name;
    const v = values ? values[name] : undefined;
    let input;
    const opt = choices(p);
    if (p.type === "boolean") {
      input = h("select", { id, name }, ["", "true", "false"].map((o) => h("option", { value: o }, o || "(default)")));
      input.value = v === true ? "true" : v === false ? "false" : "";
    } else if (p.type === "array") {
      input = h("textarea", { id, name, rows: 3, placeholder: 'one per line; "" for an empty entry' });
      input.value = Array.isArray(v) ? v.map((x) => (x === "" ? '""' : x)).join("\n") : "";
    } else if (opt) {
      input = h("select", { id, name }, ["", ...opt].map((o) => h("option", { value: o }, o || "(choose)")));
      input.value = v === undefined || v === null ? "" : String(v);
    } else {
      const secret = p.writeOnly || /password/.test(name);
      input = h("input", { id, name, type: secret ? "password" : p.type === "string" || !p.type ? "text" : "number",
                           step: p.type === "number" ? "any" : null, autocomplete: secret ? "new-password" : "off" });
      input.value = v === undefined || v === null ? "" : String(v);
    }
    if (opts.locked && opts.locked.includes(name)) input.disabled = true;
    inputs[name] = { input, p };
    errors[name] = h("span", { class: "field-error", id: "err-" + name, role: "alert" });
    const req = (schema.required || []).includes(name);
    rows.push(h("div", { class: "field", "data-field": name },
      h("label", { for: id }, name, req ? " *" : ""), input, errors[name],
      p.description ? h("small", null, p.description) : null));
  }
  const general = h("div", { class: "form-error" });
  const submit = h("button", { type: "submit", id: "form-submit" }, opts.submitLabel || "Save");
  const cancel = button("Cancel", opts.onCancel);
  const form = h("form", { class: "edit", id: "resource-form" }, general, rows, h("div", { class: "actions" }, submit, cancel));
  function read() {
    const out = {};
    for (const [name, { input, p }] of Object.entries(inputs)) {
      if (input.disabled) continue;
      const raw = input.value;
      let v;
      if (p.type === "boolean") v = raw === "" ? undefined : raw === "true";
      else if (p.type === "array") {
        v = raw.split("\n").map((s) => s.trim()).filter(Boolean).map((s) => (s === '""' ? "" : s));
      }
      else if (p.type === "integer" || p.type === "number") v = raw === "" ? undefined : Number(raw);
      else v = raw === "" ? undefined : raw;
      if (p.type === "array" && !v.length && !(values && Array.isArray(values[name]) && values[name].length)) v = undefined;
      if (v !== undefined) out[name] = v;
    }
    return out;
  }
  function showError(e) {
    for (const el of Object.values(errors)) el.textContent = "";
    general.replaceChildren();
    if (e instanceof ApiError && e.field && errors[e.field]) {
      errors[e.field].textContent = e.message;
      inputs[e.field].input.classList.add("invalid");
      inputs[e.field].input.focus();
    } else {
      general.append(note("error", (e.field ? e.field + ": " : "") + e.message));
    }
  }
  return { form, read, showError };
}

function cell(v, key) {
  if (/^(time|created|expires|since|until|last_used|last_hit|updated|password_changed|window_start|locked_until)$/.test(key)) {
    return v ? fmtTime(v) : key === "expires" ? "never" : "";
  }
  return text(v);
}

export async function resourcePage(r, main, session) {
  const canWrite = session.can(r.writeRole || "operator");
  const msg = h("div", { id: "resource-msg" });
  const body = h("div", { id: "resource-body" });
  const head = h("div", { class: "toolbar" });
  main.append(h("h1", null, r.title), head, msg, body);
  let filters = {};
  let beforeId = 0;

  async function list() {
    clear(body);
    msg.replaceChildren();
    const t0 = performance.now();
    let data;
    try {
      const url = r.audit ? r.list + query({ ...filters, limit: 100, before_id: beforeId || "" }) : r.list;
      data = await api("GET", url);
    } catch (e) {
      msg.append(note("error", e.message));
      return;
    }
    const rows = data[r.rows] || [];
    const cols = (r.columns || Object.keys(rows[0] || {})).map((k) => [k, k.replace(/_/g, " "), (row) => cell(row[k], k)]);
    const actions = [];
    if (r.item) actions.push(["view", (row) => button(canWrite && r.edit ? "Edit" : "View", () => edit(row), "small")]);
    if (canWrite && r.del) {
      const verb = r.delVerb || "Delete";
      actions.push(["delete", (row) => button(verb, async () => {
        if (!confirm(`${verb} ${row[r.key]}?`)) return;
        try {
          await api("DELETE", r.del(row));
          list();
          msg.replaceChildren(note("ok", `${row[r.key]}: done.`));
        } catch (e) { msg.replaceChildren(note("error", e.message)); }
      }, "small danger")]);
    }
    if (r.password) actions.push(["password", (row) => button("Set password", () => setPassword(row), "small")]);
    for (const [k, render] of actions) cols.push([k, "", render]);
    // Long lists (1,000 bans): a filter over every field, and the first
    // SHOWN rows drawn until asked for all (a table of thousands of rows
    // takes the browser longer to lay out than the node to send).
    const filter = h("input", { id: "resource-filter", type: "search", placeholder: "filter these rows" });
    const holder = h("div");
    const count = h("p", { class: "muted", id: "resource-count" });
    let limit = SHOWN;
    const draw = () => {
      const q = filter.value.trim().toLowerCase();
      const match = q ? rows.filter((row) => Object.values(row).some((v) => text(v).toLowerCase().includes(q))) : rows;
      clear(holder).append(table(cols, match.slice(0, limit), { rowAttrs: (row) => ({ "data-key": String(row[r.key]) }) }));
      count.replaceChildren(`${Math.min(limit, match.length)} of ${match.length} shown · ${body.dataset.loadMs} ms `);
      if (match.length > limit) count.append(button("Show all", () => { limit = Infinity; draw(); }, "small"));
    };
    filter.addEventListener("input", draw);
    body.append(rows.length > 20 ? filter : "", holder);
    if (r.audit) {
      const older = button("Older →", () => { beforeId = data.next_before_id; list(); }, "small");
      older.disabled = !data.next_before_id;
      older.id = "audit-older";
      body.append(h("div", { class: "pager" }, older));
    }
    body.dataset.loadMs = String(Math.round(performance.now() - t0));
    draw();
    body.append(count);
  }

  // The schemas are fetched when a form is first opened, not with the list.
  async function form(schemaName, values, opts) {
    const all = await schemas();
    const f = buildForm(all[schemaName], values, { ...opts, onCancel: () => list() });
    clear(body).append(h("h2", null, opts.title), f.form);
    f.form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      try {
        const out = await opts.send(f.read());
        if (opts.after) opts.after(out);
        else {
          await list();
          msg.replaceChildren(note("ok", "Saved."));
        }
      } catch (e) { f.showError(e); }
    });
  }

  async function edit(row) {
    let full = row;
    try { full = await api("GET", r.item(row)); } catch (e) { /* show the row */ }
    if (!canWrite || !r.edit) {
      clear(body).append(h("h2", null, String(row[r.key])),
        h("dl", { class: "view" }, Object.entries(full).flatMap(([k, v]) => [h("dt", null, k), h("dd", null, text(v))])),
        button("Back", () => list()));
      return;
    }
    const before = r.editBlank ? {} : full;
    await form(r.edit, before, {
      title: "Edit " + row[r.key], locked: [r.key], submitLabel: "Save changes",
      send: (v) => {
        const patch = {};
        for (const [k, x] of Object.entries(v)) if (JSON.stringify(x) !== JSON.stringify(before[k])) patch[k] = x;
        return api(r.editMethod, r.item(row), patch);
      },
    });
    if (r.editBlank) {
      body.append(h("h3", null, "Patterns"), h("pre", { class: "sip" }, (full.numbers || []).join("\n")));
    }
  }

  function setPassword(row) {
    form("PasswordChange", {}, {
      title: "Password of " + row.name, submitLabel: "Set password",
      send: (v) => api("PUT", "/api/v1/users/" + enc(row.name) + "/password", v),
      after: () => { list(); msg.replaceChildren(note("ok", "Password set.")); },
    });
  }

  if (canWrite && r.create) {
    const add = button("New", () => form(r.create, {}, {
      title: "New " + r.title.replace(/s$/, "").toLowerCase(), submitLabel: "Create",
      send: (v) => api("POST", r.list.split("?")[0], v),
      after: r.path === "tokens" ? (t) => {
        list().then(() => msg.replaceChildren(note("ok", "Token created. Copy it now; it is not shown again: "),
          h("code", { id: "token-secret" }, t.token)));
      } : null,
    }), "primary");
    add.id = "resource-new";
    head.append(add);
  }
  if (r.audit) {
    const actor = h("input", { id: "audit-actor", placeholder: "actor" });
    const action = h("input", { id: "audit-action", placeholder: "action (or prefix.)" });
    const f = h("form", { class: "filters" }, actor, action, h("button", { type: "submit" }, "Filter"));
    f.addEventListener("submit", (ev) => {
      ev.preventDefault();
      filters = { actor: actor.value.trim(), action: action.value.trim() };
      beforeId = 0;
      list();
    });
    head.append(f);
  }
  if (r.why) head.append(whyPanel());
  await list();
}

// `ban why`: why an address is (or is not) banned, in words.
function whyPanel() {
  const addr = h("input", { id: "why-address", placeholder: "address to explain" });
  const out = h("div", { id: "why-result", class: "why" });
  const f = h("form", { class: "filters" }, addr, h("button", { type: "submit", id: "why-submit" }, "Why?"));
  f.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    clear(out);
    try {
      const w = await api("GET", "/api/v1/bans/why" + query({ address: addr.value.trim() }));
      out.append(h("p", { class: w.banned ? "bad" : "ok" },
        w.address + (w.banned ? " is banned." : " is not banned.")));
      if (w.trusted) out.append(h("p", null, "It is trusted: " + w.trusted + " (a ban never drops it)."));
      for (const b of w.bans || []) {
        out.append(h("p", null,
          `${b.active ? "Ban" : "Past ban"} on ${b.address}: ${b.reason} (${b.origin}) — ${b.detail}; since ${fmtTime(b.created)}, ` +
          `${b.expires ? "until " + fmtTime(b.expires) : "permanent"}; level ${b.level}; ${b.hits} packets dropped.`));
      }
    } catch (e) { out.append(note("error", e.message)); }
  });
  return h("div", { class: "whybox" }, f, out);
}
