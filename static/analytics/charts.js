// Sparklines of the analytics overview, drawn with Plotly from the JSON that each card
// carries in a <script type="application/json"> (Django's json_script): no inline code.
(function () {
  "use strict";

  function draw(element) {
    var source = document.getElementById(element.dataset.sparkline);
    if (!source || !window.Plotly) {
      return;
    }
    var data = JSON.parse(source.textContent);
    var trace = {
      x: data.x,
      y: data.y,
      type: "scatter",
      // Markers too: a period between two gaps (no data) has no line to be part of.
      mode: "lines+markers",
      connectgaps: false, // a period with no data is a gap, not a zero
      line: { width: 2, color: "#0d6efd" },
      marker: { size: 4, color: "#0d6efd" },
      hoverinfo: "x+y",
      name: data.name,
    };
    var layout = {
      margin: { l: 0, r: 0, t: 4, b: 4 },
      xaxis: { visible: false },
      yaxis: { visible: false },
      showlegend: false,
      paper_bgcolor: "rgba(0,0,0,0)",
      plot_bgcolor: "rgba(0,0,0,0)",
      height: element.clientHeight || 60,
    };
    window.Plotly.newPlot(element, [trace], layout, {
      displayModeBar: false,
      responsive: true,
      staticPlot: false,
    });
  }

  function drawAll() {
    document.querySelectorAll("[data-sparkline]").forEach(draw);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", drawAll);
  } else {
    drawAll();
  }
})();
