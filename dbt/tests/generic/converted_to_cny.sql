{#-
    Fails for every row whose CNY amount is missing while its amount in the source currency is not:
    a currency without an exchange rate (see assert_every_currency_has_an_fx_rate, which names the
    currency, the entity and the rows). Failing rows are returned whole.
-#}
{% test converted_to_cny(model, column_name, local_column) %}

select *
from {{ model }}
where {{ column_name }} is null
    and {{ local_column }} is not null

{% endtest %}
