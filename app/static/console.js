// robaws-edge console: local times, and the live delivery lists over the
// log stream (Server-Sent Events). The pages read fine without it.
(function () {
  "use strict";
  function pad(n) { return (n < 10 ? "0" : "") + n; }
  function local(d) {
    var off = -d.getTimezoneOffset(), sign = off < 0 ? "-" : "+";
    off = Math.abs(off);
    return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + " " +
      pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds()) +
      " " + sign + pad(Math.floor(off / 60)) + ":" + pad(off % 60);
  }
  function localize(root) {
    root.querySelectorAll("time[datetime]").forEach(function (t) {
      var d = new Date(t.getAttribute("datetime"));
      if (isNaN(d)) return;
      t.title = t.textContent;
      t.textContent = local(d);
    });
  }
  // vis shows bidi controls (U+202A-U+202E, U+2066-U+2069, U+200E, U+200F,
  // U+061C) as visible \uXXXX markers, as the server-rendered pages do:
  // stored text is anyone's, and an override would reorder what is shown.
  var bidi = /[\u202A-\u202E\u2066-\u2069\u200E\u200F\u061C]/g;
  function vis(text) {
    return String(text).replace(bidi, function (c) {
      return "\\u" + c.charCodeAt(0).toString(16).toUpperCase().padStart(4, "0");
    });
  }
  function cell(tr, text, cls) {
    var td = document.createElement("td");
    if (cls) td.className = cls;
    if (text instanceof Node) td.appendChild(text); else td.textContent = vis(text);
    tr.appendChild(td);
  }
  function link(href, text) {
    var a = document.createElement("a");
    a.href = href; a.textContent = vis(text);
    return a;
  }
  // row builds the same row as the "rows" template, from a log entry.
  function row(ev) {
    var tr = document.createElement("tr"), t = document.createElement("time"), st = document.createElement("span");
    tr.id = "ev-" + ev.id;
    t.setAttribute("datetime", ev.received_at);
    t.textContent = ev.received_at;
    st.className = "st st-" + ev.status;
    st.textContent = ev.status;
    cell(tr, link("/deliveries/" + ev.id, "#" + ev.id));
    cell(tr, t);
    cell(tr, st);
    cell(tr, ev.event);
    cell(tr, ev.client_id ? link("/customers/" + encodeURIComponent(ev.client_id), ev.client_id) : "");
    if (ev.test) {
      // The same badge as the "rows" template.
      var badge = document.createElement("span");
      badge.className = "tag test";
      badge.title = "send-test's test data";
      badge.textContent = "test";
      tr.lastChild.appendChild(document.createTextNode(" "));
      tr.lastChild.appendChild(badge);
    }
    cell(tr, ev.endpoint);
    cell(tr, String(ev.deliveries), "num");
    cell(tr, ev.error || "", "err");
    localize(tr);
    return tr;
  }
  function live(body) {
    var max = parseInt(body.getAttribute("data-max") || "0", 10);
    var es = new EventSource(body.getAttribute("data-stream"));
    es.onopen = function () { body.setAttribute("data-live", "open"); };
    es.onmessage = function (m) {
      var ev = JSON.parse(m.data), tr = row(ev), old = document.getElementById(tr.id);
      var empty = body.querySelector("tr.empty");
      if (empty) empty.remove();
      if (old) { old.replaceWith(tr); } else { body.insertBefore(tr, body.firstChild); }
      tr.classList.add("fresh");
      while (max > 0 && body.rows.length > max) body.deleteRow(-1);
    };
    window.addEventListener("pagehide", function () { es.close(); });
  }
  document.addEventListener("DOMContentLoaded", function () {
    localize(document);
    if (window.EventSource) document.querySelectorAll("tbody[data-stream]").forEach(live);
  });
})();
