"""MPSE phase 2 (thesis "DPED+, MPSE and MDIE", section 3.1.2): semantic style enhancement of
a photo towards a reference (:func:`semantic_style_enhance`) and the reference recommendation
network (:class:`ReferenceRecommender`). The losses are in :mod:`pirm_enhance.losses.mpse`;
phase 3 (post-processing) is :mod:`pirm_enhance.postprocess`."""

from pirm_enhance.mpse.recommend import ReferenceRecommender, recommendation_head, vgg16_fc8
from pirm_enhance.mpse.style import paired_masks, semantic_style_enhance

__all__ = ["ReferenceRecommender", "paired_masks", "recommendation_head", "semantic_style_enhance", "vgg16_fc8"]
