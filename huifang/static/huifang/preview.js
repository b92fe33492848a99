// The impact preview's charts: messages per day and channel, stacked, for the rule alone and
// with every active rule, on the same scale. The figures come from the json_script element of
// the fragment htmx loads into the page: no inline script, so a strict CSP holds.
(function () {
  "use strict";
  var charts = [];

  function highest(data) {
    var top = 0;
    ["alone", "together"].forEach(function (scenario) {
      data.dates.forEach(function (_date, day) {
        var sum = 0;
        data[scenario].forEach(function (series) { sum += series.data[day]; });
        top = Math.max(top, sum);
      });
    });
    return top;
  }

  function option(data, scenario, top) {
    var series = data[scenario].map(function (s) {
      return { name: s.name, type: "bar", stack: "messages", data: s.data, emphasis: { focus: "series" } };
    });
    return {
      animation: false,
      tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
      legend: { top: 0, type: "scroll" },
      grid: { left: 36, right: 12, top: 32, bottom: 24 },
      xAxis: { type: "category", data: data.dates },
      // Both charts on one scale, so that they compare at a glance.
      yAxis: { type: "value", minInterval: 1, max: Math.max(top, 1) },
      series: series,
      graphic: top > 0 ? [] : [{
        type: "text", left: "center", top: "middle",
        style: { text: data.empty, fill: "#6c757d", fontSize: 13 }
      }]
    };
  }

  function remember() {
    // A failed activation comes back with the period last looked at.
    var result = document.getElementById("preview-result");
    var field = document.querySelector("#activate-form input[name=days]");
    if (result && field) {
      field.value = result.getAttribute("data-days");
    }
  }

  function draw() {
    remember();
    var source = document.getElementById("preview-chart-data");
    if (!source || typeof window.echarts === "undefined") {
      return;
    }
    var data = JSON.parse(source.textContent);
    var top = highest(data);
    charts.forEach(function (chart) { chart.dispose(); });
    charts = [];
    document.querySelectorAll("[data-chart]").forEach(function (element) {
      element.style.height = "260px";
      var chart = window.echarts.init(element, null, { renderer: "canvas" });
      chart.setOption(option(data, element.getAttribute("data-chart"), top));
      charts.push(chart);
    });
  }

  document.addEventListener("htmx:afterSettle", function (event) {
    if (event.target && event.target.id === "impact") {  // not the bell's refresh
      draw();
    }
  });
  document.addEventListener("DOMContentLoaded", draw);
  window.addEventListener("resize", function () {
    charts.forEach(function (chart) { chart.resize(); });
  });
})();
