// The staff console's small enhancements; every page works without this file.
// - the work queue refreshes itself every minute (unless the agent is typing in it);
// - "/" jumps to the queue's search box;
// - a canned reply chosen in the reply form fills its text.
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
  // a canned reply chosen in the list is added to the reply at once (without JavaScript,
  // its Insert button asks the server to do the same)
  Array.prototype.forEach.call(document.querySelectorAll("select[data-fills]"), function (select) {
    select.addEventListener("change", function () {
      var option = select.options[select.selectedIndex];
      var area = document.getElementById(select.getAttribute("data-fills"));
      var text = option && option.getAttribute("data-text");
      if (!area || !text) { return; }
      area.value = area.value.trim() ? area.value.replace(/\s+$/, "") + "\n\n" + text : text;
      select.selectedIndex = 0;
      area.focus();
    });
  });
  document.addEventListener("keydown", function (event) {
    var target = event.target;
    var typing = target && /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName);
    if (event.key === "/" && !typing && !event.ctrlKey && !event.metaKey && !event.altKey) {
      var search = document.querySelector("[data-shortcut='/']");
      if (search) { event.preventDefault(); search.focus(); }
    }
  });
})();
