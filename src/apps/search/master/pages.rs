//! The master's two web pages, self-contained (no third-party script or
//! service, so they work offline): `/` to start jobs and watch them, and
//! `/hosts` to manage the workers. Both follow `GET /api/events`
//! (Server-Sent Events) and call the JSON API; the job form is a real
//! `multipart/form-data` form, sent with `fetch` so the page stays live.

/// `GET /`: upload or paste, keywords, live progress and counts, results
/// per worker, past jobs.
pub const JOBS_PAGE: &str = r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>distloop search</title>
<style>
body{font-family:sans-serif;margin:2em;max-width:60em}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #aaa;padding:.2em .6em;text-align:left}
progress{width:30em}#error{color:#b00;font-weight:bold}textarea{width:40em;height:6em}
</style></head><body>
<h1>Keyword search</h1>
<p><a href="/hosts">Hosts</a></p>
<form id="start" method="post" action="/api/jobs" enctype="multipart/form-data">
<p><label>Keywords (comma separated): <input id="keywords" name="k" size="40" value=""></label></p>
<p><label><input type="checkbox" id="case" name="case" value="sensitive"> case-sensitive</label>
<label><input type="checkbox" id="substring" name="match" value="substring"> inside words too</label></p>
<p><label>File: <input type="file" id="file" name="file"></label></p>
<p><label>or paste text:<br><textarea id="text" name="text"></textarea></label></p>
<p><button type="submit" id="go">Start</button></p>
</form>
<p id="error"></p>
<div id="current" hidden>
<h2>Job <span id="job-id"></span>: <span id="job-state"></span></h2>
<p><progress id="progress" max="1" value="0"></progress>
<span id="progress-text"></span></p>
<table id="counts"><thead><tr><th>Keyword</th><th>Count</th></tr></thead><tbody></tbody></table>
<h3>Per worker</h3>
<table id="workers"><thead><tr><th>Worker</th><th>Chunks</th><th>MB</th><th>Counts</th><th>Failed chunks</th></tr></thead><tbody></tbody></table>
</div>
<h2>Past jobs</h2>
<table id="jobs"><thead><tr><th>Job</th><th>State</th><th>Keywords</th><th>Counts</th><th>MB</th><th>Seconds</th></tr></thead><tbody></tbody></table>
<script>
const $ = id => document.getElementById(id);
function cell(row, text) { const td = document.createElement('td'); td.textContent = text; row.appendChild(td); }
function fill(tbody, rows) {
  tbody.replaceChildren();
  for (const r of rows) { const tr = document.createElement('tr'); r.forEach(t => cell(tr, t)); tbody.appendChild(tr); }
}
let watched = null;
function show(job) {
  $('current').hidden = false;
  $('job-id').textContent = job.id;
  $('job-state').textContent = job.state;
  const total = Math.max(job.chunks_total, 1);
  $('progress').max = total;
  $('progress').value = job.chunks_done;
  $('progress-text').textContent = `${job.chunks_done} of ${job.chunks_total}${job.upload_done ? '' : '+'} chunks, ` +
    `${job.mb_per_second.toFixed(1)} MB/s, ${job.seconds.toFixed(2)} s`;
  fill($('counts').tBodies[0], job.keywords.map((k, i) => [k, job.counts[i]]));
  fill($('workers').tBodies[0], Object.entries(job.workers).map(([w, s]) =>
    [w, s.chunks, (s.bytes / 1e6).toFixed(2), s.counts.join(', '), s.failed_chunks]));
  if (job.error) $('error').textContent = job.error;
}
const events = new EventSource('/api/events');
events.onmessage = e => {
  const snapshot = JSON.parse(e.data);
  const jobs = snapshot.jobs;
  fill($('jobs').tBodies[0], jobs.slice().reverse().map(j =>
    [j.id, j.state, j.keywords.join(', '), j.counts.join(', '), (j.bytes_done / 1e6).toFixed(2), j.seconds.toFixed(2)]));
  const job = watched === null ? null : jobs.find(j => j.id === watched) ;
  const latest = jobs.length ? jobs[jobs.length - 1] : null;
  if (job) show(job); else if (latest && latest.state === 'running') { watched = latest.id; show(latest); }
};
$('start').onsubmit = async e => {
  e.preventDefault();
  $('error').textContent = '';
  // The form itself, as multipart/form-data: keywords and options first,
  // then the file or the pasted text, which the master streams into chunks.
  const body = new FormData($('start'));
  if ($('file').files.length) body.delete('text');
  watched = null;
  try {
    const answer = await fetch('/api/jobs', {method: 'POST', body});
    const json = await answer.json();
    if (!answer.ok) { $('error').textContent = json.error; return; }
    watched = json.id; show(json);
  } catch (err) { $('error').textContent = 'the master did not answer: ' + err; }
};
</script></body></html>
"#;

/// `GET /hosts`: the workers with their health, CPU use and chunks done;
/// add, remove, activate and deactivate.
pub const HOSTS_PAGE: &str = r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>distloop search: hosts</title>
<style>
body{font-family:sans-serif;margin:2em;max-width:60em}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #aaa;padding:.2em .6em;text-align:left}
#error{color:#b00;font-weight:bold}.up{color:#070}.down{color:#b00}
</style></head><body>
<h1>Hosts</h1>
<p><a href="/">Search</a></p>
<form id="add"><label>Worker address: <input id="addr" placeholder="127.0.0.1:4000"></label>
<button type="submit" id="add-button">Add</button></form>
<p id="error"></p>
<table id="hosts"><thead><tr><th>Address</th><th>State</th><th>Active</th><th>CPU %</th><th>Chunks done</th><th></th></tr></thead><tbody></tbody></table>
<script>
const $ = id => document.getElementById(id);
async function call(method, query) {
  $('error').textContent = '';
  const answer = await fetch('/api/hosts?' + query, {method});
  if (!answer.ok) $('error').textContent = (await answer.json()).error;
}
function button(label, action) {
  const b = document.createElement('button'); b.textContent = label; b.onclick = action; return b;
}
function render(hosts) {
  const tbody = $('hosts').tBodies[0];
  tbody.replaceChildren();
  for (const h of hosts) {
    const tr = document.createElement('tr');
    tr.dataset.addr = h.addr;
    const cells = [h.addr, h.up ? 'up' : 'down', h.active ? 'active' : 'inactive', h.cpu_percent.toFixed(1), h.chunks_done];
    cells.forEach((t, i) => { const td = document.createElement('td'); td.textContent = t; if (i === 1) td.className = h.up ? 'up' : 'down'; tr.appendChild(td); });
    const actions = document.createElement('td');
    const q = 'addr=' + encodeURIComponent(h.addr);
    actions.appendChild(button(h.active ? 'Deactivate' : 'Activate', () => call('POST', q + '&active=' + !h.active)));
    actions.appendChild(button('Remove', () => call('DELETE', q)));
    tr.appendChild(actions);
    tbody.appendChild(tr);
  }
}
new EventSource('/api/events').onmessage = e => render(JSON.parse(e.data).hosts);
$('add').onsubmit = e => { e.preventDefault(); call('POST', 'addr=' + encodeURIComponent($('addr').value.trim())); };
</script></body></html>
"#;
