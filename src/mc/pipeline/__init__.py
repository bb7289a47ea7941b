"""The real-time meta pipeline (from the seed): perception, recursive awareness, confidence, introspection, integration."""

from mc.pipeline.processor import STAGES, MetaPipeline, RequestOutcome
from mc.pipeline.quality import QUALITY_LEVELS, AdaptiveQualityController, QualityLevel
from mc.pipeline.settings import ProcessorSettings

__all__ = [
    "QUALITY_LEVELS",
    "STAGES",
    "AdaptiveQualityController",
    "MetaPipeline",
    "ProcessorSettings",
    "QualityLevel",
    "RequestOutcome",
]
