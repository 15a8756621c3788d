"""Field mappings: the call's fields by dotted path (``fields.py``), the closed template
language that sinks render them with (``template.py``), and request bodies built from
dotted-path tables (``body.py``).  No code from the configuration ever runs."""
