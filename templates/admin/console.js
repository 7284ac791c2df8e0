// broadsheet console: follows a send job's progress over Server-Sent
// Events. Without JavaScript the page reloads itself instead.
(function () {
  "use strict";
  var box = document.getElementById("progress");
  if (!box || !box.dataset.events || !window.EventSource) return;
  var field = function (name) { return box.querySelector('[data-field="' + name + '"]'); };
  var set = function (name, v) { var el = field(name); if (el) el.textContent = v; };
  var eta = function (s) {
    if (s === null || s === undefined) return "—";
    if (s < 60) return s + " s";
    var m = Math.floor(s / 60);
    if (m < 60) return m + " min " + (s % 60) + " s";
    return Math.floor(m / 60) + " h " + (m % 60) + " min";
  };
  var bar = box.querySelector("progress");
  var es = new EventSource(box.dataset.events);
  es.addEventListener("progress", function (ev) {
    var j = JSON.parse(ev.data);
    ["state", "total", "sent", "failed", "bounced", "retrying"].forEach(function (k) { set(k, j[k]); });
    set("rate", j.rate);
    set("eta", eta(j.eta_seconds));
    if (bar) { bar.max = j.total || 1; bar.value = j.sent + j.failed; }
    box.dataset.updated = String(Date.now());
  });
  es.addEventListener("end", function () {
    es.close();
    set("hint", "The send has ended. Reloading…");
    window.location.reload();
  });
  es.onerror = function () { set("hint", "Connection lost; retrying…"); };
})();
