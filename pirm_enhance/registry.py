"""Name -> architecture builder, and name.tag -> pretrained entry lookups.

Two registries: architectures register themselves when ``pirm_enhance.archs``
is imported, which imports every module of that package (a new architecture
is one new module there, no list to edit); the lookups below import it first,
so the registry is never seen empty. Pretrained entries come from the data
table ``pretrained.json``.
"""

import difflib
import hashlib
import json

from pirm_enhance.errors import UnknownName

_ARCHS = {}


def register_arch(name):
    """Class/function decorator: ``build_model(name, **kw)`` calls it with ``**kw``."""
    def wrap(builder):
        if name in _ARCHS:
            raise ValueError(f"architecture {name!r} is registered twice")
        _ARCHS[name] = builder
        return builder
    return wrap


def unknown(kind, name, known):
    """An :class:`UnknownName` (a KeyError) for ``name`` that lists close matches among ``known``."""
    close = difflib.get_close_matches(name, list(known), n=5, cutoff=0.5)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    return UnknownName(f"unknown {kind} {name!r}{hint} (known: {', '.join(sorted(known))})")


def _load_zoo():
    import pirm_enhance.archs  # noqa: F401  (each module registers itself)


def list_models():
    """Sorted names of the registered architectures."""
    _load_zoo()
    return sorted(_ARCHS)


def get_builder(name):
    _load_zoo()
    try:
        return _ARCHS[name]
    except KeyError:
        raise unknown("architecture", name, _ARCHS) from None


def build_model(name, **kwargs):
    """Build architecture ``name`` with random weights; ``kwargs`` go to its constructor."""
    return get_builder(name)(**kwargs)


def _without_names(value):
    if isinstance(value, dict):
        return {k: _without_names(v) for k, v in value.items() if k != "name"}
    if isinstance(value, (list, tuple)):
        return [_without_names(v) for v in value]
    return value


def architecture_key(model):
    """A hash of the model's layers (class and configuration, names left out) and weight
    shapes: the same network built twice, with any weights, has the same key."""
    parts = [[type(layer).__name__, _without_names(layer.get_config())] for layer in model.layers]
    parts.append([list(w.shape) for w in model.weights])
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
