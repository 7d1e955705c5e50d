{#- For the relationships test (tests/generic/relationships.sql): the extract entity the relation's
    rows come from, its model's (seed's, snapshot's) meta `entity`, or none. Found by the node's id
    (this project's nodes are named as their relations), not by a scan of the graph: the test is
    compiled once per relationship, on dbt's threads. Known only when dbt executes (the graph is
    empty while it parses). -#}
{% macro relationship_parent_entity(relation) %}
    {%- if not execute %}{{ return(none) }}{% endif %}
    {%- for resource_type in ('model', 'seed', 'snapshot') %}
        {%- set node = graph.nodes.get(resource_type ~ '.' ~ project_name ~ '.' ~ relation.identifier) %}
        {%- if node and node.schema == relation.schema %}
            {{- return(node.config.meta.get('entity')) }}
        {%- endif %}
    {%- endfor %}
    {{- return(none) }}
{% endmacro %}
