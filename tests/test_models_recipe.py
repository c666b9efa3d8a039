"""The recipe (lenet_xp.models.recipe): its distortion is a Distortion, whose fields are
declared once, on Distortion, with their defaults and their names in the recipe's flat form
(distort, distort_shift, elastic_alpha, ...)."""

from __future__ import annotations

import dataclasses

import pytest

from lenet_xp.data.augment import Distortion
from lenet_xp.models.recipe import Recipe
from lenet_xp.settings import keys


def test_every_distortion_field_is_a_recipe_key_with_its_default():
    flat, recipe_keys = Recipe().to_dict(), keys(Recipe)
    distortion_keys = keys(Distortion)
    assert len(distortion_keys) == len(dataclasses.fields(Distortion))
    for key, leaf in distortion_keys.items():
        assert recipe_keys[key].path == ("distortion", leaf.path[-1])
        assert flat[key] == getattr(Distortion(), leaf.path[-1]), key
    assert Recipe().distortion == Distortion()


def test_the_recipe_passes_each_key_to_its_distortion_field():
    fields = {key: leaf.path[-1] for key, leaf in keys(Distortion).items()}
    changed = {key: index + 0.5 for index, key in enumerate(fields)
               if key not in ("distort", "distort_scale", "distort_squeeze")}
    recipe = Recipe().replace(distort="affine+elastic", distort_scale=0.25, distort_squeeze=0.125,
                              **changed)
    distortion = recipe.distortion
    assert (distortion.kind, distortion.scale, distortion.squeeze) == ("affine+elastic", 0.25, 0.125)
    for key, value in changed.items():
        assert getattr(distortion, fields[key]) == value, key
    assert Recipe().replace(**recipe.to_dict()) == recipe  # the flat form holds it all


def test_a_bad_distortion_range_is_a_bad_recipe():
    with pytest.raises(ValueError, match="bad recipe: scale must be < 1"):
        Recipe().replace(distort_scale=1.5)


@pytest.mark.parametrize("changes, message", [
    ({"pieces": "[["}, "pieces must be [[epochs, lr], ...]"),           # a string is no list
    ({"pieces": [[2]]}, "pieces must be [[epochs, lr], ...]"),
    ({"pieces": [[0, 1e-3]]}, "pieces must be [[epochs, lr], ...]"),
    ({"pieces": [[2, float("nan")]]}, "pieces must be [[epochs, lr], ...]"),
    ({"pieces": [[2.5, 1e-3]]}, "pieces must be [[epochs, lr], ...]"),
    ({"lr": float("nan")}, "lr must be a finite number, got nan"),
    ({"gamma": float("inf")}, "gamma must be a finite number, got inf"),
    ({"distort_shear": float("nan")}, "distort_shear must be a finite number"),
    ({"lr": "fast"}, "lr must be a finite number, got 'fast'"),
    ({"epochs": 2.5}, "epochs must be an integer, got 2.5"),
    ({"epochs": True}, "epochs must be an integer, got True"),
    ({"nesterov": "yes"}, "nesterov must be true or false, got 'yes'"),
    ({"optimizer": 3}, "optimizer must be text, got 3"),
    ({"momentum": -0.5}, "momentum must be in [0, 1)"),
    ({"gamma": 0}, "gamma must be > 0"),
    ({"patience": -1}, "patience must be >= 0"),
])
def test_every_field_is_checked_for_its_type_and_range(changes, message):
    with pytest.raises(ValueError, match=__import__("re").escape(message)):
        Recipe().replace(**changes)


def test_pieces_from_json_become_tuples_and_numbers_are_kept():
    recipe = Recipe().replace(schedule="piecewise", pieces=[[2, 5e-4], [3, 2e-4]], lr=1,
                              distort_shift=2)
    assert recipe.pieces == ((2, 5e-4), (3, 2e-4))
    assert recipe.lr == 1.0 and isinstance(recipe.lr, float) and recipe.distortion.shift == 2.0
