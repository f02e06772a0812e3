/* Step 7: the threshold explorer, the confusion-matrix toggle and the compare
   selection. Everything works from data already in the page (no requests); the
   charts themselves are drawn by app.js. No inline scripts (strict CSP). */
(function () {
  "use strict";

  function fixed(value, digits) {
    return typeof value === "number" && isFinite(value) ? value.toFixed(digits) : "—";
  }

  function percent(value) {
    return typeof value === "number" && isFinite(value) ? (value * 100).toFixed(1) + "%" : "—";
  }

  // The table row nearest a threshold (ties go to the lower one, as the server).
  function nearest(table, value) {
    var best = table[0];
    table.forEach(function (row) {
      var d = Math.abs(row.threshold - value);
      var bestD = Math.abs(best.threshold - value);
      if (d < bestD - 1e-12 || (Math.abs(d - bestD) <= 1e-12 && row.threshold < best.threshold)) best = row;
    });
    return best;
  }

  function moveLine(root, value) {
    var chart = root.querySelector("[data-threshold-chart] .chart[data-drawn]");
    if (!chart || !window.Plotly || !chart.layout) return;
    var update = {};
    if ((chart.layout.shapes || []).length) {
      update["shapes[0].x0"] = value;
      update["shapes[0].x1"] = value;
    }
    if ((chart.layout.annotations || []).length) {
      update["annotations[0].x"] = value;
      update["annotations[0].text"] = "chosen " + value.toFixed(2);
    }
    window.Plotly.relayout(chart, update);
  }

  function thresholdExplorer(root) {
    var source = document.getElementById("threshold-table");
    var input = root.querySelector("[data-threshold-input]");
    if (!source || !input) return;
    var table;
    try {
      table = JSON.parse(source.textContent);
    } catch (err) {
      return;
    }
    if (!table.length) return;
    var output = root.querySelector("[data-threshold-value]");
    function show() {
      var value = parseFloat(input.value);
      if (!isFinite(value)) return;
      var row = nearest(table, value);
      if (output) output.textContent = row.threshold.toFixed(2);
      root.querySelectorAll("[data-stat]").forEach(function (el) {
        var key = el.getAttribute("data-stat");
        el.textContent = key === "predicted_positive_rate" ? percent(row[key]) : fixed(row[key], 3);
      });
      moveLine(root, row.threshold);
    }
    input.addEventListener("input", show);
    input.addEventListener("change", show);
  }

  function toggles() {
    document.querySelectorAll("[data-show]").forEach(function (button) {
      button.addEventListener("click", function () {
        var group = button.closest(".ex-chart-block") || document;
        group.querySelectorAll("[data-show]").forEach(function (other) {
          other.setAttribute("aria-pressed", other === button ? "true" : "false");
        });
        group.querySelectorAll("[data-view]").forEach(function (view) {
          var shown = view.getAttribute("data-view") === button.getAttribute("data-show");
          view.hidden = !shown;
          var chart = view.querySelector(".chart[data-drawn]");
          if (shown && chart && window.Plotly) window.Plotly.Plots.resize(chart);
        });
      });
    });
  }

  function compareForm() {
    var form = document.querySelector("[data-compare-form]");
    if (!form) return;
    var button = form.querySelector("[data-compare-button]");
    var hint = form.querySelector("[data-compare-hint]");
    var max = parseInt(form.getAttribute("data-max"), 10) || 8;
    function update() {
      var n = form.querySelectorAll("input[name=ids]:checked").length;
      button.disabled = n < 2 || n > max;
      if (!hint) return;
      if (n < 2) hint.textContent = "Tick 2 to " + max + " experiments (" + n + " selected).";
      else if (n > max) hint.textContent = "At most " + max + " at once (" + n + " selected).";
      else hint.textContent = n + " selected.";
    }
    form.addEventListener("change", update);
    update();
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-threshold-explorer]").forEach(thresholdExplorer);
    toggles();
    compareForm();
  });
})();
