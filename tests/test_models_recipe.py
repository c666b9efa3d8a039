"""The recipe (lenet_xp.models.recipe): its distortion fields are Distortion's, defaults and
all, so each default is written once."""

from __future__ import annotations

import dataclasses

import pytest

from lenet_xp.data.augment import Distortion
from lenet_xp.models.recipe import DISTORTION_FIELDS, Recipe, make_distortion


def test_every_distortion_field_has_its_recipe_field_and_default():
    assert sorted(DISTORTION_FIELDS.values()) == sorted(f.name for f in dataclasses.fields(Distortion))
    recipe, distortion = Recipe(), Distortion()
    for name, field in DISTORTION_FIELDS.items():
        assert getattr(recipe, name) == getattr(distortion, field), name
    assert make_distortion(recipe) == distortion


def test_the_recipe_passes_each_field_to_its_distortion_field():
    changed = {name: index + 0.5 for index, name in enumerate(DISTORTION_FIELDS)
               if name not in ("distort", "distort_scale", "distort_squeeze")}
    recipe = Recipe().replace(distort="affine+elastic", distort_scale=0.25, distort_squeeze=0.125,
                              **changed)
    distortion = make_distortion(recipe)
    assert (distortion.kind, distortion.scale, distortion.squeeze) == ("affine+elastic", 0.25, 0.125)
    for name, value in changed.items():
        assert getattr(distortion, DISTORTION_FIELDS[name]) == value, name


def test_a_bad_distortion_range_is_a_bad_recipe():
    with pytest.raises(ValueError, match="bad recipe: scale must be < 1"):
        Recipe().replace(distort_scale=1.5)
