"""The server registry: every ``kind`` a column may name, declared once.

Adding a server is one module in this package that defines its
``RECIPES`` (see :mod:`runner.serving.servers.base`) and one entry below
(``docs/extending.md`` shows one).
"""

from __future__ import annotations

from runner.serving.servers import cheroot, dev, granian, gunicorn, uwsgi, waitress
from runner.serving.servers.base import Launch, Option, Recipe, Role

__all__ = ["PLAIN", "RECIPES", "Launch", "Option", "Recipe", "Role", "recipe_for"]

RECIPES: dict[str, Recipe] = {
    recipe.kind: recipe
    for module in (dev, gunicorn, waitress, uwsgi, cheroot, granian)
    for recipe in module.RECIPES
}

# What a row's ``resolve: compatible`` search starts the app with: Werkzeug's
# own server, which every Flask has (see runner.environments.compatible).
PLAIN = RECIPES["werkzeug"]


def recipe_for(kind: str) -> Recipe:
    """The recipe of ``kind``; an unknown kind names the known ones."""
    try:
        return RECIPES[kind]
    except KeyError:
        raise KeyError(f"no server kind {kind!r}; kinds are {', '.join(sorted(RECIPES))}") from None
