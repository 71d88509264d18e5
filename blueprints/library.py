"""The practice library: the six strategies, each with why it matters and all its practices,
and the About page with the research behind them."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, render_template

bp = Blueprint("library", __name__)


def _library():
    return current_app.extensions["library"]


@bp.get("/strategies")
def strategies():
    return render_template("library/strategies.html", library=_library())


@bp.get("/strategies/<key>")
def strategy(key: str):
    found = _library().strategy(key)
    if found is None:
        abort(
            404, description="There is no strategy by that name. All six are listed in the library."
        )
    return render_template("library/strategy.html", strategy=found, library=_library())


@bp.get("/about")
def about():
    return render_template("library/about.html", library=_library())
