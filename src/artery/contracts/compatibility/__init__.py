"""Compatibility of JSON Schema (draft 2020-12) contract versions.

Reader / writer model
---------------------
A producer writes data valid under the *writer* schema; a consumer validates it with
the *reader* schema. A change is compatible in one direction when every value the
writer accepts is also accepted by the reader (writer ⊆ reader).

- BACKWARD: the new schema reads data written with the previous one.
- FORWARD: the previous schema reads data written with the new one.
- FULL: both. ``*_TRANSITIVE`` checks every previous version, the others only the latest.
- NONE: nothing is checked.

The rules mirror Confluent Schema Registry's ``JsonSchemaDiff``
(``io.confluent.kafka.schemaregistry.json.diff``): there, ``original`` is the writer and
``update`` the reader, and each finding is named after a ``Difference.Type``
(``TYPE_NARROWED``, ``PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL``, ...). Only the incompatible
differences are reported here. The check is deliberately conservative: whatever cannot be
proven compatible (``not`` added, ``if``/``then``/``else`` or ``unevaluated*`` changed,
unresolvable ``$ref``, references inside embedded ``$id`` resources, a ``pattern`` or
``format`` added or changed, a check that runs out of its time budget, ...) is reported or
refused with a reason saying so, never called compatible. Where Confluent has no code, a
code in the same style is used (``FORMAT_ADDED``, ``PATTERN_PROPERTIES_NARROWED``, ...). Unlike
Confluent, a ``default`` never makes a newly required property compatible: validation
ignores defaults, so a reader that requires a property rejects data that lacks it.

How it works
------------
Comparisons run on pairs of subschemas addressed by JSON pointers into each document; local
``$ref`` targets (pointers and ``$anchor`` names; ``$dynamicRef`` lands where ``$ref`` would
in a document with one resource) are compared where they live. Subschemas asserting the
same thing are one subproblem, compared once (`diff`), and two that are the same schema
(equal text whose references land on the same schemas, `sameness`) are compatible at once,
so a self-referencing schema is compatible with itself. The check polls a deadline
(`budget`) and refuses when it passes. A (reader pointer, writer pointer) pair met
again while it is still being compared is taken as compatible when the recursion went
through a nested value (a property, an item); a schema that refers to itself for the same
value cannot be proven compatible. Combinators: every writer ``oneOf``/``anyOf`` branch must be
accepted by some reader branch (same position first, then any); every reader ``allOf`` part
must accept the writer, whose own ``allOf`` parts (and their merge) may be used to show it;
a reader ``oneOf`` must also be shown to match writer data only once (branches of disjoint
types or ``const`` discriminators, or the writer's own ``oneOf``). ``not`` follows Confluent:
compatible only if the writer's ``not`` already excludes what the reader's excludes.

Layout
------
`diff` walks the two documents and hands each (reader, writer) pair to one module per rule
family: `types` (type, enum, const), `bounds` (numeric bounds, multipleOf, length and count
limits), `opaque` (pattern, format, conditionals and other keywords compared for equality),
`objects`, `arrays`, `combinators` (oneOf, anyOf, allOf, not) and `refs` ($ref resolution,
recursion bookkeeping), `sameness` (schemas that are the same), `budget` (the deadline).
`model` holds the values, `schema` and `pointers` the shared helpers.
Only the names exported here are public; the modules behind them may change.
"""

from artery.contracts.compatibility.diff import check, reader_incompatibilities
from artery.contracts.compatibility.model import Compatibility, Incompatibility, Schema

__all__ = ["Compatibility", "Incompatibility", "Schema", "check", "reader_incompatibilities"]
