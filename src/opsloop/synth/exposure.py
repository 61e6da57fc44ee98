"""The synthetic bank's campaign as an exposure table (one row per customer in it).

The generator writes the fund-reach experiment as assignments and outcomes
(:mod:`opsloop.synth.campaign`); the experiment read-out and the ROI report read an
*exposure table* instead: one row per customer with the arm, whether it converted, the
revenue it brought and its AUM change. ``fund_reach_exposure`` is that table, made from the
bank's own tables so the console's 实验结果 and 活动ROI pages have something to read on the
demo bank (``opsloop demo``), exactly as a bank would load its own campaign's exposure.
"""

from __future__ import annotations

from opsloop.synth.campaign import EXPERIMENT_ID
from opsloop.warehouse import Warehouse

EXPOSURE_TABLE = "fund_reach_exposure"

# The campaign runs in the last month of the bank: revenue is that month's fund purchases,
# the AUM change is last month-end minus the one before. Read-only SQL, checked by
# Warehouse.sql, written back through replace_tables: the same on every engine.
_SQL = f"""
with last_month as (select max(month) as m from aum_monthly),
prev_month as (
    select max(month) as m from aum_monthly where month < (select m from last_month)
),
arms as (
    select customer_id, arm from experiment_assignments
    where experiment_id = '{EXPERIMENT_ID}'
),
conv as (
    select customer_id, max(value) as v from experiment_outcomes
    where experiment_id = '{EXPERIMENT_ID}' and metric = 'conversion'
    group by customer_id
),
rev as (
    select customer_id, sum(amount) as r from transactions
    where kind = 'fund_buy' and ts >= (select m from prev_month) + interval '1 day'
    group by customer_id
),
aum1 as (select customer_id, aum from aum_monthly where month = (select m from last_month)),
aum0 as (select customer_id, aum from aum_monthly where month = (select m from prev_month))
select a.customer_id, a.arm,
       cast(coalesce(conv.v, 0) as integer) as converted,
       cast(coalesce(rev.r, 0) as double precision) as revenue,
       cast(coalesce(aum1.aum, 0) - coalesce(aum0.aum, 0) as double precision) as aum_change
from arms a
left join conv on conv.customer_id = a.customer_id
left join rev on rev.customer_id = a.customer_id
left join aum1 on aum1.customer_id = a.customer_id
left join aum0 on aum0.customer_id = a.customer_id
order by a.customer_id
"""


def write_exposure_table(wh: Warehouse, *, dataset: str | None = None) -> int:
    """(Re)write ``fund_reach_exposure`` from the bank's experiment; returns its rows."""
    table = wh.sql(_SQL, dataset=dataset)
    wh.replace_tables({EXPOSURE_TABLE: table}, dataset=dataset)
    return int(table.num_rows)
