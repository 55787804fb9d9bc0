"""PyYAML, imported on first use.

A run with nothing to parse (a no-change generate reads only the state and hashes) need not
pay PyYAML's import, about 10 ms here, most of it compiling one large regular expression.
Modules write `from .lazy import yaml` (the real module under TYPE_CHECKING) and use
`yaml.X` inside functions as usual; `loader()` is the fastest safe loader available.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any


class _LazyYaml:
    def __getattr__(self, name: str) -> Any:
        import yaml

        value = getattr(yaml, name)
        setattr(self, name, value)  # later lookups are plain attribute hits
        return value


yaml: Any = _LazyYaml()


@functools.cache
def loader() -> Any:
    """libyaml's safe loader where PyYAML was built with it (several times faster), else PyYAML's own.

    Two scalars PyYAML cannot construct are strings to Go's readers, which decide what the output
    means: a plain `=` (YAML 1.1's "value" key) and a `!!merge <<` value (how sops writes the
    string "<<"). They read as those strings here too; merge *keys* in mappings are unchanged.
    """
    import yaml as real

    base = getattr(real, "CSafeLoader", real.SafeLoader)
    made: Any = type("Loader", (base,), {"__doc__": loader.__doc__})
    for tag in ("tag:yaml.org,2002:value", "tag:yaml.org,2002:merge"):
        made.add_constructor(tag, real.constructor.SafeConstructor.construct_yaml_str)
    return made
