// Charts of the analytics trends page, drawn with Plotly from the JSON that each chart
// carries in a <script type="application/json"> (Django's json_script): no inline code.
(function () {
  "use strict";

  var COLOURS = ["#0d6efd", "#fd7e14", "#198754", "#6f42c1"];

  function traces(data) {
    var result = [];
    if (data.band) {
      // The 95% band: the upper edge, then the lower edge filled up to it.
      result.push({
        x: data.x,
        y: data.band.upper,
        type: "scatter",
        mode: "lines",
        line: { width: 0 },
        hoverinfo: "skip",
        showlegend: false,
        connectgaps: false,
      });
      result.push({
        x: data.x,
        y: data.band.lower,
        type: "scatter",
        mode: "lines",
        line: { width: 0 },
        fill: "tonexty",
        fillcolor: "rgba(13, 110, 253, 0.15)",
        name: data.band.name,
        hoverinfo: "skip",
        connectgaps: false,
      });
    }
    data.traces.forEach(function (trace, index) {
      var colour = COLOURS[index % COLOURS.length];
      if (data.type === "bar") {
        result.push({
          x: data.x,
          y: trace.y,
          type: "bar",
          name: trace.name,
          marker: { color: data.colours || colour },
        });
      } else {
        result.push({
          x: data.x,
          y: trace.y,
          type: "scatter",
          mode: data.x.length > 1 ? "lines+markers" : "markers",
          connectgaps: false, // a period with no data is a gap, not a zero
          line: { width: 2, color: colour },
          marker: { size: 5, color: colour },
          name: trace.name,
        });
      }
    });
    return result;
  }

  function draw(element) {
    var source = document.getElementById(element.dataset.trend);
    if (!source || !window.Plotly) {
      return;
    }
    var data = JSON.parse(source.textContent);
    var layout = {
      margin: { l: 50, r: 10, t: 10, b: 40 },
      // Scores are categories (0 to 10); periods are dates.
      xaxis: { title: { text: data.x_title || "" }, type: data.x_title ? "category" : "date" },
      yaxis: { title: { text: data.y_title || "" }, range: data.y_range, rangemode: "tozero" },
      showlegend: data.traces.length > 1 || Boolean(data.band),
      legend: { orientation: "h", y: -0.2 },
      paper_bgcolor: "rgba(0,0,0,0)",
      plot_bgcolor: "rgba(0,0,0,0)",
      height: element.clientHeight || 280,
    };
    window.Plotly.newPlot(element, traces(data), layout, {
      displayModeBar: false,
      responsive: true,
    });
  }

  function drawAll() {
    document.querySelectorAll("[data-trend]").forEach(draw);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", drawAll);
  } else {
    drawAll();
  }
})();
