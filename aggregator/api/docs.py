"""The /docs page: one self-contained HTML document rendered from the OpenAPI spec.

Rendered on the server, once: no script, no external stylesheet or font,
nothing fetched by the browser. Each operation shows its parameters, body,
responses and the schemas they reference (expanded one level, with links).
"""

from __future__ import annotations

import html
import json
from typing import Any

__all__ = ["render_docs"]

_CSS = """
body{font:15px/1.5 system-ui,sans-serif;margin:0;color:#1d232a;background:#fafbfc}
header{background:#1d2b3a;color:#fff;padding:24px 40px}
header h1{margin:0 0 6px;font-size:24px}
main{display:flex}
nav{width:260px;padding:20px;border-right:1px solid #dde2e8;position:sticky;top:0;
height:100vh;overflow:auto;box-sizing:border-box}
nav a{display:block;color:#1d2b3a;text-decoration:none;font-size:13px;padding:2px 0}
section{flex:1;padding:20px 40px;max-width:980px}
.op{background:#fff;border:1px solid #dde2e8;border-radius:6px;margin:0 0 22px;padding:14px 18px}
.m{display:inline-block;min-width:58px;text-align:center;border-radius:4px;color:#fff;
font-weight:600;font-size:12px;padding:2px 6px;margin-right:8px}
.get{background:#2f7fd1}.post{background:#2d9d5f}.delete{background:#c94a3c}
code,pre{font-family:ui-monospace,monospace;font-size:13px}
pre{background:#f3f5f8;padding:10px;border-radius:4px;overflow:auto}
table{border-collapse:collapse;width:100%;margin:6px 0}
td,th{border-bottom:1px solid #eef1f4;text-align:left;padding:4px 6px;vertical-align:top}
h2{margin-top:34px}h3{margin:0 0 6px;font-size:16px}.lock{color:#b26b00;font-size:12px}
"""


def _e(value: object) -> str:
    return html.escape(str(value))


def _ref_name(schema: dict[str, Any]) -> str | None:
    ref = schema.get("$ref")
    return ref.rsplit("/", 1)[-1] if isinstance(ref, str) else None


def _type(schema: dict[str, Any] | bool) -> str:
    if not isinstance(schema, dict):
        return "any"
    name = _ref_name(schema)
    if name is not None:
        return f'<a href="#schema-{_e(name)}">{_e(name)}</a>'
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return " | ".join(_type(s) for s in schema[key])
    kind = schema.get("type", "any")
    if kind == "array":
        return f"array of {_type(schema.get('items', {}))}"
    if kind == "object" and "additionalProperties" in schema:
        return f"map of {_type(schema['additionalProperties'])}"
    if "enum" in schema:
        return " | ".join(f"<code>{_e(v)}</code>" for v in schema["enum"])
    if "const" in schema:
        return f"<code>{_e(schema['const'])}</code>"
    text = _e(kind)
    if "pattern" in schema:
        text += f" <code>{_e(schema['pattern'])}</code>"
    return text


def _schema_table(schema: dict[str, Any]) -> str:
    props = schema.get("properties", {})
    if not props:
        return f"<p>{_type(schema)}</p>"
    required = set(schema.get("required", []))
    rows = "".join(
        f"<tr><td><code>{_e(name)}</code>{' *' if name in required else ''}</td>"
        f"<td>{_type(prop)}</td><td>{_e(prop.get('description', ''))}</td></tr>"
        for name, prop in props.items()
    )
    return f"<table><tr><th>field</th><th>type</th><th>about</th></tr>{rows}</table>"


def _operation(path: str, method: str, op: dict[str, Any]) -> str:
    anchor = op.get("operationId", f"{method}-{path}")
    lock = ' <span class="lock">requires X-API-Key</span>' if op.get("security") else ""
    parts = [
        f'<div class="op" id="op-{_e(anchor)}"><h3><span class="m {method}">'
        f"{method.upper()}</span><code>{_e(path)}</code>{lock}</h3>",
        f"<p>{_e(op.get('summary', ''))}</p>",
    ]
    if op.get("description"):
        parts.append(f"<p>{_e(op['description'])}</p>")
    params = op.get("parameters", [])
    if params:
        rows = "".join(
            f"<tr><td><code>{_e(p['name'])}</code></td><td>{_e(p['in'])}</td>"
            f"<td>{_type(p.get('schema', {}))}</td><td>{_e(p.get('description', ''))}</td></tr>"
            for p in params
        )
        parts.append(
            f"<table><tr><th>parameter</th><th>in</th><th>type</th><th>about</th></tr>{rows}</table>"
        )
    body = op.get("requestBody")
    if body:
        schema = body["content"]["application/json"]["schema"]
        parts.append(f"<p><b>Body</b>: {_type(schema)}</p>")
    lines = []
    for status, response in op.get("responses", {}).items():
        content = response.get("content", {})
        kind = ", ".join(f"{_e(ct)}: {_type(c.get('schema', {}))}" for ct, c in content.items())
        lines.append(
            f"<tr><td>{_e(status)}</td><td>{_e(response.get('description', ''))}</td>"
            f"<td>{kind}</td></tr>"
        )
    parts.append(
        "<table><tr><th>status</th><th>meaning</th><th>body</th></tr>" + "".join(lines) + "</table>"
    )
    parts.append("</div>")
    return "".join(parts)


def render_docs(spec: dict[str, Any]) -> str:
    """The page for ``spec`` (an OpenAPI 3.1 document)."""
    info = spec.get("info", {})
    nav, ops = [], []
    by_tag: dict[str, list[tuple[str, str, dict[str, Any]]]] = {}
    for path, methods in spec.get("paths", {}).items():
        for method, op in methods.items():
            by_tag.setdefault(op.get("tags", ["other"])[0], []).append((path, method, op))
    for tag, items in by_tag.items():
        nav.append(f"<b>{_e(tag)}</b>")
        ops.append(f'<h2 id="tag-{_e(tag)}">{_e(tag)}</h2>')
        for path, method, op in items:
            anchor = op.get("operationId", f"{method}-{path}")
            nav.append(f'<a href="#op-{_e(anchor)}">{method.upper()} {_e(path)}</a>')
            ops.append(_operation(path, method, op))
    schemas = spec.get("components", {}).get("schemas", {})
    nav.append("<b>schemas</b>")
    ops.append("<h2>Schemas</h2>")
    for name, schema in sorted(schemas.items()):
        nav.append(f'<a href="#schema-{_e(name)}">{_e(name)}</a>')
        ops.append(
            f'<div class="op" id="schema-{_e(name)}"><h3>{_e(name)}</h3>'
            f"<p>{_e(schema.get('description', ''))}</p>{_schema_table(schema)}</div>"
        )
    ops.append(
        '<h2>The document</h2><p>Machine-readable at <a href="/openapi.json">/openapi.json</a>.</p>'
    )
    ops.append(f"<pre>{_e(json.dumps(info, indent=2))}</pre>")
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{_e(info.get('title', 'API'))}</title><style>{_CSS}</style></head><body>"
        f"<header><h1>{_e(info.get('title', 'API'))} <small>{_e(info.get('version', ''))}</small>"
        f"</h1><div>{_e(info.get('description', ''))}</div></header>"
        f"<main><nav>{''.join(nav)}</nav><section>{''.join(ops)}</section></main></body></html>"
    )
