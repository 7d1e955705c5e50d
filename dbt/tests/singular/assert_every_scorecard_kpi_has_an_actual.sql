-- Warns for a configured KPI (seeds/scorecard_kpis.csv) that is measurable in some month
-- (int_scorecard_coverage) yet has no actual value in any month and region: an expression that is
-- always null. A warning, not an error: a deployment may legitimately have nothing to measure (no
-- certification records ever), and the expression's absence is assert_every_scorecard_kpi_is_computed's.
{{ config(severity='warn') }}
select actuals.kpi_code
from {{ ref('int_scorecard_actuals') }} as actuals
group by actuals.kpi_code
having bool_or(actuals.is_covered)
    and count(actuals.actual_value) = 0
