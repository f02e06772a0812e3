/* Step 3: the recipe editor. The server renders every step (and a blank copy of
   each kind in a <template>); this script only moves, removes and adds those
   elements and writes the whole recipe as JSON into the hidden "recipe" field,
   so the server always receives one document. No inline scripts (strict CSP). */
(function () {
  "use strict";

  var LIST_OPERATORS = ["in", "not_in"];
  var NO_VALUE_OPERATORS = ["is_missing", "not_missing"];

  // "a, b, c" -> ["a", "b", "c"]; an empty text is written "" so it survives.
  function splitList(text) {
    return text.split(",").map(function (item) { return item.trim(); })
      .filter(function (item) { return item !== ""; })
      .map(function (item) { return item === '""' ? "" : item; });
  }

  function numberOrText(text) {
    var n = Number(text);
    return text !== "" && isFinite(n) ? n : text;
  }

  function readParam(step, el) {
    var name = el.getAttribute("data-param");
    var kind = el.getAttribute("data-kind");
    var optional = el.hasAttribute("data-optional");
    var text = (el.value || "").trim();
    switch (kind) {
      case "checkbox":
        step[name] = el.checked;
        return;
      case "columns":
      case "list":
        var items = splitList(text);
        step[name] = items.length || !optional ? items : null;
        return;
      case "numbers":
        step[name] = splitList(text).map(numberOrText);
        return;
      case "number":
        if (text !== "") step[name] = numberOrText(text);
        return;
      case "json":
        if (text === "") { step[name] = {}; return; }
        try { step[name] = JSON.parse(text); } catch (err) { step[name] = text; }
        return;
      case "value":
        if (step.op === "filter_rows" && LIST_OPERATORS.indexOf(step.operator) >= 0) {
          step[name] = splitList(text);
        } else if (step.op === "filter_rows" && NO_VALUE_OPERATORS.indexOf(step.operator) >= 0) {
          step[name] = null;
        } else {
          step[name] = text === "" ? null : text;
        }
        return;
      default: // text, select, column
        if (text !== "") step[name] = el.value;
        else if (optional) step[name] = null;
    }
  }

  function readStep(li) {
    var step = { op: li.getAttribute("data-op") };
    var raw = li.querySelector("[data-raw]");
    if (raw) {
      try { step = JSON.parse(raw.value); } catch (err) { /* sent as is */ }
    }
    var reason = li.getAttribute("data-reason");
    if (reason) step.reason = reason;
    var enabled = li.querySelector("[data-param=enabled]");
    step.enabled = enabled ? enabled.checked : true;
    li.querySelectorAll(".rs-params [data-param]").forEach(function (el) {
      readParam(step, el);
    });
    return step;
  }

  function sync(editor) {
    if (!editor) return;
    var field = editor.querySelector("[data-recipe-json]");
    var steps = [];
    editor.querySelectorAll("[data-steps] > [data-step]").forEach(function (li) {
      li.classList.toggle("off", !li.querySelector("[data-param=enabled]").checked);
      showValueField(li);
      steps.push(readStep(li));
    });
    field.value = JSON.stringify({ version: 1, steps: steps });
  }

  // A filter that tests for missing values takes no value: hide the box.
  function showValueField(li) {
    var operator = li.querySelector("[data-param=operator]");
    var value = li.querySelector("[data-field=value]");
    if (!operator || !value || li.getAttribute("data-op") !== "filter_rows") return;
    value.hidden = NO_VALUE_OPERATORS.indexOf(operator.value) >= 0;
  }

  function addStep(editor) {
    var op = editor.querySelector("[data-add-op]").value;
    var column = editor.querySelector("[data-add-column]").value;
    var template = document.getElementById("new-step-" + op);
    if (!template) return;
    var li = template.content.firstElementChild.cloneNode(true);
    var single = li.querySelector("[data-param=column]");
    if (single && column) single.value = column;
    var many = li.querySelector("[data-param=columns]");
    if (many && column) many.value = column;
    editor.querySelector("[data-steps]").appendChild(li);
    sync(editor);
    var first = li.querySelector(".rs-params input, .rs-params select, .rs-params textarea");
    li.scrollIntoView({ block: "nearest" });
    if (first) first.focus();
  }

  function onClick(evt) {
    var editor = evt.target.closest("[data-recipe-editor]");
    if (!editor) return;
    var button = evt.target.closest("button");
    if (!button) return;
    var li = button.closest("[data-step]");
    if (button.hasAttribute("data-move") && li) {
      var up = button.getAttribute("data-move") === "up";
      var other = up ? li.previousElementSibling : li.nextElementSibling;
      if (other) li.parentNode.insertBefore(li, up ? other : other.nextElementSibling);
      button.focus();
    } else if (button.hasAttribute("data-remove") && li) {
      li.remove();
    } else if (button.hasAttribute("data-add-step")) {
      addStep(editor);
      return;
    }
    // Before htmx reads the form (the preview button): the JSON is current.
    sync(editor);
  }

  function onEdit(evt) {
    var editor = evt.target.closest("[data-recipe-editor]");
    if (editor && evt.target.closest("[data-step]")) sync(editor);
  }

  document.addEventListener("DOMContentLoaded", function () {
    var editor = document.querySelector("[data-recipe-editor]");
    if (editor) {
      sync(editor);
      var form = editor.closest("form");
      if (form) form.addEventListener("submit", function () { sync(editor); });
    }
    // A split by group or time cannot also be stratified: switch it off for the
    // user instead of refusing the form.
    var stratify = document.querySelector("input[name=split-stratify]");
    ["split-group_column", "split-time_column"].forEach(function (name) {
      var select = document.querySelector("select[name=" + name + "]");
      if (!select || !stratify) return;
      select.addEventListener("change", function () {
        if (select.value) stratify.checked = false;
      });
    });
  });
  // Capture: runs before htmx's own click handler on the preview button.
  document.addEventListener("click", onClick, true);
  document.addEventListener("input", onEdit);
  document.addEventListener("change", onEdit);

  document.addEventListener("htmx:afterSwap", function (evt) {
    var elt = evt.detail.requestConfig && evt.detail.requestConfig.elt;
    if (!elt || !elt.hasAttribute("data-swap-errors")) return;
    var editor = document.querySelector("[data-recipe-editor]");
    if (!editor) return;
    sync(editor);
    var goal = editor.querySelector(".has-error, .form-errors") ||
      editor.querySelector("#preview-result");
    if (goal) goal.scrollIntoView({ block: "start" });
  });
})();
