"""Segments (客群): validated condition trees compiled to one warehouse query."""

from opsloop.insight.segments.compiler import SegmentCompiler, compile_members, compile_segment
from opsloop.insight.segments.errors import (
    Issue,
    SegmentCycleError,
    SegmentValidationError,
    UnknownSegmentError,
    UnsupportedNodeError,
)
from opsloop.insight.segments.model import SegmentDefinition
from opsloop.insight.segments.service import Preview, preview, validate_segment

__all__ = [
    "Issue",
    "Preview",
    "SegmentCompiler",
    "SegmentCycleError",
    "SegmentDefinition",
    "SegmentValidationError",
    "UnknownSegmentError",
    "UnsupportedNodeError",
    "compile_members",
    "compile_segment",
    "preview",
    "validate_segment",
]
