/* Step 8: the study page's charts. They live in the part htmx swaps in every few
   seconds, and htmx drops <script> elements from swapped content (allowScriptTags
   is off), so these figures travel in a data attribute instead of app.js's inert
   JSON block. Plotly is loaded once, from static, when the first chart appears. */
(function () {
  "use strict";

  var CONFIG = { displaylogo: false, responsive: true, showSendToCloud: false };
  var loading = null;

  function withPlotly(callback) {
    if (window.Plotly) return callback();
    if (!loading) {
      loading = [];
      var script = document.createElement("script");
      script.src = document.body.getAttribute("data-plotly-src") || "/static/vendor/plotly/plotly.min.js";
      script.onload = function () {
        var waiting = loading;
        loading = null;
        waiting.forEach(function (fn) { fn(); });
      };
      document.head.appendChild(script);
    }
    loading.push(callback);
  }

  function draw() {
    var charts = document.querySelectorAll(".chart[data-tuning-figure]:not([data-drawn])");
    if (!charts.length) return;
    withPlotly(function () {
      document.querySelectorAll(".chart[data-tuning-figure]:not([data-drawn])").forEach(function (el) {
        el.setAttribute("data-drawn", "1");
        try {
          var fig = JSON.parse(el.getAttribute("data-tuning-figure"));
          window.Plotly.newPlot(el, fig.data, fig.layout || {}, CONFIG);
        } catch (err) {
          el.textContent = "This chart could not be drawn.";
        }
      });
    });
  }

  document.addEventListener("DOMContentLoaded", draw);
  document.addEventListener("htmx:afterSettle", draw);
})();
