/* Messages per day and channel as stacked bars (ECharts), for the impact preview of a rule and
   the preview of a strategy-set switch. Each chart is an element
   <div data-chart="<scenario>" data-chart-source="<id>">, where <id> names a json_script
   element holding {dates, empty, <scenario>: [{name, data}], …}: no inline script, so a strict
   CSP holds. The charts of one source share a scale, so that they compare at a glance. They
   are drawn on page load and again whenever htmx brings a new fragment. */
(function () {
  "use strict";
  var charts = [];

  function highest(data, scenarios) {
    var top = 0;
    scenarios.forEach(function (scenario) {
      data.dates.forEach(function (_date, day) {
        var sum = 0;
        (data[scenario] || []).forEach(function (series) { sum += series.data[day]; });
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
      series: (data[scenario] || []).map(function (s) {
        return { name: s.name, type: "bar", stack: "messages", data: s.data, emphasis: { focus: "series" } };
      }),
      graphic: top > 0 ? [] : [{
        type: "text", left: "center", top: "middle",
        style: { text: data.empty, fill: "#6c757d", fontSize: 13 }
      }]
    };
  }

  function draw() {
    charts.forEach(function (chart) { chart.dispose(); });
    charts = [];
    if (typeof window.echarts === "undefined") {
      return;
    }
    var groups = {};
    document.querySelectorAll("[data-chart][data-chart-source]").forEach(function (element) {
      var id = element.getAttribute("data-chart-source");
      (groups[id] = groups[id] || []).push(element);
    });
    Object.keys(groups).forEach(function (id) {
      var source = document.getElementById(id);
      if (!source) {
        return;
      }
      var data = JSON.parse(source.textContent);
      var elements = groups[id];
      var top = highest(data, elements.map(function (e) { return e.getAttribute("data-chart"); }));
      elements.forEach(function (element) {
        element.style.height = element.getAttribute("data-chart-height") || "260px";
        var chart = window.echarts.init(element, null, { renderer: "canvas" });
        chart.setOption(option(data, element.getAttribute("data-chart"), top));
        charts.push(chart);
      });
    });
  }

  document.addEventListener("htmx:afterSettle", function (event) {
    if (event.target && event.target.querySelector && event.target.querySelector("[data-chart]")) {
      draw();  // not for the bell's refresh
    }
  });
  document.addEventListener("DOMContentLoaded", draw);
  window.addEventListener("resize", function () {
    charts.forEach(function (chart) { chart.resize(); });
  });
})();
