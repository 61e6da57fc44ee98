// The chart types only some pages draw (Sankey, funnel, pie, scatter), chart titles and mark lines: imported by those pages, so
// they load with the page's lazy chunk instead of the home page's first load.
import * as echarts from "echarts/core";
import { FunnelChart, PieChart, SankeyChart, ScatterChart } from "echarts/charts";
import { MarkLineComponent, TitleComponent } from "echarts/components";

echarts.use([FunnelChart, PieChart, SankeyChart, ScatterChart, MarkLineComponent, TitleComponent]);
