/* A questionnaire's trend (ECharts): answered responses as bars, CSAT % and NPS as lines on a
   second axis (−100 … 100). The element <div data-survey-chart="trend" data-chart-source="<id>">
   names a json_script element holding {dates, answered, csat, nps, names, empty}: no inline
   script, so a strict CSP holds. A bucket without a score leaves a gap in its line, not a 0. */
(function () {
  "use strict";
  var charts = [];

  function option(data) {
    var empty = data.dates.length === 0;
    return {
      animation: false,
      tooltip: { trigger: "axis" },
      legend: { top: 0 },
      grid: { left: 40, right: 40, top: 32, bottom: 24 },
      xAxis: { type: "category", data: data.dates },
      yAxis: [
        { type: "value", minInterval: 1, name: "" },
        { type: "value", min: -100, max: 100, splitLine: { show: false } }
      ],
      series: [
        { name: data.names.answered, type: "bar", data: data.answered, itemStyle: { color: "#9ec5fe" } },
        { name: data.names.csat, type: "line", yAxisIndex: 1, data: data.csat, connectNulls: false, symbolSize: 6 },
        { name: data.names.nps, type: "line", yAxisIndex: 1, data: data.nps, connectNulls: false, symbolSize: 6 }
      ],
      graphic: empty ? [{
        type: "text", left: "center", top: "middle",
        style: { text: data.empty, fill: "#6c757d", fontSize: 13 }
      }] : []
    };
  }

  function draw() {
    charts.forEach(function (chart) { chart.dispose(); });
    charts = [];
    if (typeof window.echarts === "undefined") {
      return;
    }
    document.querySelectorAll("[data-survey-chart][data-chart-source]").forEach(function (element) {
      var source = document.getElementById(element.getAttribute("data-chart-source"));
      if (!source) {
        return;
      }
      element.style.height = "280px";
      var chart = window.echarts.init(element, null, { renderer: "canvas" });
      chart.setOption(option(JSON.parse(source.textContent)));
      element.setAttribute("data-drawn", "true");
      charts.push(chart);
    });
  }

  document.addEventListener("DOMContentLoaded", draw);
  window.addEventListener("resize", function () {
    charts.forEach(function (chart) { chart.resize(); });
  });
})();
