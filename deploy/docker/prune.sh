#!/bin/sh
# Trim an installed site-packages tree for the image.
#
#   prune.sh SITE_PACKAGES
#
# Removed, because `train` and `serve` never import them: the test suites that wheels ship, every part
# of plotly except plotly.min.js (the one file the dashboard serves; it finds the file through the
# distribution's metadata, without importing plotly), sources and stubs for compilers and type checkers
# (*.c, *.h, *.pyx, *.pxd, *.pyi), and the symbols of shared libraries that nothing
# links against (strip --strip-unneeded: about a quarter of the compiled code). No .pyc files are
# shipped: they would double the size of the Python sources; the image sets PYTHONPYCACHEPREFIX so
# a container compiles each module once, into /tmp.
set -eu
site="$1"

find "$site" -depth -type d -name tests -exec rm -rf {} +
find "$site" -depth -type d -name __pycache__ -exec rm -rf {} +
find "$site/plotly" -mindepth 1 -maxdepth 1 ! -name package_data -exec rm -rf {} +
find "$site/plotly/package_data" -mindepth 1 ! -name plotly.min.js -exec rm -rf {} +
test -s "$site/plotly/package_data/plotly.min.js"
find "$site" -type f \( -name '*.c' -o -name '*.h' -o -name '*.pyx' -o -name '*.pxd' -o -name '*.pyi' \) -delete
# Not the libraries auditwheel vendored into *.libs/: patchelf rewrote their headers, and strip then
# leaves them unloadable ("ELF load command address/offset not page-aligned").
find "$site" -path '*.libs' -prune -o -type f -name '*.so*' -exec strip --strip-unneeded {} +
