"""Name -> architecture builder, and name.tag -> pretrained entry lookups.

Two registries, no scanning: architectures register themselves when
``pirm_enhance.archs`` is imported; pretrained entries come from the data
table ``pretrained.json``.
"""

import difflib

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
    """A KeyError for ``name`` that lists close matches among ``known``."""
    close = difflib.get_close_matches(name, list(known), n=5, cutoff=0.5)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    return KeyError(f"unknown {kind} {name!r}{hint} (known: {', '.join(sorted(known))})")


def list_models():
    """Sorted names of the registered architectures."""
    return sorted(_ARCHS)


def get_builder(name):
    try:
        return _ARCHS[name]
    except KeyError:
        raise unknown("architecture", name, _ARCHS) from None


def build_model(name, **kwargs):
    """Build architecture ``name`` with random weights; ``kwargs`` go to its constructor."""
    return get_builder(name)(**kwargs)
