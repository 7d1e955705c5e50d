-- Warns with every order line and return whose order is unknown: flagged is_orphan, they carry no
-- currency and no CNY amount and are left out of every money total (net revenue, returns, RFM,
-- LTV). They count again once their order is delivered.
{{ config(severity='warn') }}
with

lines as (

    select
        'erp.sales_order_lines' as entity,
        order_id || '/' || line_no as record_id,
        order_id,
        line_amount_local as amount_local,
    from {{ ref('fct_order_lines') }}
    where is_orphan

),

returns as (

    select
        'erp.returns' as entity,
        return_id as record_id,
        order_id,
        amount_local,
    from {{ ref('fct_returns') }}
    where is_orphan

),

final as (

    select * from lines
    union all
    select * from returns

)

select * from final
