"""Looking at results in a browser: the run-comparison report (``hybrid compare``) and the live search
page (``hybrid serve``). Both are thin layers over evaluation, fusion and :class:`~hybrid.HybridSearcher`;
the web framework (FastAPI, uvicorn) is imported only by :mod:`hybrid.web.app`.
"""

from importlib import resources

DEFAULT_MEASURES = ("nDCG@10", "R@100", "MRR@10", "map")  # charted by ``hybrid compare`` unless -m is given


def page_template(name: str) -> str:
    """A page shipped in ``hybrid/web/assets``, with the script both pages share (``text.js``) inlined."""
    assets = resources.files(__name__).joinpath("assets")
    shared = assets.joinpath("text.js").read_text(encoding="utf-8")
    return assets.joinpath(name).read_text(encoding="utf-8").replace("/*TEXT_JS*/", shared)
