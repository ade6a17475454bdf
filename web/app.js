// The tollgate web console: login, the page frame (navigation by role) and
// the hash router. Pages are modules with render(main, session) that
// return an optional cleanup function (called when the page is left).
import { api, setCsrf, whenUnauthenticated, ApiError } from "./api.js";
import { h, clear, note } from "./dom.js";
import { startLive, stopLive } from "./live.js";
import * as dashboard from "./page_dashboard.js";
import * as calls from "./page_calls.js";
import * as cdrs from "./page_cdrs.js";
import * as trace from "./page_trace.js";
import { resourcePage, RESOURCES } from "./page_resources.js";

const RANK = { readonly: 0, operator: 1, admin: 2 };

// Every page: path, title, the role that sees it, and how it renders.
// A role below `role` gets no link and no page (the API refuses it anyway).
const PAGES = [
  { path: "dashboard", title: "Dashboard", role: "readonly", page: dashboard },
  { path: "calls", title: "Calls", role: "readonly", page: calls },
  { path: "cdrs", title: "CDRs", role: "readonly", page: cdrs },
  { path: "trace", title: "Trace", role: "operator", page: trace },
  ...RESOURCES.map((r) => ({ path: r.path, title: r.title, role: r.readRole || "readonly", group: r.group,
                             page: { render: (main, s) => resourcePage(r, main, s) } })),
];

let session = null;
let cleanup = null;
const root = () => document.getElementById("app");

function can(role) {
  return session && RANK[session.role] >= RANK[role];
}

async function boot() {
  whenUnauthenticated(() => {
    if (session) showLogin("Your session has ended; log in again.");
  });
  try {
    const s = await api("GET", "/api/v1/console/session");
    start(s);
  } catch (e) {
    showLogin();
  }
}

function start(s) {
  session = { ...s, can };
  setCsrf(s.csrf_token);
  startLive();
  renderFrame();
  window.addEventListener("hashchange", route);
  route();
}

function showLogin(message) {
  if (cleanup) cleanup();
  cleanup = null;
  session = null;
  setCsrf(null);
  stopLive();
  window.removeEventListener("hashchange", route);
  const user = h("input", { id: "login-user", name: "username", autocomplete: "username", required: true });
  const pass = h("input", { id: "login-password", name: "password", type: "password",
                            autocomplete: "current-password", required: true });
  const status = h("div", { id: "login-status" }, message ? note("info", message) : null);
  const submit = h("button", { type: "submit", id: "login-submit" }, "Log in");
  const form = h("form", { class: "login", id: "login-form" },
    h("h1", null, "tollgate"),
    h("label", { for: "login-user" }, "User name"), user,
    h("label", { for: "login-password" }, "Password"), pass,
    submit, status);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    submit.disabled = true;
    clear(status);
    try {
      const s = await api("POST", "/api/v1/console/session",
                          { username: user.value, password: pass.value }, { "X-Tollgate-Console": "1" });
      pass.value = "";
      start(s);
    } catch (e) {
      pass.value = "";
      const locked = e instanceof ApiError && e.code === "locked";
      status.append(note("error", locked ? "Locked: " + e.message : e.message));
      status.firstChild.id = locked ? "login-locked" : "login-error";
    } finally {
      submit.disabled = false;
    }
  });
  clear(root()).append(form);
  user.focus();
}

function renderFrame() {
  const nav = h("nav", { id: "nav" });
  let group = null;
  for (const p of PAGES) {
    if (!can(p.role)) continue;
    if (p.group && p.group !== group) {
      group = p.group;
      nav.append(h("div", { class: "navgroup" }, group));
    }
    nav.append(h("a", { href: "#/" + p.path, id: "nav-" + p.path, "data-page": p.path }, p.title));
  }
  const logout = h("button", { type: "button", id: "logout", onclick: async () => {
    try { await api("DELETE", "/api/v1/console/session"); } catch (e) { /* gone already */ }
    location.hash = "";
    showLogin("Logged out.");
  } }, "Log out");
  const header = h("header", null,
    h("span", { class: "brand" }, "tollgate"),
    h("span", { class: "live-dot", title: "live feed" }),
    h("span", { class: "who", id: "whoami" }, session.user + " (" + session.role + ")"),
    logout);
  clear(root()).append(header, h("div", { class: "frame" }, nav, h("main", { id: "main" })));
}

function route() {
  if (!session) return;
  const path = (location.hash.replace(/^#\/?/, "").split("?")[0]) || "dashboard";
  const p = PAGES.find((x) => x.path === path && can(x.role)) || PAGES[0];
  for (const a of document.querySelectorAll("#nav a")) {
    a.classList.toggle("active", a.dataset.page === p.path);
  }
  if (cleanup) cleanup();
  cleanup = null;
  const main = clear(document.getElementById("main"));
  main.dataset.page = p.path;
  document.title = p.title + " – tollgate";
  Promise.resolve(p.page.render(main, session)).then((c) => {
    cleanup = typeof c === "function" ? c : null;
  }).catch((e) => main.append(note("error", e.message)));
}

boot();
