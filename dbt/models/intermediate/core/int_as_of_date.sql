-- One row: the run's reference date (var as_of, else the newest order date, else today).
{%- set as_of = var('as_of', '') %}
with

orders as (

    select order_date from {{ ref('stg_erp__sales_orders') }}

),

resolved as (

    {% if as_of -%}
    select cast('{{ as_of }}' as date) as as_of_date
    {%- else -%}
    select coalesce(max(order_date), current_date) as as_of_date
    from orders
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
