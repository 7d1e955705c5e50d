-- One row: the run's reference date: var as_of; else the newest order date; else (no orders
-- delivered, e.g. a CRM-only deployment) the newest event date of any delivered entity; else today.
{%- set as_of = var('as_of', '') %}
with

orders as (

    select order_date from {{ ref('int_sales_orders_converted_to_cny') }}

),

entities as (

    select * from {{ ref('int_entities_delivered') }}

),

resolved as (

    {% if as_of -%}
    select cast('{{ as_of }}' as date) as as_of_date
    {%- else -%}
        select coalesce(
            (select max(order_date) from orders),
            (
                select max(last_event_date) from entities
                where is_delivered
            ),
            current_date
        ) as as_of_date
    {%- endif %}

),

final as (

    select
        as_of_date,
        as_of_date - {{ var('rfm_window_days') }} as trailing_window_start,
        as_of_date - {{ var('churn_window_days') }} as churn_window_start,
        as_of_date - 2 * {{ var('churn_window_days') }} as churn_previous_window_start,
    from resolved

)

select * from final
