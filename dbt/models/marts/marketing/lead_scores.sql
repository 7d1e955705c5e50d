-- Lead score = config points (var lead_scoring) for attributes and behaviours; grade by band
-- (var lead_grades); MQL when score >= var mql_threshold. Empty when leads are not delivered.
{%- set cfg = var('lead_scoring') %}
with

leads as (

    select * from {{ ref('stg_crm__leads') }}

),

behaviours as (

    select * from {{ ref('int_lead_behaviours_pivoted') }}

),

points as (

    select
        leads.lead_id,
        case
            when lower(leads.industry) in (
                    {%- for industry in cfg['target_industries'] %}'{{ industry | lower }}'{{ ', ' if not loop.last }}
                    {% endfor -%}
                ) then {{ cfg['points_target_industry'] }}
            else 0
        end as points_industry,
        case
            when leads.employee_count > {{ cfg['large_company_min_employees'] }}
                then {{ cfg['points_large_company'] }}
            else 0
        end as points_company_size,
        case when behaviours.has_whitepaper_download then {{ cfg['points_whitepaper_download'] }} else 0 end
            as points_whitepaper_download,
        case when behaviours.has_webinar_attended then {{ cfg['points_webinar_attended'] }} else 0 end
            as points_webinar_attended,
        case when behaviours.has_pricing_page_view then {{ cfg['points_pricing_page_view'] }} else 0 end
            as points_pricing_page_view,
    from leads
    left join behaviours
        on leads.lead_id = behaviours.lead_id
    where {{ mart_inputs_delivered('lead_scores') }}

),

scored as (

    select
        *,
        points_industry + points_company_size + points_whitepaper_download
        + points_webinar_attended + points_pricing_page_view as score,
    from points

),

final as (

    select
        lead_id,
        score,
        case
            {%- for band in var('lead_grades') %}
                when score >= {{ band['min_score'] }} then '{{ band['grade'] }}'
            {%- endfor %}
            else '{{ var('lead_grade_fallback') }}'
        end as grade,
        score >= {{ var('mql_threshold') }} as is_mql,
        points_industry,
        points_company_size,
        points_whitepaper_download,
        points_webinar_attended,
        points_pricing_page_view,
    from scored

)

select * from final
