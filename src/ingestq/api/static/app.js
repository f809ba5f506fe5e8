// ingestq's page: upload, follow jobs live, search and ask. No build step, no library.
// Everything shown comes from the API as text (textContent), never as HTML.
"use strict";

const $ = (id) => document.getElementById(id);
const TOKEN_KEY = "ingestq.token";
const POLL_MS = 3000;
const ACTIVE = new Set(["queued", "processing", "retrying"]);
let liveStream = null;
let pollTimer = null;

function token() { return localStorage.getItem(TOKEN_KEY) || ""; }

function withAuth(extra) {
  const headers = Object.assign({}, extra || {});
  if (token()) headers.Authorization = "Bearer " + token();
  return headers;
}

async function api(path, options) {
  const opts = Object.assign({}, options || {});
  opts.headers = withAuth(opts.headers);
  const res = await fetch(path, opts);
  if (!res.ok) {
    let message = res.status + " " + res.statusText;
    try { message = (await res.json()).error.message; } catch (_) { /* not JSON */ }
    const err = new Error(message);
    err.status = res.status;
    throw err;
  }
  return res;
}

function say(message, kind) {
  const box = $("alert");
  box.textContent = message;
  box.className = "alert" + (kind === "info" ? " info" : "");
  box.hidden = !message;
}

function fail(err) { say(err && err.message ? err.message : String(err)); }

// -- who is signed in --------------------------------------------------------

async function whoami() {
  try {
    const me = await (await api("/v1/me")).json();
    $("who").textContent = me.owner
      ? "signed in as " + me.owner + (me.admin ? " (admin)" : "")
      : "local admin (this server needs no token)";
    $("ask-box").hidden = !me.ask;
    say("");
    startJobs();
  } catch (err) {
    $("who").textContent = "not signed in";
    if (err.status === 401) say("Enter a token to use this server: " + err.message);
    else fail(err);
  }
}

$("token-form").addEventListener("submit", (event) => {
  event.preventDefault();
  localStorage.setItem(TOKEN_KEY, $("token").value.trim());
  $("token").value = "";
  whoami();
});

$("forget").addEventListener("click", () => {
  localStorage.removeItem(TOKEN_KEY);
  stopJobs();
  renderJobs([]);
  whoami();
});

// -- adding documents ---------------------------------------------------------

function collection() { return $("collection").value.trim() || "default"; }

function reportQueued(body) {
  const n = body.jobs.length;
  const problems = body.errors.length ? " Refused: " + body.errors.join("; ") : "";
  say(n + " job" + (n === 1 ? "" : "s") + " queued." + problems, problems ? "" : "info");
  refreshJobs();
}

async function uploadFiles(files) {
  if (!files.length) return;
  const form = new FormData();
  for (const file of files) form.append("file", file, file.name);
  form.append("collection", collection());
  try {
    reportQueued(await (await api("/v1/documents", {method: "POST", body: form})).json());
  } catch (err) { fail(err); }
}

const drop = $("drop");
drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (e) => {
  e.preventDefault();
  drop.classList.remove("over");
  uploadFiles(e.dataTransfer.files);
});
$("files").addEventListener("change", (e) => {
  uploadFiles(Array.from(e.target.files));
  e.target.value = "";
});

$("url-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const urls = $("urls").value.split("\n").map((u) => u.trim()).filter(Boolean);
  try {
    const res = await api("/v1/urls", {
      method: "POST",
      headers: {"Content-Type": "application/json"},
      body: JSON.stringify({urls, collection: collection()}),
    });
    reportQueued(await res.json());
    $("urls").value = "";
  } catch (err) { fail(err); }
});

// -- the jobs table -----------------------------------------------------------

const COLUMNS = ["Source", "State", "Stage", "Progress", "Vectors", "Topics", "Error", ""];

function makeRow(id) {
  const row = document.createElement("tr");
  row.dataset.id = id;
  for (const label of COLUMNS) {
    const cell = document.createElement("td");
    if (label) cell.dataset.label = label;
    row.append(cell);
  }
  const bar = document.createElement("div");
  bar.className = "progress";
  bar.setAttribute("role", "progressbar");
  bar.setAttribute("aria-valuemin", "0");
  bar.setAttribute("aria-valuemax", "100");
  const fill = document.createElement("div");
  fill.className = "fill";
  bar.append(fill);
  row.cells[3].append(bar);
  return row;
}

function actionButton(label, job, action) {
  const button = document.createElement("button");
  button.type = "button";
  button.className = "plain";
  button.textContent = label;
  button.setAttribute("aria-label", label + " " + job.source);
  button.addEventListener("click", async () => {
    try {
      await api("/v1/jobs/" + job.id + "/" + action, {method: "POST"});
      refreshJobs();
    } catch (err) { fail(err); }
  });
  return button;
}

function fillRow(row, job) {
  const [source, state, stage, progress, vectors, topics, error, actions] = row.cells;
  source.textContent = job.source;
  source.title = job.source + " (" + job.collection + ")";
  state.textContent = job.state;
  state.className = "state-" + job.state;
  stage.textContent = job.stage || "";
  const pct = Math.round(job.progress || 0);
  const bar = progress.firstChild;
  bar.setAttribute("aria-valuenow", String(pct));
  bar.setAttribute("aria-label", "progress " + pct + "%");
  bar.firstChild.style.width = pct + "%";
  vectors.textContent = String(job.vector_count);
  topics.textContent = (job.topics || []).join(", ");
  error.textContent = job.error || "";
  const wanted = ACTIVE.has(job.state) ? "cancel"
    : (job.state === "failed" || job.state === "cancelled") ? "retry" : "";
  if (actions.dataset.action !== wanted) {
    actions.dataset.action = wanted;
    actions.replaceChildren();
    if (wanted) actions.append(actionButton(wanted === "cancel" ? "Cancel" : "Retry", job, wanted));
  }
}

function renderJobs(jobs) {
  const body = $("jobs").tBodies[0];
  const rows = new Map(Array.from(body.rows, (r) => [r.dataset.id, r]));
  const order = jobs.map((job) => {
    const row = rows.get(job.id) || makeRow(job.id);
    fillRow(row, job);
    rows.delete(job.id);
    return row;
  });
  for (const stale of rows.values()) stale.remove();
  order.forEach((row, i) => { if (body.rows[i] !== row) body.insertBefore(row, body.rows[i] || null); });
  $("no-jobs").hidden = jobs.length > 0;
}

async function refreshJobs() {
  try {
    renderJobs((await (await api("/v1/jobs?limit=50")).json()).jobs);
  } catch (err) { fail(err); }
}

function parseEvent(chunk) {
  let name = "message";
  let data = "";
  for (const line of chunk.split("\n")) {
    if (line.startsWith("event:")) name = line.slice(6).trim();
    else if (line.startsWith("data:")) data += line.slice(5).trim();
  }
  return data ? {name, data: JSON.parse(data)} : null;
}

// Server-Sent Events read with fetch (EventSource cannot send the token).
async function readEvents(res, onEvent) {
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const {value, done} = await reader.read();
    if (done) return;
    buffer += decoder.decode(value, {stream: true});
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const event = parseEvent(buffer.slice(0, end));
      buffer = buffer.slice(end + 2);
      if (event) onEvent(event);
    }
  }
}

function stopJobs() {
  if (liveStream) liveStream.abort();
  if (pollTimer) clearInterval(pollTimer);
  liveStream = pollTimer = null;
}

async function startJobs() {
  stopJobs();
  const controller = new AbortController();
  liveStream = controller;
  try {
    const res = await api("/v1/jobs?limit=50", {
      headers: {Accept: "text/event-stream"}, signal: controller.signal,
    });
    $("live").textContent = "live";
    await readEvents(res, (event) => { if (event.name === "jobs") renderJobs(event.data.jobs); });
  } catch (err) {
    if (controller.signal.aborted) return;
  }
  if (controller.signal.aborted) return;
  // The stream is unavailable or ended: poll instead.
  $("live").textContent = "updated every 3 s";
  refreshJobs();
  pollTimer = setInterval(refreshJobs, POLL_MS);
}

// -- search and ask -----------------------------------------------------------

function resultItem(hit) {
  const item = document.createElement("li");
  const where = document.createElement("div");
  where.className = "where";
  where.textContent = hit.source + (hit.page ? ", page " + hit.page : "")
    + (hit.section ? ", " + hit.section : "") + "  ·  score " + hit.score.toFixed(3);
  const snippet = document.createElement("div");
  snippet.className = "snippet";
  snippet.textContent = hit.snippet;
  item.append(where, snippet);
  return item;
}

$("search-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const list = $("results");
  const params = new URLSearchParams({q: $("q").value, collection: collection(), k: "10"});
  list.replaceChildren();
  try {
    const found = (await (await api("/v1/search?" + params)).json()).results;
    if (!found.length) list.append(Object.assign(document.createElement("p"), {textContent: "No results."}));
    for (const hit of found) list.append(resultItem(hit));
    say("");
  } catch (err) { fail(err); }
});

$("ask-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const answer = $("answer");
  const sources = $("sources");
  answer.textContent = "";
  sources.replaceChildren();
  try {
    const res = await api("/v1/ask", {
      method: "POST",
      headers: {"Content-Type": "application/json", Accept: "text/event-stream"},
      body: JSON.stringify({question: $("question").value, collection: collection()}),
    });
    await readEvents(res, (e) => {
      if (e.name === "answer") answer.textContent += e.data.text;
      else if (e.name === "sources") {
        for (const label of e.data.sources) {
          sources.append(Object.assign(document.createElement("li"), {textContent: label}));
        }
      } else if (e.name === "error") say(e.data.error.message);
    });
  } catch (err) { fail(err); }
});

whoami();
