// Progressive enhancement only: every page works without this file.
// A form marked data-once cannot be sent twice by a double click (the server's
// idempotency key makes a second send harmless anyway).
document.addEventListener("submit", function (event) {
  var form = event.target;
  if (!form.hasAttribute("data-once")) { return; }
  // the language switch re-shows the answers; it does not send them
  if (event.submitter && event.submitter.name === "lang") { return; }
  if (form.dataset.sent) { event.preventDefault(); return; }
  form.dataset.sent = "1";
  var button = form.querySelector("button[type=submit]");
  if (button) { window.setTimeout(function () { button.disabled = true; }, 0); }
});
// The chosen files are named in the page's language under the file field's own button.
Array.prototype.forEach.call(document.querySelectorAll("input[type=file][data-chosen]"), function (input) {
  var said = document.getElementById(input.getAttribute("data-chosen"));
  if (!said) { return; }
  input.addEventListener("change", function () {
    var names = Array.prototype.map.call(input.files || [], function (file) { return file.name; });
    said.textContent = names.length ? said.getAttribute("data-label") + " " + names.join(", ") : "";
  });
});
