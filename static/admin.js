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

  function show(data) {
    var c = data.counts || {};
    bar.max = Math.max(data.total, 1);
    bar.value = data.done;
    bar.textContent = data.percent + " %";
    put("progress-percent", data.percent);
    put("progress-done", data.done);
    put("progress-total", data.total);
    put("progress-status", data.status_label);
    put("count-sent", c["sent"] || 0);
    put("count-failed", (c["failed"] || 0) + (c["bounced"] || 0));
    put("count-in-doubt", c["in-doubt"] || 0);
    put("count-skipped", c["skipped"] || 0);
    put("count-queued", (c["queued"] || 0) + (c["sending"] || 0));
    // Numbers as the page's language writes them («2,5» in Norwegian); the server renders
    // both plural forms of "N seconds" into data-one / data-other, with # for the number.
    var lang = document.documentElement.lang || "nb";
    put("progress-rate", (data.rate_per_second || 0).toLocaleString(lang, {
      minimumFractionDigits: 1, maximumFractionDigits: 1
    }));
    var eta = document.getElementById("progress-eta");
    if (eta) {
      var seconds = Math.round(data.eta_seconds);
      eta.textContent = data.eta_seconds === null
        ? "–"
        : eta.getAttribute(seconds === 1 ? "data-one" : "data-other").replace("#", seconds);
    }
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
