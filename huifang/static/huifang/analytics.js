/* The analytics pages' charts (ECharts). Each chart is <div data-analytics-chart="<kind>"
   data-source="<id>">, where <id> names a json_script element: no inline script, so a strict
   CSP holds, and the page reads without JavaScript (the same figures are in its tables).
   Kinds: "rates", "counts", "nps" (lines over the trend's labels), "funnel" and "bars" (one
   KPI per row of a breakdown). */
(function () {
  "use strict";
  var charts = [];

  function empty(data, has) {
    return has ? [] : [{
      type: "text", left: "center", top: "middle",
      style: { text: data.empty, fill: "#6c757d", fontSize: 13 }
    }];
  }

  function lines(data, kind, unit) {
    var series = data[kind] || [];
    var has = series.some(function (s) { return s.data.some(function (v) { return v !== null; }); });
    return {
      animation: false,
      tooltip: { trigger: "axis" },
      legend: { top: 0, type: "scroll" },
      grid: { left: 44, right: 12, top: 36, bottom: 24 },
      xAxis: { type: "category", data: data.labels },
      yAxis: { type: "value", axisLabel: { formatter: unit ? "{value}" + unit : "{value}" } },
      series: series.map(function (s) {
        return { name: s.name, type: "line", data: s.data, connectNulls: false, showSymbol: data.labels.length < 40 };
      }),
      graphic: empty(data, has)
    };
  }

  function bars(data) {
    var has = data.data.some(function (v) { return v !== null; });
    return {
      animation: false,
      tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
      grid: { left: 44, right: 12, top: 12, bottom: 48, containLabel: false },
      xAxis: { type: "category", data: data.labels, axisLabel: { interval: 0, rotate: data.labels.length > 4 ? 30 : 0 } },
      yAxis: { type: "value" },
      series: [{ name: data.name, type: "bar", data: data.data }],
      graphic: empty(data, has)
    };
  }

  function draw() {
    charts.forEach(function (chart) { chart.dispose(); });
    charts = [];
    if (typeof window.echarts === "undefined") {
      return;
    }
    document.querySelectorAll("[data-analytics-chart][data-source]").forEach(function (element) {
      var source = document.getElementById(element.getAttribute("data-source"));
      if (!source) {
        return;
      }
      var data = JSON.parse(source.textContent);
      var kind = element.getAttribute("data-analytics-chart");
      element.style.height = "240px";
      element.style.width = "100%";
      var chart = window.echarts.init(element, null, { renderer: "canvas" });
      chart.setOption(kind === "bars" ? bars(data) : lines(data, kind, element.getAttribute("data-unit")));
      charts.push(chart);
    });
  }

  document.addEventListener("DOMContentLoaded", draw);
  window.addEventListener("resize", function () {
    charts.forEach(function (chart) { chart.resize(); });
  });
})();
