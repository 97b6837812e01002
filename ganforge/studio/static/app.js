// ganforge studio: a small page that uses only the REST API (/docs describes it). No build step.
"use strict";

const params = new URLSearchParams(location.search);
if (params.get("token")) sessionStorage.setItem("ganforge-token", params.get("token"));
const TOKEN = sessionStorage.getItem("ganforge-token") || "";
const $view = document.getElementById("view");
let cleanup = [];  // closers of the current view (event sources, timers)

function esc(s) { return String(s ?? "").replace(/[&<>"']/g, c => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c])); }
function withToken(url) { return TOKEN ? url + (url.includes("?") ? "&" : "?") + "token=" + encodeURIComponent(TOKEN) : url; }
function fileUrl(runId, path, download) { return withToken(`/api/runs/${runId}/files/${path}` + (download ? "?download=true" : "")); }

async function api(method, url, body, raw) {
  const headers = {};
  if (TOKEN) headers["Authorization"] = "Bearer " + TOKEN;
  let payload = body;
  if (body !== undefined && !raw) { headers["Content-Type"] = "application/json"; payload = JSON.stringify(body); }
  const res = await fetch(url, {method, headers, body: payload});
  const text = await res.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch (e) { data = text; }
  if (!res.ok) {
    let msg = data && data.detail !== undefined ? data.detail : text;
    if (Array.isArray(msg)) msg = msg.map(d => (d.loc || []).slice(1).join(".") + ": " + d.msg).join("; ");
    throw new Error(msg || res.statusText);
  }
  return data;
}

function toast(msg, isErr) {
  const t = document.getElementById("toast");
  t.textContent = msg; t.className = isErr ? "err" : ""; t.hidden = false;
  clearTimeout(toast.timer); toast.timer = setTimeout(() => t.hidden = true, isErr ? 7000 : 2500);
}

function fmtTime(s) {
  if (s == null || !isFinite(s)) return "–";
  s = Math.round(s);
  if (s < 60) return s + " s";
  if (s < 3600) return Math.floor(s / 60) + " min " + (s % 60) + " s";
  return Math.floor(s / 3600) + " h " + Math.round((s % 3600) / 60) + " min";
}

function fmtNum(v) {
  const a = Math.abs(v);
  if (a === 0) return "0";
  if (a < 1e-3 || a >= 1e5) return v.toExponential(1);
  return String(+v.toPrecision(3));
}

// --------------------------------------------------------------------------- router
function route() {
  cleanup.forEach(f => f()); cleanup = [];
  const h = location.hash.replace(/^#/, "") || "/";
  document.querySelectorAll("nav a[data-nav]").forEach(a => a.classList.toggle("on",
    (h === "/" && a.dataset.nav === "runs") || h.startsWith("/" + a.dataset.nav)));
  let m;
  if ((m = h.match(/^\/run\/(\d+)/))) return viewRun(+m[1]);
  if (h.startsWith("/new")) return viewNew(new URLSearchParams(h.split("?")[1] || ""));
  if (h.startsWith("/data")) return viewData();
  if (h.startsWith("/api")) return viewApi();
  return viewRuns();
}
window.addEventListener("hashchange", route);

// --------------------------------------------------------------------------- runs
async function viewRuns() {
  let runs = await api("GET", "/api/runs");
  renderRuns(runs);
  const timer = setInterval(async () => {  // refresh while something trains
    if (!runs.some(r => ["queued", "running", "stopping"].includes(r.status))) return;
    runs = await api("GET", "/api/runs");
    renderRuns(runs);
  }, 3000);
  cleanup.push(() => clearInterval(timer));
}

function renderRuns(runs) {
  const cards = runs.map(r => {
    const pic = r.sample ? `<img src="${fileUrl(r.id, r.sample)}" alt="">` : `<div class="ph">${esc(r.task)}</div>`;
    const j = r.job || {}, p = Math.round(100 * (j.progress || 0));
    const left = ["running", "stopping"].includes(r.status) && j.eta_s != null ? ` · ${fmtTime(j.eta_s)} left` : "";
    return `<a class="card run-card" href="#/run/${r.id}">${pic}
      <div class="title">${esc(r.name)}</div>
      <div class="bar"><div style="width:${p}%"></div></div>
      <span class="badge ${esc(r.status)}">${esc(r.status)}</span> <span class="muted small">step ${j.step || 0}${left}</span></a>`;
  }).join("");
  $view.innerHTML = `<h1>Runs</h1>
    <div class="row"><a class="button primary" href="#/new">New run</a> <a class="button" href="#/data">Data sets</a>
      <span class="muted">or a model file:</span> <input type="file" id="mfile" accept=".safetensors,.pth,.pt,.pkl,.ckpt,.bin">
      <button id="mupload">Upload a model</button> <span id="mmsg" class="small"></span></div>
    ${runs.length ? `<div class="cards">${cards}</div>` : `<p class="muted">No runs yet. Add a data set, then start a run.</p>`}`;
  document.getElementById("mupload").onclick = async () => {  // a finished run whose model is the upload
    const f = document.getElementById("mfile").files[0], msg = document.getElementById("mmsg");
    if (!f) return toast("choose a model file first", true);
    msg.textContent = "uploading and checking…"; msg.className = "small";
    try { const run = await api("POST", "/api/models?" + new URLSearchParams({filename: f.name}), f, true); location.hash = "#/run/" + run.id; }
    catch (e) { msg.textContent = e.message; msg.className = "small err"; }
  };
}

// --------------------------------------------------------------------------- the API, from its OpenAPI description
async function viewApi() {
  const spec = await (await fetch("/openapi.json")).json();
  const rows = [];
  for (const [path, ops] of Object.entries(spec.paths)) {
    for (const [method, op] of Object.entries(ops)) {
      const params = (op.parameters || []).map(p => p.name + (p.required ? "" : "?")).join(", ");
      let body = "";
      const ref = op.requestBody && op.requestBody.content && op.requestBody.content["application/json"];
      if (ref && ref.schema) {
        const name = (ref.schema.$ref || "").split("/").pop(), schema = spec.components.schemas[name] || ref.schema;
        body = Object.keys(schema.properties || {}).join(", ");
      }
      rows.push(`<tr><td><b>${method.toUpperCase()}</b></td><td><code>${esc(path)}</code></td><td>${esc(params)}</td><td>${esc(body)}</td>
        <td>${esc(op.summary || "")}<div class="muted small">${esc((op.description || "").split("\n\n")[0].replace(/``/g, "").replace(/\s+/g, " "))}</div></td></tr>`);
    }
  }
  $view.innerHTML = `<h1>API</h1><p class="small">Everything this page does goes through this REST API. The OpenAPI
    description is <a href="/openapi.json">/openapi.json</a>${TOKEN ? "; send the token as <code>Authorization: Bearer …</code>" : ""}.</p>
    <div style="overflow:auto"><table><tr><th>method</th><th>path</th><th>query/path</th><th>JSON body</th><th>what</th></tr>${rows.join("")}</table></div>`;
}

// --------------------------------------------------------------------------- data sets
function summaryHtml(d) {
  const s = d.summary || {};
  const bits = [`<b>${s.count}</b> ${d.kind === "table" ? "rows" : d.kind === "pairs" ? "pairs" : d.kind === "series" ? "series" : "images"}`];
  if (s.classes && s.classes.length) bits.push(`${s.classes.length} classes: ${esc(s.classes.slice(0, 12).join(", "))}${s.classes.length > 12 ? "…" : ""}`);
  if (s.sizes && Object.keys(s.sizes).length) bits.push("sizes " + esc(Object.entries(s.sizes).slice(0, 3).map(([k, v]) => `${k} ×${v}`).join(", ")));
  if (s.length) bits.push(`length ${s.length}, ${s.features.length} features`);
  if (s.layout) bits.push(esc(s.layout));
  let html = `<div class="small">${bits.join(" · ")}</div>`;
  if (s.skipped_count) html += `<details><summary>${s.skipped_count} skipped</summary><div class="skipped">${
    s.skipped.map(([n, r]) => `<div><code>${esc(n)}</code>: ${esc(r)}</div>`).join("")}</div></details>`;
  if (s.head) html += tableHtml(s.head);
  return html;
}

function tableHtml(head) {
  return `<div style="overflow:auto"><table><tr>${head.columns.map(c => `<th>${esc(c)}</th>`).join("")}</tr>${
    head.rows.map(r => `<tr>${r.map(v => `<td>${esc(typeof v === "number" ? +v.toPrecision(5) : v)}</td>`).join("")}</tr>`).join("")}</table></div>`;
}

async function viewData() {
  const [list, builtins] = await Promise.all([api("GET", "/api/datasets"), api("GET", "/api/datasets/builtins")]);
  const cards = list.map(d => `<div class="card dataset-card">
      ${d.summary.preview ? `<img src="${withToken(`/api/datasets/${d.id}/preview.png`)}" alt="">` : `<div class="ph">${esc(d.kind)}</div>`}
      <div class="title">${esc(d.name)} <span class="badge">${esc(d.kind)}</span></div>
      ${summaryHtml(d)}
      <div class="row"><a class="button" href="#/new?dataset=${d.id}">Train on it</a>
      <button class="danger" data-del="${d.id}">Delete</button></div></div>`).join("");
  $view.innerHTML = `<h1>Data sets</h1>
    <div class="panel"><div class="row">
      <label>Kind <select id="kind"><option value="images">images (.zip; class folders = labels)</option>
        <option value="pairs">image pairs (.zip: A|B side by side, or folders A/ and B/)</option><option value="table">table (.csv)</option>
        <option value="series">time series (.csv, long format)</option></select></label>
      <input type="file" id="file" accept=".zip,.csv,.tsv">
      <input id="dsname" placeholder="name (optional)">
      <button class="primary" id="upload">Upload</button>
      <span class="muted">or a built-in:</span>
      ${Object.keys(builtins).map(b => `<button data-builtin="${esc(b)}">${esc(b.replace("builtin:", ""))}</button>`).join("")}
    </div><div id="upmsg" class="small"></div></div>
    <h2>Your data sets</h2>
    ${list.length ? `<div class="cards">${cards}</div>` : `<p class="muted">None yet.</p>`}`;
  document.getElementById("upload").onclick = async () => {
    const f = document.getElementById("file").files[0];
    if (!f) return toast("choose a file first", true);
    const kind = document.getElementById("kind").value, name = document.getElementById("dsname").value;
    const msg = document.getElementById("upmsg");
    msg.textContent = "uploading and checking…"; msg.className = "small";
    try {
      const q = new URLSearchParams({kind, filename: f.name}); if (name) q.set("name", name);
      await api("POST", "/api/datasets?" + q, f, true);
      toast("data set added"); viewData();
    } catch (e) { msg.textContent = e.message; msg.className = "small err"; }
  };
  $view.querySelectorAll("[data-builtin]").forEach(b => b.onclick = async () => {
    b.disabled = true;
    try { await api("POST", "/api/datasets/builtin", {source: b.dataset.builtin}); toast("data set added"); viewData(); }
    catch (e) { toast(e.message, true); b.disabled = false; }
  });
  $view.querySelectorAll("[data-del]").forEach(b => b.onclick = async () => {
    if (!confirm("Delete this data set?")) return;
    try { await api("DELETE", "/api/datasets/" + b.dataset.del); viewData(); } catch (e) { toast(e.message, true); }
  });
}

// --------------------------------------------------------------------------- new run
function fieldInput(f, value, prefix) {
  const id = prefix + f.name, v = value === undefined ? f.default : value;
  let input;
  if (f.type === "bool" && !f.optional) input = `<input type="checkbox" id="${id}" data-type="bool" ${v ? "checked" : ""}>`;
  else if (f.choices && f.choices.length) {   // a fixed set of values: pick one (optional fields may stay unset)
    const opts = (f.optional ? [`<option value="" ${v == null ? "selected" : ""}>auto</option>`] : []).concat(
      f.choices.map(c => `<option value="${esc(c)}" ${String(c) === String(v) ? "selected" : ""}>${esc(c)}</option>`));
    input = `<select id="${id}" data-type="${f.type}">${opts.join("")}</select>`;
  }
  else if (f.type === "bool") input = `<select id="${id}" data-type="bool?"><option value="" ${v == null ? "selected" : ""}>auto</option><option value="true" ${v === true ? "selected" : ""}>yes</option><option value="false" ${v === false ? "selected" : ""}>no</option></select>`;
  else {
    const shown = v == null ? "" : Array.isArray(v) ? v.join(",") : v;
    const num = f.type === "int" || f.type === "float";
    input = `<input id="${id}" data-type="${f.type}" data-optional="${f.optional}" ${num ? `type="number" step="${f.type === "int" ? 1 : "any"}"` : ""} value="${esc(shown)}" placeholder="${f.optional ? "auto" : ""}">`;
  }
  return `<label>${esc(f.name)}${input}<small>${esc(f.help)}</small></label>`;
}

function readField(f, prefix) {
  const el = document.getElementById(prefix + f.name);
  if (!el) return undefined;
  const t = el.dataset.type;
  if (t === "bool") return el.checked;
  if (t === "bool?") return el.value === "" ? null : el.value === "true";
  const s = el.value.trim();
  if (s === "") return f.optional ? null : (f.type === "str" ? "" : undefined);
  if (f.type === "int") return parseInt(s, 10);
  if (f.type === "float") return parseFloat(s);
  if (f.type === "list") return s.split(",").map(x => x.trim()).filter(Boolean).map(x => isNaN(+x) ? x : +x);
  return s;
}

async function viewNew(q) {
  let [tasks, sets] = await Promise.all([api("GET", "/api/tasks"), api("GET", "/api/datasets")]);
  tasks = tasks.filter(t => !t.error);
  const pre = sets.find(d => String(d.id) === q.get("dataset"));
  // the application a data set of its kind is most often for (the task says so); other matching ones follow
  let task = (pre && (tasks.find(t => t.primary && t.data_kind === pre.kind) ||
                      tasks.find(t => t.data_kind === pre.kind))) || tasks[0];
  $view.innerHTML = `<h1>New run</h1><div class="panel">
    <div class="row"><label>Application <select id="task">${tasks.map(t => `<option value="${esc(t.name)}">${esc(t.name)} — ${esc(t.title)}</option>`).join("")}</select></label></div>
    <div class="row"><label>Data set <select id="dataset"></select></label> <a href="#/data" class="small">add a data set</a></div>
    <div class="presets" id="presets"></div>
    <details><summary>Options</summary><div id="opts"></div></details>
    <div class="row"><input id="runname" placeholder="run name (optional)"><button class="primary" id="start">Start training</button></div>
    <div id="newmsg" class="small err"></div></div>`;
  const $task = document.getElementById("task");
  $task.value = task.name;
  function render() {
    task = tasks.find(t => t.name === $task.value);
    const ok = sets.filter(d => !task.data_kind || d.kind === task.data_kind);
    document.getElementById("dataset").innerHTML = ok.length ? ok.map(d => `<option value="${d.id}" ${pre && pre.id === d.id ? "selected" : ""}>${esc(d.name)} (${d.summary.count} ${esc(d.kind)})</option>`).join("")
      : `<option value="">no ${esc(task.data_kind || "")} data set yet</option>`;
    document.getElementById("presets").innerHTML = Object.entries(task.presets).map(([p, v], i) =>
      `<label><input type="radio" name="preset" value="${p}" ${i === 0 ? "checked" : ""}><b>${p}</b> <span class="muted small">${esc(v.about)}</span></label>`).join("");
    document.querySelectorAll("input[name=preset]").forEach(r => r.onchange = renderFields);
    renderFields();
  }
  function renderFields() {
    const preset = document.querySelector("input[name=preset]:checked").value;
    const vals = task.presets[preset].values;
    document.getElementById("opts").innerHTML =
      `<h2>Training</h2><div class="fields">${task.run_fields.filter(f => !f.advanced).map(f => fieldInput(f, vals[f.name], "r-")).join("")}</div>
       <details><summary>more training settings</summary><div class="fields">${task.run_fields.filter(f => f.advanced).map(f => fieldInput(f, vals[f.name], "r-")).join("")}</div></details>
       <h2>${esc(task.name)}</h2><div class="fields">${task.fields.map(f => fieldInput(f, vals[f.name], "t-")).join("")}</div>`;
  }
  $task.onchange = render;
  render();
  document.getElementById("start").onclick = async () => {
    const options = {};
    for (const f of task.run_fields) { const v = readField(f, "r-"); if (v !== undefined) options[f.name] = v; }
    for (const f of task.fields) { const v = readField(f, "t-"); if (v !== undefined) options[f.name] = v; }
    const ds = document.getElementById("dataset").value;
    const body = {task: task.name, preset: document.querySelector("input[name=preset]:checked").value, options,
                  dataset_id: ds ? +ds : null};
    const name = document.getElementById("runname").value; if (name) body.name = name;
    try { const run = await api("POST", "/api/runs", body); location.hash = "#/run/" + run.id; }
    catch (e) { document.getElementById("newmsg").textContent = e.message; }
  };
}

// --------------------------------------------------------------------------- one run: live view and results
function drawCurves(canvas, records, keys, title) {
  const dpr = window.devicePixelRatio || 1, W = canvas.clientWidth, H = canvas.clientHeight;
  canvas.width = W * dpr; canvas.height = H * dpr;
  const g = canvas.getContext("2d"); g.scale(dpr, dpr); g.clearRect(0, 0, W, H);
  const colors = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#4b5563"];
  const series = keys.map(k => records.filter(r => typeof r[k] === "number" && isFinite(r[k])).map(r => [r.step, r[k]]));
  const pts = series.flat();
  g.font = "12px system-ui"; g.fillStyle = "#6b7380";
  if (!pts.length) { g.fillText(title + ": waiting for the first records…", 10, 20); return; }
  const x0 = Math.min(...pts.map(p => p[0])), x1 = Math.max(...pts.map(p => p[0]), x0 + 1);
  let y0 = Math.min(...pts.map(p => p[1])), y1 = Math.max(...pts.map(p => p[1]));
  if (y1 - y0 < 1e-9) { y0 -= 1; y1 += 1; }
  const L = 46, R = 10, T = 22, B = 22;
  const X = x => L + (x - x0) / (x1 - x0) * (W - L - R), Y = y => T + (1 - (y - y0) / (y1 - y0)) * (H - T - B);
  g.strokeStyle = "#e5e7eb"; g.lineWidth = 1;
  for (let i = 0; i <= 4; i++) { const y = T + i * (H - T - B) / 4; g.beginPath(); g.moveTo(L, y); g.lineTo(W - R, y); g.stroke();
    g.fillText(fmtNum(y1 - i * (y1 - y0) / 4), 2, y + 4); }
  g.fillText("step " + x1, W - R - 70, H - 5); g.fillText(String(x0), L, H - 5);
  series.forEach((s, i) => {
    g.strokeStyle = colors[i % colors.length]; g.lineWidth = 1.6; g.beginPath();
    s.forEach(([x, y], j) => j ? g.lineTo(X(x), Y(y)) : g.moveTo(X(x), Y(y))); g.stroke();
  });
  let lx = L;
  keys.forEach((k, i) => { g.fillStyle = colors[i % colors.length]; g.fillText(k, lx, 13); lx += g.measureText(k).width + 14; });
}

async function viewRun(id) {
  let run = await api("GET", `/api/runs/${id}`);
  const records = [];
  $view.innerHTML = `<div class="row"><h1 style="margin:0" id="rname">${esc(run.name)}</h1> <span id="rstatus" class="badge"></span></div>
    <div class="live">
      <div class="panel"><img id="grid" class="grid-img" alt="latest samples"><div class="muted small" id="gridcap">no samples yet</div></div>
      <div>
        <div class="stats"><div><b id="s-step">0</b><span>step</span></div><div><b id="s-ips">–</b><span>images/s</span></div>
          <div><b id="s-eta">–</b><span>time left</span></div><div><b id="s-pct">0%</b><span>done</span></div></div>
        <div class="bar"><div id="s-bar" style="width:0"></div></div>
        <div class="row"><button id="stop">Stop</button><button id="resume">Resume</button><button class="danger" id="delete">Delete</button></div>
        <div id="rerror" class="err small"></div>
        <div class="panel"><canvas id="losses"></canvas></div>
        <div class="panel" id="evalpanel" hidden style="margin-top:10px"><canvas id="evals"></canvas></div>
      </div>
    </div>
    <h2>Log</h2><pre class="log" id="log"></pre>
    <div id="results"></div>`;
  const $ = i => document.getElementById(i);
  function showRun(r) {
    run = r;
    const j = r.job || {};
    $("rstatus").textContent = r.status; $("rstatus").className = "badge " + r.status;
    $("s-step").textContent = j.step ?? 0;
    $("s-ips").textContent = j.imgs_per_s != null ? Math.round(j.imgs_per_s) : "–";
    $("s-eta").textContent = ["running", "stopping"].includes(r.status) ? fmtTime(j.eta_s) : "–";
    const pct = Math.round(100 * (j.progress || 0)); $("s-pct").textContent = pct + "%"; $("s-bar").style.width = pct + "%";
    $("stop").disabled = !["queued", "running"].includes(r.status);
    $("resume").disabled = j.kind === "import" || !["stopped", "interrupted", "failed", "finished"].includes(r.status);
    $("rerror").textContent = j.error || "";
  }
  function showSample(path) {
    if (!path) return;
    $("grid").src = fileUrl(id, path) + (path.includes("?") ? "&" : (TOKEN ? "&" : "?")) + "t=" + Date.now();
    const m = path.match(/step-(\d+)/);
    $("gridcap").textContent = m ? "samples at step " + parseInt(m[1], 10) : path;
  }
  function plot() {
    const keys = [...new Set(records.flatMap(r => Object.keys(r)))];
    // regularisers (R1, ...) live on another scale: they get the second plot with the evaluation scores
    const isReg = k => /_reg$|^r1$|^gp$/.test(k.replace("loss/", ""));
    drawCurves($("losses"), records, keys.filter(k => k.startsWith("loss/") && !isReg(k)).sort(), "losses");
    const ev = keys.filter(k => k.startsWith("eval/") || isReg(k));
    $("evalpanel").hidden = !ev.length;
    if (ev.length) drawCurves($("evals"), records, ev.sort(), "metrics");
  }
  showRun(run); showSample(run.sample);
  records.push(...await api("GET", `/api/runs/${id}/metrics`));
  plot();
  $("log").textContent = (await api("GET", `/api/runs/${id}/log?lines=15`)).lines.join("\n");
  let lastId = records.length ? records[records.length - 1]._id : 0;
  let resultsShown = false;
  async function maybeResults() { if (run.has_model && !resultsShown) { resultsShown = true; await showResults(id); } }
  function listen() {
    const es = new EventSource(withToken(`/api/runs/${id}/events`));
    es.addEventListener("update", ev => {
      const d = JSON.parse(ev.data);
      showRun(d.run);
      const fresh = d.metrics.filter(m => m._id > lastId);
      if (fresh.length) { records.push(...fresh); lastId = fresh[fresh.length - 1]._id; plot(); }
      if (d.sample) showSample(d.sample);
      if (d.log) { $("log").textContent = d.log.join("\n"); $("log").scrollTop = 1e9; }
    });
    es.addEventListener("end", () => { es.close(); maybeResults(); refreshDownloads(id); });
    es.addEventListener("deleted", () => { es.close(); location.hash = "#/"; });
    cleanup.push(() => es.close());
  }
  listen();
  $("stop").onclick = async () => { try { showRun(await api("POST", `/api/runs/${id}/stop`)); } catch (e) { toast(e.message, true); } };
  $("resume").onclick = async () => {
    try { showRun(await api("POST", `/api/runs/${id}/resume`)); cleanup.forEach(f => f()); cleanup = []; listen(); }
    catch (e) { toast(e.message, true); }
  };
  $("delete").onclick = async () => {
    if (!confirm("Delete this run and all its files?")) return;
    try { await api("DELETE", `/api/runs/${id}`); location.hash = "#/"; } catch (e) { toast(e.message, true); }
  };
  window.addEventListener("resize", plot); cleanup.push(() => window.removeEventListener("resize", plot));
  await maybeResults();
}

async function refreshDownloads(id) {
  const box = document.getElementById("downloads");
  if (!box) return;
  const files = await api("GET", `/api/runs/${id}/files`);
  const kb = b => b > 1e6 ? (b / 1e6).toFixed(1) + " MB" : Math.max(1, Math.round(b / 1e3)) + " kB";
  box.innerHTML = files.map(f => `<div><a href="${fileUrl(id, f.path, true)}" download>${esc(f.path)}</a> <span class="muted small">${kb(f.bytes)}</span></div>`).join("");
}

async function showResults(id) {
  let caps;
  try { caps = await api("GET", `/api/runs/${id}/model`); } catch (e) { return; }
  const box = document.getElementById("results");
  // everything below comes from the model's own contract: sample / walk / apply / verbs
  const cond = caps.conditions ? `<label>condition <select id="g-cond"><option value="">any</option>${caps.conditions.map(c => `<option>${esc(c)}</option>`).join("")}</select></label>`
    : caps.condition_help ? `<label>condition <input id="g-cond" placeholder="${esc(caps.condition_help)}"></label>` : "";
  let html = `<h2>Model <span class="muted small">step ${caps.step} · ${esc(caps.status)}</span></h2><div class="live"><div class="panel">`;
  if (caps.sample) html += `<div class="row"><label>how many <input type="number" id="g-n" value="16" min="1"></label>
      <label>seed <input type="number" id="g-seed" value="0"></label>${cond}<button class="primary" id="g-go">Generate</button></div>`;
  if (caps.walk) html += `<div class="row"><button id="w-gif">Latent walk (GIF)</button><button id="w-mp4">Latent walk (MP4)</button></div>`;
  if (caps.apply) html += `<div class="row"><label>apply to a file <input type="file" id="a-file"></label><button class="primary" id="a-go">Apply</button></div>`;
  for (const v of caps.verb_forms) {
    html += `<div class="row"><b>${esc(v.name)}</b> <span class="muted small">${esc(v.title)}</span>
      ${v.fields.map(f => fieldInput(f, f.default, `v-${v.name}-`)).join("")}<button id="v-${esc(v.name)}">${esc(v.name)}</button></div>`;
  }
  html += `<div class="out" id="out"></div></div><div class="panel"><b>Downloads</b><div class="downloads" id="downloads"></div></div></div>`;
  box.innerHTML = html;
  const $ = i => document.getElementById(i), out = $("out");
  function show(res) {  // newest result first; the last few stay on the page
    const block = document.createElement("div");
    block.className = "result";
    block.innerHTML = (res.message ? `<div class="small">${esc(res.message)}</div>` : "") + res.files.map(f => {
      const url = fileUrl(id, f);
      if (f.endsWith(".png") || f.endsWith(".gif") || f.endsWith(".jpg")) return `<img src="${url}" alt="${esc(f)}">`;
      if (f.endsWith(".mp4")) return `<video src="${url}" autoplay loop muted playsinline controls></video>`;
      return "";
    }).join("") + (res.head ? tableHtml(res.head) : "") +
      `<div class="row">${res.files.map(f => `<a class="button" href="${fileUrl(id, f, true)}" download>download ${esc(f.split(".").pop())}</a>`).join("")}</div>`;
    out.prepend(block);
    while (out.children.length > 3) out.lastChild.remove();
    refreshDownloads(id);
  }
  async function call(btn, fn) {
    btn.disabled = true;
    try { show(await fn()); } catch (e) { toast(e.message, true); } finally { btn.disabled = false; }
  }
  if ($("g-go")) $("g-go").onclick = () => call($("g-go"), () => api("POST", `/api/runs/${id}/generate`,
    {n: +$("g-n").value, seed: +$("g-seed").value, condition: $("g-cond") ? ($("g-cond").value || null) : null}));
  if ($("w-gif")) $("w-gif").onclick = () => call($("w-gif"), () => api("POST", `/api/runs/${id}/walk`, {seed: 0, format: "gif"}));
  if ($("w-mp4")) $("w-mp4").onclick = () => call($("w-mp4"), () => api("POST", `/api/runs/${id}/walk`, {seed: 0, format: "mp4"}));
  if ($("a-go")) $("a-go").onclick = () => {
    const f = $("a-file").files[0]; if (!f) return toast("choose a file", true);
    call($("a-go"), () => api("POST", `/api/runs/${id}/apply?filename=${encodeURIComponent(f.name)}`, f, true));
  };
  for (const v of caps.verb_forms) {
    $(`v-${v.name}`).onclick = () => {
      const values = {};
      for (const f of v.fields) { const x = readField(f, `v-${v.name}-`); if (x !== undefined && x !== null) values[f.name] = x; }
      call($(`v-${v.name}`), () => api("POST", `/api/runs/${id}/verbs/${encodeURIComponent(v.name)}`, values));
    };
  }
  refreshDownloads(id);
}

route();
