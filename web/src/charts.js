// uPlot charts: a KPI row's sparkline and a KPI's value against its expected band with alert episodes.
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";

const COLOURS = {
  value: "#1f4e99",
  band: "rgba(26, 127, 55, 0.16)",
  bandEdge: "#1a7f37",
  expected: "#57606a",
  breach: "#b42318",
  episode: "rgba(180, 35, 24, 0.12)",
};

/** uPlot's columns from history items: x in seconds, then value, expected, lower, upper, breach. */
export function columns(items) {
  const xs = [], value = [], expected = [], lower = [], upper = [], breach = [];
  for (const item of items) {
    xs.push(Date.parse(item.slot) / 1000);
    value.push(item.current ?? null);
    expected.push(item.expected ?? null);
    lower.push(item.lower ?? null);
    upper.push(item.upper ?? null);
    breach.push(item.breach ? item.current ?? null : null);
  }
  return [xs, value, expected, lower, upper, breach];
}

const noLine = () => null;

function series(compact) {
  return [
    {},
    { label: "Value", stroke: COLOURS.value, width: compact ? 1.5 : 2, points: compact ? { show: false } : {} },
    { label: "Expected", stroke: COLOURS.expected, width: 1, dash: [6, 4], show: !compact },
    { label: "Lower", stroke: compact ? "transparent" : COLOURS.bandEdge, width: 1 },
    { label: "Upper", stroke: compact ? "transparent" : COLOURS.bandEdge, width: 1 },
    {
      label: "Breach",
      stroke: COLOURS.breach,
      paths: noLine,
      points: { show: true, size: compact ? 4 : 8, fill: COLOURS.breach, stroke: COLOURS.breach },
    },
  ];
}

export function sparkline(target, items) {
  target.replaceChildren();
  const options = {
    width: 128,
    height: 36,
    pxAlign: false,
    cursor: { show: false },
    select: { show: false },
    legend: { show: false },
    scales: { x: { time: false } },
    axes: [{ show: false }, { show: false }],
    series: series(true),
    bands: [{ series: [4, 3], fill: COLOURS.band }],
  };
  return new uPlot(options, columns(items), target);
}

function shadeEpisodes(episodes) {
  return {
    hooks: {
      drawClear: [
        (u) => {
          const { ctx, bbox } = u;
          ctx.save();
          ctx.fillStyle = COLOURS.episode;
          for (const episode of episodes) {
            // At least 6 px wide, so an alert opened at the latest slot still shows.
            const start = Math.max(u.valToPos(episode.from, "x", true) - 3, bbox.left);
            const end = Math.min(Math.max(u.valToPos(episode.to, "x", true), start + 6), bbox.left + bbox.width);
            if (end > start) ctx.fillRect(start, bbox.top, end - start, bbox.height);
          }
          ctx.restore();
        },
      ],
    },
  };
}

/** The detail chart; `episodes` are {from, to} in seconds. Returns the uPlot instance. */
export function bandChart(target, items, episodes, width) {
  target.replaceChildren();
  const options = {
    width,
    height: Math.max(220, Math.min(360, Math.round(width * 0.45))),
    scales: { x: { time: true } },
    series: series(false),
    bands: [{ series: [4, 3], fill: COLOURS.band }],
    plugins: [shadeEpisodes(episodes)],
    axes: [{ stroke: "#24292f" }, { stroke: "#24292f", size: 60 }],
  };
  return new uPlot(options, columns(items), target);
}
