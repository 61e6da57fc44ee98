"""Tags (标签): a catalogue of customer labels computed set-wise in the warehouse.

Each tag is a frozen definition (rule, statistic, model or manual list); a run computes
every customer's value in one query per tag batch and keeps it as daily history in the
warehouse table ``tag_values``; the profile reads :func:`current_tags`.
"""

from opsloop.insight.tags.values import TagValue, current_tags, tags_as_of

__all__ = ["TagValue", "current_tags", "tags_as_of"]
