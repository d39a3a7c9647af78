"""The web view's one page: live video, the top-k drawn over it, the stats.

Self-contained (no file serving, nothing fetched from elsewhere): the style and the script are
inline, allowed by their hashes in the Content-Security-Policy, and every value from the device
is set as text, never as HTML. The token in the page's address is passed on to the stream and
the event stream; every URL is relative, so the page also works behind a reverse proxy's path.
"""

from __future__ import annotations

import base64
import hashlib

STYLE = """
:root { color-scheme: dark; --bg: #14161a; --panel: #1d2026; --line: #2c3038; --fg: #e8eaed;
  --dim: #9aa0a6; --accent: #4caf7d; --warn: #e0a33a; }
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--fg);
  font: 14px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
header { display: flex; align-items: baseline; gap: 12px; padding: 10px 18px;
  border-bottom: 1px solid var(--line); }
header h1 { margin: 0; font-size: 17px; font-weight: 600; }
header .model { color: var(--dim); }
#conn { margin-left: auto; font-size: 12px; padding: 2px 8px; border-radius: 10px;
  background: var(--line); color: var(--dim); }
#conn.live { background: #1f3a2b; color: var(--accent); }
main { display: flex; flex-wrap: wrap; gap: 18px; padding: 18px; align-items: flex-start; }
.video { position: relative; flex: 1 1 480px; max-width: 960px; background: #000;
  border-radius: 6px; overflow: hidden; line-height: 0; }
#video { width: 100%; height: auto; display: block; min-height: 240px;
  image-rendering: auto; }
#overlay { display: none; position: absolute; left: 12px; bottom: 12px; min-width: 240px;
  max-width: 70%; padding: 10px 12px; border-radius: 6px; background: rgba(10, 12, 15, 0.72);
  line-height: 1.3; }
#overlay .row { display: grid; grid-template-columns: 1fr auto; gap: 2px 12px;
  margin-top: 6px; }
#overlay .row:first-child { margin-top: 0; }
#overlay .label { white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
#overlay .row:first-child .label { font-size: 20px; font-weight: 600; }
#overlay .score { color: var(--dim); font-variant-numeric: tabular-nums; }
#overlay .bar { grid-column: 1 / 3; height: 4px; background: var(--line); border-radius: 2px; }
#overlay .bar i { display: block; height: 100%; background: var(--accent);
  border-radius: 2px; }
#overlay.uncertain .row:first-child .bar i { background: var(--warn); }
#overlay .note { color: var(--warn); font-size: 12px; margin-top: 6px; }
#banner { position: absolute; top: 10px; left: 10px; right: 10px; padding: 6px 10px;
  border-radius: 4px; background: rgba(224, 163, 58, 0.9); color: #111; line-height: 1.3;
  display: none; }
aside { flex: 0 1 300px; background: var(--panel); border-radius: 6px; padding: 12px 16px; }
aside h2 { margin: 0 0 8px; font-size: 13px; font-weight: 600; color: var(--dim);
  text-transform: uppercase; letter-spacing: 0.06em; }
dl { display: grid; grid-template-columns: auto 1fr; gap: 4px 14px; margin: 0 0 14px; }
dt { color: var(--dim); }
dd { margin: 0; text-align: right; font-variant-numeric: tabular-nums;
  overflow-wrap: anywhere; }
@media (max-width: 600px) {
  main { padding: 10px; gap: 10px; }
  aside { flex: 1 1 100%; }
  #overlay { min-width: 0; width: 46%; left: 6px; bottom: 6px; padding: 5px 8px;
    font-size: 12px; }
  #overlay .row { margin-top: 3px; }
  #overlay .row:first-child .label { font-size: 15px; }
}
"""

SCRIPT = """
"use strict";
const token = new URLSearchParams(location.search).get("token");
const query = token ? "?token=" + encodeURIComponent(token) : "";
const $ = (id) => document.getElementById(id);
const video = $("video");
let threshold = 0.5;

function startVideo() {
  video.src = "stream.mjpg" + query + (query ? "&" : "?") + "t=" + Date.now();
}
video.addEventListener("error", () => setTimeout(startVideo, 2000));
startVideo();

function set(id, text) { const el = $(id); if (el.textContent !== text) el.textContent = text; }
function fixed(value, digits) {
  return (value === null || value === undefined) ? "–" : Number(value).toFixed(digits);
}

function showModel(info) {
  set("model-name", info.model.name);
  set("s-model", info.model.name);
  set("s-delegate", info.model.delegate);
  set("s-runtime", info.model.runtime);
  set("s-source", info.source || "–");
  threshold = info.threshold;
  document.title = "edgecam · " + info.model.name;
}

function showResult(r) {
  const overlay = $("overlay");
  const rows = overlay.querySelectorAll(".row");
  r.predictions.forEach((p, i) => {
    let row = rows[i];
    if (!row) {
      row = document.createElement("div");
      row.className = "row";
      for (const name of ["label", "score", "bar"]) {
        const el = document.createElement("div"); el.className = name; row.appendChild(el);
      }
      row.lastChild.appendChild(document.createElement("i"));
      overlay.insertBefore(row, $("note"));
    }
    row.querySelector(".label").textContent = p.label;
    row.querySelector(".score").textContent = (100 * p.score).toFixed(1) + "%";
    row.querySelector(".bar i").style.width = (100 * p.score).toFixed(1) + "%";
  });
  for (let i = r.predictions.length; i < rows.length; i++) rows[i].remove();
  const uncertain = r.predictions.length > 0 && r.predictions[0].score < threshold;
  overlay.classList.toggle("uncertain", uncertain);
  set("note", uncertain ? "uncertain (below " + (100 * threshold).toFixed(0) + "%)" : "");
  overlay.style.display = "block";
  overlay.dataset.frame = r.frame;
  set("top-label", r.predictions.length ? r.predictions[0].label : "–");
  set("s-frame", String(r.frame));
  set("s-latency", fixed(r.latency_ms, 1) + " ms");
}

function showStats(s) {
  const p = s.pipeline || {};
  set("s-capture", fixed(p.capture_fps, 1));
  set("s-inference", fixed(p.inference_fps, 1));
  set("s-invoke", fixed(p.inference_ms, 1) + " ms");
  set("s-age", fixed(p.result_age_ms, 0) + " ms");
  set("s-dropped", p.frames_dropped === undefined ? "–" : String(p.frames_dropped));
  set("s-classified", p.frames_classified === undefined ? "–" : String(p.frames_classified));
  set("s-stream", fixed(s.stream.stream_fps, 1));
  set("s-viewers", String(s.stream.viewers));
}

function banner(text) {
  const el = $("banner");
  el.textContent = text;
  el.style.display = text ? "block" : "none";
}

const events = new EventSource("api/events" + query);
events.addEventListener("hello", (e) => {
  showModel(JSON.parse(e.data));
  $("conn").className = "live";
  set("conn", "live");
});
events.addEventListener("result", (e) => showResult(JSON.parse(e.data)));
events.addEventListener("stats", (e) => showStats(JSON.parse(e.data)));
events.addEventListener("status", (e) => banner(JSON.parse(e.data).text));
events.addEventListener("error", () => { $("conn").className = ""; set("conn", "reconnecting"); });
"""

_BODY = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<link rel="icon" href="data:,">
<title>edgecam</title>
<style>{style}</style>
</head>
<body>
<header>
  <h1>edgecam</h1><span class="model" id="model-name"></span><span id="conn">connecting</span>
</header>
<main>
  <div class="video">
    <img id="video" alt="live video">
    <div id="banner"></div>
    <div id="overlay"><div class="note" id="note"></div></div>
  </div>
  <aside>
    <h2>Prediction</h2>
    <dl>
      <dt>Top label</dt><dd id="top-label">–</dd>
      <dt>Frame</dt><dd id="s-frame">–</dd>
      <dt>Latency</dt><dd id="s-latency">–</dd>
    </dl>
    <h2>Pipeline</h2>
    <dl>
      <dt>Capture</dt><dd><span id="s-capture">–</span> fps</dd>
      <dt>Inference</dt><dd><span id="s-inference">–</span> fps</dd>
      <dt>Invoke</dt><dd id="s-invoke">–</dd>
      <dt>Result age</dt><dd id="s-age">–</dd>
      <dt>Classified</dt><dd id="s-classified">–</dd>
      <dt>Dropped</dt><dd id="s-dropped">–</dd>
      <dt>Stream</dt><dd><span id="s-stream">–</span> fps</dd>
      <dt>Viewers</dt><dd id="s-viewers">–</dd>
    </dl>
    <h2>Model</h2>
    <dl>
      <dt>Name</dt><dd id="s-model">–</dd>
      <dt>Delegate</dt><dd id="s-delegate">–</dd>
      <dt>Runtime</dt><dd id="s-runtime">–</dd>
      <dt>Source</dt><dd id="s-source">–</dd>
    </dl>
  </aside>
</main>
<script>{script}</script>
</body>
</html>
"""

PAGE = _BODY.format(style=STYLE, script=SCRIPT).encode("utf-8")


def _hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


#: Only this page's own script and style run; images and events come from this server only
#: (``data:`` is the empty icon, so the browser asks no /favicon.ico without the token).
CONTENT_SECURITY_POLICY = (
    f"default-src 'none'; script-src {_hash(SCRIPT)}; style-src {_hash(STYLE)}; "
    "img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)
