import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

export interface ChartSeries {
  label: string;
  stroke: string;
  dash?: number[];
  /** Draw markers at the data points (epoch values) instead of a bare line. */
  points?: boolean;
  width?: number;
}

export interface ChartProps {
  /** Read out by screen readers; say what the chart shows. */
  title: string;
  xLabel: string;
  yLabel: string;
  /** uPlot aligned data: [x, y1, y2, ...]; nulls are gaps that lines span. */
  data: (number | null)[][];
  series: ChartSeries[];
  xRange?: [number, number];
  yRange?: [number, number];
  height?: number;
  /** Extra drawing after the series (e.g. the chance diagonal of a ROC plot). */
  diagonal?: boolean;
  testId?: string;
}

/** A uPlot line chart that follows its container's width and redraws in place when data grows. */
export function Chart(props: ChartProps) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const shape = `${props.series.map((s) => s.label).join('|')}|${props.xRange}|${props.yRange}|${props.height}`;

  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const width = Math.max(240, el.clientWidth);
    const opts: uPlot.Options = {
      width,
      height: props.height ?? 240,
      legend: { show: true, live: false },
      cursor: { drag: { x: false, y: false } },
      scales: {
        x: props.xRange ? { time: false, range: props.xRange } : { time: false },
        y: props.yRange ? { range: props.yRange } : {},
      },
      axes: [
        { label: props.xLabel, stroke: '#444', grid: { stroke: '#e5e5e5' } },
        { label: props.yLabel, stroke: '#444', grid: { stroke: '#e5e5e5' } },
      ],
      series: [
        { label: props.xLabel },
        ...props.series.map((s) => ({
          label: s.label,
          stroke: s.stroke,
          width: s.width ?? 2,
          dash: s.dash,
          spanGaps: true,
          points: { show: s.points ?? false, size: 6, fill: s.stroke },
        })),
      ],
      hooks: props.diagonal
        ? {
            draw: [
              (u: uPlot) => {
                const ctx = u.ctx;
                ctx.save();
                ctx.strokeStyle = '#999';
                ctx.setLineDash([4, 4]);
                ctx.beginPath();
                ctx.moveTo(u.valToPos(0, 'x', true), u.valToPos(0, 'y', true));
                ctx.lineTo(u.valToPos(1, 'x', true), u.valToPos(1, 'y', true));
                ctx.stroke();
                ctx.restore();
              },
            ],
          }
        : {},
    };
    const u = new uPlot(opts, props.data as uPlot.AlignedData, el);
    plot.current = u;
    const ro = new ResizeObserver(() => u.setSize({ width: Math.max(240, el.clientWidth), height: props.height ?? 240 }));
    ro.observe(el);
    return () => {
      ro.disconnect();
      u.destroy();
      plot.current = null;
    };
    // Rebuilt only when the chart's shape changes; new data goes through setData below.
  }, [shape]);

  useEffect(() => {
    plot.current?.setData(props.data as uPlot.AlignedData);
  }, [props.data]);

  const points = props.data[0]?.length ?? 0;
  return (
    <figure class="chart" data-testid={props.testId} data-points={points}>
      <div ref={box} role="img" aria-label={`${props.title}: ${points} points`} />
      <figcaption>{props.title}</figcaption>
    </figure>
  );
}
