-- Fails for a KPI of seeds/scorecard_kpis.csv that its perspective's model
-- (int_scorecard_<perspective>_kpis) does not compute: a KPI added to the seed without its
-- expression, or put in another perspective's model, would otherwise read "no data" in every month.
select
    kpis.kpi_code,
    kpis.perspective,
from {{ ref('scorecard_kpis') }} as kpis
where not exists (
    select 1
    from {{ ref('int_scorecard_kpi_values') }} as kpi_values
    where kpi_values.kpi_code = kpis.kpi_code
        and kpi_values.perspective = kpis.perspective
)
