"""The JSON shapes Zadig answers with, built from the world's objects (no rules in here).

Field order and Go's ``omitempty`` follow aslan's structs (docs/zadig-openapi.md §3, §4, §6.2).
One module per topic: `tasks`, `workflows`, `discovery`; `specs` for job specs; `fields` for
the conventions they share.
"""
