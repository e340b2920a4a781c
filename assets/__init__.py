"""Files the pages serve and the core reads: the CSS themes and the trial-area GeoJSON.

A package so that the wheel carries them; code finds them with `importlib.resources.files("assets")`
(a directory on disk in any normal install), never by a path relative to the source tree.
"""
