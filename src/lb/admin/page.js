// Redraws the backend table from /stats without reloading the page.
"use strict";
let previous = null; // { at: ms, requests: { name: count } }
let refreshes = 0;

function ago(since, now) {
  if (!since) return "-";
  let s = Math.max(0, Math.round((now - Date.parse(since)) / 1000));
  if (s < 120) return s + "s";
  if (s < 7200) return Math.floor(s / 60) + "m" + (s % 60) + "s";
  return Math.floor(s / 3600) + "h" + Math.floor((s % 3600) / 60) + "m";
}

function ms(value) {
  return value === null || value === undefined ? "-" : value.toFixed(2);
}

function ms1(value) {
  return value === null || value === undefined ? "-" : value.toFixed(1);
}

function cell(row, text, cls) {
  const td = document.createElement("td");
  td.textContent = text;
  if (cls) td.className = cls;
  row.appendChild(td);
  return td;
}

function command(name, action) {
  fetch("/backends/" + encodeURIComponent(name) + "/" + action, { method: "POST" })
    .then(() => refresh());
}

function draw(stats) {
  const now = Date.now();
  const body = document.getElementById("backends");
  const rows = [];
  const requests = {};
  for (const b of stats.backends) {
    requests[b.name] = b.requests;
    let rate = "-";
    if (previous && b.name in previous.requests && now > previous.at) {
      const per_s = (b.requests - previous.requests[b.name]) * 1000 / (now - previous.at);
      rate = Math.max(0, per_s).toFixed(1);
    }
    let state = b.state;
    if (b.backoff_until) {
      state = (b.state === "backoff" ? "backoff" : b.state + ", backoff") +
        " until " + b.backoff_until;
    }
    const row = document.createElement("tr");
    row.dataset.backend = b.name;
    row.className = b.state;
    cell(row, b.name, "name");
    cell(row, b.address);
    cell(row, state, "state");
    cell(row, ago(b.state_since, now), "since");
    cell(row, b.last_check || "-", "check");
    cell(row, b.agent || "-", "agent");
    cell(row, String(b.weight));
    cell(row, String(b.active), "active");
    cell(row, String(b.max_active), "max");
    cell(row, rate, "rate");
    cell(row, String(b.requests), "requests");
    cell(row, String(b.failures));
    const retries = b.retries || { reused: 0, fresh: 0 };
    cell(row, String(retries.reused + retries.fresh), "retries").title =
      `${retries.reused} on reused connections, ${retries.fresh} on new ones`;
    cell(row, ms(b.p50_ms));
    cell(row, ms(b.p99_ms));
    const actions = cell(row, "", "actions");
    for (const action of ["drain", "ready", "maint"]) {
      const button = document.createElement("button");
      button.textContent = action;
      button.className = action;
      button.addEventListener("click", () => command(b.name, action));
      actions.appendChild(button);
    }
    rows.push(row);
  }
  body.replaceChildren(...rows);
  previous = { at: now, requests };
  document.getElementById("summary").textContent =
    `${stats.mode} mode, ${stats.strategy}, ${stats.workers} worker(s), ` +
    `${stats.clients} client connection(s) open, ${stats.accepted} accepted.`;
  const q = stats.queue;
  if (q) {
    document.getElementById("queue").textContent =
      `queue: ${q.waiting} waiting (max ${q.max_waiting}), ${q.queued} queued, ` +
      `${q.admitted} served, ${q.timed_out} timed out, ${q.abandoned} left; ` +
      `wait ms mean ${ms1(q.wait_mean_ms)}, p99 ${ms1(q.wait_p99_ms)}, max ${ms1(q.wait_max_ms)}`;
  }
  refreshes += 1;
  const status = document.getElementById("status");
  status.dataset.refreshes = String(refreshes);
  status.className = "";
  status.textContent = "live: refreshed " + new Date(now).toLocaleTimeString();
}

function refresh() {
  return fetch("/stats", { cache: "no-store" })
    .then((answer) => answer.json())
    .then(draw)
    .catch((error) => {
      const status = document.getElementById("status");
      status.className = "stale";
      status.textContent = "not refreshed: " + error;
    });
}

refresh();
setInterval(refresh, REFRESH_MS);
