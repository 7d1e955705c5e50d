-- Alerts raised by the rules of var alert_rules (each can be disabled), as of the as-of date.
-- A rule reads only delivered entities (its `inputs`): nothing is raised on data never delivered.
-- Messages come from seeds/alert_rule_labels.csv with {subject} {observed} {threshold}
-- {period} {detail} filled in (a region by its English or Chinese name, `*` = all regions /
-- 全部区域). Ratios are shown as percentages in messages.
{%- set rules = var('alert_rules') %}
{%- set r_return = rules['product_return_rate'] %}
{%- set r_new = rules['new_customers_below_target'] %}
{%- set r_churn = rules['annual_churn'] %}
{%- set r_crm = rules['crm_completeness'] %}
{%- set r_risk = rules['customer_churn_risk'] %}
{%- set crm_keys = {
    'accounts': 'account_id', 'contacts': 'contact_id', 'leads': 'lead_id', 'opportunities': 'opportunity_id'
} %}
{%- set active = {} %}
{%- for code, rule in rules.items() %}
    {%- set enabled = 'true' if rule['enabled'] else 'false' %}
    {%- do active.update({code: enabled ~ ' and ' ~ delivered(rule.get('inputs') or [])}) %}
{%- endfor %}
with

as_of as (

    select * from {{ ref('int_as_of_date') }}

),

order_lines as (

    select * from {{ ref('int_order_lines_joined_to_returns') }}

),

products as (

    select * from {{ ref('dim_product') }}

),

regions as (

    select * from {{ ref('dim_region') }}

),

customers as (

    select * from {{ ref('int_customers_acquired') }}

),

decomposed_targets as (

    select * from {{ ref('int_targets_decomposed') }}

),

scorecard_actuals as (

    select * from {{ ref('int_scorecard_actuals') }}

),

field_policy as (

    select * from {{ ref('stg_meta__field_policy') }}

),

entities as (

    select * from {{ ref('int_entities_delivered') }}

),

labels as (

    select * from {{ ref('alert_rule_labels') }}

),

{%- for entity in crm_keys %}

    crm_{{ entity }} as (

        select * from {{ ref('stg_crm__' ~ entity) }}

    ),
{%- endfor %}

customer_value as (

    select * from {{ ref('customer_value') }}

),

-- rule product_return_rate: returned / sold units per product over the trailing window
return_rates as (

    select
        order_lines.sku,
        sum(order_lines.quantity) as sold_quantity,
        sum(order_lines.returned_quantity) as returned_quantity,
        sum(order_lines.returned_quantity) / nullif(sum(order_lines.quantity), 0) as return_rate,
        any_value(as_of.as_of_date) - {{ r_return['window_days'] }} + 1 as window_start,
        any_value(as_of.as_of_date) as window_end,
    from order_lines
    cross join as_of
    where not order_lines.is_cancelled
        and order_lines.order_date > as_of.as_of_date - {{ r_return['window_days'] }}
        and order_lines.order_date <= as_of.as_of_date
    group by order_lines.sku

),

product_return_alerts as (

    select
        'product_return_rate' as rule_code,
        '{{ r_return['severity'] }}' as severity,
        return_rates.sku as subject,
        coalesce(products.product_name, return_rates.sku) as subject_name,
        coalesce(products.product_name, return_rates.sku) as subject_name_zh,
        strftime(return_rates.window_start, '%Y-%m-%d') || '~' || strftime(return_rates.window_end, '%Y-%m-%d')
            as period,
        return_rates.return_rate as observed_value,
        {{ r_return['threshold'] }} as threshold,
        true as is_ratio,
        cast(null as varchar) as detail,
    from return_rates
    left join products
        on return_rates.sku = products.sku
    where {{ active['product_return_rate'] }}
        and return_rates.sold_quantity >= {{ r_return['min_quantity'] }}
        and return_rates.return_rate > {{ r_return['threshold'] }}

),

-- rule new_customers_below_target: the last N complete ISO weeks all below the weekly target,
-- the delivered new_customers targets decomposed to days (a month's target / its days). A week
-- with a day without such a target is not judged: no target, no alert.
weeks as (

    select
        cast(series.week_start as date) as week_start_date,
        cast(series.week_start + interval 6 day as date) as week_end_date,
    from as_of
    cross join generate_series(
        cast(date_trunc('week', as_of.as_of_date + 1) as date) - 7 * {{ r_new['weeks_running'] }},
        cast(date_trunc('week', as_of.as_of_date + 1) as date) - 7,
        interval 7 day
    ) as series (week_start)

),

week_days as (

    select
        weeks.week_start_date,
        cast(unnest(generate_series(weeks.week_start_date, weeks.week_end_date, interval 1 day)) as date) as day,
    from weeks

),

monthly_new_customer_targets as (

    select
        month_start_date,
        sum(target_value) as target_value,
    from decomposed_targets
    where metric = 'new_customers'
    group by month_start_date

),

weekly_targets as (

    -- each day carries its month's target / days in month
    select
        week_days.week_start_date,
        sum(monthly_new_customer_targets.target_value / dayofmonth(last_day(week_days.day))) as target_value,
        count(monthly_new_customer_targets.target_value) as days_with_target,
    from week_days
    left join monthly_new_customer_targets
        on cast(date_trunc('month', week_days.day) as date) = monthly_new_customer_targets.month_start_date
    group by week_days.week_start_date

),

weekly_new_customers as (

    select
        weeks.week_start_date,
        weeks.week_end_date,
        count(customers.account_id) as new_customers,
        any_value(weekly_targets.target_value) filter (where weekly_targets.days_with_target = 7) as target_value,
    from weeks
    left join customers
        on customers.first_order_date between weeks.week_start_date and weeks.week_end_date
    left join weekly_targets
        on weeks.week_start_date = weekly_targets.week_start_date
    group by weeks.week_start_date, weeks.week_end_date

),

new_customer_alerts as (

    select
        'new_customers_below_target' as rule_code,
        '{{ r_new['severity'] }}' as severity,
        '*' as subject,
        any_value(regions.region_name) as subject_name,
        any_value(regions.region_name_zh) as subject_name_zh,
        strftime(max(weekly_new_customers.week_start_date), '%G-W%V') as period,
        cast(arg_max(weekly_new_customers.new_customers, weekly_new_customers.week_start_date) as double)
            as observed_value,
        round(arg_max(weekly_new_customers.target_value, weekly_new_customers.week_start_date), 2) as threshold,
        false as is_ratio,
        '{{ r_new['weeks_running'] }}' as detail,
    from weekly_new_customers
    left join regions
        on regions.region = '*'
    where {{ active['new_customers_below_target'] }}
    having count(*) = {{ r_new['weeks_running'] }}
        and bool_and(weekly_new_customers.new_customers < weekly_new_customers.target_value)

),

-- rule annual_churn: churn of the 365 days to the as-of date, all regions and per region
churn_alerts as (

    select
        'annual_churn' as rule_code,
        '{{ r_churn['severity'] }}' as severity,
        scorecard_actuals.region as subject,
        coalesce(regions.region_name, scorecard_actuals.region) as subject_name,
        coalesce(regions.region_name_zh, scorecard_actuals.region) as subject_name_zh,
        strftime(as_of.as_of_date, '%Y-%m-%d') as period,
        scorecard_actuals.actual_value as observed_value,
        {{ r_churn['threshold'] }} as threshold,
        true as is_ratio,
        cast(null as varchar) as detail,
    from scorecard_actuals
    cross join as_of
    left join regions
        on scorecard_actuals.region = regions.region
    where {{ active['annual_churn'] }}
        and scorecard_actuals.kpi_code = 'churn_rate'
        and scorecard_actuals.month_start_date = cast(date_trunc('month', as_of.as_of_date) as date)
        and scorecard_actuals.actual_value > {{ r_churn['threshold'] }}

),

-- rule crm_completeness: each collected critical CRM field (meta.field_policy) below its target,
-- for fields whose completeness gate only warns: a shortfall the gate blocks on is reported by
-- the gate alone (the run does not publish)
field_cells as (
    {%- for entity, key in crm_keys.items() %}
        {{ field_cells(entity, 'crm_' ~ entity, key) }}
        {{ 'union all' if not loop.last }}
    {%- endfor %}

),

field_completeness as (

    select
        entity,
        field,
        count(*) filter (where is_filled) / count(*) as completeness,
    from field_cells
    group by all

),

crm_alerts as (

    select
        'crm_completeness' as rule_code,
        '{{ r_crm['severity'] }}' as severity,
        'crm.' || field_completeness.entity || '.' || field_completeness.field as subject,
        'crm.' || field_completeness.entity || '.' || field_completeness.field as subject_name,
        'crm.' || field_completeness.entity || '.' || field_completeness.field as subject_name_zh,
        strftime(as_of.as_of_date, '%Y-%m-%d') as period,
        field_completeness.completeness as observed_value,
        field_policy.target as threshold,
        true as is_ratio,
        cast(null as varchar) as detail,
    from field_completeness
    inner join field_policy
        on field_policy.source = 'crm'
        and field_completeness.entity = field_policy.entity
        and field_completeness.field = field_policy.field
    inner join entities
        on entities.entity_name = 'crm.' || field_completeness.entity
    cross join as_of
    where {{ active['crm_completeness'] }}
        and field_policy.is_critical
        and field_policy.is_collected
        and field_policy.gate_severity = 'warn'
        and entities.is_delivered
        and field_completeness.completeness < field_policy.target

),

-- rule customer_churn_risk: customers in the top share by value at stake (predicted_clv_if_alive_12m)
-- whose probability alive is below the threshold; the detail names the owner rep and the value
value_at_stake as (

    select
        *,
        cume_dist() over (order by predicted_clv_if_alive_12m desc) as value_rank_share,
    from customer_value
    where predicted_clv_if_alive_12m is not null

),

churn_risk_alerts as (

    select
        'customer_churn_risk' as rule_code,
        '{{ r_risk['severity'] }}' as severity,
        value_at_stake.account_id as subject,
        coalesce(value_at_stake.account_name, value_at_stake.account_id) as subject_name,
        coalesce(value_at_stake.account_name, value_at_stake.account_id) as subject_name_zh,
        strftime(as_of.as_of_date, '%Y-%m-%d') as period,
        value_at_stake.probability_alive as observed_value,
        {{ r_risk['threshold'] }} as threshold,
        true as is_ratio,
        coalesce(value_at_stake.owner_rep_id, '-') || ' / '
        || printf('%,.0f', value_at_stake.predicted_clv_if_alive_12m) as detail,
    from value_at_stake
    cross join as_of
    where {{ active['customer_churn_risk'] }}
        and value_at_stake.value_rank_share <= {{ r_risk['top_value_share'] }}
        and value_at_stake.probability_alive < {{ r_risk['threshold'] }}

),

raised as (

    select * from product_return_alerts
    union all
    select * from new_customer_alerts
    union all
    select * from churn_alerts
    union all
    select * from crm_alerts
    union all
    select * from churn_risk_alerts

),

formatted as (

    select
        raised.*,
        case
            when raised.is_ratio then printf('%.1f%%', 100 * raised.observed_value)
            else cast(raised.observed_value as varchar)
        end as observed_text,
        case
            when raised.is_ratio then printf('%.1f%%', 100 * raised.threshold)
            else cast(raised.threshold as varchar)
        end as threshold_text,
    from raised

),

final as (

    select
        formatted.rule_code,
        labels.rule_name,
        labels.rule_name_zh,
        formatted.severity,
        formatted.subject,
        formatted.subject_name,
        formatted.period,
        formatted.observed_value,
        cast(formatted.threshold as double) as threshold,
        {%- for column, template, name in [
            ('message', 'message_template', 'subject_name'),
            ('message_zh', 'message_template_zh', 'subject_name_zh'),
        ] %}
            replace(replace(replace(replace(replace(
                labels.{{ template }},
                '{subject}', formatted.{{ name }}
            ),
            '{observed}', formatted.observed_text),
            '{threshold}', formatted.threshold_text),
            '{period}', formatted.period),
            '{detail}', coalesce(formatted.detail, '')) as {{ column }},
        {%- endfor %}
        as_of.as_of_date,
        formatted.subject_name_zh,
    from formatted
    left join labels
        on formatted.rule_code = labels.rule_code
    cross join as_of

)

select * from final
