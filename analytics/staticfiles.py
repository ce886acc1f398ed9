"""Serve the plotly package's own plotly.min.js as the static file "plotly/plotly.min.js",
without copying it into the repository. Only that one file is exposed: the package's
package_data folder also holds megabytes of sample datasets that must not be public."""

import os
from collections.abc import Iterator

from django.contrib.staticfiles.finders import BaseFinder
from django.core.checks import CheckMessage, Error
from django.core.files.storage import FileSystemStorage

PREFIX = "plotly"
FILENAME = "plotly.min.js"
STATIC_PATH = f"{PREFIX}/{FILENAME}"


def _package_data_dir() -> str:
    import plotly

    return os.path.join(os.path.dirname(plotly.__file__), "package_data")


class PlotlyFinder(BaseFinder):
    """A staticfiles finder that knows exactly one file: plotly/plotly.min.js."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.storage = FileSystemStorage(location=_package_data_dir())
        self.storage.prefix = PREFIX  # collectstatic copies it to STATIC_ROOT/plotly/

    def check(self, **kwargs) -> list[CheckMessage]:
        if not os.path.isfile(os.path.join(_package_data_dir(), FILENAME)):
            return [Error(f"plotly's {FILENAME} is missing: is plotly installed?", id="cxm.E001")]
        return []

    def find(self, path: str, find_all: bool = False, **kwargs) -> str | list[str]:
        find_all = kwargs.get("all", find_all)  # Django < 6 still passes `all` sometimes
        if path != STATIC_PATH:
            return []
        match = self.storage.path(FILENAME)
        return [match] if find_all else match

    def list(self, ignore_patterns: list[str] | None) -> Iterator[tuple[str, FileSystemStorage]]:
        yield FILENAME, self.storage
