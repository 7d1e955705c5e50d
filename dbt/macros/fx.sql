{#-
    Money to CNY. `fx_rate_ctes()` adds two CTEs (fx_rates: the daily rates; fx_first_rates: the
    earliest rate of each currency). `fx_join(currency, txn_date)` joins the rate in force on the
    transaction date: the latest rate on or before it (ASOF), else the earliest known rate.
    `cny_rate(currency)` is 1 for CNY, else that rate (null for a currency with no rates at all).
-#}
{% macro fx_rate_ctes() %}
fx_rates as (

    select
        rate_date,
        currency,
        cny_per_unit,
    from {{ ref('stg_erp__fx_rates') }}

),

fx_first_rates as (

    select
        currency,
        arg_min(cny_per_unit, rate_date) as cny_per_unit,
    from fx_rates
    group by currency

),
{% endmacro %}

{% macro fx_join(currency, txn_date) %}
    asof left join fx_rates
        on {{ currency }} = fx_rates.currency
        and {{ txn_date }} >= fx_rates.rate_date
    left join fx_first_rates
        on {{ currency }} = fx_first_rates.currency
{% endmacro %}

{% macro cny_rate(currency) -%}
    case
        when {{ currency }} = 'CNY' then cast(1 as decimal(18, 6))
        else coalesce(fx_rates.cny_per_unit, fx_first_rates.cny_per_unit)
    end
{%- endmacro %}

{% macro to_cny(amount, currency) -%}
    {#- widen first: decimal(18,2) x decimal(18,6) would overflow from 10 billion up -#}
    cast(round(cast({{ amount }} as decimal(38, 6)) * {{ cny_rate(currency) }}, 2) as decimal(18, 2))
{%- endmacro %}
