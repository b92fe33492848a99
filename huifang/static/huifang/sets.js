// The strategy-set preview's charts: messages per day and channel, stacked, with the rules that
// run now and after the switch, on one scale. The figures come from the json_script element of
// the fragment htmx loads into the page: no inline script, so a strict CSP holds.
(function () {
  "use strict";
  var charts = [];

  function highest(data) {
    var top = 0;
    ["now", "after"].forEach(function (scenario) {
      data.dates.forEach(function (_date, day) {
        var sum = 0;
        data[scenario].forEach(function (series) { sum += series.data[day]; });
        top = Math.max(top, sum);
      });
    });
    return top;
  }

  function option(data, scenario, top) {
    return {
      animation: false,
      tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
      legend: { top: 0, type: "scroll" },
      grid: { left: 36, right: 12, top: 32, bottom: 24 },
      xAxis: { type: "category", data: data.dates },
      yAxis: { type: "value", minInterval: 1, max: Math.max(top, 1) },
      series: data[scenario].map(function (s) {
        return { name: s.name, type: "bar", stack: "messages", data: s.data };
      }),
      graphic: top > 0 ? [] : [{
        type: "text", left: "center", top: "middle",
        style: { text: data.empty, fill: "#6c757d", fontSize: 13 }
      }]
    };
  }

  function draw() {
    var source = document.getElementById("set-chart-data");
    charts.forEach(function (chart) { chart.dispose(); });
    charts = [];
    if (!source || typeof window.echarts === "undefined") {
      return;
    }
    var data = JSON.parse(source.textContent);
    var top = highest(data);
    document.querySelectorAll("[data-set-chart]").forEach(function (element) {
      element.style.height = "240px";
      var chart = window.echarts.init(element, null, { renderer: "canvas" });
      chart.setOption(option(data, element.getAttribute("data-set-chart"), top));
      charts.push(chart);
    });
  }

  document.addEventListener("htmx:afterSettle", function (event) {
    if (event.target && event.target.id === "preview") {
      draw();
    }
  });
  document.addEventListener("DOMContentLoaded", draw);
  window.addEventListener("resize", function () {
    charts.forEach(function (chart) { chart.resize(); });
  });
})();
