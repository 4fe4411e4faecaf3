// Polls an import's status and reloads the page when it finishes. No inline script (strict CSP).
(function () {
  "use strict";
  var box = document.getElementById("import-status");
  if (!box) { return; }
  var state = box.getAttribute("data-status");
  if (state === "done" || state === "failed") { return; }
  var bar = document.getElementById("import-progress");
  var label = document.getElementById("import-percent");
  function poll() {
    fetch(box.getAttribute("data-status-url"), { credentials: "same-origin" })
      .then(function (r) { return r.json(); })
      .then(function (data) {
        bar.value = data.percent;
        label.textContent = data.percent + "%";
        if (data.status === "done" || data.status === "failed") { window.location.reload(); }
        else { window.setTimeout(poll, 1000); }
      })
      .catch(function () { window.setTimeout(poll, 3000); });
  }
  window.setTimeout(poll, 500);
})();
