{#- For the relationships test (tests/generic/relationships.sql): the extract entity the relation's rows come from: its model's (seed's, snapshot's) meta `entity`,
    or none. Known only when dbt executes (the graph is empty while it parses). -#}
{% macro relationship_parent_entity(relation) %}
    {%- if not execute %}{{ return(none) }}{% endif %}
    {%- for node in graph.nodes.values() %}
        {%- if node.resource_type in ('model', 'seed', 'snapshot')
            and (node.alias or node.name) == relation.identifier
            and node.schema == relation.schema %}
            {{- return(node.config.meta.get('entity')) }}
        {%- endif %}
    {%- endfor %}
    {{- return(none) }}
{% endmacro %}
