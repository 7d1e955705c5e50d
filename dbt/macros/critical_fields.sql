{#-
    critical_source_columns(source_name, entities): {entity: [column, ...]} of the columns the
    contracts flag critical (config meta critical: true in the generated sources YAML). The
    deployment's policy (meta.field_policy) then decides at run time which of them count; this list
    only tells the SQL which columns exist. Empty at parse time (the graph is not built yet).

    completeness_cells(entity, fields, alias, region_from): the select list of one record's cells:
    region, created_at, filled (counted fields that are not null), fields (counted fields) and
    target_cells (sum of the counted fields' targets); needs policy_flags joined for the entity.
-#}
{% macro critical_source_columns(source_name, entities) %}
    {%- set critical = {} %}
    {%- for entity in entities %}
        {%- do critical.update({entity: []}) %}
    {%- endfor %}
    {%- if execute %}
        {%- for node in graph.sources.values() if node.source_name == source_name and node.name in entities %}
            {%- for column in node.columns.values() %}
                {%- set meta = column.get('meta') or {} %}
                {%- set config_meta = (column.get('config') or {}).get('meta') or {} %}
                {%- if meta.get('critical') or config_meta.get('critical') %}
                    {%- do critical[node.name].append(column.name) %}
                {%- endif %}
            {%- endfor %}
        {%- endfor %}
    {%- endif %}
    {{ return(critical) }}
{% endmacro %}

{% macro completeness_cells(entity, fields, alias, region_from) %}
    select
        {{ region_from }}.region,
        {{ alias }}.created_at,
        {%- for field in fields %}
        case when policy_flags.counts_{{ field }} and {{ alias }}.{{ field }} is not null then 1 else 0 end +
        {%- endfor %}
        0 as filled,
        {%- for field in fields %}
        policy_flags.counts_{{ field }}::int +
        {%- endfor %}
        0 as fields,
        {%- for field in fields %}
        policy_flags.counts_{{ field }}::int * policy_flags.target_{{ field }} +
        {%- endfor %}
        0 as target_cells,
{% endmacro %}
