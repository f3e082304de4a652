// The staff console's small enhancements; every page works without this file.
// - the work queue refreshes itself every minute (unless the agent is typing in it);
// - "/" jumps to the queue's search box.
(function () {
  var queue = document.getElementById("queue");
  if (queue && window.fetch) {
    var every = parseInt(queue.getAttribute("data-refresh-s"), 10) || 60;
    window.setInterval(function () {
      if (document.hidden || queue.contains(document.activeElement)) { return; }
      fetch(queue.getAttribute("data-refresh"), { credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.text() : null; })
        .then(function (html) { if (html) { queue.innerHTML = html; } })
        .catch(function () {});
    }, every * 1000);
  }
  document.addEventListener("keydown", function (event) {
    var target = event.target;
    var typing = target && /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName);
    if (event.key === "/" && !typing && !event.ctrlKey && !event.metaKey && !event.altKey) {
      var search = document.querySelector("[data-shortcut='/']");
      if (search) { event.preventDefault(); search.focus(); }
    }
  });
})();
