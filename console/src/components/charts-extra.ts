// The chart types only some pages draw (Sankey, funnel, pie) and chart titles: imported by those pages, so
// they load with the page's lazy chunk instead of the home page's first load.
import * as echarts from "echarts/core";
import { FunnelChart, PieChart, SankeyChart } from "echarts/charts";
import { TitleComponent } from "echarts/components";

echarts.use([FunnelChart, PieChart, SankeyChart, TitleComponent]);
