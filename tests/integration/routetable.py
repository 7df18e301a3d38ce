"""service/http/routes.c's route table as data, for the tests that hold it to
api/openapi.yaml: every route as (method, pattern, roles), where roles is the set
of role names its roles expression spells (CF_R_ADMIN | CF_R_OPERATOR | ..., or a
shorthand #defined in routes.c from those), empty for a public route
(CF_R_PUBLIC). An expression naming anything else raises, so a route whose
decision this parser cannot read fails the tests rather than passing them."""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ROLES = ("admin", "operator", "viewer", "host", "keys")
BITS = {f"CF_R_{r.upper()}": r for r in ROLES}
ROUTE = re.compile(r'\{"(GET|POST|PATCH|DELETE|PUT)",\s*"([^"]+)",\s*([^,]+),')
DEFINE = re.compile(r"^#define (\w+) (.+?)\s*(?:/\*.*)?$", re.M)


def _expand(expr, defines, depth=0):
    if depth > 8:
        raise ValueError(f"routes.c: {expr}: #defines nest too deep")
    out = set()
    for tok in re.findall(r"[A-Za-z_]\w*", expr):
        if tok in BITS:
            out.add(BITS[tok])
        elif tok == "CF_R_PUBLIC":
            pass
        elif tok in defines:
            out |= _expand(defines[tok], defines, depth + 1)
        else:
            raise ValueError(f"routes.c: {tok} in a route's roles is not a role")
    return out


def routes():
    """[(method, pattern, frozenset of role names)] in table order."""
    text = (ROOT / "service/http/routes.c").read_text()
    defines = dict(DEFINE.findall(text))
    start = text.index("cf_routes[] = {")
    body = text[start:text.index("\n};", start)]
    return [(m.group(1), m.group(2), frozenset(_expand(m.group(3), defines)))
            for m in ROUTE.finditer(body)]
