// The operator console's live refresh. Every page works without this script (it
// is rendered whole on the server); with it, the page's <main> is fetched again
// every few seconds and swapped in, keeping open <details> and a field being
// typed in. It reads nothing but the daemon's own HTML: no data is put into
// script, and the page's markup is parsed by the browser, never evaluated.
(function () {
  "use strict";
  var main = document.getElementById("main");
  if (!main) return;
  // The period, in seconds, is the page's own (0: it does not refresh).
  var period = parseInt(main.getAttribute("data-refresh"), 10);
  if (!(period > 0)) return;
  var state = document.getElementById("refresh-state");
  var busy = false;

  function typing() {
    var a = document.activeElement;
    return a && main.contains(a) && (a.tagName === "INPUT" || a.tagName === "TEXTAREA" || a.tagName === "SELECT");
  }

  function refresh() {
    if (busy || document.hidden || typing()) return;
    busy = true;
    fetch(window.location.href, { credentials: "same-origin", headers: { "X-Console-Refresh": "1" } })
      .then(function (r) {
        if (!r.ok) throw new Error("HTTP " + r.status);
        return r.text();
      })
      .then(function (html) {
        var next = new DOMParser().parseFromString(html, "text/html").getElementById("main");
        if (!next) return;
        var open = [];
        main.querySelectorAll("details[open][id]").forEach(function (d) { open.push(d.id); });
        // The notice of an action is shown once, on the page the action led to.
        var notice = next.querySelector(".notice[role=status]");
        if (notice) notice.remove();
        main.replaceChildren.apply(main, Array.prototype.slice.call(next.childNodes));
        open.forEach(function (id) {
          var d = document.getElementById(id);
          if (d) d.open = true;
        });
        if (state) state.textContent = "updated " + new Date().toLocaleTimeString();
      })
      .catch(function (e) {
        if (state) state.textContent = "refresh failed (" + e.message + ")";
      })
      .finally(function () { busy = false; });
  }

  if (state) state.textContent = "live";
  window.setInterval(refresh, period * 1000);
})();
