"""/docs (Swagger UI) and /redoc (ReDoc), with their scripts and styles served by the
gateway itself from /docs/assets/, so both pages work offline and under a strict CSP.

The assets come from the official npm packages (swagger-ui-dist, redoc), pinned in
docs_assets/package.json and installed beside it at install time
(`npm ci --omit=peer --ignore-scripts` in that folder; .ci/run does it). Without them the
pages answer 503 saying so, rather than a blank page.
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

__all__ = ["ASSETS", "setup"]

HERE = Path(__file__).resolve().parent / "docs_assets"
MODULES = HERE / "node_modules"
# The only files served: a closed map from URL name to file, so no path is ever joined
# from the request.
ASSETS = {
    "swagger-ui.css": MODULES / "swagger-ui-dist" / "swagger-ui.css",
    "swagger-ui-bundle.js": MODULES / "swagger-ui-dist" / "swagger-ui-bundle.js",
    "redoc.standalone.js": MODULES / "redoc" / "bundles" / "redoc.standalone.js",
    "swagger-init.js": HERE / "swagger-init.js",
}
INSTALL = "npm ci --omit=peer --ignore-scripts --prefix gateway/api/docs_assets"

# Nothing but the gateway: scripts, styles, images and fetches from 'self' (styles also
# inline: both UIs inject <style>; ReDoc's search runs in a blob: worker). It also stops
# ReDoc's sidebar logo, which 2.x always loads from cdn.redoc.ly (the <img> hides itself).
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; worker-src 'self' blob:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)

SWAGGER = """<!doctype html><html><head><meta charset="utf-8">
<title>Chat gateway - API docs</title>
<link rel="stylesheet" href="/docs/assets/swagger-ui.css">
</head><body><div id="swagger-ui" data-spec-url="/openapi.json"></div>
<script src="/docs/assets/swagger-ui-bundle.js"></script>
<script src="/docs/assets/swagger-init.js"></script>
</body></html>"""

REDOC = """<!doctype html><html><head><meta charset="utf-8">
<title>Chat gateway - ReDoc</title></head><body>
<redoc spec-url="/openapi.json"></redoc>
<script src="/docs/assets/redoc.standalone.js"></script>
</body></html>"""

MISSING = f"""<!doctype html><html><head><meta charset="utf-8">
<title>API docs not installed</title></head><body>
<p>The API docs' assets are not installed. Run <code>{INSTALL}</code>, or read
<a href="/openapi.json">/openapi.json</a>.</p></body></html>"""


def _page(html: str, *needs: str) -> web.Response:
    if not all(ASSETS[name].is_file() for name in needs):
        return web.Response(text=MISSING, content_type="text/html", status=503)
    return web.Response(
        text=html, content_type="text/html", headers={"Content-Security-Policy": CSP}
    )


async def swagger_page(request: web.Request) -> web.Response:
    return _page(SWAGGER, "swagger-ui.css", "swagger-ui-bundle.js", "swagger-init.js")


async def redoc_page(request: web.Request) -> web.Response:
    return _page(REDOC, "redoc.standalone.js")


async def asset(request: web.Request) -> web.StreamResponse:
    path = ASSETS.get(request.match_info["name"])
    if path is None or not path.is_file():
        raise web.HTTPNotFound()
    # The file names carry no version: a day of caching, revalidated by ETag after that.
    return web.FileResponse(path, headers={"Cache-Control": "public, max-age=86400"})


def setup(app: web.Application) -> None:
    app.router.add_get("/docs", swagger_page)
    app.router.add_get("/redoc", redoc_page)
    app.router.add_get("/docs/assets/{name}", asset)
