// adminstats console: progressive enhancement only. Every page works without this script (forms
// and links); with it, the period and tenant selectors submit on change and the charts are drawn
// by Apache ECharts from the JSON the server embedded in the page (the same numbers as its tables).
(function () {
  'use strict';

  function onChangeSubmit(select) {
    select.addEventListener('change', function () {
      var form = select.form;
      if (select.id === 'period') {
        if (select.value === '') {
          var from = document.getElementById('from');
          if (from) from.focus();
          return;
        }
        ['from', 'to'].forEach(function (id) {
          var el = document.getElementById(id);
          if (el) el.value = '';
        });
      }
      form.submit();
    });
  }
  document.querySelectorAll('select.autosubmit').forEach(onChangeSubmit);

  var holder = document.getElementById('charts-data');
  if (!holder || typeof echarts === 'undefined') return;
  var charts = JSON.parse(holder.getAttribute('data-charts') || '[]');
  var lang = document.documentElement.lang === 'zh-CN' ? 'ZH' : 'EN';
  var palette = ['#3370ff', '#34c724', '#ff8800', '#7f3bf5', '#f54a45', '#14c0ff', '#ffc60a', '#8f959e'];
  var instances = [];

  function base(c) {
    return {
      color: palette,
      aria: { enabled: true },
      animation: false,
      textStyle: { fontFamily: 'inherit' },
      tooltip: { trigger: 'axis', renderMode: 'richText', confine: true },
      legend: { type: 'scroll', top: 0, data: c.series.map(function (s) { return s.name; }) },
      grid: { left: 8, right: 16, top: 36, bottom: 8, containLabel: true }
    };
  }

  function option(c) {
    var o = base(c);
    var pct = c.percent ? { formatter: '{value}%' } : {};
    if (c.kind === 'calendar') {
      var s = c.series[0];
      var data = c.x.map(function (d, i) { return [d, s.data[i] || 0]; });
      var max = Math.max.apply(null, data.map(function (p) { return p[1]; }).concat([1]));
      o.tooltip = { renderMode: 'richText', formatter: function (p) { return p.value[0] + ': ' + p.value[1]; } };
      delete o.legend;
      o.visualMap = { min: 0, max: max, orient: 'horizontal', left: 'center', bottom: 0, calculable: false,
        inRange: { color: ['#eef3ff', '#3370ff'] } };
      o.calendar = { range: [c.x[0], c.x[c.x.length - 1]], cellSize: ['auto', 16], top: 30, left: 40, right: 20, bottom: 50,
        dayLabel: { nameMap: lang === 'ZH' ? 'ZH' : 'EN', firstDay: 1 }, monthLabel: { nameMap: lang === 'ZH' ? 'ZH' : 'EN' },
        yearLabel: { show: false }, itemStyle: { borderColor: '#fff', borderWidth: 2 }, splitLine: { show: false } };
      o.series = [{ type: 'heatmap', coordinateSystem: 'calendar', name: s.name, data: data }];
      return o;
    }
    if (c.kind === 'hbar') {
      o.tooltip.axisPointer = { type: 'shadow' };
      o.yAxis = { type: 'category', data: c.x.slice().reverse(), axisLabel: { width: 140, overflow: 'truncate' } };
      o.xAxis = { type: 'value', axisLabel: pct, max: c.percent ? 100 : null };
      o.series = c.series.map(function (s) { return { type: 'bar', name: s.name, data: s.data.slice().reverse(), barMaxWidth: 18 }; });
      return o;
    }
    o.xAxis = { type: 'category', data: c.x, boundaryGap: c.kind !== 'line' };
    o.yAxis = { type: 'value', axisLabel: pct };
    o.series = c.series.map(function (s) {
      var r = { name: s.name, data: s.data, type: c.kind === 'line' ? 'line' : 'bar' };
      if (c.kind === 'line') { r.showSymbol = c.x.length <= 31; r.smooth = false; }
      if (c.kind === 'stack') { r.stack = 'all'; }
      return r;
    });
    if (c.x.length > 40) o.dataZoom = [{ type: 'inside' }];
    return o;
  }

  charts.forEach(function (c) {
    var el = document.getElementById(c.id);
    if (!el) return;
    if (c.kind === 'hbar') el.style.height = Math.max(220, 40 + c.x.length * 26 * Math.max(1, c.series.length * 0.7)) + 'px';
    var chart = echarts.init(el, null, { renderer: 'canvas', locale: lang });
    chart.setOption(option(c));
    el.setAttribute('data-drawn', String(c.series.length));
    instances.push(chart);
  });
  window.addEventListener('resize', function () { instances.forEach(function (c) { c.resize(); }); });
  document.body.setAttribute('data-charts-ready', String(instances.length));
})();
