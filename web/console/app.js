// The admin console: one page, plain JavaScript, no build step and nothing fetched from
// outside (the binary serves this file; intranets have no internet). Views are chosen by the
// URL's hash: #/cases, #/case/ID, #/people, #/areas, #/dashboard. Every name a person reads
// comes from GET /api/v1/labels and /categories; data is set with textContent, never as HTML.
"use strict";

const $ = (id) => document.getElementById(id);
const state = { token: sessionStorage.getItem("sg_token"), me: null, labels: null, categories: {}, units: null };

// ---------- helpers ----------

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") e.className = v;
    else if (k === "style") e.style.cssText = v; // CSSOM: allowed by the strict style-src
    else if (k === "text") e.textContent = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (k.startsWith("data-")) e.setAttribute(k, v);
    else if (k in e && typeof v !== "string") e[k] = v;
    else e.setAttribute(k, v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    e.appendChild(typeof c === "object" ? c : document.createTextNode(String(c)));
  }
  return e;
}
const svgNS = "http://www.w3.org/2000/svg";
function svg(tag, attrs) {
  const e = document.createElementNS(svgNS, tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "style") e.style.cssText = v; // CSSOM: allowed by the strict style-src
    else e.setAttribute(k, v);
  }
  return e;
}

class ApiError extends Error {
  constructor(status, body) {
    super((body && (body.message_zh || body.message)) || "HTTP " + status);
    this.status = status;
    this.body = body || {};
  }
}

// Every call carries the bearer token; an error becomes an ApiError with the server's
// Chinese message (and its field problems) so each screen can show it where it happened.
async function api(path, opts) {
  const o = Object.assign({}, opts || {});
  o.headers = Object.assign({}, o.headers || {});
  if (state.token) o.headers["Authorization"] = "Bearer " + state.token;
  if (o.json !== undefined) {
    o.method = o.method || "POST";
    o.headers["Content-Type"] = "application/json";
    o.body = JSON.stringify(o.json);
    delete o.json;
  }
  const res = await fetch("/api/v1" + path, o);
  if (!res.ok) {
    let body = null;
    try { body = await res.json(); } catch (e) { /* not JSON */ }
    if (res.status === 401 && state.me) { logout("登录已过期，请重新登录。"); }
    throw new ApiError(res.status, body);
  }
  return res;
}
const getJson = (path) => api(path).then((r) => r.json());

function describe(err) {
  if (!(err instanceof ApiError)) return String(err.message || err);
  let msg = err.message;
  if (err.status === 403 && err.body.code === "forbidden") msg = "无权操作：" + msg;
  if (err.status === 404) msg = "不存在或无权查看：" + msg;
  return msg;
}
function showError(err) { $("error").textContent = err ? describe(err) : ""; }
function notice(text) { $("notice").textContent = text || ""; }

const pct = (v) => v === null || v === undefined ? "—" : (v * 100).toFixed(2) + "%";
const hrs = (min) => min === null || min === undefined ? "—" : (min / 60).toFixed(1) + " 小时";
function when(t) {
  if (!t) return "";
  const d = new Date(t);
  if (isNaN(d)) return t;
  const b = new Date(d.getTime() + 8 * 3600e3).toISOString();
  return b.slice(0, 10) + " " + b.slice(11, 16);
}
const today = () => new Date(Date.now() + 8 * 3600e3).toISOString().slice(0, 10);
const L = (table, code) => (state.labels && state.labels[table] && state.labels[table][code]) || code;
const categoryName = (code) => (state.categories[code] && state.categories[code].name) || code;
function lightBadge(light) { return el("span", { class: "light light-" + light, text: L("lights", light) }); }
function download(blob, name) {
  const a = el("a", { href: URL.createObjectURL(blob), download: name });
  document.body.appendChild(a); a.click(); a.remove();
}
function table(head, rows, opts) {
  const t = el("table", opts || {});
  t.appendChild(el("tr", {}, head.map((h) => typeof h === "object" ? h : el("th", { text: h }))));
  for (const r of rows) t.appendChild(r);
  return el("div", { class: "table-wrap" }, t);
}
function cells(values) { return values.map((v) => v instanceof Node ? el("td", {}, v) : el("td", { text: v === undefined || v === null ? "" : String(v) })); }

// ---------- login ----------

async function passwordLogin() {
  showError(null);
  const body = { username: $("username").value, password: $("password").value };
  const totp = $("totp").value.trim();
  if (totp) body.totp = totp;
  try {
    const res = await fetch("/api/v1/auth/password-login", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
    const b = await res.json();
    if (!res.ok) throw new ApiError(res.status, b);
    await signedIn(b.access_token);
  } catch (e) { $("error").textContent = "登录失败：" + describe(e); }
}

async function devLogin(openid) {
  showError(null);
  try {
    const b = await fetch("/api/v1/auth/dev-login", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ openid }) })
      .then(async (r) => { const j = await r.json(); if (!r.ok) throw new ApiError(r.status, j); return j; });
    await signedIn(b.access_token);
  } catch (e) { $("error").textContent = "登录失败：" + describe(e); }
}

async function showLogin() {
  $("login-box").classList.remove("hidden");
  $("nav").classList.add("hidden");
  $("view").replaceChildren();
  try {
    const res = await fetch("/api/v1/auth/dev-login");
    if (res.ok) {
      const ids = await res.json();
      $("dev-identities").replaceChildren(...ids.users.map((u) =>
        el("button", { class: "secondary", "data-openid": u.openid, onclick: () => devLogin(u.openid) }, u.nickname + "（" + u.openid + "）")));
      $("dev-login").classList.toggle("hidden", ids.users.length === 0);
    }
  } catch (e) { /* development login is off */ }
}

async function signedIn(token) {
  state.token = token;
  sessionStorage.setItem("sg_token", token);
  await start();
}

function logout(message) {
  if (state.token) fetch("/api/v1/auth/logout", { method: "POST", headers: { "Authorization": "Bearer " + state.token } }).catch(() => {});
  state.token = null; state.me = null;
  sessionStorage.removeItem("sg_token");
  showError(message ? new Error(message) : null);
  showLogin();
}

async function changePassword() {
  showError(null);
  try {
    const t = await api("/auth/password", { json: { old_password: $("old-password").value, new_password: $("new-password").value } }).then((r) => r.json());
    // The change ends the other logins; this one continues with the tokens it returns.
    state.token = t.access_token;
    sessionStorage.setItem("sg_token", t.access_token);
    $("password-box").classList.add("hidden");
    notice("密码已修改。");
    await start();
  } catch (e) { showError(e); }
}

// Enrolment: the server's QR code (an SVG it drew) shown as an image, and the code to confirm.
async function startMfa() {
  try {
    const e = await api("/auth/mfa/enrol", { method: "POST" }).then((r) => r.json());
    $("mfa-uri").textContent = e.otpauth_uri;
    if (e.qr_svg) $("mfa-qr").src = "data:image/svg+xml;base64," + btoa(e.qr_svg);
    $("mfa-box").classList.remove("hidden");
    $("mfa-box").setAttribute("data-ready", "1");
  } catch (e) { showError(e); }
}

async function confirmMfa() {
  showError(null);
  try {
    await api("/auth/mfa/confirm", { json: { code: $("mfa-code").value.trim() } });
    $("mfa-box").classList.add("hidden");
    notice("动态口令已绑定，以后登录需填写。");
    await start();
  } catch (e) { showError(e); }
}

function accountView() {
  $("view").replaceChildren(el("section", { id: "account-view" }, el("h2", { text: "账号安全" }),
    el("p", { class: "hint", text: "管理员账号请绑定动态口令；已绑定时重新绑定会被拒绝。" }),
    el("div", { class: "row" },
      el("button", { id: "account-mfa", onclick: startMfa }, "绑定动态口令"),
      el("button", { class: "secondary", onclick: () => { $("password-box").classList.remove("hidden"); } }, "修改密码"))));
}

async function start() {
  let me;
  try {
    me = await getJson("/me");
  } catch (e) {
    if (e instanceof ApiError && e.body.code === "password_change_required") {
      $("login-box").classList.add("hidden");
      $("password-box").classList.remove("hidden");
      showError(e);
      return;
    }
    state.token = null; sessionStorage.removeItem("sg_token");
    showError(e);
    return showLogin();
  }
  // An admin may still owe a password change or a second factor: every other route says
  // so (403 with its code), and the console asks for it before anything else.
  let cats;
  try {
    cats = await getJson("/categories");
  } catch (e) {
    $("login-box").classList.add("hidden");
    if (e instanceof ApiError && e.body.code === "password_change_required") {
      $("password-box").classList.remove("hidden");
      return showError(e);
    }
    if (e instanceof ApiError && e.body.code === "mfa_enrolment_required") {
      showError(e);
      return startMfa();
    }
    throw e;
  }
  state.me = me;
  $("login-box").classList.add("hidden");
  $("password-box").classList.add("hidden");
  $("mfa-box").classList.add("hidden");
  $("nav").classList.remove("hidden");
  const admin = !!me.area;
  for (const a of document.querySelectorAll("[data-nav]")) a.classList.toggle("hidden", !admin && !["cases", "account"].includes(a.dataset.nav));
  $("who").textContent = me.nickname + (me.area ? " · " + me.area.name : "");
  state.labels = await getJson("/labels");
  state.categories = Object.fromEntries(cats.map((c) => [c.code, c]));
  if (!location.hash || location.hash === "#/") location.hash = "#/cases";
  else route();
}

// ---------- router ----------

function route() {
  if (!state.me) return;
  showError(null);
  const [, view, arg] = (location.hash || "#/cases").split("/");
  for (const a of document.querySelectorAll("[data-nav]")) a.classList.toggle("active", a.dataset.nav === view || (view === "case" && a.dataset.nav === "cases"));
  const admin = !!state.me.area;
  const views = admin
    ? { cases: casesView, case: caseView, people: peopleView, areas: areasView, dashboard: dashboardView, account: accountView }
    : { cases: myWorkView, case: caseView, account: accountView };
  (views[view] || views.cases)(arg ? decodeURIComponent(arg) : undefined);
}

// ---------- cases ----------

const caseQuery = { sort: "newest" };
let casePages = [];

function casesView() {
  const statusSel = el("select", { id: "f-status" }, el("option", { value: "", text: "全部状态" }),
    Object.entries(state.labels.statuses).map(([k, v]) => el("option", { value: k, text: v })));
  const catSel = el("select", { id: "f-category" }, el("option", { value: "", text: "全部类别" }),
    Object.values(state.categories).map((c) => el("option", { value: c.code, text: c.name })));
  const srcSel = el("select", { id: "f-source" }, el("option", { value: "", text: "全部来源" }),
    Object.entries(state.labels.sources).map(([k, v]) => el("option", { value: k, text: v })));
  const lightSel = el("select", { id: "f-light" }, el("option", { value: "", text: "全部灯色" }),
    ["red", "yellow", "green"].map((k) => el("option", { value: k, text: L("lights", k) })));
  const unitSel = el("select", { id: "f-unit" }, el("option", { value: "", text: "全部协同单位" }));
  const filters = el("section", { id: "case-filters" },
    el("h2", { text: "案件列表" }),
    el("div", { class: "row" },
      el("label", {}, "搜索 ", el("input", { id: "f-q", placeholder: "案件编号或描述", size: 18 })),
      statusSel, lightSel, catSel, srcSel, unitSel,
      el("label", {}, "区域/网格编码 ", el("input", { id: "f-grid", size: 8 })),
      el("label", {}, "起 ", el("input", { id: "f-from", type: "date" })),
      el("label", {}, "止 ", el("input", { id: "f-to", type: "date" })),
      el("label", {}, el("input", { id: "f-overdue", type: "checkbox" }), "仅超期"),
      el("label", {}, el("input", { id: "f-supervised", type: "checkbox" }), "仅督办"),
      el("button", { id: "f-apply", onclick: () => { casePages = []; loadCases(); } }, "查询"),
      el("button", { id: "f-csv", class: "secondary", onclick: exportCases }, "导出 CSV")));
  const list = el("section", { id: "cases-view" },
    el("div", { class: "chips", id: "light-counts" }),
    el("div", { id: "case-table" }),
    el("div", { class: "row" },
      el("button", { id: "prev-page", class: "secondary", onclick: () => { casePages.pop(); casePages.pop(); loadCases(casePages[casePages.length - 1]); } }, "上一页"),
      el("span", { id: "page-no" }),
      el("button", { id: "next-page", class: "secondary" }, "下一页")));
  $("view").replaceChildren(filters, list);
  for (const [id, key] of [["f-q", "q"], ["f-status", "status"], ["f-light", "light"], ["f-category", "category"], ["f-source", "source"], ["f-grid", "grid"], ["f-from", "from"], ["f-to", "to"]]) {
    if (caseQuery[key]) $(id).value = caseQuery[key];
  }
  $("f-overdue").checked = caseQuery.overdue === "true";
  $("f-supervised").checked = caseQuery.supervised === "true";
  getJson("/admin/units").then((list) => {
    state.units = list.items;
    for (const u of list.items) unitSel.appendChild(el("option", { value: u.code, text: u.name }));
    if (caseQuery.unit) unitSel.value = caseQuery.unit;
  }).catch(() => {});
  casePages = [];
  loadCases();
}

function readCaseFilters() {
  for (const [id, key] of [["f-q", "q"], ["f-status", "status"], ["f-light", "light"], ["f-category", "category"], ["f-source", "source"], ["f-unit", "unit"], ["f-grid", "grid"], ["f-from", "from"], ["f-to", "to"]]) {
    const v = $(id).value.trim();
    if (v) caseQuery[key] = v; else delete caseQuery[key];
  }
  if ($("f-overdue").checked) caseQuery.overdue = "true"; else delete caseQuery.overdue;
  if ($("f-supervised").checked) caseQuery.supervised = "true"; else delete caseQuery.supervised;
}

async function loadCases(cursor) {
  readCaseFilters();
  showError(null);
  const view = $("cases-view");
  view.removeAttribute("data-loaded");
  const q = new URLSearchParams(caseQuery);
  q.set("limit", "20");
  if (cursor) q.set("cursor", cursor);
  try {
    const page = await getJson("/admin/reports?" + q);
    casePages.push(cursor || "");
    const counts = $("light-counts");
    counts.replaceChildren(el("span", { id: "case-total", "data-total": page.total, text: "共 " + page.total + " 件" }),
      ...["red", "yellow", "green"].map((k) => el("button", {
        class: "chip" + (caseQuery.light === k ? " active" : ""), id: "count-" + k, "data-count": page.lights[k],
        onclick: () => { $("f-light").value = caseQuery.light === k ? "" : k; casePages = []; loadCases(); },
      }, L("lights", k) + " " + page.lights[k])));
    const sortHead = (label, key) => el("th", {
      class: "sortable", "data-sort": key,
      onclick: () => { caseQuery.sort = key === "submitted" ? (caseQuery.sort === "newest" ? "oldest" : "newest") : "deadline"; casePages = []; loadCases(); },
    }, label + (key === "submitted" ? (caseQuery.sort === "oldest" ? " ↑" : caseQuery.sort === "newest" ? " ↓" : "") : (caseQuery.sort === "deadline" ? " ↑" : "")));
    const rows = page.items.map((r) => el("tr", { class: "clickable", "data-id": r.id, "data-case-no": r.case_no, onclick: () => { location.hash = "#/case/" + encodeURIComponent(r.id); } },
      cells([el("a", { href: "#/case/" + encodeURIComponent(r.id), text: r.case_no }), L("statuses", r.status), categoryName(r.category), L("sources", r.source),
        r.grid ? r.grid.name : "（网格外）", r.queue.name, lightBadge(r.light), when(r.submitted_at), when(r.deadline),
        r.units.map((u) => u.name).join("、") + (r.supervised ? " 【督办】" : "")])));
    $("case-table").replaceChildren(table(["案件编号", "状态", "类别", "来源", "所属网格", "当前承办", "灯色",
      sortHead("上报时间", "submitted"), sortHead("办理期限", "deadline"), "协同单位/督办"], rows, { id: "cases" }));
    if (!page.items.length) $("case-table").appendChild(el("p", { class: "hint", text: "没有符合条件的案件。" }));
    $("page-no").textContent = "第 " + casePages.length + " 页";
    $("prev-page").disabled = casePages.length <= 1;
    $("next-page").disabled = !page.next_cursor;
    $("next-page").onclick = () => loadCases(page.next_cursor);
    view.setAttribute("data-loaded", q.toString());
  } catch (e) { showError(e); }
}

async function exportCases() {
  readCaseFilters();
  try {
    const blob = await api("/admin/reports.csv?" + new URLSearchParams(caseQuery)).then((r) => r.blob());
    download(blob, "案件-" + today() + ".csv");
  } catch (e) { showError(e); }
}

// Workers, unit staff and residents (development login) see their own list here.
async function myWorkView() {
  const roles = state.me.roles;
  const source = roles.includes("worker") ? ["/worker/tasks?limit=50", "我的网格待办"]
    : roles.includes("unit_staff") ? ["/unit/tasks?limit=50", "本单位派单"]
      : ["/me/reports?limit=50", "我的上报"];
  const box = el("section", { id: "cases-view" }, el("h2", { text: source[1] + "（" + roles.map((r) => r).join("、") + "）" }));
  $("view").replaceChildren(box);
  try {
    const page = await getJson(source[0]);
    box.appendChild(table(["案件编号", "状态", "类别", "当前承办", "灯色", "期限"], page.items.map((r) =>
      el("tr", { class: "clickable", "data-id": r.id, onclick: () => { location.hash = "#/case/" + encodeURIComponent(r.id); } },
        cells([r.case_no, L("statuses", r.status), categoryName(r.category), r.queue.name, lightBadge(r.light), when(r.deadline)]))), { id: "cases" }));
    box.setAttribute("data-loaded", "mine");
  } catch (e) { showError(e); }
}

// ---------- one case ----------

const TIERS = { grid: "网格", community: "社区", lawyer: "律师", street: "街道", center: "矛调中心" };
const OUTCOMES = { agreed: "达成协议", partly_agreed: "部分达成", failed: "调解不成", court: "转诉讼", petition: "转信访" };
const FOLLOW_UPS = { kept: "履行", broken: "未履行", unreachable: "无法联系" };
// The fields each action takes (ActionRequest), in the order a person fills them.
const ACTION_FIELDS = {
  reject: [["reason", "不予受理理由", "textarea"]],
  note: [["text", "备注内容", "textarea"]],
  escalate: [["reason", "上报理由", "textarea"], ["skip_level", "越级上报", "checkbox"]],
  hand_down: [["grid_code", "交办至网格", "grid"], ["reason", "交办说明", "textarea"]],
  suspend: [["reason", "挂起原因", "textarea"]],
  request_extension: [["reason", "延期理由", "textarea"], ["until", "延期至", "datetime-local"]],
  resolve: [["note", "办结说明", "textarea"]],
  rework: [["reason", "退回理由", "textarea"]],
  rate: [["rating", "评分（1–5）", "number"], ["comment", "评价", "textarea"]],
  cancel: [["reason", "撤销原因", "textarea"]],
  dispatch: [["lead_unit", "牵头单位", "unit"], ["assist_units", "协办单位", "units"], ["instruction", "派单要求", "textarea"], ["limit_hours", "办理时限（工作小时，可空）", "number"]],
  return: [["reason", "退单理由", "textarea"]],
  supervise: [["note", "督办意见", "textarea"]],
  mediate: [["tier", "调解层级", TIERS], ["outcome", "调解结果", OUTCOMES], ["parties", "当事人", "text"], ["agreement", "协议内容", "textarea"]],
  follow_up: [["result", "回访结果", FOLLOW_UPS], ["note", "说明", "textarea"]],
};

async function caseView(id) {
  const box = el("div", { id: "case-view" });
  $("view").replaceChildren(el("p", {}, el("a", { href: "#/cases", text: "← 返回列表" })), box);
  let r;
  try {
    r = await getJson("/reports/" + encodeURIComponent(id));
  } catch (e) {
    box.appendChild(el("section", { id: "case-refused" }, el("h2", { text: "无法打开该案件" }), el("p", { text: describe(e) })));
    box.setAttribute("data-refused", String(e.status || ""));
    return showError(e);
  }
  const f = (k, v) => [el("dt", { text: k }), el("dd", {}, v instanceof Node ? v : String(v === null || v === undefined ? "" : v))];
  const reporter = r.anonymous && !r.reporter ? "匿名" : r.reporter ? (r.reporter.nickname + (r.reporter.phone_masked ? "，" + r.reporter.phone_masked : "")) : "（不可见）";
  const fields = el("dl", { class: "fields" },
    f("案件编号", el("strong", { id: "case-no", text: r.case_no })), f("状态", el("span", { id: "case-status", "data-status": r.status, text: L("statuses", r.status) })),
    f("灯色", lightBadge(r.light)), f("类别", categoryName(r.category)), f("来源", L("sources", r.source)),
    f("紧急程度", r.urgency === "urgent" ? "紧急" : "一般"), f("描述", r.description), f("地址", r.address || ""),
    f("所属网格", r.grid ? r.grid.name + "（" + r.grid.code + "）" : "（网格外）"), f("当前承办", r.queue.name + "（" + r.queue.code + "）"),
    f("上报人", reporter), r.caller_phone_masked ? f("来电号码", r.caller_phone_masked) : [], r.hotline_order_no ? f("热线工单号", r.hotline_order_no) : [],
    f("上报时间", when(r.submitted_at)), f("受理时间", when(r.accepted_at)), f("办理期限", when(r.deadline)),
    f("办结时间", when(r.resolved_at)), f("结案时间", when(r.closed_at)), f("返工次数", r.rework_count),
    r.rating ? f("评价", r.rating + " 星 " + (r.rating_comment || "")) : [],
    r.extension_request ? f("延期申请", JSON.stringify(r.extension_request)) : [],
    f("协同单位", r.units.map((u) => u.name + "（" + (u.role === "lead" ? "牵头" : "协办") + "，" + L("assignments", u.status) + "，签收期限 " + when(u.sign_deadline) + "）").join("；") || "无"),
    f("督办", r.supervised ? "是" : "否"),
    r.mediation ? f("调解", (TIERS[r.mediation.tier] || r.mediation.tier) + " · " + (OUTCOMES[r.mediation.outcome] || r.mediation.outcome)) : [],
    r.follow_up ? f("回访", "应于 " + when(r.follow_up.due) + (r.follow_up.result ? " · " + (FOLLOW_UPS[r.follow_up.result] || r.follow_up.result) : " · 待回访")) : []);
  const photos = el("div", { class: "photos" }, r.photos.map((p) => el("a", { href: p.url, target: "_blank" }, el("img", { src: p.url, alt: "照片" }))));
  const timeline = el("ol", { class: "timeline", id: "timeline" }, (r.timeline || []).map((t) => el("li", {},
    el("span", { class: "at", text: when(t.at) + " " }), el("strong", { text: L("actions", t.action) === t.action && t.action === "submit" ? "上报" : L("actions", t.action) }),
    " " + (t.from ? L("statuses", t.from) + " → " : "") + (t.to ? L("statuses", t.to) : ""), t.note ? el("div", { text: t.note }) : null)));
  const map = el("div", { id: "case-map" });
  const actions = el("section", { id: "case-actions" }, el("h2", { text: "可执行操作" }));
  if (!r.available_actions.length) actions.appendChild(el("p", { class: "hint", text: "当前没有可执行的操作。" }));
  for (const a of r.available_actions) actions.appendChild(actionForm(r, a));
  box.appendChild(el("div", { class: "grid2" },
    el("div", {}, el("section", {}, el("h2", { text: "案件详情" }), fields, photos), actions),
    el("div", {}, el("section", {}, el("h2", { text: "位置" }), map), el("section", {}, el("h2", { text: "办理过程" }), timeline))));
  box.setAttribute("data-loaded", r.id + "|" + r.status + "|" + r.timeline.length);
  if (state.me.area && r.grid) drawCaseMap(map, r).catch(() => map.appendChild(el("p", { class: "hint", text: "网格轮廓不可用。" })));
  else map.appendChild(el("p", { class: "hint", text: "坐标：" + r.location.lat.toFixed(6) + ", " + r.location.lng.toFixed(6) }));
}

function actionForm(r, action) {
  const form = el("form", { class: "action", "data-action": action });
  const specs = ACTION_FIELDS[action] || [];
  for (const [name, label, kind] of specs) {
    let input;
    if (typeof kind === "object") {
      input = el("select", { name }, Object.entries(kind).map(([k, v]) => el("option", { value: k, text: v })));
    } else if (kind === "textarea") {
      input = el("textarea", { name });
    } else if (kind === "checkbox") {
      input = el("input", { type: "checkbox", name });
    } else if (kind === "grid") {
      input = el("select", { name }, el("option", { value: "", text: "选择网格…" }));
      getJson("/admin/areas/" + encodeURIComponent(r.queue.code) + "/outlines").then((o) => {
        for (const g of o.items) input.appendChild(el("option", { value: g.code, text: g.name + "（" + g.code + "）" }));
      }).catch(() => {});
    } else if (kind === "unit" || kind === "units") {
      input = el("select", { name, multiple: kind === "units" }, kind === "unit" ? el("option", { value: "", text: "选择单位…" }) : null);
      getJson("/admin/units").then((list) => {
        for (const u of list.items.filter((u) => u.active)) input.appendChild(el("option", { value: u.code, text: u.name + "（" + L("unit_kinds", u.kind) + "）" }));
      }).catch(() => {});
    } else {
      input = el("input", { type: kind, name });
    }
    form.appendChild(el("div", {}, el("label", {}, label + " ", input)));
  }
  const error = el("div", { class: "form-error" });
  const submit = el("div", { class: "row" }, el("button", { type: "submit", text: L("actions", action) }), error);
  if (specs.length) {
    // Actions with fields fold away, so a case with many choices stays readable.
    const fields = [...form.childNodes];
    form.replaceChildren(el("details", {}, el("summary", { text: L("actions", action) + "…" }), ...fields, submit));
  } else {
    form.appendChild(submit);
  }
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    error.textContent = "";
    const body = { action };
    for (const [name, , kind] of specs) {
      const input = form.elements[name];
      if (kind === "checkbox") body[name] = input.checked;
      else if (kind === "units") body[name] = [...input.selectedOptions].map((o) => o.value);
      else if (kind === "number") { if (input.value !== "") body[name] = Number(input.value); }
      else if (kind === "datetime-local") { if (input.value) body[name] = input.value + ":00+08:00"; }
      else if (input.value.trim() !== "") body[name] = input.value.trim();
    }
    try {
      await api("/reports/" + encodeURIComponent(r.id) + "/actions", { json: body });
      notice("已" + L("actions", action) + "：" + r.case_no);
      caseView(r.id);
    } catch (e) {
      error.textContent = formError(e, specs, r, action);
      $("error").textContent = error.textContent;
    }
  });
  return form;
}

// The server's refusal in the form's own words: the labels of the fields it names, the
// state and action by their Chinese names.
function formError(e, specs, r, action) {
  if (!(e instanceof ApiError)) return describe(e);
  const label = (f) => (specs.find(([name]) => name === f) || [f, f])[1];
  if (e.body.code === "validation_failed" && e.body.fields) {
    return "请检查：" + Object.entries(e.body.fields).map(([f, m]) => label(f) + (m === "is required" ? "（必填）" : "（" + m + "）")).join("；");
  }
  if (e.body.code === "invalid_transition") return "案件当前为“" + L("statuses", r.status) + "”，不能" + L("actions", action) + "，请刷新后重试。";
  return describe(e);
}

// Rings in [lng, lat] drawn into a box of the given size, north up, with a margin.
function projector(rings, w, h) {
  const pts = rings.flat();
  const lngs = pts.map((p) => p[0]), lats = pts.map((p) => p[1]);
  const minX = Math.min(...lngs), maxX = Math.max(...lngs), minY = Math.min(...lats), maxY = Math.max(...lats);
  const k = Math.cos(((minY + maxY) / 2) * Math.PI / 180);
  const sx = (maxX - minX) * k || 1e-6, sy = (maxY - minY) || 1e-6;
  const scale = Math.min((w - 20) / sx, (h - 20) / sy);
  return (lng, lat) => [10 + (lng - minX) * k * scale, h - 10 - (lat - minY) * scale];
}

async function drawCaseMap(box, r) {
  const o = await getJson("/admin/areas/" + encodeURIComponent(r.grid.code) + "/outlines");
  const grid = o.items.find((g) => g.code === r.grid.code);
  if (!grid || !grid.rings.length) throw new Error("no outline");
  const w = 420, h = 300;
  const p = projector(grid.rings.concat([[[r.location.lng, r.location.lat]]]), w, h);
  const s = svg("svg", { width: "100%", viewBox: "0 0 " + w + " " + h, id: "case-svg", style: "max-width:" + w + "px" });
  for (const ring of grid.rings) {
    s.appendChild(svg("polygon", { points: ring.map(([x, y]) => p(x, y).map((v) => v.toFixed(1)).join(",")).join(" "), fill: "#e3f2fd", stroke: "#1565c0", "stroke-width": "2" }));
  }
  const [cx, cy] = p(r.location.lng, r.location.lat);
  s.appendChild(svg("circle", { cx: cx.toFixed(1), cy: cy.toFixed(1), r: "7", fill: "#c62828", stroke: "#fff", "stroke-width": "2", class: "case-point" }));
  const label = svg("text", { x: 12, y: 18, "font-size": "12" });
  label.textContent = grid.name;
  s.appendChild(label);
  box.replaceChildren(s, el("p", { class: "hint", text: "红点为上报位置（" + r.location.lat.toFixed(6) + ", " + r.location.lng.toFixed(6) + "）；蓝框为网格边界。" }));
}

// ---------- people ----------

async function gridsOf(code) {
  const o = await getJson("/admin/areas/" + encodeURIComponent(code) + "/outlines");
  return o.items;
}

async function peopleView() {
  const gridSel = el("select", { id: "team-grid" });
  const box = el("div", { id: "people-view" });
  $("view").replaceChildren(
    el("section", {}, el("h2", { text: "网格队伍" }), el("div", { class: "row" }, el("label", {}, "网格 ", gridSel)), el("div", { id: "team" })),
    el("section", { id: "volunteers" }, el("h2", { text: "志愿者申请" }), el("div", { id: "volunteer-list" })), box);
  try {
    const grids = await gridsOf(state.me.area.code);
    for (const g of grids) gridSel.appendChild(el("option", { value: g.code, text: g.name + "（" + g.code + "）" }));
    gridSel.onchange = () => loadTeam(gridSel.value);
    if (grids.length) await loadTeam(grids[0].code);
  } catch (e) { showError(e); }
  loadVolunteers();
}

const ROLE_NAMES = { worker: "专职网格员", backup: "包保人员", volunteer: "志愿者", unit_lead: "单位负责人", unit_member: "单位工作人员" };
const INVITE_STATES = { pending: "待使用", used: "已使用", expired: "已过期", revoked: "已撤销" };

async function loadTeam(code) {
  const box = $("team");
  box.removeAttribute("data-loaded");
  try {
    const t = await getJson("/admin/grids/" + encodeURIComponent(code) + "/team");
    const roleSel = el("select", { id: "invite-role" }, ["worker", "backup", "volunteer"].map((k) => el("option", { value: k, text: ROLE_NAMES[k] })));
    const created = el("span", { id: "invite-created" });
    box.replaceChildren(
      table(["姓名", "角色", "手机", "加入时间"], t.members.map((m) => el("tr", { "data-user": m.user_id }, cells([m.nickname, ROLE_NAMES[m.role] || m.role, m.phone_masked || "", when(m.joined_at)]))), { id: "team-members" }),
      el("h3", { text: "邀请码" }),
      el("div", { class: "row" }, roleSel, el("button", { id: "invite-create", onclick: async () => {
        try {
          const inv = await api("/admin/invites", { json: { grid_code: code, role: roleSel.value } }).then((r) => r.json());
          await loadTeam(code);
          $("invite-created").textContent = "新邀请码：" + inv.invite_code + "（" + when(inv.expires_at) + " 前有效）";
        } catch (e) { showError(e); }
      } }, "生成邀请码"), created),
      table(["邀请码", "角色", "状态", "生成时间", "有效期至", ""], t.invites.map((i) => el("tr", { "data-invite": i.invite_code },
        cells([el("code", { text: i.invite_code }), ROLE_NAMES[i.role] || i.role, INVITE_STATES[i.status] || i.status, when(i.created_at), when(i.expires_at),
          i.status === "pending" ? el("button", { class: "secondary", "data-revoke": i.invite_code, onclick: async () => {
            try { await api("/admin/invites/" + encodeURIComponent(i.invite_code) + "/revoke", { method: "POST" }); await loadTeam(code); } catch (e) { showError(e); }
          } }, "撤销") : ""]))), { id: "team-invites" }));
    box.setAttribute("data-loaded", code);
  } catch (e) { showError(e); }
}

async function loadVolunteers() {
  const box = $("volunteer-list");
  box.removeAttribute("data-loaded");
  try {
    const page = await getJson("/admin/volunteers?status=pending&limit=100");
    if (!page.items.length) box.replaceChildren(el("p", { class: "hint", text: "没有待审核的申请。" }));
    else box.replaceChildren(table(["申请人", "志愿组织", "区域", "申请时间", "审核"], page.items.map((v) => {
      const reason = el("input", { placeholder: "驳回理由", size: 14, "data-reason": v.id });
      return el("tr", { "data-application": v.id }, cells([v.nickname, v.unit, v.area_code, when(v.created_at), el("span", {},
        el("button", { "data-approve": v.id, onclick: async () => {
          try { await api("/admin/volunteers/" + encodeURIComponent(v.id) + "/approve", { method: "POST" }); notice("已通过：" + v.nickname); loadVolunteers(); } catch (e) { showError(e); }
        } }, "通过"), " ", reason, " ",
        el("button", { class: "secondary", "data-reject": v.id, onclick: async () => {
          try { await api("/admin/volunteers/" + encodeURIComponent(v.id) + "/reject", { json: { reason: reason.value } }); notice("已驳回：" + v.nickname); loadVolunteers(); } catch (e) { showError(e); }
        } }, "驳回"))]));
    }), { id: "applications" }));
    box.setAttribute("data-loaded", String(page.items.length));
  } catch (e) { showError(e); }
}

// ---------- areas and categories ----------

function areasView() {
  const tree = el("div", { class: "tree", id: "area-tree" });
  const file = el("input", { type: "file", id: "import-file", accept: ".geojson,.json,application/geo+json,application/json" });
  const result = el("div", { id: "import-result" });
  $("view").replaceChildren(
    el("section", {}, el("h2", { text: "区域树" }), tree),
    el("section", {}, el("h2", { text: "导入区域与网格（GeoJSON）" }),
      el("p", { class: "hint", text: "FeatureCollection，每个要素的 properties 含 code、name、level、parent_code；全部通过才会写入。" }),
      el("div", { class: "row" }, file, el("button", { id: "import-run", onclick: () => runImport(file, result) }, "导入")), result),
    el("section", {}, el("h2", { text: "事件类别与时限" }), el("div", { id: "category-list" })));
  tree.appendChild(areaNode(state.me.area, true));
  categoriesTable();
}

function areaNode(area, open) {
  const kids = el("ul", { class: open ? "" : "hidden" });
  let loaded = false;
  const load = async () => {
    if (loaded) return;
    loaded = true;
    try {
      const page = await getJson("/areas/" + encodeURIComponent(area.code) + "/children?limit=100");
      for (const k of page.items) kids.appendChild(areaNode(k, false));
      if (!page.items.length) kids.appendChild(el("li", { class: "hint", text: "（无下级）" }));
    } catch (e) { showError(e); }
  };
  const level = { district: "区", street: "街道", community: "社区", grid: "网格" }[area.level] || area.level;
  const li = el("li", { "data-area": area.code },
    area.level === "grid" ? "▪ " : el("button", { class: "link", onclick: () => { open = !open; kids.classList.toggle("hidden", !open); if (open) load(); } }, "▸"),
    " " + area.name + "（" + area.code + "，" + level + "）", kids);
  if (open) load();
  return li;
}

async function runImport(file, result) {
  result.replaceChildren();
  result.removeAttribute("data-outcome");
  if (!file.files.length) return showError(new Error("请先选择 GeoJSON 文件。"));
  try {
    const text = await file.files[0].text();
    const summary = await api("/admin/areas/import", { method: "POST", body: text, headers: { "Content-Type": "application/geo+json" } }).then((r) => r.json());
    result.replaceChildren(el("p", { text: "导入成功：" + JSON.stringify(summary) }));
    result.setAttribute("data-outcome", "ok");
  } catch (e) {
    showError(e);
    const problems = (e.body && e.body.details && e.body.details.problems) || [];
    result.replaceChildren(el("p", { class: "bad", text: describe(e) }),
      table(["要素序号", "编码", "问题", "说明"], problems.map((p) => el("tr", { "data-problem": p.problem, "data-index": p.index === null ? "" : p.index },
        cells([p.index === null || p.index === undefined ? "整体" : "第 " + (p.index + 1) + " 个", p.code || "", p.problem, p.message]))), { id: "import-problems" }));
    result.setAttribute("data-outcome", "refused");
  }
}

async function categoriesTable() {
  const box = $("category-list");
  const district = state.me.area && state.me.area.level === "district";
  const cats = Object.values(state.categories);
  const limit = (t) => t ? t.amount + ({ hours: " 小时", working_hours: " 工作小时", days: " 天", working_days: " 个工作日" }[t.unit] || " " + t.unit) : "";
  box.replaceChildren(table(["类别", "编码", "办理时限", "权属单位类型", "网格可直派", "签收时限（工作小时）", ""], cats.map((c) => {
    const kind = el("select", { disabled: !district }, el("option", { value: "", text: "（属地）" }),
      Object.entries(state.labels.unit_kinds).map(([k, v]) => el("option", { value: k, text: v, selected: c.owner_unit_kind === k })));
    const direct = el("input", { type: "checkbox", checked: c.direct_dispatch, disabled: !district });
    const sign = el("input", { type: "number", value: c.sign_limit_hours || "", size: 4, disabled: !district });
    return el("tr", { "data-category": c.code }, cells([c.name, c.code, limit(c.time_limit), kind, direct, sign,
      district ? el("button", { class: "secondary", onclick: async () => {
        const body = { owner_unit_kind: kind.value || null, direct_dispatch: direct.checked };
        if (sign.value) body.sign_limit_hours = Number(sign.value);
        try { await api("/admin/categories/" + encodeURIComponent(c.code), { method: "PATCH", json: body }); notice("已保存：" + c.name); } catch (e) { showError(e); }
      } }, "保存") : ""]));
  }), { id: "categories-table" }));
  if (!district) box.appendChild(el("p", { class: "hint", text: "类别为全区共用，仅区级管理员可修改。" }));
}

// ---------- dashboard ----------

const METRICS = [["submitted", "上报数"], ["due", "应结案数"], ["closed", "结案数"], ["overdue", "超期数"], ["closure_rate", "结案率"],
  ["on_time_rate", "按期结案率"], ["rework_rate", "返工率"], ["satisfaction_rate", "满意率"], ["loop_closed_rate", "闭环率"],
  ["close_minutes_p50", "结案时长中位数"], ["wishes", "微心愿 提交/认领/完成"], ["dispatched", "派单数"], ["sign_on_time_rate", "按时签收率"],
  ["unit_on_time_rate", "按时办结率"], ["return_rate", "退单率"], ["sources", "来源 居民/巡查/走访/热线/设备/Open311"],
  ["resolved_on_site", "现场处置数"], ["patrols", "巡查次数"], ["patrol_coverage_rate", "巡查覆盖率"], ["mediated", "调解数"],
  ["mediation_success_rate", "调解成功率"], ["follow_up_on_time_rate", "回访按期率"]];

function fmt(key, m) {
  if (key.endsWith("_rate")) return pct(m[key]);
  if (key.includes("_minutes_")) return hrs(m[key]);
  if (key === "wishes") return m.wishes_submitted + "/" + m.wishes_claimed + "/" + m.wishes_fulfilled;
  if (key === "sources") return [m.from_resident, m.from_patrol, m.from_visit, m.from_hotline, m.from_device, m.from_open311].join("/");
  return String(m[key]);
}

const crumbs = [];

function dashboardView() {
  const areaSel = el("select", { id: "area" });
  $("view").replaceChildren(
    el("section", { id: "filters" }, el("div", { class: "row" },
      el("label", {}, "区域 ", areaSel),
      el("label", {}, "起 ", el("input", { id: "from", type: "date" })),
      el("label", {}, "止 ", el("input", { id: "to", type: "date" })),
      el("label", {}, "排名 ", el("select", { id: "rank-by" }, [["child", "下级区域"], ["grid", "网格"], ["unit", "协同单位"], ["source", "来源"]].map(([k, v]) => el("option", { value: k, text: v })))),
      el("button", { id: "apply", onclick: () => loadDashboard() }, "查询"),
      el("button", { id: "csv", class: "secondary", onclick: dashboardCsv }, "下载 CSV")),
      el("div", { class: "crumbs", id: "crumbs" })),
    el("div", { id: "board", class: "hidden" },
      el("section", {}, el("h2", { id: "title", text: "核心指标" }), el("div", { class: "cards" },
        METRICS.map(([k, v]) => el("div", { class: "card" }, el("div", { class: "k", text: v }), el("div", { class: "v", "data-metric": k }))))),
      el("div", { class: "grid2" },
        el("section", {}, el("h2", { text: "每日趋势（上报数 / 结案数）" }), el("div", { id: "trend" })),
        el("section", {}, el("h2", { text: "网格按期结案率分布图" }), el("div", { id: "grid-map" }))),
      el("section", {}, el("h2", { id: "ranking-title", text: "排名（按期结案率由低到高）" }), el("div", { class: "table-wrap" }, el("table", { id: "ranking" }))),
      el("section", {}, el("h2", { text: "分类统计" }), el("div", { class: "table-wrap" }, el("table", { id: "categories" }))),
      el("section", {}, el("h2", { text: "超期案件" }), el("div", { class: "table-wrap" }, el("table", { id: "overdue" })))));
  const add = (a, depth) => areaSel.appendChild(el("option", { value: a.code, text: "　".repeat(depth) + a.name }));
  add(state.me.area, 0);
  getJson("/areas/" + encodeURIComponent(state.me.area.code) + "/children?limit=100").then((kids) => {
    for (const k of kids.items) add(k, 1);
  }).catch(() => {}).finally(() => {
    $("to").value = today();
    $("from").value = today().slice(0, 8) + "01";
    crumbs.length = 0;
    loadDashboard();
  });
}

function dashQuery(groupBy) {
  return new URLSearchParams({ area: $("area").value, from: $("from").value, to: $("to").value, group_by: groupBy }).toString();
}

function fillTable(id, head, rows) {
  const t = $(id);
  t.replaceChildren(el("tr", {}, head.map((h) => el("th", { text: h }))));
  for (const r of rows) t.appendChild(r);
}

function drill(code, name) {
  const sel = $("area");
  if (![...sel.options].some((o) => o.value === code)) sel.appendChild(el("option", { value: code, text: name }));
  sel.value = code;
  loadDashboard();
}

function trendChart(groups) {
  const w = 560, h = 220, left = 40, right = 12, top = 14, bottom = 34;
  const s = svg("svg", { width: "100%", viewBox: "0 0 " + w + " " + h, style: "max-width:" + w + "px" });
  const max = Math.max(1, ...groups.map((g) => Math.max(g.submitted, g.closed)));
  const step = groups.length > 1 ? (w - left - right) / (groups.length - 1) : 0;
  const y = (v) => h - bottom - (h - top - bottom) * v / max;
  s.appendChild(svg("line", { x1: left, y1: h - bottom, x2: w - right, y2: h - bottom, stroke: "#999" }));
  s.appendChild(svg("line", { x1: left, y1: top, x2: left, y2: h - bottom, stroke: "#999" }));
  const text = (x, yy, t, anchor) => { const e = svg("text", { x, y: yy, "font-size": "11", "text-anchor": anchor || "start" }); e.textContent = t; s.appendChild(e); };
  text(left - 4, y(max) + 4, String(max), "end");
  text(left - 4, y(0) + 4, "0", "end");
  text(4, top - 2, "件数");
  text(w - right, h - 4, "日期", "end");
  for (const [key, color] of [["submitted", "#1565c0"], ["closed", "#2e7d32"]]) {
    s.appendChild(svg("polyline", { points: groups.map((g, i) => (left + i * step).toFixed(1) + "," + y(g[key]).toFixed(1)).join(" "), fill: "none", stroke: color, "stroke-width": "2" }));
    groups.forEach((g, i) => s.appendChild(svg("circle", { cx: (left + i * step).toFixed(1), cy: y(g[key]).toFixed(1), r: "3", fill: color })));
  }
  if (groups.length) {
    text(left, h - bottom + 14, groups[0].key);
    if (groups.length > 1) text(left + (groups.length - 1) * step, h - bottom + 14, groups[groups.length - 1].key, "end");
  }
  const legend = el("div", { class: "legend" }, el("span", {}, el("i", { style: "background:#1565c0" }), "上报数"), el("span", {}, el("i", { style: "background:#2e7d32" }), "结案数"));
  $("trend").replaceChildren(s, legend);
}

const BANDS = [[0.95, "#2e7d32", "≥95%"], [0.9, "#9ccc65", "90–95%"], [0.8, "#f9a825", "80–90%"], [0, "#c62828", "<80%"]];
function bandOf(rate) {
  if (rate === null || rate === undefined) return ["#cfd8dc", "无应结案件"];
  for (const [min, color, label] of BANDS) if (rate >= min) return [color, label];
  return BANDS[BANDS.length - 1].slice(1);
}

async function gridMap(area, grids) {
  const box = $("grid-map");
  try {
    const o = await getJson("/admin/areas/" + encodeURIComponent(area) + "/outlines");
    const shapes = o.items.filter((g) => g.rings.length);
    if (!shapes.length) { box.replaceChildren(el("p", { class: "hint", text: "该区域没有网格轮廓。" })); return; }
    const rate = Object.fromEntries(grids.map((g) => [g.key, g]));
    const w = 480, h = 300;
    const p = projector(shapes.flatMap((g) => g.rings), w, h);
    const s = svg("svg", { width: "100%", viewBox: "0 0 " + w + " " + h, id: "choropleth", style: "max-width:" + w + "px" });
    for (const g of shapes) {
      const m = rate[g.code];
      const [color, band] = bandOf(m ? m.on_time_rate : null);
      for (const ring of g.rings) {
        const poly = svg("polygon", { points: ring.map(([x, yy]) => p(x, yy).map((v) => v.toFixed(1)).join(",")).join(" "), fill: color, stroke: "#fff", "stroke-width": "1", "data-grid": g.code, "data-band": band });
        const title = svg("title", {});
        title.textContent = g.name + "：按期结案率 " + pct(m ? m.on_time_rate : null) + "（应结 " + (m ? m.due : 0) + "）";
        poly.appendChild(title);
        s.appendChild(poly);
      }
    }
    box.replaceChildren(s, el("div", { class: "legend" }, el("span", { text: "按期结案率：" }),
      BANDS.map(([, color, label]) => el("span", {}, el("i", { style: "background:" + color }), label)),
      el("span", {}, el("i", { style: "background:#cfd8dc" }), "无应结案件")),
      ...(o.truncated ? [el("p", { class: "hint", text: "网格过多，仅显示部分；请选择更小的区域。" })] : []));
  } catch (e) { box.replaceChildren(el("p", { class: "hint", text: describe(e) })); }
}

async function loadDashboard() {
  showError(null);
  const board = $("board");
  board.removeAttribute("data-loaded");
  try {
    const rank = $("rank-by").value;
    const [main, days, cats, grids] = await Promise.all([
      getJson("/admin/dashboard?" + dashQuery(rank)),
      getJson("/admin/dashboard?" + dashQuery("day")),
      getJson("/admin/dashboard?" + dashQuery("category")),
      getJson("/admin/dashboard?" + dashQuery("grid")),
    ]);
    $("title").textContent = "核心指标 · " + main.area.name + " · " + main.from + " 至 " + main.to;
    for (const e of document.querySelectorAll("[data-metric]")) e.textContent = fmt(e.dataset.metric, main.totals);
    // Breadcrumbs: the way down from the admin's own area.
    const at = crumbs.findIndex((c) => c.code === main.area.code);
    if (at >= 0) crumbs.splice(at + 1); else crumbs.push({ code: main.area.code, name: main.area.name });
    $("crumbs").replaceChildren(...crumbs.map((c) => el("button", { class: "link", onclick: () => drill(c.code, c.name) }, c.name + " ›")));
    trendChart(days.groups);
    const bad = (text, isBad) => { const td = el("td", { text }); if (isBad) td.className = "bad"; return td; };
    const head = ["编码", "名称", "上报", "应结案", "结案", "超期", "结案率", "按期结案率", "返工率", "满意率", "派单", "按时签收率", "按时办结率", "退单率", "巡查", "巡查覆盖率", "调解成功率", "回访按期率"];
    const row = (g, drillable) => {
      const tr = el("tr", { class: drillable ? "clickable" : "", "data-key": g.key, title: drillable ? "点击下钻" : "" },
        cells([g.key, g.name, g.submitted, g.due, g.closed]), bad(String(g.overdue), g.overdue > 0),
        cells([pct(g.closure_rate), pct(g.on_time_rate), pct(g.rework_rate), pct(g.satisfaction_rate), g.dispatched, pct(g.sign_on_time_rate), pct(g.unit_on_time_rate)]),
        bad(pct(g.return_rate), g.returned > 0), cells([g.patrols, pct(g.patrol_coverage_rate), pct(g.mediation_success_rate), pct(g.follow_up_on_time_rate)]));
      if (drillable) tr.addEventListener("click", () => drill(g.key, g.name));
      return tr;
    };
    if (rank === "unit") {
      $("ranking-title").textContent = "协同单位排名（按时办结率由低到高）";
      fillTable("ranking", ["编码", "单位", "派单", "按时签收", "退单", "按时签收率", "按时办结率", "退单率", "满意率"],
        main.groups.map((g) => el("tr", {}, cells([g.key, g.name, g.dispatched, g.signed_on_time, g.returned, pct(g.sign_on_time_rate), pct(g.unit_on_time_rate)]), bad(pct(g.return_rate), g.returned > 0), cells([pct(g.satisfaction_rate)]))));
    } else if (rank === "source") {
      $("ranking-title").textContent = "案件来源";
      fillTable("ranking", ["来源", "名称", "上报", "结案", "按期结案率", "现场处置", "调解", "调解成功率", "回访按期率"],
        main.groups.map((g) => el("tr", {}, cells([g.key, L("sources", g.key) || g.name, g.submitted, g.closed, pct(g.on_time_rate), g.resolved_on_site, g.mediated, pct(g.mediation_success_rate), pct(g.follow_up_on_time_rate)]))));
    } else {
      $("ranking-title").textContent = (rank === "grid" ? "网格" : "下级区域") + "排名（按期结案率由低到高；点击下钻）";
      fillTable("ranking", head, main.groups.map((g) => row(g, rank === "child" && main.area.level !== "grid")));
    }
    fillTable("categories", head, cats.groups.map((g) => row(Object.assign({}, g, { name: categoryName(g.key) || g.name }), false)));
    gridMap(main.area.code, grids.groups);
    const overdue = await getJson("/admin/reports?overdue=true&sort=deadline&limit=20&grid=" + encodeURIComponent(main.area.code));
    fillTable("overdue", ["案件编号", "类别", "状态", "当前承办", "期限"], overdue.items.map((t) =>
      el("tr", { class: "clickable", onclick: () => { location.hash = "#/case/" + encodeURIComponent(t.id); } },
        cells([t.case_no, categoryName(t.category), L("statuses", t.status), t.queue.name]), bad(when(t.deadline), true))));
    board.classList.remove("hidden");
    board.setAttribute("data-loaded", main.area.code + "|" + main.from + "|" + main.to);
  } catch (e) {
    $("error").textContent = "加载失败：" + describe(e);
  }
}

async function dashboardCsv() {
  try {
    const blob = await api("/admin/dashboard.csv?" + dashQuery($("rank-by").value)).then((r) => r.blob());
    download(blob, "看板-" + $("area").value + "-" + $("from").value + "-" + $("to").value + ".csv");
  } catch (e) { showError(e); }
}

// ---------- wiring ----------

document.addEventListener("DOMContentLoaded", () => {
  $("login").addEventListener("click", passwordLogin);
  $("password").addEventListener("keydown", (e) => { if (e.key === "Enter") passwordLogin(); });
  $("change-password").addEventListener("click", changePassword);
  $("mfa-confirm").addEventListener("click", confirmMfa);
  $("logout").addEventListener("click", () => logout());
  window.addEventListener("hashchange", route);
  if (state.token) start(); else showLogin();
});
