// The staff console's small enhancements; every page works without this file.
// - the work queue refreshes itself every minute (unless the agent is typing in it);
// - single-key shortcuts, which the agent may turn off (WCAG 2.1.4; kept in this browser):
//   "/" jumps to the queue's search box, "j"/"k" to the next/previous case of the list;
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
  var OFF = "bureau-staff-shortcuts-off";
  function shortcutsOn() {
    try { return window.localStorage.getItem(OFF) !== "1"; } catch (e) { return true; }
  }
  Array.prototype.forEach.call(document.querySelectorAll("[data-shortcuts-toggle]"), function (button) {
    function show() {
      button.textContent = button.getAttribute(shortcutsOn() ? "data-off" : "data-on");
    }
    button.hidden = false;
    show();
    button.addEventListener("click", function () {
      try {
        if (shortcutsOn()) { window.localStorage.setItem(OFF, "1"); } else { window.localStorage.removeItem(OFF); }
      } catch (e) { return; }
      show();
    });
  });
  document.addEventListener("keydown", function (event) {
    var target = event.target;
    var typing = target && (/^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName) || target.isContentEditable);
    if (typing || event.ctrlKey || event.metaKey || event.altKey || !shortcutsOn()) { return; }
    if (event.key === "/") {
      var search = document.querySelector("[data-shortcut='/']");
      if (search) { event.preventDefault(); search.focus(); }
    } else if (event.key === "j" || event.key === "k") {
      var cases = Array.prototype.slice.call(document.querySelectorAll("#queue tbody th a"));
      if (!cases.length) { return; }
      var at = cases.indexOf(document.activeElement);
      var next = at < 0 ? 0 : Math.max(0, Math.min(cases.length - 1, at + (event.key === "j" ? 1 : -1)));
      event.preventDefault();
      cases[next].focus();
    }
  });
})();
