/* Step 5: model selection. Shows the settings of ticked candidates only and keeps
   the submit button's count in step with the ticks. The server renders the same
   state, so the page works (and refuses bad input) without this script. No
   inline scripts (strict CSP). */
(function () {
  "use strict";

  function update(form) {
    var n = 0;
    form.querySelectorAll("input[data-pick]").forEach(function (box) {
      var item = box.closest("[data-candidate]");
      var settings = item && item.querySelector("[data-settings-for]");
      if (settings) settings.hidden = !box.checked;
      if (item) item.classList.toggle("is-on", box.checked);
      if (box.checked) n += 1;
    });
    var button = form.querySelector("[data-train-button]");
    if (button) {
      button.textContent = button
        .getAttribute("data-template")
        .replace("{n}", String(n))
        .replace("{s}", n === 1 ? "" : "s");
      button.disabled = n === 0;
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    var form = document.getElementById("models-form");
    if (!form) return;
    form.addEventListener("change", function (evt) {
      if (evt.target.matches("input[data-pick]")) update(form);
    });
    update(form);
  });
})();
