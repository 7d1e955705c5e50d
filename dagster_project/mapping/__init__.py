"""Declarative source mappings: a company's own exports (Salesforce, HubSpot, a Chinese CRM, an ERP)
read onto the entity contracts without code.

`spec` reads the YAML (presets in `presets/`), `discover` finds the files a mapping covers,
`formats` normalises dates and numbers, `apply` maps a drop's rows, `check` is the dry run.
"""
