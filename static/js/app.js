/* Lifecycle front end: draws plotly figures stored as inert JSON, and keeps the
   metric choices in step with the task type. No inline scripts (strict CSP). */
(function () {
  "use strict";

  var PLOT_CONFIG = { displaylogo: false, responsive: true, showSendToCloud: false };

  function drawCharts(root) {
    if (!window.Plotly) return;
    root.querySelectorAll(".chart[data-figure]:not([data-drawn])").forEach(function (el) {
      var source = document.getElementById(el.getAttribute("data-figure"));
      if (!source) return;
      try {
        // A <template>'s text lives in its content fragment.
        var text = source.content ? source.content.textContent : source.textContent;
        var fig = JSON.parse(text);
        el.setAttribute("data-drawn", "1");
        window.Plotly.newPlot(el, fig.data, fig.layout || {}, PLOT_CONFIG);
      } catch (err) {
        el.textContent = "This chart could not be drawn.";
      }
    });
  }

  function loadPlotly(callback) {
    if (window.Plotly) return callback();
    if (!document.querySelector(".chart[data-figure]")) return;
    var script = document.createElement("script");
    script.src = document.body.getAttribute("data-plotly-src") || "/static/vendor/plotly/plotly.min.js";
    script.onload = callback;
    document.head.appendChild(script);
  }

  function syncMetrics() {
    var select = document.querySelector("select[name=primary_metric]");
    var radios = document.querySelectorAll("input[name=task_type]");
    if (!select || !radios.length) return;
    function update() {
      var checked = document.querySelector("input[name=task_type]:checked");
      if (!checked) return;
      var label = checked.value.charAt(0).toUpperCase() + checked.value.slice(1);
      var firstVisible = null;
      select.querySelectorAll("optgroup").forEach(function (group) {
        var show = group.label === label;
        group.hidden = !show;
        group.disabled = !show;
        if (show && !firstVisible) firstVisible = group.querySelector("option");
      });
      var current = select.selectedOptions[0];
      if (!current || current.parentElement.disabled) {
        if (firstVisible) select.value = firstVisible.value;
      }
    }
    radios.forEach(function (r) { r.addEventListener("change", update); });
    update();
  }

  document.addEventListener("DOMContentLoaded", function () {
    loadPlotly(function () { drawCharts(document); });
    syncMetrics();
    // A select that picks what the page shows (e.g. the input version) reloads it.
    document.querySelectorAll("select[data-autosubmit]").forEach(function (select) {
      select.addEventListener("change", function () { select.form.submit(); });
    });
  });
  // A refused request (400) from an element marked data-swap-errors still carries
  // the fragment with the errors in place: swap it in rather than drop it.
  document.addEventListener("htmx:beforeSwap", function (evt) {
    var elt = evt.detail.requestConfig && evt.detail.requestConfig.elt;
    if (evt.detail.xhr.status === 400 && elt && elt.hasAttribute("data-swap-errors")) {
      evt.detail.shouldSwap = true;
      evt.detail.isError = false;
    }
  });
  document.addEventListener("htmx:afterSwap", function (evt) {
    loadPlotly(function () { drawCharts(evt.target); });
  });
})();
