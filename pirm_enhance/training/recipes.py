"""Training recipes: one flat dict each (PIRM2018.md section 6).

Keys: ``arch`` (and ``arch_config``, constructor arguments); loss weights
(``content``, ``texture``, ``color``, ``tv``, ``l1``, ``chroma``, ``ms_ssim``, ``ssim``, ``contextual``, ``kd``; absent = 0) and their
options (``content_layers``, ``contextual_layer``, ``l1_normalisation``);
optimisation (``lr``, ``lr_decay``, ``lr_decay_every``, ``batch_size``,
``patch_size``, ``steps``); ``teacher`` for distillation; ``source``.
Override any key with ``recipe(name, key=value)``.
"""

import copy

from pirm_enhance.errors import UnknownName
from pirm_enhance.registry import unknown

_DPED_CODE = {"content": 10.0, "content_layers": ("relu5_4",), "texture": 1.0, "color": 0.5,
              "tv": 2000.0, "lr": 5e-4, "batch_size": 50, "patch_size": 100}

RECIPES = {
    "dped": {**_DPED_CODE, "arch": "dped_resnet_12_64", "steps": 20000,
             "source": "DPED public training code defaults (Ignatov et al., ICCV 2017)"},
    "dped_paper": {**_DPED_CODE, "arch": "dped_resnet_12_64", "steps": 20000,
                   "content": 1.0, "texture": 0.4, "color": 0.1, "tv": 400.0,
                   "source": "DPED paper weights (content relu5_4 1, texture 0.4, color 0.1, TV 400)"},
    "eds": {**_DPED_CODE, "arch": "eds", "steps": 40000,
            "source": "EdS (PIRM 2018): DPED code defaults, 40k iterations, batch 50"},
    "rsgunet": {"arch": "rsgunet", "l1": 0.05, "ms_ssim": 500.0, "content": 0.001,
                "content_layers": ("relu5_4", "relu3_4", "relu1_2"), "texture": 10.0, "tv": 2000.0,
                "lr": 5e-4, "batch_size": 32, "patch_size": 100, "steps": 150000,
                "source": "RSGUNet paper (Huang et al., PIRM 2018): L1 0.05, MS-SSIM 500, VGG 0.001, "
                          "GAN 10, TV 2000"},
    "rsgunet_code": {"arch": "rsgunet", "l1": 0.05, "l1_normalisation": "half_batch", "ms_ssim": 500.0,
                     "content": 0.001, "content_layers": ("relu5_4", "relu3_4", "relu1_2"),
                     "texture": 17.5, "tv": 100.0, "lr": 5e-4, "batch_size": 32, "patch_size": 100,
                     "steps": 150000,
                     "source": "RSGUNet public code: content 0.001 (mean of 3 VGG layers), texture 17.5, "
                               "TV 100, 0.5 x 1000 x (1 - MS-SSIM), 0.05 x sum|y - x| / (2 batch)"},
    "ppcn_teacher": {"arch": "ppcn_teacher", "contextual": 40.0, "contextual_layer": "conv4_2",
                     "ssim": 250.0, "texture": 1.0, "color": 1.0, "tv": 2000.0,
                     "lr": 5e-4, "lr_decay": 0.1, "lr_decay_every": 10000, "batch_size": 50,
                     "patch_size": 100, "steps": 30000,
                     "source": "PPCN (Hui et al., PIRM 2018): 10 x (4 contextual + 25 (1 - SSIM)) + texture "
                               "+ color + 2000 TV; lr / 10 every 10k"},
    "ppcn_student": {"arch": "ppcn_student", "contextual": 40.0, "contextual_layer": "conv4_2",
                     "ssim": 250.0, "texture": 1.0, "color": 1.0, "tv": 2000.0, "kd": 75.0,
                     "teacher": "ppcn_teacher.paper",
                     "lr": 5e-4, "lr_decay": 0.1, "lr_decay_every": 10000, "batch_size": 50,
                     "patch_size": 100, "steps": 30000,
                     "source": "PPCN student: the teacher's losses + 75 x KD (normalised channel-mean "
                               "feature distance to the teacher)"},
    "default": {"arch": "rsgunet", "arch_config": {"width": 12, "residual": True},
                "l1": 10.0, "chroma": 20.0, "color": 0.002, "tv": 10.0,
                "lr": 1e-3, "lr_decay": 0.5, "lr_decay_every": 2000, "batch_size": 12, "patch_size": 128,
                "steps": 5000,
                "source": "the project's default model (issue 11): RSGUNet (width 12) with a residual "
                          "output, L1 + chroma (YCbCr) + DPED colour + TV, on synthetic pairs "
                          "(data.degrade.CameraPipeline); no VGG or adversarial term (needs no download)"},
}

LOSS_KEYS = ("content", "texture", "color", "tv", "l1", "chroma", "ms_ssim", "ssim", "contextual", "kd")
DEFAULT_CONTENT_LAYERS = ("relu5_4",)  # DPED's content layer
DEFAULT_CONTEXTUAL_LAYER = "conv4_2"  # PPCN's contextual layer


def content_layers(rec):
    """The VGG-19 layers of a recipe's content term (``content_layers``, default relu5_4)."""
    return tuple(rec.get("content_layers") or DEFAULT_CONTENT_LAYERS)


def contextual_layer(rec):
    return rec.get("contextual_layer") or DEFAULT_CONTEXTUAL_LAYER


def vgg_layers(rec):
    """Sorted VGG-19 layers a recipe's loss terms read (empty: the recipe needs no VGG)."""
    layers = set(content_layers(rec)) if rec.get("content") else set()
    if rec.get("contextual"):
        layers.add(contextual_layer(rec))
    return sorted(layers)


def list_recipes():
    return sorted(RECIPES)


def recipe(name, **overrides):
    """A copy of recipe ``name`` with ``overrides`` applied (unknown keys are refused)."""
    if name not in RECIPES:
        raise unknown("recipe", name, RECIPES)
    known = set(LOSS_KEYS) | {k for r in RECIPES.values() for k in r}
    bad = sorted(set(overrides) - known)
    if bad:
        raise UnknownName(f"unknown recipe key(s) {bad}; known: {sorted(known)}")
    out = copy.deepcopy(RECIPES[name])
    out.update(overrides)
    out["name"] = name
    return out
