// Live progress of a send on the issue page: polls progress.json once a second and
// updates the <progress> bar and the counts. The page works without this script: the
// counts are rendered by the server and "Refresh" reloads them.
(function () {
  "use strict";
  var box = document.querySelector("[data-progress-url]");
  if (!box) return;
  var url = box.getAttribute("data-progress-url");
  var bar = document.getElementById("progress-bar");
  var finished = document.getElementById("progress-finished");

  function put(id, value) {
    var el = document.getElementById(id);
    if (el) el.textContent = String(value);
  }

  // Numbers as the page's language writes them («1 234», «2,5» in Norwegian).
  var lang = document.documentElement.lang || "nb";
  function whole(n) { return (n || 0).toLocaleString(lang); }
  function decimal(n) {
    return (n || 0).toLocaleString(lang, { minimumFractionDigits: 1, maximumFractionDigits: 1 });
  }
  // The server renders both plural forms of "N seconds" into data-one / data-other (# = N).
  function seconds(id, value) {
    var el = document.getElementById(id);
    if (!el) return;
    var n = Math.round(value);
    el.textContent = value === null || value === undefined
      ? "–"
      : el.getAttribute(n === 1 ? "data-one" : "data-other").replace("#", whole(n));
  }
  function showAll(selector, visible) {
    var els = document.querySelectorAll(selector);
    for (var i = 0; i < els.length; i++) els[i].hidden = !visible;
  }

  function show(data) {
    var c = data.counts || {};
    var started = data.deliveries_created || data.finished;
    showAll("#progress-preparing", !started);
    showAll("#progress-text", started);
    bar.max = Math.max(data.total, 1);
    bar.value = data.done;
    bar.textContent = data.percent + " %";
    put("progress-percent", data.percent);
    put("progress-done", whole(data.done));
    put("progress-total", whole(data.total));
    put("progress-status", data.status_label);
    put("count-sent", whole(c["sent"]));
    put("count-failed", whole((c["failed"] || 0) + (c["bounced"] || 0)));
    put("count-in-doubt", whole(c["in-doubt"]));
    put("count-skipped", whole(c["skipped"]));
    put("count-queued", whole((c["queued"] || 0) + (c["sending"] || 0)));
    put("progress-rate", decimal(data.rate_per_second));
    seconds("progress-eta", data.eta_seconds);
    if (data.finished) {
      // Over: how long it took and how fast on average, no more ETA.
      showAll("#progress .while-sending", false);
      showAll("#progress .when-finished", true);
      seconds("progress-duration", data.duration_seconds);
      put("progress-average", data.average_rate === null ? "–" : decimal(data.average_rate));
    }
    // The badge and the buttons follow the state without a reload.
    var badge = document.getElementById("issue-status");
    if (badge && data.status_label) {
      badge.textContent = data.status_label;
      badge.className = "status status-" + data.status;
    }
    if (data.finished) showAll("#progress .live-action", false);
    var recovery = document.getElementById("progress-recovery");
    if (recovery) {
      // A stopped worker holds rows: say so instead of a bar that stands still.
      recovery.textContent = data.recovery_text || "";
      recovery.hidden = !data.recovery_text;
    }
    box.setAttribute("data-status", data.status);
    if (data.status !== "sending" && finished) {
      var spans = finished.querySelectorAll("span[data-for]");
      for (var i = 0; i < spans.length; i++) {
        var forSent = spans[i].getAttribute("data-for") === "sent";
        spans[i].hidden = forSent !== (data.status === "sent");
      }
      finished.hidden = false;
    }
  }

  function poll() {
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) throw new Error(response.status);
        return response.json();
      })
      .then(function (data) {
        show(data);
        if (!data.finished) window.setTimeout(poll, 1000);
      })
      .catch(function () {
        window.setTimeout(poll, 3000);
      });
  }

  if (box.getAttribute("data-status") !== "sent" && box.getAttribute("data-status") !== "cancelled") {
    window.setTimeout(poll, 1000);
  }
})();

// A destructive button (data-confirm on its form) asks first; without script the
// form posts as before.
(function () {
  "use strict";
  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (!window.confirm(form.getAttribute("data-confirm"))) event.preventDefault();
    });
  });
})();
