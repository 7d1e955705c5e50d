-- Fails when an amount is in a currency that has no exchange rate at all in erp.fx_rates: its CNY
-- amounts would be null (revenue, RFM and LTV silently short). One failing row per entity x
-- currency, with the number of rows affected. Blocking (severity error): deliver the rates (or
-- fix the currency code) and rerun. Order lines and returns carry their order's currency.
{{ config(severity='error') }}
with

rates as (

    select distinct currency from {{ ref('stg_erp__fx_rates') }}

),

amounts as (

    select 'erp.sales_orders' as entity, currency from {{ ref('int_sales_orders_converted_to_cny') }}
    union all
    select 'erp.sales_order_lines', currency from {{ ref('int_sales_order_lines_converted_to_cny') }}
    union all
    select 'erp.payments', currency from {{ ref('int_payments_converted_to_cny') }}
    union all
    select 'erp.returns', currency from {{ ref('int_returns_converted_to_cny') }}
    union all
    select 'crm.opportunities', currency from {{ ref('int_opportunities_converted_to_cny') }}
    union all
    select 'marketing.ad_spend_daily', currency from {{ ref('int_ad_spend_daily_converted_to_cny') }}
    union all
    select 'marketing.campaigns', currency from {{ ref('int_campaigns_converted_to_cny') }}

),

final as (

    select
        amounts.currency,
        amounts.entity,
        count(*) as rows_without_rate,
    from amounts
    left join rates
        on amounts.currency = rates.currency
    where amounts.currency is not null
        and amounts.currency <> 'CNY'
        and rates.currency is null
    group by all

)

select * from final
