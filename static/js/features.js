/* Step 4: the feature spec table. The server renders every column's row with the
   options of its treatment (and a <template> of each treatment's options); this
   script swaps the options when a treatment changes, adds and removes
   interactions, and writes the whole spec as JSON into the hidden "spec" field,
   so the server always receives one document. No inline scripts (strict CSP). */
(function () {
  "use strict";

  var baseline = null; // the saved default as this script writes it, when shown

  function numberOrText(text) {
    var n = Number(text);
    return isFinite(n) ? n : text;
  }

  function readOptions(row, kind) {
    var column = { kind: kind };
    var group = row.querySelector('[data-kind-options="' + kind + '"]');
    if (!group) return column;
    group.querySelectorAll("[data-opt]").forEach(function (el) {
      var name = el.getAttribute("data-opt");
      var text = (el.value || "").trim();
      switch (el.getAttribute("data-type")) {
        case "checkbox":
          column[name] = el.checked;
          break;
        case "number":
          if (text !== "") column[name] = numberOrText(text);
          else if (el.hasAttribute("data-optional")) column[name] = null;
          break;
        case "date":
          column[name] = text === "" ? null : text;
          break;
        default:
          column[name] = el.value;
      }
    });
    var parts = group.querySelectorAll("[data-part]");
    if (parts.length) {
      column.parts = [];
      parts.forEach(function (el) {
        if (el.checked) column.parts.push(el.getAttribute("data-part"));
      });
    }
    // Quantile bins replace scaling: the spec refuses both.
    if (kind === "numeric" && column.bins !== null && column.bins !== undefined) {
      column.scaler = "none";
    }
    return column;
  }

  // Swap in the options of the chosen treatment: the server renders only the
  // current one; others are copied from a <template>, and a treatment switched
  // away from keeps its edits in case the user switches back.
  function swapOptions(row, kind) {
    var current = row.querySelector("[data-kind-options]");
    if (current && current.getAttribute("data-kind-options") === kind) return;
    var stash = row.fxStash || (row.fxStash = {});
    if (current) {
      stash[current.getAttribute("data-kind-options")] = current;
      current.remove();
    }
    var group = stash[kind];
    if (!group) {
      var template = document.getElementById("fx-options-" + kind);
      if (!template) return; // boolean, drop: nothing to set
      group = template.content.firstElementChild.cloneNode(true);
    }
    row.querySelector(".fx-kind").after(group);
  }

  // Show the options of the chosen treatment, and only the ones that apply.
  function showOptions(row, kind) {
    row.className = row.className.replace(/\bkind-is-\S+/, "kind-is-" + kind);
    swapOptions(row, kind);
    var impute = row.querySelector('[data-kind-options=numeric] [data-opt=impute]');
    var fill = row.querySelector('[data-kind-options=numeric] [data-field=fill_value]');
    if (impute && fill && !fill.classList.contains("has-error")) {
      fill.hidden = impute.value !== "constant";
    }
    var hint = row.querySelector("[data-hint]");
    if (hint) hint.hidden = hint.getAttribute("data-hint") !== kind;
    var bins = row.querySelector('[data-kind-options=numeric] [data-opt=bins]');
    var scaler = row.querySelector('[data-kind-options=numeric] [data-opt=scaler]');
    if (bins && scaler) {
      var binned = bins.value.trim() !== "";
      if (binned) scaler.value = "none";
      scaler.disabled = binned;
      scaler.title = binned ? "Bins replace scaling" : "";
    }
  }

  // Same treatment as suggested? Key order aside; numbers compared as numbers.
  function sameColumn(a, b) {
    var keys = Object.keys(a).concat(Object.keys(b));
    return keys.every(function (key) {
      return JSON.stringify(a[key]) === JSON.stringify(b[key]);
    });
  }

  function markChanged(row, column) {
    var note = row.querySelector("[data-changed]");
    var suggested = row.getAttribute("data-suggested");
    if (!note || !suggested) return;
    try {
      suggested = JSON.parse(suggested);
    } catch (err) {
      return; // left as the server drew it
    }
    note.hidden = sameColumn(column, suggested);
    note.querySelector("[data-changed-text]").textContent = column.kind === suggested.kind
      ? "Options differ from the suggestion."
      : "Suggested: " + note.getAttribute("data-suggested-label") + ".";
  }

  function readSpec(editor) {
    var spec = { columns: {}, interactions: [], max_features_out: null, reasons: {} };
    editor.querySelectorAll("[data-columns] > tr[data-column]").forEach(function (row) {
      if (row.hasAttribute("data-target")) return;
      var name = row.getAttribute("data-column");
      var select = row.querySelector("[data-spec-kind]");
      if (!select) return;
      showOptions(row, select.value);
      spec.columns[name] = readOptions(row, select.value);
      markChanged(row, spec.columns[name]);
      var reason = row.getAttribute("data-reason");
      if (reason) spec.reasons[name] = reason;
    });
    editor.querySelectorAll("[data-pairs] > [data-pair]").forEach(function (li) {
      spec.interactions.push([
        li.querySelector("[data-pair-a]").value,
        li.querySelector("[data-pair-b]").value,
      ]);
    });
    var limit = editor.querySelector("[data-max-features]");
    if (limit && limit.value.trim() !== "") {
      spec.max_features_out = numberOrText(limit.value.trim());
    }
    return spec;
  }

  function showSaveState(json) {
    var state = document.querySelector("[data-save-state]");
    if (!state || baseline === null) return;
    var same = json === baseline;
    state.innerHTML = "";
    var badge = document.createElement("span");
    badge.className = same ? "badge b-ready" : "badge b-unsaved";
    badge.textContent = same ? "saved" : "unsaved changes";
    state.appendChild(badge);
    state.appendChild(document.createTextNode(same
      ? " This is the project default."
      : " Save to make these changes the project default."));
  }

  function sync(editor) {
    if (!editor) return;
    var field = editor.querySelector("[data-spec-json]");
    var json = JSON.stringify(readSpec(editor));
    field.value = json;
    showSaveState(json);
  }

  function addPair(editor) {
    var template = document.getElementById("new-pair");
    if (!template) return;
    var li = template.content.firstElementChild.cloneNode(true);
    editor.querySelector("[data-pairs]").appendChild(li);
    sync(editor);
    li.querySelector("select").focus();
  }

  function onClick(evt) {
    var editor = evt.target.closest("[data-features-editor]");
    if (!editor) return;
    var button = evt.target.closest("button");
    if (!button) return;
    if (button.hasAttribute("data-add-pair")) {
      addPair(editor);
      return;
    }
    if (button.hasAttribute("data-remove-pair")) {
      button.closest("[data-pair]").remove();
    } else if (button.hasAttribute("data-remove-column")) {
      button.closest("tr[data-column]").remove();
    }
    // Before htmx reads the form (the preview button): the JSON is current.
    sync(editor);
  }

  function onEdit(evt) {
    var editor = evt.target.closest("[data-features-editor]");
    if (editor && evt.target.closest("tr[data-column], [data-pair], .fx-limit")) {
      sync(editor);
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    var editor = document.querySelector("[data-features-editor]");
    if (editor) {
      var form = editor.closest("form");
      sync(editor);
      if (form && form.getAttribute("data-start") === "saved") {
        baseline = editor.querySelector("[data-spec-json]").value;
      }
      if (form) form.addEventListener("submit", function () {
        sync(document.querySelector("[data-features-editor]"));
      });
    }
  });
  // Capture: runs before htmx's own click handler on the preview button.
  document.addEventListener("click", onClick, true);
  document.addEventListener("input", onEdit);
  document.addEventListener("change", onEdit);

  document.addEventListener("htmx:afterSwap", function (evt) {
    var elt = evt.detail.requestConfig && evt.detail.requestConfig.elt;
    if (!elt || !elt.hasAttribute("data-swap-errors")) return;
    var editor = document.querySelector("[data-features-editor]");
    if (!editor) return;
    sync(editor);
    var goal = editor.querySelector("tr.has-error, .fx-pair.has-error, .form-errors") ||
      editor.querySelector("#features-preview");
    if (goal) goal.scrollIntoView({ block: "start" });
  });
})();
