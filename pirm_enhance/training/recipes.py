"""Training recipes: one flat dict each (PIRM2018.md section 6).

Keys: ``arch`` (and ``arch_config``, constructor arguments); loss weights
(:data:`LOSS_KEYS`; absent = 0) and their options (:data:`OPTION_KEYS`);
optimisation (``lr``, ``lr_decay``, ``lr_decay_every``, ``batch_size``,
``patch_size``, ``steps``, ``lr_inverse_decay``: Keras's legacy ``lr / (1 + d step)``);
``teacher`` for distillation; ``init``, a generator to start from (a second
training phase); ``pairs`` (``enhancement``, the default: phone-like photos, or
``track_a``: bicubic x4 down/up, with ``lr_blur`` and ``sr_factor``); ``augment``
(random flips and rotations, default true); ``routine``, a training procedure of its own (``pirm_enhance.training.<routine>.run``); ``source``.
Override any key with ``recipe(name, key=value)``.

Loss terms (the trainer's ``generator_terms``): ``content`` (VGG-19 feature MSE on
``content_layers``), ``texture`` (the adversarial term, of kind ``gan``; the
discriminator is trained iff it is non-zero), ``color``, ``tv``, ``l1`` (per RGB
channel with ``l1_channel_weights``), ``mse``, ``chroma``, ``hue``, ``ms_ssim``, ``ssim``,
``ssim_middle`` (1 - SSIM of the architecture's ``middle_output`` layer),
``contextual``, ``style`` (Gram loss on ``style_layers``), ``lcn`` and
``gradient`` (MENet's texture losses), ``kd``.
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
    "dped_plus": {**_DPED_CODE, "arch": "dped_plus", "steps": 30000, "lr_decay": 0.5, "lr_decay_every": 10000,
                  "source": "DPED+ (thesis 'DPED+, MPSE and MDIE', sections 3.1.1 and 5.1): DPED's losses (colour, "
                            "TV, texture discriminator, VGG-19 content); 30k iterations, batch 50, Adam 5e-4 halved "
                            "every 10k. Chosen: DPED code weights (VGG relu5_4 10, texture 1, colour 0.5, TV 2000), "
                            "patch 100 (DPED's)"},
    "mpse_style": {"routine": "mpse_style", "views": 4, "candidates": 60, "positives": 10, "margin": 0.2,
                   "embedding": 128, "triplet_reduction": "mean", "lr": 1e-3, "batch_size": 16, "steps": 2000,
                   "source": "MPSE phase 2 reference recommendation network (thesis 'DPED+, MPSE and MDIE', 3.1.2): "
                             "one FC layer after frozen VGG-16 FC8, only it trained, triplet objective, 60 "
                             "candidates by FC8 distance, 10 positives and 50 negatives. Chosen (the thesis's 4000 "
                             "labelled night photos are not available; training/mpse_style.py): synthetic triplets "
                             "(anchor = a phone view of a photo; positives = its clean views, then the nearest "
                             "clean candidates; negatives = the other candidates), 4 clean + 4 phone views per "
                             "photo, 128-d unit-length output, squared distances averaged (not summed) over "
                             "positives and negatives, margin 0.2, Adam 1e-3, batch 16 anchors, 2000 steps. The "
                             "enhancement-factor head is not trained here: the thesis learns it per image "
                             "(mpse.semantic_style_enhance)"},
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
                     "ssim": 250.0, "texture": 1.0, "gan": "ppcn", "color": 1.0, "tv": 2000.0,
                     "lr": 5e-4, "lr_decay": 0.1, "lr_decay_every": 10000, "batch_size": 50,
                     "patch_size": 100, "steps": 30000,
                     "source": "PPCN (Hui et al., PIRM 2018): 10 x (4 contextual + 25 (1 - SSIM)) + texture "
                               "+ color + 2000 TV; lr / 10 every 10k; PPCN's discriminator (6 convolutions, code "
                               "train/models.py)"},
    "ppcn_student": {"arch": "ppcn_student", "contextual": 40.0, "contextual_layer": "conv4_2",
                     "ssim": 250.0, "texture": 1.0, "gan": "ppcn", "color": 1.0, "tv": 2000.0, "kd": 75.0,
                     "teacher": "ppcn_teacher.paper",
                     "lr": 5e-4, "lr_decay": 0.1, "lr_decay_every": 10000, "batch_size": 50,
                     "patch_size": 100, "steps": 30000,
                     "source": "PPCN student: the teacher's losses + 75 x KD (normalised channel-mean "
                               "feature distance to the teacher)"},
    # ---- Track B teams (PIRM 2018 challenge report, Ignatov et al., ECCVW 2018, section 5): the
    # report's facts first in each "source", then what was chosen where it gives none
    "boe_enh": {**_DPED_CODE, "arch": "boe_enh", "l1": 10.0, "l1_channel_weights": (1.0, 1.0, 1.0),
                "contextual": 40.0, "contextual_layer": "conv4_2", "steps": 20000,
                "source": "BOE-SBG (report 5.7): per-channel L1 + contextual + VGG + colour + TV + adversarial; "
                          "no weights, optimiser, batch or iterations given. Chosen: DPED code defaults (VGG "
                          "relu5_4 10, adversarial 1, colour 0.5, TV 2000, Adam 5e-4, batch 50, patch 100, "
                          "20k steps), contextual 40 on conv4_2 (PPCN's), L1 10 (the default recipe's) with "
                          "channel weights 1, 1, 1"},
    "menet": {**_DPED_CODE, "arch": "menet", "lcn": 1.0, "gradient": 1.0, "steps": 20000,
              "source": "MENet (report 5.9): DPED setup (VGG relu5_4 10, adversarial 1, colour 0.5, TV 2000, "
                        "Adam 5e-4, batch 50, patch 100, 20k steps: DPED code defaults) + LCN and gradient "
                        "texture losses; their weights are not given: 1 and 1 chosen (untuned). Phase 1 of 2; "
                        "phase 2 is menet_finetune"},
    "menet_finetune": {**_DPED_CODE, "arch": "menet", "lcn": 1.0, "gradient": 1.0, "lr": 1e-4, "steps": 10000,
                       "init": "runs/menet/generator.keras",
                       "source": "MENet phase 2 (report 5.9): fine-tuning of the pre-trained network on the same "
                                 "data and losses with Adam, lr 1e-4. Starts from init (the generator.keras of "
                                 "pirm-train --recipe menet --workdir runs/menet; --set init=PATH for another); "
                                 "10k steps chosen (not given)"},
    "kaist_enh": {"arch": "kaist_enh", "color": 0.5, "texture": 4.0, "gan": "ragan", "discriminator_width": 12,
                  "lr": 1e-4, "batch_size": 4, "patch_size": 128, "steps": 20000,
                  "source": "KAIST-VICLAB (report 5.2): colour + adversarial losses of DPED with a relativistic "
                            "GAN (RaGAN here), discriminator of 2x the generator's parameters (width 12: 98,677 "
                            "vs 48,003); trained as track A: lr 1e-4, batch 4, patch 128 (2000 epochs, no "
                            "iteration count). Chosen: colour 0.5 (DPED code), adversarial 4 = DPED's 1 x batch 4 "
                            "(DPED's texture loss sums over the batch, RaGAN's is a mean), 20k steps"},
    "snpr": {**_DPED_CODE, "arch": "snpr_g1", "texture": 50.0, "gan": "snpr", "discriminator_width": 64,
             "steps": 20000,
             "source": "SNPR (report 5.11): generators G1-G3 (G1, the entry: snpr_g1) and one shared "
                       "discriminator D (Conv/BN/ReLU, fig. 13); no losses, weights or optimiser given. Chosen: "
                       "standard GAN with D (losses.snpr), adversarial 50 = DPED's 1 x batch 50 (DPED's texture "
                       "loss sums over the batch, this one is a mean), the rest DPED code defaults (VGG relu5_4 "
                       "10, colour 0.5, TV 2000, Adam 5e-4, batch 50, patch 100, 20k steps)"},
    "geometry": {"arch": "geometry", "ssim_middle": 1.0, "texture": 1.0, "tv": 1.0, "style": 1.0,
                 "style_layers": ("relu1_2", "relu2_2", "relu3_4", "relu4_4"),
                 "lr": 5e-4, "lr_decay": 0.1, "lr_decay_every": 8000, "batch_size": 50, "patch_size": 100,
                 "steps": 20000,
                 "source": "Geometry (report 5.12): SSIM on the middle output OC; adversarial, smooth (TV here) "
                           "and style on OE; all losses summed (weights 1); Adam 5e-4 / 10 every 8000 "
                           "iterations. Chosen: DPED's texture discriminator, style on relu1_2, relu2_2, "
                           "relu3_4, relu4_4 (losses.geometry.STYLE_LAYERS), batch 50, patch 100, 20k steps "
                           "(DPED's)"},
    "fccn_enh": {**_DPED_CODE, "arch": "fccn_enh", "lr": 1e-4, "lr_decay": 0.5, "lr_decay_every": 2000000,
                 "batch_size": 16, "steps": 3000000,
                 "source": "IV SR+ (report 5.6): Adam, batch 16, 3M iterations, lr 1e-4 halved after 2M; no "
                           "losses given. Chosen: DPED code losses (VGG relu5_4 10, adversarial 1, colour 0.5, "
                           "TV 2000), patch 100"},
    "alex_enh": {"arch": "alex_enh", "mse": 1.0, "content": 1e-4, "content_layers": ("relu5_4",),
                 "lr": 1e-4, "lr_decay": 0.5, "lr_decay_every": 1200000, "batch_size": 8, "patch_size": 100,
                 "steps": 2000000,
                 "source": "TEAM ALEX (report 5.1): MSE + VGG losses, patch 100, 2e6 iterations, Adam "
                           "(beta1 0.9), batch 8, lr 1e-4 halved at 60% (1.2e6); weights MSE 1, VGG relu5_4 "
                           "1e-4 from the FEQE code defaults (github.com/thangvubk/FEQE 8283bb2 train.py: "
                           "alpha_mse 1, alpha_vgg 1e-4, CONTENT_LAYER relu5_4)"},
    # ---- Track A (x4 super-resolution, report section 5): pairs "track_a" = the photo and its PIL bicubic
    # x4 down/up version (the organisers' protocol), cut from any folder of photos (synthetic:DIR or DIR)
    "feqe": {"arch": "feqe", "pairs": "track_a", "mse": 1.0, "content": 1e-4, "content_layers": ("relu5_4",),
             "lr": 1e-4, "lr_decay": 0.5, "lr_decay_every": 120000, "batch_size": 8, "patch_size": 196,
             "steps": 200000,
             "source": "TEAM ALEX track A (report 5.1): MSE + VGG losses, 196 px patches, 2e5 iterations, Adam "
                       "(beta1 0.9), batch 8, lr 1e-4 halved at 60% (1.2e5), flips and rotations; weights MSE 1, "
                       "VGG relu5_4 1e-4 from the FEQE code defaults (github.com/thangvubk/FEQE 8283bb2 "
                       "train.py). Offline (no VGG-19 weights): --set content=0 leaves MSE alone"},
    "kaist_sr": {"arch": "kaist_sr", "pairs": "track_a", "lr_blur": (0.0, 0.5), "l1": 1.0,
                 "lr": 1e-4, "batch_size": 4, "patch_size": 128, "steps": 200000,
                 "source": "KAIST-VICLAB track A (report 5.2): L1 loss only, 128 px patches, batch 4, lr 1e-4, "
                           "flips and rotations, a small Gaussian blur on the downscaled low-resolution patches. "
                           "Chosen: blur sigma U(0, 0.5) low-resolution pixels (\"small\" is all the report "
                           "says), 2e5 steps (2000 epochs of an undisclosed iteration count); their target "
                           "sharpening is not reproduced (no amount given)"},
    "mtphoenix_sr": {"arch": "mtphoenix_sr", "pairs": "track_a", "augment": False, "l1": 1.0, "lr": 5e-4, "lr_inverse_decay": 5e-5,
                     "batch_size": 4, "patch_size": 500, "steps": 100000,
                     "source": "Mt.Phoenix track A (report 5.3): L1 loss, 500 px patches, Adam lr 5e-4 with a decay "
                               "of 5e-5 (Keras's lr / (1 + 5e-5 step)), no augmentation. Chosen: batch 4, 1e5 steps (not given)"},
    "ppcn_sr": {"arch": "ppcn_sr", "pairs": "track_a", "l1": 1.0, "ssim": 1.0, "lr": 5e-4, "lr_decay": 0.2,
                "lr_decay_every": 100000, "batch_size": 16, "patch_size": 384, "steps": 300000,
                "source": "Rainbow track A (report 5.8): L1 + SSIM losses, 384 px patches with flips and rotations, "
                          "lr 5e-4 divided by 5 every 1000 epochs. Chosen: weights 1 and 1 (1 - SSIM), batch 16, "
                          "1e5 steps per 1000 epochs, 3e5 steps"},
    "mdie_intrinsic": {"arch": "mdie", "routine": "mdie_intrinsic", "intrinsic_rec": 1.0, "albedo_prior": 1.0,
                       "shading_prior": 1.0, "lr": 1e-3, "batch_size": 8, "patch_size": 64, "steps": 5000,
                       "source": "MDIE intrinsic networks (thesis 'DPED+, MPSE and MDIE', 3.2.1, 5.2): F and F' "
                                 "trained self-supervised with the reconstruction ||I - F'(F(I))||^2 through F' "
                                 "(not the product A.S, which A = I, S = 1 solves trivially); the thesis pre-trains "
                                 "on MPI Sintel albedo/shading (not available). Chosen (training/mdie_intrinsic.py): "
                                 "pseudo ground truth S* = max over colours, A* = I / S* (losses.mdie."
                                 "pseudo_intrinsics) with weights 1 and 1 beside the reconstruction's 1, clean crops "
                                 "and their one-attribute degradations (data.domains) in every batch, Adam 1e-3, "
                                 "batch 8 photos (16 images), patch 64, 5000 steps"},
    "mdie": {"arch": "mdie", "routine": "mdie", "init": "runs/mdie_intrinsic/generator.keras", "adversarial": 1.0,
             "domain_cls": 1.0, "cycle": 10.0, "rec_lq": 1.0, "rec_hq": 1.0, "paired": 10.0, "identity": 10.0,
             "intrinsic_lr_scale": 0.0, "ema": 0.99, "discriminator_width": 32, "domains": "cycle", "select": "worst_gain",
             "lr": 3e-5, "batch_size": 8, "patch_size": 64, "steps": 10000,
             "source": "MDIE (thesis 'DPED+, MPSE and MDIE', 3.2.2-3.2.3, 5.2): F, StarGAN-style G with label + "
                       "mask vector over the colour/noise/texture datasets, F', from the pre-trained intrinsic "
                       "pair (init: mdie_intrinsic's generator.keras); L_D = -L_adv + lambda_cls L_cls^r, L_G = "
                       "L_adv + lambda_cls L_cls^f + lambda_cyc L_cyc, lambda_cls 1, lambda_cyc 10, + alpha |I_LQ - "
                       "F'(F(I_LQ))| + beta ||I_HQ - F'(F(I_HQ))||^2. Chosen (training/mdie.py): alpha = beta = 1, "
                       "non-saturating G term, attribute datasets made from good photos (data.domains), one "
                       "attribute per step in turn, targets = the flipped quality, D on the intrinsics (width 32), "
                       "simultaneous D/G updates, Adam 3e-5 beta1 0.5, G's moving average (ema 0.99) validated and "
                       "kept, F and F' frozen (intrinsic_lr_scale 0; 1 trains them with G, the thesis's combined "
                       "fashion), the residual recomposition x + F'(G(F(x))) - F'(F(x)) by default, batch 8 pairs, "
                       "patch 64, 10k steps; not in the thesis: paired 10 x the mean of |P(I_LQ, its HQ label) - "
                       "I_HQ| and |P(I_LQ, every attribute HQ) - I_HQ| (P: the pipeline's output; the degraded "
                       "image's original is known) and identity 10 x |P(I_HQ, every attribute HQ) - I_HQ| (an "
                       "original asked for every attribute high quality stays as it is); --set paired=0 "
                       "identity=0 for the thesis's objective"},
    "default": {"arch": "rsgunet", "arch_config": {"width": 12, "residual": True},
                "l1": 10.0, "chroma": 20.0, "color": 0.002, "tv": 10.0,
                "lr": 1e-3, "lr_decay": 0.5, "lr_decay_every": 2000, "batch_size": 12, "patch_size": 128,
                "steps": 10000, "noise_floor": True, "full_rgb_share": 0.3,
                "source": "the project's default model (issue 11): RSGUNet (width 12) with a residual "
                          "output, L1 + chroma (YCbCr) + DPED colour + TV, on synthetic pairs "
                          "(data.degrade.CameraPipeline with its noise-floor correction, 30% of them from "
                          "mosaic-free sensors); no VGG or adversarial term (needs no download)"},
}

LOSS_KEYS = ("content", "texture", "color", "tv", "l1", "mse", "chroma", "hue", "ms_ssim", "ssim", "ssim_middle",
             "contextual", "style", "lcn", "gradient", "kd")
# options of the loss terms, accepted as overrides by every recipe
OPTION_KEYS = ("content_layers", "contextual_layer", "style_layers", "l1_normalisation", "l1_channel_weights",
               "gan", "discriminator_width", "init", "augment", "pairs", "lr_blur", "sr_factor", "lr_inverse_decay",
               "noise_floor", "full_rgb_share")
VGG_TERMS = ("content", "contextual", "style")  # the terms that read VGG-19 features
DEFAULT_CONTENT_LAYERS = ("relu5_4",)  # DPED's content layer
DEFAULT_CONTEXTUAL_LAYER = "conv4_2"  # PPCN's contextual layer
DEFAULT_STYLE_LAYERS = ("relu1_2", "relu2_2", "relu3_4", "relu4_4")  # losses.geometry.STYLE_LAYERS
GAN_KINDS = ("dped", "ppcn", "ragan", "snpr")  # the adversarial term's kinds (trainer.GANS); "dped" by default


def content_layers(rec):
    """The VGG-19 layers of a recipe's content term (``content_layers``, default relu5_4)."""
    return tuple(rec.get("content_layers") or DEFAULT_CONTENT_LAYERS)


def contextual_layer(rec):
    return rec.get("contextual_layer") or DEFAULT_CONTEXTUAL_LAYER


def style_layers(rec):
    """The VGG-19 layers of a recipe's style term (``style_layers``, default Geometry's four)."""
    return tuple(rec.get("style_layers") or DEFAULT_STYLE_LAYERS)


def gan_kind(rec):
    """The kind of the adversarial (``texture``) term: ``gan``, default ``"dped"``."""
    kind = rec.get("gan") or "dped"
    if kind not in GAN_KINDS:
        raise unknown("GAN kind", kind, GAN_KINDS)
    return kind


def vgg_layers(rec):
    """Sorted VGG-19 layers a recipe's loss terms read (empty: the recipe needs no VGG).
    The one rule for VGG layers: the loop builds VGG-19 with these, the trainer reads them."""
    layers = set(content_layers(rec)) if rec.get("content") else set()
    if rec.get("contextual"):
        layers.add(contextual_layer(rec))
    if rec.get("style"):
        layers.update(style_layers(rec))
    return sorted(layers)


def list_recipes():
    return sorted(RECIPES)


def recipe(name, **overrides):
    """A copy of recipe ``name`` with ``overrides`` applied (unknown keys are refused)."""
    if name not in RECIPES:
        raise unknown("recipe", name, RECIPES)
    known = set(LOSS_KEYS) | set(OPTION_KEYS) | {k for r in RECIPES.values() for k in r}
    bad = sorted(set(overrides) - known)
    if bad:
        raise UnknownName(f"unknown recipe key(s) {bad}; known: {sorted(known)}")
    out = copy.deepcopy(RECIPES[name])
    out.update(overrides)
    gan_kind(out)  # an unknown GAN kind: refused here, before any model is built
    out["name"] = name
    return out
